"""The roster rules: each room's watch slots, how a month's roster is generated, and
watch coverage — uncovered watches and the busy slots that need more volunteers.

Watch coverage is about volunteers at the rooms, not the headline coverage figure
(households enrolled / households) that api.metrics computes.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.auth import audit
from api.errors import Conflict, Invalid
from api.registry import repository as registry
from api.roster import repository as repo
from api.roster.rotation import (
    Availability,
    AvailWindow,
    SlotSpec,
    assign,
    day_type,
    default_specs,
    first_overlap,
    shift_slots,
)
from api.roster.schemas import WatchSlotsIn
from api.rows import Conn, Row
from api.shifts import repository as shifts
from api.volunteers import repository as volunteers

# Suggestions: drops a single volunteer can reasonably check in one watch, and the
# weeks of history that say how busy a slot is.
DROPS_PER_VOLUNTEER = 60
LOOKBACK_WEEKS = 4


# --- watch slots ----------------------------------------------------------------------


async def room_specs(conn: Conn, estate: str) -> tuple[dict[str, list[SlotSpec]], set[str]]:
    """Each room's watch slots, and the rooms that use the estate's windows by default."""
    found = await registry.get_estate(conn, estate)
    configured = await repo.watch_slots(conn, estate)
    specs: dict[str, list[SlotSpec]] = {}
    defaulted = set()
    for room in await registry.list_rooms(conn, estate):
        if room["id"] in configured:
            specs[room["id"]] = configured[room["id"]]
        else:
            specs[room["id"]] = default_specs(found["drop_windows"])
            defaulted.add(room["id"])
    return specs, defaulted


def room_slots(estate: str, room: str, specs: Sequence[SlotSpec], default: bool) -> Row:
    """A room's watch slots as the routes answer them."""
    return {
        "estate": estate,
        "room": room,
        "source": "estate_windows" if default else "room",
        "slots": [
            {"day_type": s.day_type, "start": s.start, "end": s.end, "needed": s.needed}
            for s in specs
        ],
    }


async def estate_slots(conn: Conn, estate: str) -> list[Row]:
    """Every room's watch slots (the estate's drop-off windows unless a room has its own)."""
    specs, defaulted = await room_specs(conn, estate)
    return [room_slots(estate, room, s, room in defaulted) for room, s in specs.items()]


class SlotsOverlap(Invalid):
    """Two watch slots of a room on one day type share some time (422). Carries both, so
    a page can say which in its own language."""

    def __init__(self, room: str, first: SlotSpec, second: SlotSpec) -> None:
        self.room, self.first, self.second = room, first, second
        super().__init__(
            f"watch slots {first.start:%H:%M}-{first.end:%H:%M} and"
            f" {second.start:%H:%M}-{second.end:%H:%M} ({first.day_type}) of room {room}"
            " overlap: make them one slot, or move one",
            [_rule(first.day_type, "watch slots of one day type must not overlap", second)],
        )


class EmptySlot(Invalid):
    """A watch slot that starts and ends at the same time (422)."""

    def __init__(self, spec: SlotSpec) -> None:
        self.spec = spec
        super().__init__(
            "a watch slot cannot start and end at the same time",
            [_rule(spec.day_type, "a watch slot must not start and end at once", spec)],
        )


def _rule(day_type: str, message: str, spec: SlotSpec) -> dict[str, object]:
    # Type `rule`: the schema allows each slot; together (or of no length) they break a
    # rule the 422's description names.
    return {
        "loc": ["body", day_type],
        "msg": message,
        "type": "rule",
        "input": f"{spec.start:%H:%M}-{spec.end:%H:%M}",
    }


async def set_room_specs(conn: Conn, estate: str, room: str, specs: Sequence[SlotSpec]) -> Row:
    """Replace a room's watch slots (each with its own `needed`); none: nobody watches it.

    Refused: a slot of no length (EmptySlot), two slots of one day type that overlap
    (SlotsOverlap). An end before the start is a watch past midnight, as everywhere."""
    await registry.get_room(conn, estate, room)
    for spec in specs:
        if spec.start == spec.end:
            raise EmptySlot(spec)
    clash = first_overlap(specs)
    if clash is not None:
        raise SlotsOverlap(room, *clash)
    ordered = sorted(specs, key=lambda s: (s.day_type, s.start))
    await repo.replace_watch_slots(conn, estate, room, ordered)
    audit.record(
        "watch_slots_changed",
        f"watch slots of room {room} of {estate} set: {len(ordered)} slot(s)",
        estate=estate,
        room=room,
        slots=len(ordered),
        needed=sorted({s.needed for s in ordered}),
    )
    return room_slots(estate, room, ordered, False)


async def set_watch_slots(conn: Conn, estate: str, room: str, body: WatchSlotsIn) -> Row:
    """Replace a room's watch slots per weekday and weekend."""
    specs = [SlotSpec("weekday", s, e, body.needed) for s, e in body.weekday]
    specs += [SlotSpec("weekend", s, e, body.needed) for s, e in body.weekend]
    return await set_room_specs(conn, estate, room, specs)


# --- generating a month ---------------------------------------------------------------


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM month."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        # Matches the route's YYYY-MM pattern but no calendar has it (year 0000): a
        # month outside the served days.
        raise Invalid(
            f"month {month!r} is not a month the API serves",
            [{"loc": ["query", "month"], "msg": "no such month", "type": "period", "input": month}],
        ) from None
    return first, first.replace(day=calendar.monthrange(year, mon)[1])


