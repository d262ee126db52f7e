"""A device alarm keeps the level its events reported (`detail.fill_pct`): the
notifier's message says "满溢 (97.5%)" from it. Events are written directly (the
inputs are the point); the ticks run on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.alarms.helpers import alarms, run_tick
from tests.fix_data import register

pytestmark = pytest.mark.integration


def add_alarm_event(
    db_url: str, bin_id: str, event_id: str, ts: datetime, fill_pct: float | None
) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, fill_pct,"
            " alarm) SELECT %s, bin_key, %s, estate_id, category, 'alarm', %s, 'overflow'"
            " FROM bins WHERE id = %s",
            (ts, event_id, fill_pct, bin_id),
        )


def detail(db_url: str, bin_id: str) -> object:
    rows = alarms(db_url, f"bin_id = '{bin_id}' AND kind = 'overflow'")
    assert len(rows) == 1
    return rows[0]["detail"]


def test_the_newest_reading_is_kept_and_an_older_one_read_later_does_not_replace_it(
    db_url: str,
) -> None:
    register(db_url, rooms={"r1": {"b1": "wet", "b2": "wet"}})
    now = datetime.now(UTC)
    add_alarm_event(db_url, "b1", "a", now - timedelta(seconds=30), 97.5)
    add_alarm_event(db_url, "b2", "none", now - timedelta(seconds=30), None)
    run_tick(db_url)
    assert detail(db_url, "b1") == {"fill_pct": 97.5}
    assert detail(db_url, "b2") == {}  # no level sent: none claimed
    add_alarm_event(db_url, "b1", "b", now - timedelta(seconds=10), 99.0)
    run_tick(db_url)
    assert detail(db_url, "b1") == {"fill_pct": 99.0}
    # Stored later but measured earlier (a device's backlog), and a repeat without a
    # level: the newest reading stays.
    add_alarm_event(db_url, "b1", "c", now - timedelta(seconds=20), 95.0)
    add_alarm_event(db_url, "b1", "d", now - timedelta(seconds=5), None)
    run_tick(db_url)
    assert detail(db_url, "b1") == {"fill_pct": 99.0}
    assert alarms(db_url, "bin_id = 'b1'")[0]["repeats"] == 4
