"""The demo estate's volunteer team, and what its past watches left behind. Pure.

A Shanghai estate's watch (定时定点 值守) is kept mostly by retired residents, one group
leader (楼组长) per building heading the volunteers of their building. `build_team`
draws about 25 such volunteers for a built estate: names as neighbours call each other
(王阿姨, 李师傅), masked phone numbers, buildings of the estate's registry, and when
each can watch. Their watch slots are the estate's own drop-off windows (the ones the
simulated households drop in): the evening window on weekdays, every window at the
weekend.

`plan_history` takes the roster the API generated and says what happened on its watches
up to `now`: who checked in and out, which inspections were written up (a few with
mis-sorted drops), who is checking in right now, and one watch offered for a swap.

Everything random is drawn from numpy Generators seeded with the run's seed, so the same
seed, estate and roster give the same team and the same history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from simulators.estate import Estate

TEAM_SIZE = 25
# One group leader per building, up to this many (the rest of the buildings' volunteers
# report to the committee directly).
MAX_GROUP_LEADERS = 8
PARTY_MEMBERS = 3
CHILD_LEADERS = 1
# Volunteers per watch: two at the bins (one guides, one checks the bags).
NEEDED = 2
# Windows starting at or after noon are evening windows (the weekday watch).
NOON = "12:00"

# The first two are the team's best-known faces (the issue names them).
FIRST_NAMES = ("王阿姨", "李师傅")
SURNAMES = tuple(
    "张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹"
    "袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方"
)  # one character each
# How a retired neighbour is called: women 阿姨, men 师傅 / 老伯 / 爷叔 (Shanghainese).
TITLES_F = ("阿姨",)
TITLES_M = ("师傅", "老伯", "爷叔")
# Party members sign with their full names.
GIVEN = [
    "建国",
    "秀英",
    "桂芳",
    "志强",
    "国华",
    "美华",
    "玉兰",
    "德明",
    "丽娟",
    "海峰",
    "伟民",
    "慧珍",
    "建华",
    "凤英",
    "明德",
    "雅琴",
]
CHILD_GIVEN = ["小雨", "朵朵", "乐乐", "小宇", "豆豆", "欣欣"]
PHONE_PREFIXES = ("139", "138", "137", "136", "135", "158", "159", "186", "189", "133")

ANY_DAY = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS = (0, 1, 2, 3, 4)
WEEKEND = (5, 6)

# Mis-sortings volunteers write up, and what a clean watch looks like.
MISTAKE_NOTES = (
    "外卖盒混入湿垃圾",
    "湿垃圾未破袋",
    "快递纸箱未压扁",
    "塑料袋混入湿垃圾",
    "干电池投入干垃圾桶",
    "玻璃瓶混入干垃圾",
)
CLEAN_NOTE = "分类良好"
SWAP_NOTE = "那天要陪老伴去医院复查，谁能帮我顶一下班？谢谢！"


@dataclass(frozen=True, slots=True)
class Window:
    """Local clock times on the listed weekdays (Monday = 0), as the API takes them."""

    days: tuple[int, ...]
    start: str  # HH:MM
    end: str


@dataclass(frozen=True, slots=True)
class Member:
    """One volunteer as the committee registers them."""

    name: str
    contact: str
    building: str
    kind: str  # party_member, group_leader, resident, child_leader
    availability: tuple[Window, ...] | None  # None: any time
    unavailable_on: tuple[date, ...]

    def body(self) -> dict[str, object]:
        """The `POST /estates/{estate}/volunteers` body."""
        return {
            "name": self.name,
            "contact": self.contact,
            "building": self.building,
            "kind": self.kind,
            "availability": None
            if self.availability is None
            else [
                {"days": list(w.days), "start": w.start, "end": w.end} for w in self.availability
            ],
            "unavailable_on": [d.isoformat() for d in self.unavailable_on],
        }


@dataclass(frozen=True, slots=True)
class Team:
    """The volunteers and the watch slots of every room (the same in each room)."""

    estate: str
    members: tuple[Member, ...]
    rooms: tuple[str, ...]
    weekday: tuple[tuple[str, str], ...]
    weekend: tuple[tuple[str, str], ...]
    needed: int

    def slots_body(self) -> dict[str, object]:
        """The `PUT /estates/{estate}/rooms/{room}/watch-slots` body."""
        return {
            "weekday": [list(w) for w in self.weekday],
            "weekend": [list(w) for w in self.weekend],
            "needed": self.needed,
        }


def watch_windows(
    drop_windows: Sequence[Sequence[str]],
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(weekday, weekend) watch slots: the evening drop-off windows on weekdays (all of
    them when none starts after noon), every window at the weekend."""
    windows = tuple((str(w[0]), str(w[1])) for w in drop_windows)
    evening = tuple(w for w in windows if w[0] >= NOON) or windows
    return evening, windows


