"""A household's registry history, and the rules that turn a row of the households POST
(or of an imported sheet) into a new history. Pure: no database, no clock.

A history is where the household belongs (memberships: building and building group from
`valid_from`, until `valid_to`, exclusive) and when it is enrolled (spells: from
`enrolled_on` until `left_on`, exclusive). Neither overlaps. "Belongs to B on day d" and
"enrolled on d" are read from the rows in force on d, so a change recorded today leaves
every period that ended before its effective date exactly as it was.

The rules for a row (the README's "Registry history" says the same to users):

- `effective_on` (default: today in the estate's zone) dates a change of building or
  building group. Equal to the current membership's start, it corrects that membership;
  before it, the row contradicts a recorded move and is refused.
- A new household's first membership starts on its `effective_on`, or on its
  `enrolled_on` when that is earlier: a household belongs somewhere on every day it is
  enrolled. Later enrolments dated before the first membership pull it back as well.
- No `enrolled_on` and no `left_on`: the enrolment is not touched (a sheet without those
  columns never un-enrols anybody). `left_on` alone ends the latest spell or corrects its
  end. `enrolled_on` equal to a spell's start names that spell. `enrolled_on` on or after
  the latest spell's `left_on` opens a new spell; inside a spell, it is refused.
- `display_name` / `publish_consent` not given: unchanged.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from api.registry.schemas import HouseholdIn


@dataclass(frozen=True)
class Membership:
    """Where the household belongs from `valid_from` (None: since before records)."""

    valid_from: date | None
    valid_to: date | None
    building: str
    building_group: str | None
    recorded_at: datetime | None = field(default=None, compare=False)

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day < self.valid_to
        )

    @property
    def place(self) -> tuple[str, str | None]:
        return (self.building, self.building_group)


@dataclass(frozen=True)
class Spell:
    """Enrolled from `enrolled_on` until `left_on` (exclusive; None: still enrolled)."""

    enrolled_on: date
    left_on: date | None
    recorded_at: datetime | None = field(default=None, compare=False)

    def covers(self, day: date) -> bool:
        return self.enrolled_on <= day and (self.left_on is None or day < self.left_on)


@dataclass(frozen=True)
class History:
    """A household's memberships and spells, oldest first, and its public-board fields."""

    memberships: tuple[Membership, ...]
    spells: tuple[Spell, ...] = ()
    display_name: str | None = None
    publish_consent: bool = False

    def place_on(self, day: date) -> tuple[str, str | None] | None:
        return next((m.place for m in self.memberships if m.covers(day)), None)

    def enrolled_on(self, day: date) -> bool:
        return any(s.covers(day) for s in self.spells)

    def state_on(self, day: date) -> tuple[tuple[str, str | None] | None, bool]:
        return (self.place_on(day), self.enrolled_on(day))

    def boundaries(self) -> set[date]:
        out: set[date] = set()
        for m in self.memberships:
            out.update(d for d in (m.valid_from, m.valid_to) if d is not None)
        for s in self.spells:
            out.update(d for d in (s.enrolled_on, s.left_on) if d is not None)
        return out


@dataclass(frozen=True)
class RowError:
    """Why a row contradicts the stored history; `field` names the row's field."""

    field: str
    message: str


@dataclass(frozen=True)
class Applied:
    """A row applied to a history: the new one, or the reasons it cannot be."""

    history: History | None
    errors: tuple[RowError, ...] = ()
    # Days before today on which the household's place or enrolment changed, as
    # [start, end) intervals, oldest first.
    touched: tuple[tuple[date, date], ...] = ()

    @property
    def days_touched(self) -> int:
        return sum((b - a).days for a, b in self.touched)


def apply_row(old: History | None, row: HouseholdIn, today: date) -> Applied:
    """The history after `row` (the module's rules), given the stored one (None: new)."""
    effective = row.effective_on or today
    errors: list[RowError] = []
    if old is None:
        if row.enrolled_on is None and row.left_on is not None:
            errors.append(
                RowError("left_on", "the household was never enrolled; give enrolled_on too")
            )
        start = min(effective, row.enrolled_on) if row.enrolled_on else effective
        new = History(
            (Membership(start, None, row.building, row.building_group),),
            (Spell(row.enrolled_on, row.left_on),) if row.enrolled_on else (),
            row.display_name,
            bool(row.publish_consent),
        )
    else:
        memberships = _moved(list(old.memberships), row, effective, errors)
        spells = _enrolled(list(old.spells), row, errors)
        if spells and memberships[0].valid_from is not None:
            first = spells[0].enrolled_on
            if first < memberships[0].valid_from:
                memberships[0] = dataclasses.replace(
                    memberships[0], valid_from=first, recorded_at=None
                )
        new = History(
            tuple(_merged(memberships)),
            tuple(spells),
            row.display_name if row.display_name is not None else old.display_name,
            row.publish_consent if row.publish_consent is not None else old.publish_consent,
        )
    if errors:
        return Applied(None, tuple(errors))
    return Applied(new, (), tuple(touched_days(old, new, today)))


