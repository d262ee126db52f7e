"""The pure roster logic: slots from windows, availability, fair rotation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from api.roster.rotation import (
    Availability,
    AvailWindow,
    SlotSpec,
    assign,
    day_type,
    default_specs,
    shift_slots,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVENINGS = [
    SlotSpec("weekday", time(18), time(20)),
    SlotSpec("weekend", time(7), time(9)),
    SlotSpec("weekend", time(18), time(20)),
]


def test_slots_follow_weekday_and_weekend_specs() -> None:
    # April 2026: 22 weekdays and 8 weekend days.
    slots = shift_slots({"r1": EVENINGS}, date(2026, 4, 1), date(2026, 4, 30), SHANGHAI)
    assert len(slots) == 22 + 8 * 2
    first = slots[0]
    assert first.day == date(2026, 4, 1) and first.start == time(18)
    assert first.starts_at == datetime(2026, 4, 1, 10, tzinfo=UTC)
    assert [s.starts_at for s in slots] == sorted(s.starts_at for s in slots)
    assert all(day_type(s.day) == "weekend" for s in slots if s.start == time(7))


def test_a_slot_ending_at_or_before_its_start_runs_past_midnight() -> None:
    specs = {"r1": [SlotSpec("weekday", time(22), time(1))]}
    (slot,) = shift_slots(specs, date(2026, 4, 3), date(2026, 4, 3), SHANGHAI)  # a Friday
    assert slot.starts_at == datetime(2026, 4, 3, 14, tzinfo=UTC)
    assert slot.ends_at == datetime(2026, 4, 3, 17, tzinfo=UTC)  # Saturday 01:00 local
    # Saturday has no weekday watch.
    assert shift_slots(specs, date(2026, 4, 4), date(2026, 4, 4), SHANGHAI) == []


def test_default_specs_watch_the_drop_windows_every_day() -> None:
    specs = default_specs([["07:00", "09:00"], ["18:00", "20:00"]])
    assert {(s.day_type, s.start) for s in specs} == {
        ("weekday", time(7)),
        ("weekend", time(7)),
        ("weekday", time(18)),
        ("weekend", time(18)),
    }


def test_availability_windows_and_days_off() -> None:
    evenings = Availability(
        (AvailWindow(frozenset(range(5)), time(17, 30), time(21)),), frozenset({date(2026, 4, 7)})
    )
    assert evenings.allows(date(2026, 4, 6), time(18), time(20))
    assert not evenings.allows(date(2026, 4, 7), time(18), time(20))  # a day off
    assert not evenings.allows(date(2026, 4, 4), time(18), time(20))  # Saturday
    assert not evenings.allows(date(2026, 4, 6), time(7), time(9))
    assert not evenings.allows(date(2026, 4, 6), time(20), time(22))  # runs past 21:00
    night = Availability((AvailWindow(frozenset({4}), time(21), time(2)),))
    assert night.allows(date(2026, 4, 3), time(22), time(1))
    assert Availability().allows(date(2026, 4, 3), time(0), time(23, 59))


def test_equal_volunteers_share_a_month_within_one_shift() -> None:
    slots = shift_slots(
        {"r1": EVENINGS, "r2": EVENINGS}, date(2026, 4, 1), date(2026, 4, 30), SHANGHAI
    )
    chosen = assign(slots, {v: Availability() for v in range(1, 26)})
    counts = Counter(v for seats in chosen for v in seats)
    assert sum(counts.values()) == len(slots)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len(counts) == 25


def test_nobody_is_on_two_rooms_at_once_and_seats_beyond_the_team_stay_empty() -> None:
    specs = [SlotSpec("weekday", time(18), time(20), needed=2)]
    slots = shift_slots({"r1": specs, "r2": specs}, date(2026, 4, 6), date(2026, 4, 6), SHANGHAI)
    chosen = assign(slots, {1: Availability(), 2: Availability(), 3: Availability()})
    assert sorted(len(c) for c in chosen) == [1, 2]
    assert len({v for c in chosen for v in c}) == 3


def test_prior_shifts_count_towards_the_share() -> None:
    slots = shift_slots({"r1": EVENINGS}, date(2026, 4, 6), date(2026, 4, 7), SHANGHAI)
    chosen = assign(slots, {1: Availability(), 2: Availability()}, prior={1: 5})
    assert [c for c in chosen] == [[2], [2]]


_days = st.frozensets(st.integers(0, 6), min_size=1)
_window = st.builds(
    lambda d, s, n: AvailWindow(d, time(s), time(min(s + n, 23), 59)),
    _days,
    st.integers(5, 20),
    st.integers(1, 6),
)
_availability = st.builds(
    Availability,
    st.one_of(st.none(), st.tuples(_window), st.tuples(_window, _window)),
    st.frozensets(st.dates(date(2026, 4, 1), date(2026, 4, 30)), max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(
    groups=st.lists(st.tuples(_availability, st.integers(1, 5)), min_size=1, max_size=5),
    needed=st.integers(1, 3),
    rooms=st.integers(1, 3),
)
def test_fair_and_never_unavailable(
    groups: list[tuple[Availability, int]], needed: int, rooms: int
) -> None:
    """Volunteers with identical availability differ by at most one shift; no volunteer
    is ever put on a slot their availability does not allow, nor on two at once."""
    volunteers: dict[int, Availability] = {}
    group_of: dict[int, int] = {}
    for g, (avail, size) in enumerate(groups):
        for _ in range(size):
            vid = len(volunteers) + 1
            volunteers[vid] = avail
            group_of[vid] = g
    specs = [
        SlotSpec("weekday", time(18), time(20), needed),
        SlotSpec("weekend", time(7), time(9), needed),
        SlotSpec("weekend", time(18), time(20), needed),
    ]
    slots = shift_slots(
        {f"r{i}": specs for i in range(rooms)}, date(2026, 4, 1), date(2026, 4, 30), SHANGHAI
    )
    chosen = assign(slots, volunteers)
    counts = Counter(v for seats in chosen for v in seats)
    for slot, seats in zip(slots, chosen, strict=True):
        assert len(seats) <= slot.needed and len(set(seats)) == len(seats)
        for v in seats:
            assert volunteers[v].allows(slot.day, slot.start, slot.end)
    for i, a in enumerate(slots):
        for b in slots[i + 1 :]:
            if a.overlaps(b):
                assert not set(chosen[i]) & set(chosen[slots.index(b)])
    for g in range(len(groups)):
        members = [counts[v] for v in volunteers if group_of[v] == g]
        assert max(members) - min(members) <= 1, (g, members)
