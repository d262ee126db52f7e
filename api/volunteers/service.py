"""The volunteer rules: who may act on which record, when a check-in counts, how a
month's roster is generated, and what a shift, accuracy and coverage answer."""

from __future__ import annotations

import calendar
import secrets
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.auth.tokens import Principal, Role, hash_token, new_token
from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.metrics.definitions import CATEGORIES, ratio
from api.registry import repository as registry
from api.volunteers import repository as repo
from api.volunteers.roster import (
    Availability,
    AvailWindow,
    SlotSpec,
    assign,
    day_type,
    default_specs,
    shift_slots,
)
from api.volunteers.schemas import InspectionIn, VolunteerIn

Conn = repo.Conn
Row = dict[str, Any]

# A volunteer may check in this early (they arrive to set up) and no later than the
# watch's end; check-out is accepted until an hour after the end (they forgot).
CHECK_IN_EARLY = timedelta(minutes=30)
CHECK_OUT_LATE = timedelta(hours=1)
# Inspections are written up at the bin or soon after; later edits are an admin's.
INSPECTION_LATE = timedelta(hours=3)
# Suggestions: drops a single volunteer can reasonably check in one watch, and the
# weeks of history that say how busy a slot is.
DROPS_PER_VOLUNTEER = 60
LOOKBACK_WEEKS = 4
CALENDAR_KEY_BYTES = 24


# --- who is acting ----------------------------------------------------------------


async def acting_volunteer(conn: Conn, principal: Principal) -> Row:
    """The volunteer the caller's token acts as; Forbidden when it is linked to none."""
    row = await repo.volunteer_of_token(conn, principal.token_id)
    if row is None or not row["active"]:
        raise Forbidden(
            "this token is not linked to an active volunteer"
            " (an admin creates volunteers with POST /api/v1/estates/{estate}/volunteers)"
        )
    return row


def _is_admin_of(principal: Principal, estate: str) -> bool:
    return principal.role is Role.admin and principal.may_see(estate)


async def _owned(
    conn: Conn, principal: Principal, estate: str, owner: int, what: str
) -> Row | None:
    """Allow an admin of the estate, or the volunteer `owner` themself; else Forbidden.

    Returns the acting volunteer (None for an admin acting on someone else's record).
    """
    if not principal.may_see(estate):
        raise Forbidden(f"the token is not allowed to see estate {estate!r}")
    if principal.role is Role.admin:
        me = await repo.volunteer_of_token(conn, principal.token_id)
        return me
    if principal.role is not Role.volunteer:
        raise Forbidden(f"this needs the volunteer role; the token has {principal.role.value}")
    me = await acting_volunteer(conn, principal)
    if me["id"] != owner:
        raise Forbidden(f"this {what} belongs to another volunteer")
    return me


# --- volunteers -------------------------------------------------------------------


def _volunteer_values(body: VolunteerIn) -> Row:
    return {
        "name": body.name,
        "contact": body.contact,
        "building": body.building,
        "kind": body.kind,
        "active": body.active,
        "unavailable_on": body.unavailable_on,
        "availability": None
        if body.availability is None
        else [
            {"days": w.days, "start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M")}
            for w in body.availability
        ],
    }


async def create_volunteer(conn: Conn, estate: str, body: VolunteerIn) -> tuple[Row, str]:
    """A new volunteer with a fresh volunteer token for the estate; returns (row, token)."""
    await registry.get_estate(conn, estate)
    token = new_token()
    row = await repo.insert_volunteer(
        conn,
        estate,
        _volunteer_values(body),
        hash_token(token),
        secrets.token_urlsafe(CALENDAR_KEY_BYTES),
    )
    return row, token


async def volunteer_in(conn: Conn, estate: str, volunteer_id: int) -> Row:
    """A volunteer of the estate; NotFound otherwise."""
    row = await repo.get_volunteer(conn, volunteer_id)
    if row is None or row["estate"] != estate:
        raise NotFound(f"no volunteer {volunteer_id} in estate {estate!r}")
    return row