def _draw_name(rng: np.random.Generator, kind: str, taken: set[str]) -> str:
    while True:
        surname = str(rng.choice(SURNAMES))
        if kind == "party_member":
            name = surname + str(rng.choice(GIVEN))
        elif kind == "child_leader":
            name = surname + str(rng.choice(CHILD_GIVEN))
        else:
            titles = TITLES_F if rng.random() < 0.55 else TITLES_M
            name = surname + str(rng.choice(titles))
        if name not in taken:
            return name


def _availability(rng: np.random.Generator, kind: str) -> tuple[Window, ...] | None:
    if kind in ("group_leader", "party_member"):
        return None  # they take whatever is left uncovered
    if kind == "child_leader":
        return (Window(WEEKEND, "06:30", "21:00"),)  # school days are for school
    pattern = int(rng.choice(5, p=[0.4, 0.2, 0.15, 0.1, 0.15]))
    if pattern == 0:
        return None  # retired, any time
    if pattern == 1:
        return (Window(ANY_DAY, "17:00", "21:00"),)  # evenings: the grandchildren's mornings
    if pattern == 2:
        return (Window(WEEKEND, "06:30", "21:00"),)  # still working
    if pattern == 3:
        return (Window(ANY_DAY, "06:30", "10:00"),)  # early risers: weekend mornings only
    return (Window(WEEKDAYS, "17:00", "21:00"), Window(WEEKEND, "06:30", "21:00"))


def _away(rng: np.random.Generator, first: date, last: date) -> tuple[date, ...]:
    """A few consecutive days away (visiting children, a trip), for some volunteers."""
    if rng.random() >= 0.2:
        return ()
    span = (last - first).days + 1
    length = int(rng.integers(2, 6))
    start = first + timedelta(days=int(rng.integers(0, max(1, span - length))))
    return tuple(
        start + timedelta(days=i) for i in range(length) if start + timedelta(days=i) <= last
    )


def build_team(estate: Estate, seed: int, first: date, last: date, size: int = TEAM_SIZE) -> Team:
    """About `size` volunteers of `estate` for rosters of local days [first, last]."""
    # "team": streams of their own; who they are does not depend on the dates rostered.
    rng = np.random.default_rng([seed, 0x7465616D, 0])
    rng_when = np.random.default_rng([seed, 0x7465616D, 1])
    buildings = sorted({h.building for h in estate.households})
    if not buildings:
        raise ValueError(f"estate {estate.id!r} has no buildings to draw volunteers from")
    leaders = min(len(buildings), MAX_GROUP_LEADERS, size)
    kinds = ["group_leader"] * leaders
    kinds += ["party_member"] * min(PARTY_MEMBERS, size - len(kinds))
    kinds += ["child_leader"] * min(CHILD_LEADERS, size - len(kinds))
    kinds += ["resident"] * (size - len(kinds))
    taken: set[str] = set()
    members = []
    for i, kind in enumerate(kinds):
        # The group leaders head the first buildings, one each; the others live anywhere.
        building = buildings[i] if i < leaders else str(rng.choice(buildings))
        name = FIRST_NAMES[i] if i < len(FIRST_NAMES) else _draw_name(rng, kind, taken)
        taken.add(name)
        contact = f"{rng.choice(PHONE_PREFIXES)}****{int(rng.integers(0, 10_000)):04d}"
        members.append(
            Member(
                name,
                contact,
                building,
                kind,
                _availability(rng_when, kind),
                _away(rng_when, first, last),
            )
        )
    weekday, weekend = watch_windows(estate.spec.drop_windows)
    return Team(
        estate=estate.id,
        members=tuple(members),
        rooms=tuple(estate.rooms()),
        weekday=weekday,
        weekend=weekend,
        needed=NEEDED,
    )


# --- what the watches left behind -----------------------------------------------------

# As the API's rules have it (api.shifts.service): check-in from 30 minutes before a
# watch until its end, check-out up to an hour after it.
CHECK_IN_EARLY = timedelta(minutes=30)
CHECK_OUT_LATE = timedelta(hours=1)
# Of the past watches' seats: checked in; of those, checked out too; inspected.
CHECKED_IN = 0.9
CHECKED_OUT = 0.93
INSPECTED = 0.35
# An inspection finds mis-sorted drops this often; at least this many do.
MISTAKES = 0.25
MIN_MISTAKES = 3
# Inspections written up over the whole history (the most recent ones).
MAX_INSPECTIONS = 40


@dataclass(frozen=True, slots=True)
class Seat:
    """One volunteer's assignment to a watch of the roster."""

    assignment_id: int
    volunteer_id: int


@dataclass(frozen=True, slots=True)
class Watch:
    """A watch of the roster as the API answers it."""

    shift_id: int
    room: str
    starts_at: datetime
    ends_at: datetime
    seats: tuple[Seat, ...]


@dataclass(frozen=True, slots=True)
class Attendance:
    """A past seat's check-in and (unless forgotten) check-out."""

    assignment_id: int
    checked_in_at: datetime
    checked_out_at: datetime | None


