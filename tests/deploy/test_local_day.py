"""The local-day rules in SQL (deploy/sql/idempotent/01_local_day.sql) against zoneinfo."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

pytestmark = pytest.mark.integration

# Zones with DST, half- and quarter-hour offsets, and the project's own.
ZONES = (
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
)
WINDOWS = [["07:00", "09:00"], ["18:30", "20:00"]]


def _in_windows(local: time, windows: list[list[str]]) -> bool:
    """The brief's rule, independently: local [start, end) of any window."""
    return any(time.fromisoformat(a) <= local < time.fromisoformat(b) for a, b in windows)


def _evaluate(db_url: str, instants: list[datetime], zones: list[str], windows: Any) -> list[Any]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            """
            SELECT fenlei_local_day(t, z), fenlei_in_window(t, z, fenlei_windows(%s))
            FROM unnest(%s::timestamptz[], %s::text[]) WITH ORDINALITY AS x(t, z, i)
            ORDER BY i
            """,
            (None if windows is None else Jsonb(windows), instants, zones),
        ).fetchall()


def test_local_day_and_window_equal_zoneinfo(db_url: str) -> None:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    instants, zones = [], []
    for _ in range(3000):
        instants.append(start + timedelta(seconds=rng.randrange(365 * 86400), microseconds=1))
        zones.append(rng.choice(ZONES))
    # Around the 2025 DST changes of Berlin (Mar 30, Oct 26) and New York (Mar 9, Nov 2).
    for day, zone in (
        ("2025-03-30", "Europe/Berlin"),
        ("2025-10-26", "Europe/Berlin"),
        ("2025-03-09", "America/New_York"),
        ("2025-11-02", "America/New_York"),
    ):
        midnight = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))
        for minutes in range(0, 26 * 60, 7):
            instants.append(midnight + timedelta(minutes=minutes))
            zones.append(zone)
    got = _evaluate(db_url, instants, zones, WINDOWS)
    for instant, zone, (day, in_window) in zip(instants, zones, got, strict=True):
        local = instant.astimezone(ZoneInfo(zone))
        assert day == local.date(), (instant, zone)
        assert in_window == _in_windows(local.time(), WINDOWS), (instant, zone)


@pytest.mark.parametrize(
    ("instant", "day", "in_window"),
    [
        ("2026-03-23T22:59:59.999999+00:00", date(2026, 3, 24), False),
        ("2026-03-23T23:00:00+00:00", date(2026, 3, 24), True),
        ("2026-03-24T00:59:59+00:00", date(2026, 3, 24), True),
        ("2026-03-24T01:00:00+00:00", date(2026, 3, 24), False),
        ("2026-03-24T10:29:59+00:00", date(2026, 3, 24), False),
        ("2026-03-24T10:30:00+00:00", date(2026, 3, 24), True),
        ("2026-03-24T11:59:59.999999+00:00", date(2026, 3, 24), True),
        ("2026-03-24T12:00:00+00:00", date(2026, 3, 24), False),
        ("2026-03-24T15:59:59+00:00", date(2026, 3, 24), False),
        ("2026-03-24T16:00:00+00:00", date(2026, 3, 25), False),
    ],
)
def test_boundaries_in_shanghai(db_url: str, instant: str, day: date, in_window: bool) -> None:
    # Windows 07:00-09:00 and 18:30-20:00 local = 23:00-01:00 and 10:30-12:00 UTC.
    got = _evaluate(db_url, [datetime.fromisoformat(instant)], ["Asia/Shanghai"], WINDOWS)
    assert got == [(day, in_window)]


@pytest.mark.parametrize(
    "windows",
    [[], None, [["09:00", "07:00"]], [["00:00", "24:00"]], [["07:00:30", "07:00:45"]]],
)
def test_odd_windows(db_url: str, windows: list[list[str]] | None) -> None:
    instants = [datetime(2026, 3, 24, 7, 0, s, tzinfo=ZoneInfo("Asia/Shanghai")) for s in range(60)]
    got = _evaluate(db_url, instants, ["Asia/Shanghai"] * len(instants), windows)
    want = [
        # A window ending at 24:00 holds the rest of the day (time() cannot say 24:00).
        windows == [["00:00", "24:00"]] or _in_windows(i.time(), windows or [])
        for i in instants
    ]
    assert [w for _, w in got] == want


def test_local_day_start_is_local_midnight(db_url: str) -> None:
    days = [date(2025, 1, 1) + timedelta(days=d) for d in range(0, 365, 3)]
    with psycopg.connect(db_url) as conn:
        for zone in ZONES:
            got = conn.execute(
                "SELECT fenlei_local_day_start(d, %s) FROM unnest(%s::date[]) AS d",
                (zone, days),
            ).fetchall()
            want = [datetime.combine(d, time(0), ZoneInfo(zone)) for d in days]
            assert [r[0] for r in got] == want, zone
