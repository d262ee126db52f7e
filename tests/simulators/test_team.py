"""The demo's volunteer team and the history of its watches (simulators.team). Pure.

Checked against the inputs: the estate's registry (its buildings), the spec's drop-off
windows, and the API's documented check-in rules, written out here on their own.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from simulators.estate import Estate, EstateSpec, build_estate
from simulators.team import Seat, Team, Watch, build_team, plan_history, watch_windows

FIRST, LAST = date(2026, 11, 1), date(2026, 12, 31)
HAN = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
MASKED = re.compile(r"^1\d{2}\*{4}\d{4}$")


def estate(households: int = 1200, **spec: object) -> Estate:
    base = replace(EstateSpec(), **spec) if spec else EstateSpec()  # type: ignore[arg-type]
    return build_estate(base.scaled(households, "jjq-demo"), 2019, FIRST, date(2026, 11, 30))


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@pytest.mark.parametrize("households", [1200, 100])
def test_about_25_volunteers_with_unique_names_of_the_registrys_buildings(households: int) -> None:
    e = estate(households)
    team = build_team(e, 2019, FIRST, LAST)
    buildings = {h.building for h in e.households}
    names = [m.name for m in team.members]
    assert len(names) == 25
    assert len(set(names)) == 25
    assert all(HAN.match(n) for n in names), names
    assert names[0] == "王阿姨" and team.members[0].kind == "group_leader"
    assert all(MASKED.match(m.contact) for m in team.members)
    assert {m.building for m in team.members} <= buildings
    leaders = [m for m in team.members if m.kind == "group_leader"]
    # One group leader per building (as many as there are, up to a handful).
    assert len({m.building for m in leaders}) == len(leaders) == min(len(buildings), 8)
    assert {m.kind for m in team.members} <= {
        "group_leader",
        "party_member",
        "resident",
        "child_leader",
    }
    assert team.rooms == tuple(sorted({h.room for h in e.households}))
    for m in team.members:
        assert all(FIRST <= d <= LAST for d in m.unavailable_on)


@pytest.mark.parametrize(
    "windows",
    [
        EstateSpec().drop_windows,
        (("06:30", "08:30"), ("11:00", "12:30"), ("17:30", "19:30")),
        (("19:00", "21:00"),),
    ],
)
def test_every_watch_slot_lies_in_a_drop_off_window(windows: tuple[tuple[str, str], ...]) -> None:
    team = build_team(estate(drop_windows=windows), 2019, FIRST, LAST)
    spans = [(minutes(a), minutes(b)) for a, b in windows]
    assert team.weekday and team.weekend
    for start, end in (*team.weekday, *team.weekend):
        assert any(a <= minutes(start) < minutes(end) <= b for a, b in spans), (start, end)
    # Weekdays: the evening windows (after work, after school); weekends: every window.
    assert all(minutes(s) >= 12 * 60 for s, _ in team.weekday) or len(windows) == 1
    assert sorted(team.weekend) == sorted(windows)
    body = team.slots_body()
    assert body["weekday"] == [list(w) for w in team.weekday]


def test_the_simulators_own_windows_give_evening_and_weekend_watches() -> None:
    weekday, weekend = watch_windows([["07:00", "09:00"], ["18:00", "20:00"]])
    assert weekday == (("18:00", "20:00"),)
    assert weekend == (("07:00", "09:00"), ("18:00", "20:00"))


def can_watch(team: Team, member_index: int) -> bool:
    """Whether some slot of the team lies inside one of the member's windows."""
    m = team.members[member_index]
    if m.availability is None:
        return True
    slots = [(d, s, e) for d in range(5) for s, e in team.weekday]
    slots += [(d, s, e) for d in (5, 6) for s, e in team.weekend]
    return any(
        d in w.days and minutes(w.start) <= minutes(s) and minutes(e) <= minutes(w.end)
        for w in m.availability
        for d, s, e in slots
    )


def test_every_volunteer_can_take_some_watch() -> None:
    team = build_team(estate(), 2019, FIRST, LAST)
    assert all(can_watch(team, i) for i in range(len(team.members)))