@dataclass(frozen=True, slots=True)
class Line:
    """Counts of one category in an inspection."""

    category: str
    checked: int
    mis_sorted: int
    re_sorted: int


@dataclass(frozen=True, slots=True)
class PlannedInspection:
    """An inspection written up on a past seat that was checked in."""

    assignment_id: int
    building: str | None
    notes: str
    lines: tuple[Line, ...]

    def body(self) -> dict[str, object]:
        """The `POST /assignments/{assignment}/inspections` body."""
        return {
            "building": self.building,
            "notes": self.notes,
            "lines": [
                {
                    "category": x.category,
                    "checked": x.checked,
                    "mis_sorted": x.mis_sorted,
                    "re_sorted": x.re_sorted,
                }
                for x in self.lines
            ],
        }


@dataclass(frozen=True, slots=True)
class History:
    """What the roster's watches saw up to `now`."""

    attendance: tuple[Attendance, ...]  # past watches
    checking_in: tuple[Seat, ...]  # watches open for check-in now
    inspections: tuple[PlannedInspection, ...]
    swap: Seat | None  # a future seat its volunteer offers to the others


def _lines(rng: np.random.Generator, mistaken: bool) -> tuple[Line, ...]:
    lines = []
    for category, low, high in (("wet", 20, 50), ("dry", 10, 30), ("recyclable", 3, 12)):
        if category == "recyclable" and rng.random() < 0.5:
            continue
        checked = int(rng.integers(low, high + 1))
        mis = (
            int(rng.integers(1, min(5, checked) + 1))
            if mistaken and category != "recyclable"
            else 0
        )
        # Most mistakes are put right on the spot; a few bags were gone already.
        re = mis if rng.random() < 0.8 else int(rng.integers(0, mis + 1))
        lines.append(Line(category, checked, mis, re))
    return tuple(lines)


def plan_history(
    watches: Sequence[Watch],
    now: datetime,
    seed: int,
    buildings_by_room: Mapping[str, Sequence[str]],
    keep_free: int | None = None,
) -> History:
    """What happened on `watches` (the roster, any order) up to `now`.

    `buildings_by_room`: the buildings whose households use each room (an inspection
    names one). `keep_free`: a volunteer who should be able to take the swap offered
    (not its offerer, and not on a watch overlapping it).
    """
    rng = np.random.default_rng([seed, 0x68697374])  # "hist"
    ordered = sorted(watches, key=lambda w: (w.starts_at, w.room, w.shift_id))
    attendance: list[Attendance] = []
    checking_in: list[Seat] = []
    candidates: list[tuple[Watch, Seat]] = []
    for w in ordered:
        for seat in w.seats:
            if w.ends_at <= now:
                if rng.random() >= CHECKED_IN:
                    continue
                came = w.starts_at + timedelta(minutes=int(rng.integers(-20, 11)))
                left: datetime | None = w.ends_at + timedelta(minutes=int(rng.integers(-10, 21)))
                assert left is not None
                left = max(came, min(left, now, w.ends_at + CHECK_OUT_LATE))
                if rng.random() >= CHECKED_OUT:
                    left = None  # forgot to check out
                attendance.append(Attendance(seat.assignment_id, came, left))
                candidates.append((w, seat))
            elif w.starts_at - CHECK_IN_EARLY <= now:
                checking_in.append(seat)
    picked = [c for c in candidates if rng.random() < INSPECTED][-MAX_INSPECTIONS:]
    mistaken = [bool(rng.random() < MISTAKES) for _ in picked]
    # A demo without a single mistake would show a perfect accuracy and nothing to do.
    for i in range(len(picked) - 1, -1, -1):
        if sum(mistaken) >= min(MIN_MISTAKES, len(picked)):
            break
        mistaken[i] = True
    inspections = []
    for (w, seat), wrong in zip(picked, mistaken, strict=True):
        served: list[str | None] = [*buildings_by_room.get(w.room, ())] or [None]
        building = served[int(rng.integers(0, len(served)))]
        note = str(rng.choice(MISTAKE_NOTES)) if wrong else CLEAN_NOTE
        inspections.append(
            PlannedInspection(seat.assignment_id, building, note, _lines(rng, wrong))
        )
    return History(
        attendance=tuple(attendance),
        checking_in=tuple(checking_in),
        inspections=tuple(inspections),
        swap=_swap(ordered, now, keep_free),
    )


def _swap(ordered: Sequence[Watch], now: datetime, keep_free: int | None) -> Seat | None:
    """The seat of the first watch still to come (after the next hour) whose volunteer
    is not `keep_free`, where `keep_free` holds no overlapping watch (so they can take it)."""
    for w in ordered:
        if w.starts_at <= now + timedelta(hours=1):
            continue
        if keep_free is not None and any(
            s.volunteer_id == keep_free
            for o in ordered
            if o.starts_at < w.ends_at and w.starts_at < o.ends_at
            for s in o.seats
        ):
            continue
        for seat in w.seats:
            if seat.volunteer_id != keep_free:
                return seat
    return None