def availability_of(row: Row) -> Availability:
    """A stored volunteer's availability as the rotation's value."""
    windows = row["availability"]
    return Availability(
        None
        if windows is None
        else tuple(
            AvailWindow(
                frozenset(w["days"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"])
            )
            for w in windows
        ),
        frozenset(row["unavailable_on"] or ()),
    )


async def generate_roster(conn: Conn, estate: str, month: str, replace: bool, now: datetime) -> Row:
    """Shifts for every watch slot of the month, volunteers rotated fairly.

    Without `replace`, a month that already has shifts is a Conflict. With it, the
    month's shifts that have not started yet are regenerated; the ones already started
    stay, and count towards each volunteer's share.
    """
    found = await registry.get_estate(conn, estate)
    first, last = month_bounds(month)
    if await repo.shifts_exist(conn, estate, first, last) and not replace:
        raise Conflict(
            f"estate {estate!r} already has a roster for {month};"
            " add ?replace=true to regenerate the shifts that have not started"
        )
    specs, _ = await room_specs(conn, estate)
    if not specs:
        raise Invalid(f"estate {estate!r} has no rooms to watch")
    slots = shift_slots(specs, first, last, ZoneInfo(found["timezone"]))
    if replace:
        slots = [s for s in slots if s.starts_at > now]
    available = {
        int(v["id"]): availability_of(v)
        for v in await volunteers.list_volunteers(conn, estate)
        if v["active"]
    }
    # Shifts already held this month (started ones, kept by a replace) count as prior.
    async with conn.transaction():
        if replace:
            await repo.store_roster(conn, estate, first, last, now, [], [])
        prior = await repo.month_counts(conn, estate, first, last)
        chosen = assign(slots, available, prior)
        await repo.store_roster(conn, estate, first, last, None, slots, chosen)
    per_volunteer = dict(prior)
    for seats in chosen:
        for v in seats:
            per_volunteer[v] = per_volunteer.get(v, 0) + 1
    result = {
        "estate": estate,
        "month": month,
        "shifts": len(slots),
        "seats": sum(s.needed for s in slots),
        "filled": sum(len(c) for c in chosen),
        "uncovered_shifts": sum(len(c) < s.needed for s, c in zip(slots, chosen, strict=True)),
        "per_volunteer": {v: per_volunteer.get(v, 0) for v in available},
    }
    audit.record(
        "roster_generated",
        f"roster of {estate} for {month} {'regenerated' if replace else 'generated'}:"
        f" {result['shifts']} shift(s)",
        estate=estate,
        month=month,
        replace=replace,
        shifts=result["shifts"],
        filled=result["filled"],
        uncovered_shifts=result["uncovered_shifts"],
    )
    return result


# --- watch coverage -------------------------------------------------------------------


async def watch_coverage(conn: Conn, estate: str, start: date, end: date, now: datetime) -> Row:
    """Uncovered watches in [start, end], and busy slots that need more volunteers.

    How busy a slot is comes from the drops of the LOOKBACK_WEEKS before `now` at the
    same room, day type and local time; a slot is suggested when its drops per
    volunteer exceed DROPS_PER_VOLUNTEER or it has fewer volunteers than it needs.
    """
    found = await registry.get_estate(conn, estate)
    tz = found["timezone"]
    held_shifts = await shifts.shifts_between(conn, estate, start, end)
    specs, _ = await room_specs(conn, estate)
    names = {r["id"]: r["name"] for r in await registry.list_rooms(conn, estate)}
    quarters = await repo.drop_quarters(
        conn, estate, tz, now - timedelta(weeks=LOOKBACK_WEEKS), now
    )
    suggestions: list[Row] = []
    for room, specs_of_room in specs.items():
        for spec in specs_of_room:
            busy = _slot_drops(quarters, room, spec)
            held = [
                len(s["assignees"])
                for s in held_shifts
                if s["room"] == room
                and s["local_start"] == spec.start
                and day_type(s["day"]) == spec.day_type
            ]
            avg_volunteers = sum(held) / len(held) if held else 0.0
            per_volunteer = busy / avg_volunteers if avg_volunteers else None
            wanted = max(spec.needed, -(-int(busy) // DROPS_PER_VOLUNTEER))
            if held and (avg_volunteers < wanted):
                suggestions.append(
                    {
                        "room": room,
                        "room_name": names.get(room),
                        "day_type": spec.day_type,
                        "start": spec.start,
                        "end": spec.end,
                        "avg_drops": round(busy, 1),
                        "avg_volunteers": round(avg_volunteers, 2),
                        "drops_per_volunteer": None
                        if per_volunteer is None
                        else round(per_volunteer, 1),
                        "suggested_volunteers": wanted,
                    }
                )
    suggestions.sort(key=lambda s: (-(s["drops_per_volunteer"] or float("inf")), -s["avg_drops"]))
    return {
        "estate": estate,
        "from": start,
        "to": end,
        "shifts": len(held_shifts),
        "uncovered": [s for s in held_shifts if s["uncovered"]],
        "suggestions": suggestions,
    }


def _slot_drops(quarters: list[Row], room: str, spec: SlotSpec) -> float:
    """Average drops per day of the spec's day type inside its local window."""
    s = spec.start.hour * 60 + spec.start.minute
    e = spec.end.hour * 60 + spec.end.minute
    wraps = e <= s
    per_day: dict[date, int] = defaultdict(int)
    for q in quarters:
        if q["room"] != room:
            continue
        m = q["quarter"].hour * 60 + q["quarter"].minute
        day = q["day"]
        if wraps and m < e:
            day -= timedelta(days=1)  # after midnight: the watch that began the day before
        elif not (s <= m < e or (wraps and m >= s)):
            continue
        if day_type(day) == spec.day_type:
            per_day[day] += int(q["drops"])
    # Every day of that type in the look-back counts, quiet ones too.
    days = LOOKBACK_WEEKS * (2 if spec.day_type == "weekend" else 5)
    return sum(per_day.values()) / days
