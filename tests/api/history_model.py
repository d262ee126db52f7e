"""An independent model of the registry's history (issue #13), and the figures over it.

Written from the rules of the contract (README definitions), not from the product's
code: per household a list of memberships (valid_from, valid_to, building, group) and a
list of enrolment spells [enrolled_on, left_on), replaying the rows the tests send to
POST /households (or import from a sheet). `Registry.apply` answers what the API should:
the counts, the back-dated days, or the rows it must reject (all rows or none).

The figures part computes, with pandas over the events the tests published, what the
figures routes should answer: per building and building group for [from, to] grouping
households by where they belong on `to` (enrolled on `to`; drops of the whole period),
the estate's enrolled / active / participation, and the per-day enrolled and active.

Rows the contract leaves undefined (a left_on for a household with no spell, an
enrolled_on before an existing spell, ...) raise `Undefined`: a test must not send them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
HOUSEHOLD_CATEGORIES = ("dry", "wet", "recyclable", "hazardous")
Place = tuple[str, str | None]


# -- the registry -------------------------------------------------------------------------


@dataclass
class Membership:
    """Where a household belongs from valid_from (None: since before records) until
    valid_to (exclusive; None: still)."""

    valid_from: date | None
    valid_to: date | None
    building: str
    group: str | None

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day < self.valid_to
        )


@dataclass
class Spell:
    """An enrolment spell [enrolled_on, left_on)."""

    enrolled_on: date
    left_on: date | None

    def covers(self, day: date) -> bool:
        return self.enrolled_on <= day and (self.left_on is None or day < self.left_on)


@dataclass
class Household:
    id: str
    memberships: list[Membership] = field(default_factory=list)
    spells: list[Spell] = field(default_factory=list)
    display_name: str | None = None
    publish_consent: bool = False

    def place(self, day: date) -> Place | None:
        """(building, group) on `day`, or None when it belongs nowhere that day."""
        found = [m for m in self.memberships if m.covers(day)]
        assert len(found) <= 1, f"{self.id}: overlapping memberships on {day}"
        return (found[0].building, found[0].group) if found else None

    def enrolled(self, day: date) -> bool:
        found = [s for s in self.spells if s.covers(day)]
        assert len(found) <= 1, f"{self.id}: overlapping spells on {day}"
        return bool(found)

    def state(self, day: date) -> tuple[Place | None, bool]:
        return self.place(day), self.enrolled(day)

    def dates(self) -> set[date]:
        """Every date the history names."""
        out: set[date] = set()
        for m in self.memberships:
            out.update(d for d in (m.valid_from, m.valid_to) if d is not None)
        for s in self.spells:
            out.add(s.enrolled_on)
            if s.left_on is not None:
                out.add(s.left_on)
        return out

    # The API's shapes.

    def history(self) -> dict[str, Any]:
        """GET .../households/{id}/history, dates as ISO strings."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "publish_consent": self.publish_consent,
            "memberships": [
                {
                    "valid_from": iso(m.valid_from),
                    "valid_to": iso(m.valid_to),
                    "building": m.building,
                    "building_group": m.group,
                }
                for m in self.memberships
            ],
            "spells": [
                {"enrolled_on": iso(s.enrolled_on), "left_on": iso(s.left_on)} for s in self.spells
            ],
        }

    def current(self) -> dict[str, Any]:
        """GET .../households/{id}: the latest membership and the latest spell."""
        latest = self.memberships[-1]
        spell = self.spells[-1] if self.spells else None
        return {
            "id": self.id,
            "building": latest.building,
            "building_group": latest.group,
            "enrolled_on": iso(spell.enrolled_on) if spell else None,
            "left_on": iso(spell.left_on) if spell else None,
            "display_name": self.display_name,
            "publish_consent": self.publish_consent,
        }


def iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def as_date(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    assert isinstance(value, str), value
    return date.fromisoformat(value)


@dataclass(frozen=True)
class RowError:
    """What the API must say about one rejected row: its index and the field at fault."""

    index: int
    field: str
    reason: str


class Rejected(Exception):
    """The request must be refused as a whole (422), naming these rows."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(f"row {e.index} {e.field}: {e.reason}" for e in errors))
        self.errors = errors


class Undefined(Exception):
    """The contract does not say what this row does: a test must not send it."""


class _RowRejected(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Change:
    """A household whose state (place or enrolment) changed on days before today."""

    id: str
    first: date
    days: int


@dataclass(frozen=True)
class Outcome:
    """What one accepted request did, as the API's answer should say."""

    created: int
    updated: int
    unchanged: int
    changes: list[Change]
    days_touched: int

    @property
    def earliest(self) -> date | None:
        return min((c.first for c in self.changes), default=None)

    def counts(self) -> dict[str, int]:
        return {
            "upserted": self.created + self.updated + self.unchanged,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }

    def backdated(self) -> dict[str, Any]:
        """The answer's `backdated`, `changes` sorted by id (the contract gives no order)."""
        return {
            "rows": len(self.changes),
            "earliest": iso(self.earliest),
            "days_touched": self.days_touched,
            "changes": [
                {"id": c.id, "from": c.first.isoformat(), "days": c.days}
                for c in sorted(self.changes, key=lambda c: c.id)
            ],
        }


class Registry:
    """The households of one estate, replayed row by row per the contract's rules."""

    def __init__(self) -> None:
        self.households: dict[str, Household] = {}

    def __getitem__(self, household: str) -> Household:
        return self.households[household]

    def apply(self, rows: Sequence[Mapping[str, Any]], today: date) -> Outcome:
        """Apply one request (all rows or none); `today` is the estate's local date.

        Raises Rejected (nothing applied) naming every contradictory row."""
        ids = [str(r["id"]) for r in rows]
        assert len(set(ids)) == len(ids), "one request names a household once (else 409)"
        staged: dict[str, Household] = {}
        errors: list[RowError] = []
        for index, row in enumerate(rows):
            old = self.households.get(str(row["id"]))
            try:
                staged[str(row["id"])] = _apply_row(old, row, today)
            except _RowRejected as exc:
                errors.append(RowError(index, exc.field, exc.reason))
        if errors:
            raise Rejected(errors)
        created = updated = unchanged = 0
        changes: list[Change] = []
        touched: set[date] = set()
        for household, new in staged.items():
            old = self.households.get(household)
            if old is None:
                created += 1
            elif old == new:
                unchanged += 1
            else:
                updated += 1
            days = changed_days(old, new, today)
            if days:
                changes.append(Change(household, min(days), len(days)))
                touched |= days
        self.households.update(staged)
        return Outcome(created, updated, unchanged, changes, len(touched))

    # Where households belong, per day.

    def members(self, day: date) -> dict[str, tuple[str, str | None, bool]]:
        """household → (building, group, enrolled) for those that belong somewhere on `day`."""
        out: dict[str, tuple[str, str | None, bool]] = {}
        for h in self.households.values():
            place = h.place(day)
            if place is not None:
                out[h.id] = (place[0], place[1], h.enrolled(day))
        return out

    def enrolled(self, day: date) -> set[str]:
        return {h.id for h in self.households.values() if h.enrolled(day)}


def _apply_row(old: Household | None, row: Mapping[str, Any], today: date) -> Household:
    """The household after `row`; raises _RowRejected when the row contradicts its history."""
    building = str(row["building"])
    group = row.get("building_group") or None
    effective = as_date(row.get("effective_on")) or today
    enrolled_on = as_date(row.get("enrolled_on"))
    left_on = as_date(row.get("left_on"))
    if enrolled_on is not None and left_on is not None and left_on < enrolled_on:
        raise _RowRejected("left_on", f"left_on {left_on} is before enrolled_on {enrolled_on}")
    if old is None:
        if left_on is not None and enrolled_on is None:
            raise Undefined("left_on for a new household without enrolled_on")
        start = min(effective, enrolled_on) if enrolled_on is not None else effective
        h = Household(str(row["id"]), [Membership(start, None, building, group)])
        if enrolled_on is not None:
            h.spells.append(Spell(enrolled_on, left_on))
    else:
        h = copy.deepcopy(old)
        _move(h, building, group, effective)
        _enrol(h, enrolled_on, left_on)
    if row.get("display_name") is not None:
        h.display_name = str(row["display_name"])
    if row.get("publish_consent") is not None:
        h.publish_consent = bool(row["publish_consent"])
    return h


def _move(h: Household, building: str, group: str | None, effective: date) -> None:
    latest = h.memberships[-1]
    if (building, group) == (latest.building, latest.group):
        return  # no change of place, whatever effective_on says
    if latest.valid_from is not None and effective < latest.valid_from:
        raise _RowRejected(
            "effective_on",
            f"a move dated {effective} is before the latest recorded move ({latest.valid_from})",
        )
    if effective == latest.valid_from:  # a correction of the latest membership
        if len(h.memberships) > 1 and (
            h.memberships[-2].building,
            h.memberships[-2].group,
        ) == (building, group):
            raise Undefined("an amendment back to the previous membership's place")
        latest.building, latest.group = building, group
        return
    latest.valid_to = effective
    h.memberships.append(Membership(effective, None, building, group))


def _enrol(h: Household, enrolled_on: date | None, left_on: date | None) -> None:
    if enrolled_on is None:
        if left_on is None:
            return  # no change to enrolment
        if not h.spells:
            raise Undefined("left_on for a household that was never enrolled")
        latest = h.spells[-1]
        if left_on < latest.enrolled_on:
            raise _RowRejected(
                "left_on",
                f"left_on {left_on} is before its spell's enrolled_on {latest.enrolled_on}",
            )
        latest.left_on = left_on
        return
    for i, spell in enumerate(h.spells):
        if spell.enrolled_on == enrolled_on:  # names this spell
            if left_on is None:
                return
            after = h.spells[i + 1] if i + 1 < len(h.spells) else None
            if after is not None and left_on > after.enrolled_on:
                raise _RowRejected(
                    "left_on",
                    f"left_on {left_on} overlaps the next spell (from {after.enrolled_on})",
                )
            spell.left_on = left_on
            return
    for spell in h.spells:
        if spell.covers(enrolled_on):
            raise _RowRejected(
                "enrolled_on",
                f"enrolled_on {enrolled_on} is inside the spell from {spell.enrolled_on}: "
                "record left_on first",
            )
    if any(s.enrolled_on > enrolled_on for s in h.spells):
        raise Undefined("an enrolled_on before an existing spell")
    h.spells.append(Spell(enrolled_on, left_on))  # every spell ended by then: re-enrolment


def changed_days(old: Household | None, new: Household, today: date) -> set[date]:
    """The local days before `today` whose state (place or enrolment) differs."""
    dates = new.dates() | (old.dates() if old is not None else set())
    unbounded = any(m.valid_from is None for m in new.memberships) or (
        old is not None and any(m.valid_from is None for m in old.memberships)
    )
    first = min(dates, default=today)
    if unbounded:
        first -= timedelta(days=1)  # before every named date the -infinity rows agree
    out: set[date] = set()
    day = first
    while day < today:
        before = old.state(day) if old is not None else (None, False)
        if before != new.state(day):
            out.add(day)
        day += timedelta(days=1)
    return out


# -- the figures over published events ----------------------------------------------------


def drops_frame(events: Sequence[Mapping[str, Any]], timezone: str) -> pd.DataFrame:
    """The distinct drops published (a redelivery counts once), with their local day."""
    columns = ["bin", "event_id", "ts", "kind", "weight_g", "household"]
    df = pd.DataFrame(list(events), columns=None if events else columns)
    df = df[df["kind"] == "drop"].drop_duplicates(subset=["bin", "event_id"]).copy()
    df["category"] = df["bin"].str.removeprefix("b-")
    local = pd.to_datetime(df["ts"], utc=True, format="ISO8601").dt.tz_convert(timezone)
    df["day"] = local.dt.date
    if "household" not in df:
        df["household"] = None
    return df


def in_period(df: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    return df[(df["day"] >= start) & (df["day"] <= end)]


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def grams(df: pd.DataFrame) -> dict[str, int]:
    return {c: int(df.loc[df["category"] == c, "weight_g"].sum()) for c in CATEGORIES}


def wet_share(g: Mapping[str, int]) -> float | None:
    return ratio(g["wet"], sum(g[c] for c in HOUSEHOLD_CATEGORIES))


def _unit(members: pd.DataFrame, drops: pd.DataFrame) -> dict[str, Any]:
    ids = set(members["household"])
    enrolled = set(members.loc[members["enrolled"], "household"])
    active = enrolled & set(drops["household"])
    g = grams(drops)
    return {
        "households_registered": len(ids),
        "households_enrolled": len(enrolled),
        "households_active": len(active),
        "participation_rate": ratio(len(active), len(enrolled)),
        "drops": len(drops),
        "kg": {k: v / 1000 for k, v in g.items()},
        "wet_share": wet_share(g),
    }


def buildings_expected(
    registry: Registry, df: pd.DataFrame, start: date, end: date
) -> list[dict[str, Any]]:
    """GET .../buildings/metrics' `buildings`: households grouped by where they belong on
    `end`, enrolled on `end`, each with its identified drops of the whole period; only
    buildings and groups someone belongs to on `end`; buildings by id, groups keyed by id."""
    members = pd.DataFrame(
        [(h, b, g, e) for h, (b, g, e) in registry.members(end).items()],
        columns=["household", "building", "group", "enrolled"],
    )
    members["enrolled"] = members["enrolled"].astype(bool)
    period = in_period(df, start, end)
    joined = period.merge(members, on="household")
    out = []
    for building in sorted(members["building"].unique()):
        here = members[members["building"] == building]
        drops_here = joined[joined["building"] == building]
        groups = {}
        for group in here["group"].drop_duplicates():
            if group is None or pd.isna(group):
                name, sel, jsel = None, here["group"].isna(), drops_here["group"].isna()
            else:
                name, sel, jsel = group, here["group"] == group, drops_here["group"] == group
            groups[name] = _unit(here[sel], drops_here[jsel])
        out.append({"building": building, **_unit(here, drops_here), "groups": groups})
    return out


def estate_expected(
    registry: Registry, df: pd.DataFrame, start: date, end: date, households_total: int
) -> dict[str, Any]:
    """The registry-driven part of GET .../metrics."""
    on_to = registry.enrolled(end)
    active = on_to & set(in_period(df, start, end)["household"].dropna())
    return {
        "households_total": households_total,
        "households_enrolled": len(on_to),
        "households_active": len(active),
        "participation_rate": ratio(len(active), len(on_to)),
        "coverage": ratio(len(on_to), households_total),
    }


def daily_expected(
    registry: Registry, df: pd.DataFrame, start: date, end: date
) -> list[dict[str, Any]]:
    """GET .../daily's per-day enrolled and active (enrolled that day, a drop that day)."""
    out = []
    day = start
    while day <= end:
        on_day = registry.enrolled(day)
        active = on_day & set(df.loc[df["day"] == day, "household"].dropna())
        out.append(
            {
                "day": day.isoformat(),
                "households_enrolled": len(on_day),
                "households_active": len(active),
                "participation_rate": ratio(len(active), len(on_day)),
            }
        )
        day += timedelta(days=1)
    return out
