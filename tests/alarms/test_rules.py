"""The pure decisions of the derived alarms (no services), on hand-made inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from api.alarms import rules

SH = ZoneInfo("Asia/Shanghai")
WINDOWS = [(time(7), time(9)), (time(18), time(20))]


def test_silent_room_needs_a_usual_pattern() -> None:
    assert rules.silent_room(0, [5, 3, 2, 0])  # 3 of 4 had drops
    assert rules.silent_room(0, [1, 1, 1, 1])
    assert not rules.silent_room(0, [5, 0, 0, 2])  # only 2 of 4: not usual
    assert not rules.silent_room(1, [5, 3, 2, 4])  # one drop: the reader works
    assert not rules.silent_room(0, [])


def test_same_type_days_are_weekdays_or_weekends() -> None:
    monday = date(2026, 11, 30)
    assert rules.same_type_days(monday) == [
        date(2026, 11, 27),
        date(2026, 11, 26),
        date(2026, 11, 25),
        date(2026, 11, 24),
    ]
    sunday = date(2026, 11, 29)
    assert rules.same_type_days(sunday) == [
        date(2026, 11, 28),
        date(2026, 11, 22),
        date(2026, 11, 21),
        date(2026, 11, 15),
    ]


def test_last_ended_window_is_judged_after_its_end() -> None:
    # 07:30 Shanghai: the morning window is running; yesterday evening's is the last.
    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    w = rules.last_ended_window(at, WINDOWS, SH)
    assert w is not None and w.day == date(2026, 11, 30) and w.index == 1
    # 09:00 exactly: the morning window has ended.
    w = rules.last_ended_window(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), WINDOWS, SH)
    assert w is not None and w.day == date(2026, 12, 1) and w.index == 0
    assert w.start == datetime(2026, 12, 1, 7, 0, tzinfo=SH)


def test_stuck_weights_needs_ten_identical_drops() -> None:
    assert rules.stuck_weights([500] * 10)
    assert rules.stuck_weights([500] * 12 + [300])
    assert not rules.stuck_weights([500] * 9)
    assert not rules.stuck_weights([500] * 9 + [501])
    assert not rules.stuck_weights([501] + [500] * 12)


def test_fill_out_of_range() -> None:
    assert rules.fill_out_of_range(250.0)
    assert rules.fill_out_of_range(-3.0)
    assert not rules.fill_out_of_range(100.0)
    assert not rules.fill_out_of_range(None)


def test_offline_minutes_shorter_in_a_window() -> None:
    in_window = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    outside = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00
    assert rules.offline_minutes(in_window, WINDOWS, SH, 60, 15) == 15
    assert rules.offline_minutes(outside, WINDOWS, SH, 60, 15) == 60
    last = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert rules.is_offline(outside, True, last, 60)
    assert not rules.is_offline(outside, True, last, 61)
    assert rules.is_offline(outside, False, outside, 60)  # the last will
    assert not rules.is_offline(outside, None, None, 60)  # never installed
