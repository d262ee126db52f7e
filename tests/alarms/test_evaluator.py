"""The evaluator against the real broker, ingester and database: what is checked is
what the test published (counts, kinds, bins), never a copy of the evaluator's logic."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from ingest.contract import events_topic, status_topic
from simulators.broker import Broker
from tests.alarms.helpers import alarms, now_iso, run_tick
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import TOPIC_DRY, TOPIC_WET, count, publish

pytestmark = pytest.mark.integration


def alarm_event(event_id: str, alarm: str, offset_s: float = 0.0) -> dict[str, object]:
    return {"event_id": event_id, "ts": now_iso(offset_s), "kind": "alarm", "alarm": alarm}


def test_overflow_opens_one_record_repeats_count_and_empty_resolves(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    publish(broker, [(TOPIC_WET, alarm_event("ov-0", "overflow", -100))])
    wait_for(lambda: count(db_url, "kind = 'alarm'"), lambda c: c == 1, what="the alarm")
    run_tick(db_url)
    rows = alarms(db_url)
    assert [(r["bin_id"], r["kind"], r["state"], r["repeats"]) for r in rows] == [
        ("b-wet", "overflow", "open", 1)
    ]
    # 999 more of the same, in batches: still one record, counting all 1,000.
    batch = [alarm_event(f"ov-{i}", "overflow", -100 + i * 0.05) for i in range(1, 1000)]
    publish(broker, [(TOPIC_WET, batch[i : i + 100]) for i in range(0, 999, 100)])
    wait_for(lambda: count(db_url, "kind = 'alarm'"), lambda c: c == 1000, what="1000 alarms")
    run_tick(db_url)
    run_tick(db_url)  # a second read of the same events changes nothing
    rows = alarms(db_url)
    assert len(rows) == 1 and rows[0]["repeats"] == 1000 and rows[0]["state"] == "open"
    # The bin is emptied: the overflow resolves by itself; an old repeat does not reopen.
    publish(
        broker,
        [
            (
                TOPIC_WET,
                {
                    "event_id": "em-1",
                    "ts": now_iso(1),
                    "kind": "empty",
                    "weight_g": 30000,
                    "fill_pct": 0,
                },
            )
        ],
    )
    wait_for(lambda: count(db_url, "kind = 'empty'"), lambda c: c == 1, what="the empty")
    run_tick(db_url)
    run_tick(db_url)
    rows = alarms(db_url)
    assert len(rows) == 1
    assert (rows[0]["state"], rows[0]["resolved_by"]) == ("resolved", "auto")
    # A new overflow after the empty is a new record.
    publish(broker, [(TOPIC_WET, alarm_event("ov-new", "overflow", 2))])
    wait_for(lambda: count(db_url, "kind = 'alarm'"), lambda c: c == 1001, what="new alarm")
    run_tick(db_url)
    rows = alarms(db_url, "state = 'open'")
    assert [(r["kind"], r["repeats"]) for r in rows] == [("overflow", 1)]


def test_fill_at_threshold_opens_fill_high_and_an_empty_resolves_it(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    publish(
        broker,
        [(TOPIC_DRY, {"event_id": "f-1", "ts": now_iso(-5), "kind": "fill", "fill_pct": 89.5})],
    )
    wait_for(lambda: count(db_url, "kind = 'fill'"), lambda c: c == 1, what="fill")
    run_tick(db_url)
    assert alarms(db_url, "kind = 'fill_high'") == []
    publish(
        broker,
        [(TOPIC_DRY, {"event_id": "f-2", "ts": now_iso(-4), "kind": "fill", "fill_pct": 90.0})],
    )
    wait_for(lambda: count(db_url, "kind = 'fill'"), lambda c: c == 2, what="fill")
    run_tick(db_url)
    rows = alarms(db_url, "kind = 'fill_high'")
    assert [(r["bin_id"], r["state"]) for r in rows] == [("b-dry", "open")]
    publish(
        broker,
        [(TOPIC_DRY, {"event_id": "e-1", "ts": now_iso(-3), "kind": "empty", "weight_g": 2000})],
    )  # no fill_pct: counts as 0
    wait_for(lambda: count(db_url, "kind = 'empty'"), lambda c: c == 1, what="empty")
    run_tick(db_url)
    run_tick(db_url)
    rows = alarms(db_url, "kind = 'fill_high'")
    assert [(r["state"], r["resolved_by"]) for r in rows] == [("resolved", "auto")]


def test_an_overflow_with_a_full_reading_is_one_alarm_not_two(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    """A bin that says `overflow` at 97.5 % fill: the overflow record only; fill_high is
    for bins that report fill and no overflow. After the empty, a full reading without
    an overflow opens fill_high again."""
    overflow = alarm_event("ovf-1", "overflow", -10) | {"fill_pct": 97.5}
    reading = {"event_id": "ovf-f", "ts": now_iso(-9), "kind": "fill", "fill_pct": 98.0}
    publish(broker, [(TOPIC_WET, [overflow, reading])])
    wait_for(lambda: count(db_url, "event_id LIKE 'ovf-%'"), lambda c: c == 2, what="both")
    run_tick(db_url)
    run_tick(db_url)
    rows = alarms(db_url)
    assert [(r["bin_id"], r["kind"], r["state"]) for r in rows] == [("b-wet", "overflow", "open")]
    empty = {"event_id": "ovf-e", "ts": now_iso(-5), "kind": "empty", "weight_g": 30000}
    publish(broker, [(TOPIC_WET, empty)])
    wait_for(lambda: count(db_url, "kind = 'empty'"), lambda c: c == 1, what="the empty")
    run_tick(db_url)
    full = {"event_id": "ovf-f2", "ts": now_iso(-1), "kind": "fill", "fill_pct": 95.0}
    publish(broker, [(TOPIC_WET, full)])
    wait_for(lambda: count(db_url, "kind = 'fill'"), lambda c: c == 2, what="the reading")
    run_tick(db_url)
    rows = alarms(db_url, "state = 'open'")
    assert [(r["bin_id"], r["kind"]) for r in rows] == [("b-wet", "fill_high")]


def test_offline_within_n_minutes_and_back_at_the_next_message(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO alarm_settings (estate_id, offline_minutes,"
            " offline_window_minutes) VALUES ('jjq', 1, 1)"
        )
    publish(
        broker, [(TOPIC_DRY, {"event_id": "d-1", "ts": now_iso(), "kind": "drop", "weight_g": 321})]
    )
    wait_for(lambda: count(db_url, "event_id = 'd-1'"), lambda c: c == 1, what="drop")
    last = scalar(db_url, "SELECT last_seen FROM bins WHERE id = 'b-dry'")
    assert isinstance(last, datetime)
    run_tick(db_url, last + timedelta(seconds=50))
    assert alarms(db_url, "kind = 'offline' AND bin_id = 'b-dry'") == []
    # N minutes + 30 s after its last message: raised.
    run_tick(db_url, last + timedelta(seconds=90))
    rows = alarms(db_url, "kind = 'offline' AND bin_id = 'b-dry'")
    assert [r["state"] for r in rows] == ["open"]
    # It sends again: resolved.
    publish(
        broker, [(TOPIC_DRY, {"event_id": "d-2", "ts": now_iso(), "kind": "drop", "weight_g": 322})]
    )
    wait_for(lambda: count(db_url, "event_id = 'd-2'"), lambda c: c == 1, what="drop")
    run_tick(db_url)
    rows = alarms(db_url, "kind = 'offline' AND bin_id = 'b-dry'")
    assert [(r["state"], r["resolved_by"]) for r in rows] == [("resolved", "auto")]


def test_the_last_will_is_offline_at_once(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    publish(broker, [(status_topic("jjq", "r1", "b-wet"), {"online": False})])
    wait_for(
        lambda: scalar(db_url, "SELECT online FROM bins WHERE id = 'b-wet'"),
        lambda v: v is False,
        what="offline status",
    )
    run_tick(db_url)
    assert [r["state"] for r in alarms(db_url, "kind = 'offline' AND bin_id = 'b-wet'")] == ["open"]
    publish(broker, [(status_topic("jjq", "r1", "b-wet"), {"online": True})])
    wait_for(
        lambda: scalar(db_url, "SELECT online FROM bins WHERE id = 'b-wet'"),
        lambda v: v is True,
        what="online status",
    )
    run_tick(db_url)
    assert [r["state"] for r in alarms(db_url, "kind = 'offline' AND bin_id = 'b-wet'")] == [
        "resolved"
    ]


def test_battery_low_and_back(running: IngestProcess, db_url: str, broker: Broker) -> None:
    publish(
        broker,
        [
            (
                TOPIC_DRY,
                {
                    "event_id": "b-1",
                    "ts": now_iso(-2),
                    "kind": "fill",
                    "fill_pct": 10,
                    "battery_pct": 19.5,
                },
            )
        ],
    )
    wait_for(lambda: count(db_url, "event_id = 'b-1'"), lambda c: c == 1, what="reading")
    run_tick(db_url)
    assert [r["state"] for r in alarms(db_url, "kind = 'battery_low'")] == ["open"]
    publish(
        broker,
        [
            (
                TOPIC_DRY,
                {
                    "event_id": "b-2",
                    "ts": now_iso(-1),
                    "kind": "fill",
                    "fill_pct": 10,
                    "battery_pct": 80,
                },
            )
        ],
    )
    wait_for(lambda: count(db_url, "event_id = 'b-2'"), lambda c: c == 1, what="reading")
    run_tick(db_url)
    assert [r["state"] for r in alarms(db_url, "kind = 'battery_low'")] == ["resolved"]


def test_stuck_weights_raise_stuck_sensor(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    drops = [
        {"event_id": f"s-{i}", "ts": now_iso(-60 + i), "kind": "drop", "weight_g": 777}
        for i in range(10)
    ]
    publish(broker, [(events_topic("jjq", "r1", "b-wet"), drops)])
    wait_for(lambda: count(db_url, "weight_g = 777"), lambda c: c == 10, what="drops")
    run_tick(db_url)
    assert [(r["bin_id"], r["state"]) for r in alarms(db_url, "kind = 'stuck_sensor'")] == [
        ("b-wet", "open")
    ]
    publish(
        broker,
        [
            (
                events_topic("jjq", "r1", "b-wet"),
                {"event_id": "s-x", "ts": now_iso(), "kind": "drop", "weight_g": 412},
            )
        ],
    )
    wait_for(lambda: count(db_url, "event_id = 's-x'"), lambda c: c == 1, what="drop")
    run_tick(db_url)
    assert [r["state"] for r in alarms(db_url, "kind = 'stuck_sensor'")] == ["resolved"]
