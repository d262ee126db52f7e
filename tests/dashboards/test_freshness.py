"""The stale-data decision (dashboards/freshness.py). Pure: instants and windows made here.

The pages' badge over the real services: tests/dashboards/test_overview_pages.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboards import freshness, i18n

ZONE = "Asia/Shanghai"
WINDOWS = [(time(7), time(9)), (time(18), time(20))]
THRESHOLD = timedelta(minutes=30)


def local(hh: int, mm: int, day: int = 2) -> datetime:
    """An instant at hh:mm on 2026-03-<day> in Shanghai, as UTC (the database's)."""
    return datetime(2026, 3, day, hh, mm, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def decide(now: datetime, newest: datetime | None) -> int | None:
    return freshness.stale_minutes(now, newest, WINDOWS, ZONE, THRESHOLD)


def test_inside_a_window_old_data_is_stale_by_its_age() -> None:
    assert decide(local(8, 30), local(7, 45)) == 45
    assert decide(local(19, 59), local(19, 29)) == 30  # the threshold itself counts


def test_recent_data_is_not_stale() -> None:
    assert decide(local(8, 30), local(8, 21)) is None
    assert decide(local(8, 30), local(8, 1)) is None  # 29 minutes


def test_outside_the_windows_silence_is_normal() -> None:
    assert decide(local(12, 0), local(8, 59)) is None
    assert decide(local(3, 0), local(19, 50, day=1)) is None
    assert decide(local(9, 0), local(7, 0)) is None  # the end is not in the window
    assert decide(local(20, 0), None) is None


def test_silence_counts_from_the_window_s_opening() -> None:
    """After a quiet night the window must itself be quiet for the threshold."""
    last_night = local(19, 58, day=1)
    assert decide(local(7, 10), last_night) is None
    assert decide(local(7, 29), last_night) is None
    minutes = decide(local(7, 30), last_night)
    assert minutes == int((local(7, 30) - last_night).total_seconds() // 60) == 692


def test_an_estate_that_never_sent_is_told_once_the_window_is_quiet() -> None:
    assert decide(local(18, 10), None) is None
    assert decide(local(18, 40), None) == -1


def test_the_windows_are_the_estate_s_local_times() -> None:
    # 07:30 in Shanghai is 23:30 UTC the day before: a UTC reading would say "outside".
    now = local(7, 50)
    assert now.hour == 23
    assert decide(now, local(7, 0)) == 50
    # The same instant read in a zone where it is 00:50 is outside those windows.
    assert freshness.stale_minutes(now, local(7, 0), WINDOWS, "Europe/London", THRESHOLD) is None


def test_windows_are_read_as_the_database_reads_them() -> None:
    parsed = freshness.windows([["07:00", "09:00"], ["20:00", "18:00"], ["bad"], [1, 2], []])
    assert parsed == [(time(7), time(9))]
    assert freshness.windows(None) == []


def test_decide_over_rows_and_the_badge_text() -> None:
    rows: list[dict[str, Any]] = [
        {
            "id": "jjq",
            "name": "蒋家桥",
            "timezone": ZONE,
            "drop_windows": [["07:00", "09:00"]],
            "newest": local(7, 5),
        },
        {  # fresh
            "id": "oyl",
            "name": "欧阳路",
            "timezone": ZONE,
            "drop_windows": [["07:00", "09:00"]],
            "newest": local(8, 40),
        },
        {
            "id": "nod",
            "name": "新",
            "timezone": ZONE,
            "drop_windows": [["07:00", "09:00"]],
            "newest": None,
        },
    ]
    found = freshness.decide(rows, 30, local(8, 50))
    assert [(s.estate, s.minutes) for s in found] == [("jjq", 105), ("nod", None)]
    zh = freshness.badge("zh", found[0])
    assert zh.startswith("蒋家桥：数据已 105 分钟未更新")
    assert "2026年3月2日 07:05" in zh  # the newest event in the estate's zone
    assert "no new data for 105 minutes" in freshness.badge("en", found[0])
    assert freshness.badge("zh", found[1]) == i18n.t("zh", "stale.never", estate="新")


@pytest.mark.parametrize("minutes", [1, 30, 90])
def test_the_threshold_is_the_setting(minutes: int) -> None:
    rows = [
        {
            "id": "e",
            "name": "e",
            "timezone": ZONE,
            "drop_windows": [["07:00", "09:00"]],
            "newest": local(7, 0),
        }
    ]
    assert freshness.decide(rows, minutes, local(7, 0) + timedelta(minutes=minutes))
    assert not freshness.decide(
        rows, minutes, local(7, 0) + timedelta(minutes=minutes - 1) + timedelta(seconds=59)
    )


def test_a_watched_room_s_slots_count_on_their_day_type() -> None:
    """2026-03-02 is a Monday, 2026-03-07 a Saturday."""
    watch = [("weekday", time(21), time(23)), ("weekend", time(10), time(11))]

    def at(now: datetime, newest: datetime) -> int | None:
        return freshness.stale_minutes(now, newest, WINDOWS, ZONE, THRESHOLD, watch)

    assert at(local(22, 0), local(21, 0)) == 60  # Monday's evening watch
    assert at(local(22, 0, day=7), local(21, 0, day=7)) is None  # not on Saturday
    assert at(local(10, 45, day=7), local(10, 0, day=7)) == 45  # Saturday's morning one
    assert at(local(10, 45), local(10, 0)) is None  # not on Monday
    assert at(local(8, 30), local(7, 45)) == 45  # the drop-off windows still count


def test_a_slot_past_midnight_belongs_to_the_day_it_starts() -> None:
    """Friday 6 March 22:00 to 01:00: a weekday slot, still running at Saturday 00:40."""
    watch = [("weekday", time(22), time(1))]
    newest = local(23, 50, day=6)
    assert freshness.stale_minutes(local(0, 40, day=7), newest, [], ZONE, THRESHOLD, watch) == 50
    assert freshness.stale_minutes(local(1, 0, day=7), newest, [], ZONE, THRESHOLD, watch) is None
    # Saturday's own 22:00 is a weekend evening: no weekday slot then.
    assert freshness.stale_minutes(local(23, 0, day=7), newest, [], ZONE, THRESHOLD, watch) is None


def test_slots_are_read_as_the_database_gives_them() -> None:
    rows = [["weekday", "21:00:00", "23:00:00"], ["holiday", "07:00", "09:00"], ["weekend"]]
    assert freshness.slots(rows) == [("weekday", time(21), time(23))]