async def update_volunteer(conn: Conn, estate: str, volunteer_id: int, body: VolunteerIn) -> Row:
    """Replace a volunteer's details."""
    await volunteer_in(conn, estate, volunteer_id)
    row = await repo.update_volunteer(conn, volunteer_id, _volunteer_values(body))
    assert row is not None
    return row


def availability_of(row: Row) -> Availability:
    """A stored volunteer's availability as the roster logic's value."""
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


# --- watch slots and the roster -----------------------------------------------------


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


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM month."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        raise Invalid(f"month {month!r} is not YYYY-MM") from None
    return first, first.replace(day=calendar.monthrange(year, mon)[1])


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
    volunteers = {
        int(v["id"]): availability_of(v)
        for v in await repo.list_volunteers(conn, estate)
        if v["active"]
    }
    # Shifts already held this month (started ones, kept by a replace) count as prior.
    async with conn.transaction():
        if replace:
            await repo.store_roster(conn, estate, first, last, now, [], [])
        prior = await repo.month_counts(conn, estate, first, last)
        chosen = assign(slots, volunteers, prior)
        await repo.store_roster(conn, estate, first, last, None, slots, chosen)
    per_volunteer = dict(prior)
    for seats in chosen:
        for v in seats:
            per_volunteer[v] = per_volunteer.get(v, 0) + 1
    return {
        "estate": estate,
        "month": month,
        "shifts": len(slots),
        "seats": sum(s.needed for s in slots),
        "filled": sum(len(c) for c in chosen),
        "uncovered_shifts": sum(len(c) < s.needed for s, c in zip(slots, chosen, strict=True)),
        "per_volunteer": {v: per_volunteer.get(v, 0) for v in volunteers},
    }


