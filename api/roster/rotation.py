"""Watch slots, availability and fair rotation of a roster. Pure.

A slot's local clock times belong to the local day it starts on; an end at or before
the start runs past midnight into the next day. Weekday or weekend is the day type of
that starting day, so Friday's 22:00-01:00 watch is a weekday watch even after midnight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DayType = Literal["weekday", "weekend"]
MINUTES_PER_DAY = 24 * 60
# Saturday and Sunday (date.weekday(): Monday = 0).
WEEKEND_DAYS = frozenset({5, 6})


def day_type(day: date) -> DayType:
    """Weekend for Saturday and Sunday, otherwise weekday."""
    return "weekend" if day.weekday() in WEEKEND_DAYS else "weekday"


def _span(start: time, end: time) -> tuple[int, int]:
    """Minutes from the starting day's midnight; an end at or before the start wraps."""
    s = start.hour * 60 + start.minute
    e = end.hour * 60 + end.minute
    return s, e + MINUTES_PER_DAY if e <= s else e


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """A watch slot of a room on one day type: local [start, end), `needed` volunteers."""

    day_type: DayType
    start: time
    end: time
    needed: int = 1


def first_overlap(specs: Sequence[SlotSpec]) -> tuple[SlotSpec, SlotSpec] | None:
    """Two slots of one day type that share some minute, or None.

    A slot past midnight meets the next day's slots of its type too (a weekday
    22:00-02:00 and a weekday 01:00-03:00 overlap on the Tuesday), so each pair is
    compared on the same day and a day apart."""
    for i, a in enumerate(specs):
        for b in specs[i + 1 :]:
            if a.day_type != b.day_type:
                continue
            a0, a1 = _span(a.start, a.end)
            b0, b1 = _span(b.start, b.end)
            for shift in (-MINUTES_PER_DAY, 0, MINUTES_PER_DAY):
                if a0 < b1 + shift and b0 + shift < a1:
                    return a, b
    return None


@dataclass(frozen=True, slots=True)
class ShiftSlot:
    """One watch slot on one local day at one room, with its instants."""

    room: str
    day: date
    start: time
    end: time
    needed: int
    starts_at: datetime
    ends_at: datetime

    def overlaps(self, other: ShiftSlot) -> bool:
        """True when the two watches share some instant."""
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


def slot_instants(day: date, start: time, end: time, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The aware instants of a local slot starting on `day` (end wraps past midnight)."""
    s, e = _span(start, end)
    midnight = datetime.combine(day, time(0))
    # Local wall times → instants one at a time, so a DST change mid-slot is honoured.
    starts = (midnight + timedelta(minutes=s)).replace(tzinfo=tz)
    ends = (midnight + timedelta(minutes=e)).replace(tzinfo=tz)
    return starts, ends


def default_specs(windows: Iterable[Sequence[str]]) -> list[SlotSpec]:
    """An estate's drop-off windows as the watch slots of every day type."""
    specs = []
    for w in windows:
        start, end = time.fromisoformat(w[0]), time.fromisoformat(w[1])
        specs += [SlotSpec("weekday", start, end), SlotSpec("weekend", start, end)]
    return specs


def shift_slots(
    rooms: Mapping[str, Sequence[SlotSpec]], first: date, last: date, tz: ZoneInfo
) -> list[ShiftSlot]:
    """Every watch of each room for the local days [first, last], in time order."""
    out = []
    day = first
    while day <= last:
        kind = day_type(day)
        for room, specs in rooms.items():
            for spec in specs:
                if spec.day_type != kind:
                    continue
                starts, ends = slot_instants(day, spec.start, spec.end, tz)
                out.append(ShiftSlot(room, day, spec.start, spec.end, spec.needed, starts, ends))
        day += timedelta(days=1)
    out.sort(key=lambda s: (s.starts_at, s.room))
    return out


@dataclass(frozen=True, slots=True)
class AvailWindow:
    """Local clock times a volunteer can watch on the listed weekdays (Monday = 0)."""

    days: frozenset[int]
    start: time
    end: time

    def covers(self, day: date, start: time, end: time) -> bool:
        """True when a slot starting on `day` lies wholly inside this window."""
        if day.weekday() not in self.days:
            return False
        ws, we = _span(self.start, self.end)
        s, e = _span(start, end)
        return ws <= s and e <= we


@dataclass(frozen=True, slots=True)
class Availability:
    """When a volunteer can watch: `windows` None means any time; minus unavailable days."""

    windows: tuple[AvailWindow, ...] | None = None
    unavailable_on: frozenset[date] = field(default_factory=frozenset)

    def allows(self, day: date, start: time, end: time) -> bool:
        """True when the volunteer can take a slot starting on local `day`."""
        if day in self.unavailable_on:
            return False
        if self.windows is None:
            return True
        return any(w.covers(day, start, end) for w in self.windows)


def assign(
    slots: Sequence[ShiftSlot],
    volunteers: Mapping[int, Availability],
    prior: Mapping[int, int] | None = None,
) -> list[list[int]]:
    """Volunteer ids for each slot (same order), rotating fairly.

    Each seat goes to the available volunteer with the fewest shifts so far (counting
    `prior`, e.g. the month's shifts already held), then the one who watched least
    recently, then the lowest id. Nobody is put on two watches at once, and nobody is
    put where their availability does not allow. Seats nobody can take stay empty.
    """
    counts = {v: (prior or {}).get(v, 0) for v in volunteers}
    last_at: dict[int, int] = {}
    busy: dict[int, list[ShiftSlot]] = {v: [] for v in volunteers}
    result: list[list[int]] = []
    for index, slot in enumerate(slots):
        chosen: list[int] = []
        candidates = [
            v
            for v, avail in volunteers.items()
            if avail.allows(slot.day, slot.start, slot.end)
            and not any(slot.overlaps(other) for other in busy[v])
        ]
        candidates.sort(key=lambda v: (counts[v], last_at.get(v, -1), v))
        for v in candidates[: slot.needed]:
            chosen.append(v)
            counts[v] += 1
            last_at[v] = index
            busy[v].append(slot)
            # Only overlapping watches matter; older ones can be forgotten.
            busy[v] = [s for s in busy[v] if s.ends_at > slot.starts_at]
        result.append(chosen)
    return result
