"""The evaluator's silent-room and quiet-device rules over rows the test inserts
itself (events written directly: the inputs are the point, not the ingest path), on
an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest

from tests.alarms.helpers import alarms, run_tick
from tests.fix_data import register

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


def add_event(
    db_url: str,
    bin_id: str,
    event_id: str,
    ts: datetime,
    kind: str = "drop",
    household: str | None = "h-1",
    alarm: str | None = None,
) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,"
            " household, alarm) SELECT %s, bin_key, %s, estate_id, category, %s, %s, %s, %s"
            " FROM bins WHERE id = %s",
            (ts, event_id, kind, 300 if kind == "drop" else None, household, alarm, bin_id),
        )


def test_a_usually_busy_room_silent_in_a_window_raises_silent_room(db_url: str) -> None:
    register(db_url, rooms={"r1": {"b1": "wet"}, "r2": {"b2": "wet"}, "r3": {"b3": "dry"}})
    # Wednesday 25 November 2026, 07:00-09:00 in Shanghai; judged at 09:30.
    at = datetime(2026, 11, 25, 9, 30, tzinfo=SH)
    # r1 had identified drops in that window on 3 of the 4 weekdays before (24, 23, 20
    # November; not 19), r2 on 2 of them only, r3 on all 4 and also today.
    for day, room_bins in {
        24: ["b1", "b2", "b3"],
        23: ["b1", "b3"],
        20: ["b1"],
        19: ["b2", "b3"],
        25: ["b3"],
    }.items():
        for b in room_bins:
            add_event(db_url, b, f"{b}-{day}", datetime(2026, 11, day, 7, 40, tzinfo=SH))
    # A drop without a household (no card) does not count as identified.
    add_event(db_url, "b1", "anon", datetime(2026, 11, 25, 8, 0, tzinfo=SH), household=None)
    # r2's drops on a Saturday do not count for a weekday (else it would have 3 of 4).
    add_event(db_url, "b2", "b2-sat", datetime(2026, 11, 21, 7, 40, tzinfo=SH))
    run_tick(db_url, datetime(2026, 11, 25, 8, 59, tzinfo=SH))  # the window still runs
    assert alarms(db_url, "kind = 'silent_room'") == []
    run_tick(db_url, at)
    run_tick(db_url, at + timedelta(minutes=5))  # judged once per window
    rows = alarms(db_url, "kind = 'silent_room'")
    assert [(r["room_id"], r["bin_id"], r["state"]) for r in rows] == [("r1", None, "open")]
    assert rows[0]["detail"]["usual_days"] == 3
    # A card-identified drop in r1 later that morning: resolved, and not raised again
    # for the same window.
    add_event(db_url, "b1", "b1-late", datetime(2026, 11, 25, 10, 15, tzinfo=SH))
    run_tick(db_url, datetime(2026, 11, 25, 10, 20, tzinfo=SH))
    run_tick(db_url, datetime(2026, 11, 25, 10, 25, tzinfo=SH))
    rows = alarms(db_url, "kind = 'silent_room'")
    assert [(r["room_id"], r["state"], r["resolved_by"]) for r in rows] == [
        ("r1", "resolved", "auto")
    ]


def test_a_device_alarm_not_repeated_resolves_after_the_setting(db_url: str) -> None:
    register(db_url, rooms={"r1": {"b1": "wet"}})
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO alarm_settings (estate_id, device_clear_minutes) VALUES ('jjq', 20)"
        )
    seen = datetime.now(SH).replace(microsecond=0)
    add_event(db_url, "b1", "odour-1", seen, kind="alarm", household=None, alarm="odour")
    run_tick(db_url, seen + timedelta(minutes=19))
    assert [r["state"] for r in alarms(db_url, "kind = 'odour'")] == ["open"]
    run_tick(db_url, seen + timedelta(minutes=21))
    rows = alarms(db_url, "kind = 'odour'")
    assert [(r["state"], r["resolved_by"]) for r in rows] == [("resolved", "auto")]
    assert rows[0]["detail"]["cleared"] == "not repeated"
    # Reading the same event again (the re-read margin) does not reopen it.
    run_tick(db_url, seen + timedelta(minutes=22))
    assert len(alarms(db_url, "kind = 'odour'")) == 1


def test_a_tick_that_opens_an_alarm_sends_a_notice_at_commit(db_url: str) -> None:
    register(db_url, rooms={"r1": {"b1": "wet"}})
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN fenlei_alarms")
        run_tick(db_url)  # nothing to say: no notice
        add_event(
            db_url, "b1", "tilt-1", datetime.now(SH), kind="alarm", household=None, alarm="tilt"
        )
        run_tick(db_url)
        got = [n.payload for n in listener.notifies(timeout=2.0, stop_after=1)]
    assert len(got) == 1
    assert orjson.loads(got[0]) == {"opened": 1, "resolved": 0, "kinds": {"tilt": 1}}