def _moved(
    memberships: list[Membership], row: HouseholdIn, effective: date, errors: list[RowError]
) -> list[Membership]:
    current = memberships[-1]
    if (row.building, row.building_group) == current.place:
        return memberships
    start = current.valid_from
    if start is None or effective > start:
        memberships[-1] = dataclasses.replace(current, valid_to=effective, recorded_at=None)
        memberships.append(Membership(effective, None, row.building, row.building_group))
    elif effective == start:
        # The same effective date again: a correction of the move recorded for it.
        memberships[-1] = Membership(start, None, row.building, row.building_group)
    else:
        where = _place_words(current.place)
        errors.append(
            RowError(
                "effective_on",
                f"the registry has the household in {where} from {start} (its latest "
                f"recorded move); a change effective {effective} would come before it: "
                f"date it on or after {start}",
            )
        )
    return memberships


def _enrolled(spells: list[Spell], row: HouseholdIn, errors: list[RowError]) -> list[Spell]:
    enrolled, left = row.enrolled_on, row.left_on
    if enrolled is None:
        if left is not None:
            if not spells:
                errors.append(
                    RowError("left_on", "the household was never enrolled; give enrolled_on too")
                )
            else:
                _set_end(spells, len(spells) - 1, left, errors)
        return spells
    named = next((i for i, s in enumerate(spells) if s.enrolled_on == enrolled), None)
    if named is not None:
        if left is not None:
            _set_end(spells, named, left, errors)
        return spells
    inside = next((s for s in spells if s.covers(enrolled)), None)
    if inside is not None:
        until = (
            "which is still open: record its left_on first"
            if inside.left_on is None
            else f"until {inside.left_on}"
        )
        errors.append(
            RowError(
                "enrolled_on",
                f"enrolled_on {enrolled} falls inside the enrolment from "
                f"{inside.enrolled_on} {until}",
            )
        )
        return spells
    later = next((i for i, s in enumerate(spells) if s.enrolled_on > enrolled), None)
    if later is None:
        spells.append(Spell(enrolled, left))  # after every spell: a re-enrolment
        return spells
    following = spells[later]
    if left is not None and left <= following.enrolled_on:
        spells.insert(later, Spell(enrolled, left))  # an earlier spell, recorded late
    elif left is None or left == following.left_on:
        # The following spell began earlier than recorded (a correction).
        spells[later] = Spell(enrolled, following.left_on)
    else:
        errors.append(
            RowError(
                "left_on",
                f"an enrolment {enrolled} to {left} would overlap the one from "
                f"{following.enrolled_on}",
            )
        )
    return spells


def _set_end(spells: list[Spell], i: int, left: date, errors: list[RowError]) -> None:
    spell = spells[i]
    if spell.left_on == left:
        return
    if left < spell.enrolled_on:
        errors.append(
            RowError("left_on", f"left_on {left} is before its enrolment on {spell.enrolled_on}")
        )
    elif i + 1 < len(spells) and left > spells[i + 1].enrolled_on:
        errors.append(
            RowError(
                "left_on",
                f"left_on {left} overlaps the household's next enrolment, from "
                f"{spells[i + 1].enrolled_on}",
            )
        )
    else:
        spells[i] = Spell(spell.enrolled_on, left)


def _merged(memberships: Iterable[Membership]) -> list[Membership]:
    """Adjacent memberships with the same place as one (a move corrected back)."""
    out: list[Membership] = []
    for m in memberships:
        if out and out[-1].place == m.place and out[-1].valid_to == m.valid_from:
            out[-1] = dataclasses.replace(out[-1], valid_to=m.valid_to, recorded_at=None)
        else:
            out.append(m)
    return out


def _place_words(place: tuple[str, str | None]) -> str:
    building, group = place
    return f"building {building}" + (f", group {group}" if group else "")


def touched_days(old: History | None, new: History, today: date) -> list[tuple[date, date]]:
    """The days before `today` whose state differs between `old` and `new`."""
    points = sorted(
        {date.min, today}
        | {d for d in new.boundaries() if d < today}
        | ({d for d in old.boundaries() if d < today} if old else set())
    )
    out: list[tuple[date, date]] = []
    for start, end in itertools.pairwise(points):
        before = old.state_on(start) if old else (None, False)
        if before != new.state_on(start):
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
    return out


def union_days(intervals: Sequence[tuple[date, date]]) -> int:
    """How many distinct days the [start, end) intervals cover together."""
    days = 0
    reach = date.min
    for start, end in sorted(intervals):
        start = max(start, reach)
        if end > start:
            days += (end - start).days
            reach = end
    return days