def test_the_team_is_the_same_for_the_same_seed() -> None:
    e = estate()
    assert build_team(e, 7, FIRST, LAST) == build_team(e, 7, FIRST, LAST)
    assert build_team(e, 7, FIRST, LAST) != build_team(e, 8, FIRST, LAST)


# --- history --------------------------------------------------------------------------

NOW = datetime(2026, 12, 10, 10, 45, tzinfo=UTC)  # 18:45 in Shanghai: a watch under way


def roster(days: int = 45) -> list[Watch]:
    """Two rooms, an evening watch a day (18:00-20:00 +08:00), two seats each."""
    watches: list[Watch] = []
    seat = 0
    start = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    for d in range(days):
        for room in ("r1", "r2"):
            s = start + timedelta(days=d)
            seats = []
            for k in range(2):
                seat += 1
                seats.append(Seat(seat, 1 + (seat + k) % 25))
            watches.append(Watch(len(watches) + 1, room, s, s + timedelta(hours=2), tuple(seats)))
    return watches


def test_history_follows_the_check_in_rules_and_the_clock() -> None:
    watches = roster()
    by_seat = {s.assignment_id: w for w in watches for s in w.seats}
    h = plan_history(watches, NOW, 2019, {"r1": ["b01"], "r2": ["b02"]}, keep_free=1)
    past = [s.assignment_id for w in watches if w.ends_at <= NOW for s in w.seats]
    assert 0.75 * len(past) < len(h.attendance) <= len(past)
    for a in h.attendance:
        w = by_seat[a.assignment_id]
        assert w.ends_at <= NOW
        assert w.starts_at - timedelta(minutes=30) <= a.checked_in_at <= w.ends_at
        if a.checked_out_at is not None:
            assert a.checked_in_at <= a.checked_out_at <= min(NOW, w.ends_at + timedelta(hours=1))
    assert any(a.checked_out_at is not None for a in h.attendance)
    # The watch under way (10:00-12:00 UTC on the 10th): both rooms' seats check in now.
    open_now = {
        s.assignment_id
        for w in watches
        if w.starts_at - timedelta(minutes=30) <= NOW < w.ends_at
        for s in w.seats
    }
    assert {s.assignment_id for s in h.checking_in} == open_now and len(open_now) == 4


def test_inspections_are_of_attended_watches_and_some_find_mistakes() -> None:
    watches = roster()
    by_seat = {s.assignment_id: w for w in watches for s in w.seats}
    h = plan_history(watches, NOW, 2019, {"r1": ["b01"], "r2": ["b02", "b03"]})
    attended = {a.assignment_id for a in h.attendance}
    assert 1 <= len(h.inspections) <= 40
    assert {i.assignment_id for i in h.inspections} <= attended
    mistaken = [i for i in h.inspections if any(x.mis_sorted > 0 for x in i.lines)]
    assert len(mistaken) >= 3
    assert len(mistaken) < len(h.inspections)  # most watches find the bins well sorted
    for i in h.inspections:
        assert i.building in {"r1": ["b01"], "r2": ["b02", "b03"]}[by_seat[i.assignment_id].room]
        assert len({x.category for x in i.lines}) == len(i.lines)
        for x in i.lines:
            assert 0 <= x.re_sorted <= x.mis_sorted <= x.checked


def test_one_future_watch_is_offered_and_the_kept_free_volunteer_can_take_it() -> None:
    watches = roster()
    h = plan_history(watches, NOW, 2019, {}, keep_free=1)
    assert h.swap is not None
    w = next(w for w in watches if h.swap in w.seats)
    assert w.starts_at > NOW
    assert h.swap.volunteer_id != 1
    overlapping = [o for o in watches if o.starts_at < w.ends_at and w.starts_at < o.ends_at]
    assert all(s.volunteer_id != 1 for o in overlapping for s in o.seats)
    # Nothing to come: nothing to offer.
    assert plan_history([x for x in watches if x.starts_at < NOW], NOW, 2019, {}).swap is None


def test_history_is_the_same_for_the_same_seed_and_roster() -> None:
    watches = roster()
    assert plan_history(watches, NOW, 5, {}) == plan_history(list(reversed(watches)), NOW, 5, {})
    assert plan_history(watches, NOW, 5, {}) != plan_history(watches, NOW, 6, {})