async def shift_in_scope(conn: Conn, principal: Principal, shift_id: int) -> Row:
    """A shift the caller's estates include; NotFound / Forbidden otherwise."""
    shift = await repo.get_shift(conn, shift_id)
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    if not principal.may_see(shift["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {shift['estate']!r}")
    return shift


# --- check-in and check-out ---------------------------------------------------------


async def _assignment(conn: Conn, assignment_id: int) -> Row:
    row = await repo.get_assignment(conn, assignment_id)
    if row is None:
        raise NotFound(f"no assignment {assignment_id}")
    return row


async def check(
    conn: Conn, principal: Principal, assignment_id: int, action: str, now: datetime
) -> Row:
    """Check in (`in`) or out (`out`) of one's own assignment, near the watch's time."""
    a = await _assignment(conn, assignment_id)
    await _owned(conn, principal, a["estate"], a["volunteer_id"], "assignment")
    if action == "in":
        if a["checked_in_at"] is not None:
            raise Conflict(f"already checked in at {a['checked_in_at'].isoformat()}")
        if not a["starts_at"] - CHECK_IN_EARLY <= now <= a["ends_at"]:
            raise Conflict(
                f"check-in is open from {CHECK_IN_EARLY.seconds // 60} minutes before the watch"
                f" ({a['starts_at'].isoformat()}) until its end ({a['ends_at'].isoformat()})"
            )
        await repo.set_check(conn, assignment_id, "checked_in_at", now)
    else:
        if a["checked_in_at"] is None:
            raise Conflict("check in before checking out")
        if a["checked_out_at"] is not None:
            raise Conflict(f"already checked out at {a['checked_out_at'].isoformat()}")
        if now > a["ends_at"] + CHECK_OUT_LATE:
            raise Conflict("check-out closed an hour after the watch ended")
        await repo.set_check(conn, assignment_id, "checked_out_at", max(now, a["checked_in_at"]))
    return await _assignment(conn, assignment_id)


# --- inspections --------------------------------------------------------------------


def _inspection_values(body: InspectionIn) -> Row:
    return {
        "building": body.building,
        "notes": body.notes,
        "photo_ref": body.photo_ref,
        "lines": [x.model_dump() for x in body.lines],
    }


async def record_inspection(
    conn: Conn, principal: Principal, assignment_id: int, body: InspectionIn, now: datetime
) -> Row:
    """An inspection during one's own watch (an admin may record one at any time)."""
    a = await _assignment(conn, assignment_id)
    me = await _owned(conn, principal, a["estate"], a["volunteer_id"], "assignment")
    if principal.role is not Role.admin and not (
        a["starts_at"] - CHECK_IN_EARLY <= now <= a["ends_at"] + INSPECTION_LATE
    ):
        raise Conflict(
            "inspections are recorded during the watch or within "
            f"{INSPECTION_LATE.seconds // 3600} hours of its end"
        )
    recorder = me["id"] if me is not None and me["id"] == a["volunteer_id"] else a["volunteer_id"]
    inspection_id = await repo.insert_inspection(
        conn, assignment_id, recorder, _inspection_values(body)
    )
    return await inspection(conn, principal, inspection_id)


async def inspection(conn: Conn, principal: Principal, inspection_id: int) -> Row:
    """One inspection, for anyone who may see its estate."""
    row = await repo.get_inspection(conn, inspection_id)
    if row is None:
        raise NotFound(f"no inspection {inspection_id}")
    if not principal.may_see(row["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {row['estate']!r}")
    return row


async def edit_inspection(
    conn: Conn, principal: Principal, inspection_id: int, body: InspectionIn | None
) -> Row | None:
    """Replace (body) or delete (None) an inspection: its recorder or an admin only."""
    row = await inspection(conn, principal, inspection_id)
    await _owned(conn, principal, row["estate"], row["volunteer_id"], "inspection")
    if body is None:
        await repo.delete_inspection(conn, inspection_id)
        return None
    await repo.update_inspection(conn, inspection_id, _inspection_values(body))
    return await inspection(conn, principal, inspection_id)


def _accuracy_row(r: Row | None) -> Row:
    inspected = int(r["inspected"]) if r else 0
    mis = int(r["mis_sorted"]) if r else 0
    return {
        "inspected": inspected,
        "passed": inspected - mis,
        "mis_sorted": mis,
        "re_sorted": int(r["re_sorted"]) if r else 0,
        "accuracy": ratio(inspected - mis, inspected),
        "inspections": int(r["inspections"]) if r else 0,
    }


async def estate_accuracy(conn: Conn, estate: str, start: date, end: date) -> Row:
    """The estate's totals only (inspected, passed, accuracy, …), for the figures."""
    counts = await repo.accuracy_counts(conn, estate, start, end)
    return _accuracy_row(counts["total"][0] if counts["total"] else None)


async def accuracy(conn: Conn, estate: str, start: date, end: date) -> Row:
    """Sorting accuracy (passed / inspected) of an estate, per category and building."""
    await registry.get_estate(conn, estate)
    counts = await repo.accuracy_counts(conn, estate, start, end)
    by_category = {r["key"]: r for r in counts["category"]}
    return {
        "estate": estate,
        "from": start,
        "to": end,
        **_accuracy_row(counts["total"][0] if counts["total"] else None),
        "by_category": {c: _accuracy_row(by_category.get(c)) for c in CATEGORIES},
        "by_building": [{"building": r["key"], **_accuracy_row(r)} for r in counts["building"]],
    }


# --- swaps --------------------------------------------------------------------------


async def _swap_view(conn: Conn, swap_id: int) -> Row:
    row = await repo.get_swap(conn, swap_id)
    if row is None:
        raise NotFound(f"no swap {swap_id}")
    shift = await repo.get_shift(conn, row["shift_id"])
    return {**row, "shift": shift}


async def offer_swap(
    conn: Conn, principal: Principal, assignment_id: int, note: str | None, now: datetime
) -> Row:
    """Offer one's own future assignment to the estate's other volunteers."""
    a = await _assignment(conn, assignment_id)
    await _owned(conn, principal, a["estate"], a["volunteer_id"], "assignment")
    if a["starts_at"] <= now:
        raise Conflict("this watch has already started; it can no longer be swapped")
    swap_id = await repo.insert_swap(conn, assignment_id, a["volunteer_id"], note)
    if swap_id is None:
        raise Conflict("this assignment is already offered")
    return await _swap_view(conn, swap_id)


async def swap_in_scope(conn: Conn, principal: Principal, swap_id: int) -> Row:
    """A swap of an estate the caller may see."""
    row = await _swap_view(conn, swap_id)
    if not principal.may_see(row["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {row['estate']!r}")
    return row


async def accept_swap(conn: Conn, principal: Principal, swap_id: int, now: datetime) -> Row:
    """Take an open offer: the caller (a volunteer of the estate) now holds the watch."""
    swap = await swap_in_scope(conn, principal, swap_id)
    if principal.role is Role.viewer:
        raise Forbidden("this needs the volunteer role; the token has viewer")
    me = await acting_volunteer(conn, principal)
    if me["estate"] != swap["estate"]:
        raise Forbidden("only a volunteer of the same estate can take this watch")
    if swap["status"] != "open":
        raise Conflict(f"this offer is {swap['status']}")
    if me["id"] == swap["offered_by"]:
        raise Conflict("you cannot take your own offer; cancel it instead")
    if any(x["volunteer_id"] == me["id"] for x in swap["shift"]["assignees"]):
        raise Conflict("you already hold this watch")
    if swap["shift"]["starts_at"] <= now:
        raise Conflict("this watch has already started")
    if not await repo.accept_swap(conn, swap_id, swap["assignment_id"], me["id"]):
        raise Conflict("this offer was taken or withdrawn a moment ago")
    return await _swap_view(conn, swap_id)


async def cancel_swap(conn: Conn, principal: Principal, swap_id: int) -> Row:
    """Withdraw one's own open offer (or an admin withdraws any)."""
    swap = await swap_in_scope(conn, principal, swap_id)
    await _owned(conn, principal, swap["estate"], swap["offered_by"], "swap offer")
    if not await repo.cancel_swap(conn, swap_id):
        raise Conflict(f"this offer is {swap['status']}")
    return await _swap_view(conn, swap_id)


# --- telemetry-aware views ------------------------------------------------------------


async def shift_activity(conn: Conn, shift: Row) -> Row:
    """A shift with its room's drops, weights, fill levels and alarms during the watch."""
    bins, alarms = await repo.room_activity(
        conn, shift["estate"], shift["room"], shift["starts_at"], shift["ends_at"]
    )
    grams: dict[str, int] = defaultdict(int)
    for b in bins:
        grams[b["category"]] += int(b["weight_g"])
    return {
        "shift": shift,
        "drops": sum(int(b["drops"]) for b in bins),
        "identified_drops": sum(int(b["identified_drops"]) for b in bins),
        "kg": {c: grams[c] / 1000 for c in CATEGORIES},
        "bins": [{**b, "kg": int(b["weight_g"]) / 1000} for b in bins],
        "alarms": alarms,
    }


async def coverage(conn: Conn, estate: str, start: date, end: date, now: datetime) -> Row:
    """Uncovered watches in [start, end], and busy slots that need more volunteers.

    How busy a slot is comes from the drops of the LOOKBACK_WEEKS before `now` at the
    same room, day type and local time; a slot is suggested when its drops per
    volunteer exceed DROPS_PER_VOLUNTEER or it has fewer volunteers than it needs.
    """
    found = await registry.get_estate(conn, estate)
    tz = found["timezone"]
    shifts = await repo.shifts_between(conn, estate, start, end)
    specs, _ = await room_specs(conn, estate)
    quarters = await repo.drop_quarters(
        conn, estate, tz, now - timedelta(weeks=LOOKBACK_WEEKS), now
    )
    suggestions: list[Row] = []
    for room, room_slots in specs.items():
        for spec in room_slots:
            busy = _slot_drops(quarters, room, spec)
            held = [
                len(s["assignees"])
                for s in shifts
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
        "shifts": len(shifts),
        "uncovered": [s for s in shifts if s["uncovered"]],
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
