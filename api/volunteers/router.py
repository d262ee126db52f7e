"""Volunteer routes: volunteers, watch slots, the roster, check-in/out, inspections,
accuracy, swaps, shift telemetry and the calendar feed.

Roles: an admin of the estate acts on every record; a volunteer token linked to a
volunteer acts on that volunteer's own assignments, inspections and offers; a viewer
reads the roster, who is on duty, coverage and accuracy.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse

from api.auth.tokens import Principal, Role
from api.deps import (
    ID_PATTERN,
    ConnDep,
    EstateAdmin,
    EstatePath,
    EstateViewer,
    require,
    require_estate,
)
from api.errors import Invalid, NotFound
from api.registry import repository as registry
from api.volunteers import repository as repo
from api.volunteers import service
from api.volunteers.ics import calendar
from api.volunteers.roster import SlotSpec
from api.volunteers.schemas import (
    Accuracy,
    CheckIn,
    Coverage,
    Inspection,
    InspectionIn,
    Me,
    MyShift,
    OnDuty,
    RoomSlots,
    RosterCreated,
    Shift,
    ShiftActivity,
    Swap,
    SwapIn,
    SwapStatus,
    Volunteer,
    VolunteerCreated,
    VolunteerIn,
    WatchSlotsIn,
)

router = APIRouter(prefix="/api/v1", tags=["volunteers"])

# A roster view longer than this is a report, not a screen.
MAX_PERIOD_DAYS = 400
# Calendar feed: recent past (so a phone keeps last week's watches) and the months ahead.
CALENDAR_PAST = timedelta(days=31)
CALENDAR_AHEAD = timedelta(days=120)


def get_now() -> datetime:
    """The current instant; tests override this dependency to stand at a watch's time."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]
AnyVolunteer = Annotated[Principal, Depends(require(Role.volunteer))]
EstateVolunteer = Annotated[Principal, Depends(require_estate(Role.volunteer))]
RoomPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["r1"])]
IdPath = Annotated[int, Path(ge=1, le=2**62)]
From = Annotated[date, Query(alias="from", description="first local day (inclusive)")]
To = Annotated[date, Query(alias="to", description="last local day (inclusive)")]


def _period(start: date, end: date) -> None:
    if end < start:
        raise Invalid(f"'to' ({end}) is before 'from' ({start})")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise Invalid(f"the period is longer than {MAX_PERIOD_DAYS} days")


def calendar_url(request: Request, key: str) -> str:
    """The tokenised URL of a volunteer's calendar feed."""
    return str(request.url_for("volunteer_calendar", key=key))


# --- volunteers -------------------------------------------------------------------


@router.post("/estates/{estate}/volunteers", response_model=VolunteerCreated, status_code=201)
async def create_volunteer(
    estate: EstatePath, body: VolunteerIn, conn: ConnDep, _: EstateAdmin, request: Request
) -> Any:
    """Register a volunteer and create the volunteer token that acts as them.

    The token is shown only in this answer; hand it to the volunteer (their phone keeps it).
    """
    row, token = await service.create_volunteer(conn, estate, body)
    return {**row, "token": token, "calendar_url": calendar_url(request, row["calendar_key"])}


@router.get("/estates/{estate}/volunteers", response_model=list[Volunteer])
async def list_volunteers(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> Any:
    """An estate's volunteers, with their availability."""
    await registry.get_estate(conn, estate)
    return await repo.list_volunteers(conn, estate)


@router.put("/estates/{estate}/volunteers/{volunteer}", response_model=Volunteer)
async def update_volunteer(
    estate: EstatePath, volunteer: IdPath, body: VolunteerIn, conn: ConnDep, _: EstateAdmin
) -> Any:
    """Replace a volunteer's details and availability."""
    return await service.update_volunteer(conn, estate, volunteer, body)


@router.delete("/estates/{estate}/volunteers/{volunteer}", status_code=204)
async def delete_volunteer(
    estate: EstatePath, volunteer: IdPath, conn: ConnDep, _: EstateAdmin
) -> None:
    """Remove a volunteer, their assignments and their token."""
    await service.volunteer_in(conn, estate, volunteer)
    await repo.delete_volunteer(conn, volunteer)


@router.get("/me", response_model=Me)
async def me(conn: ConnDep, principal: AnyVolunteer, request: Request) -> Any:
    """The volunteer this token acts as, with the URL of their calendar feed."""
    row = await service.acting_volunteer(conn, principal)
    return {**row, "calendar_url": calendar_url(request, row["calendar_key"])}


@router.get("/me/shifts", response_model=list[MyShift])
async def my_shifts(
    conn: ConnDep, principal: AnyVolunteer, now: Now, days: Annotated[int, Query(ge=1, le=120)] = 31
) -> Any:
    """My watches from the one under way now to `days` ahead, in time order."""
    me_row = await service.acting_volunteer(conn, principal)
    shifts = await repo.volunteer_shifts(conn, me_row["id"], now, now + timedelta(days=days))
    out = []
    for s in shifts:
        mine = next(a for a in s["assignees"] if a["volunteer_id"] == me_row["id"])
        out.append(
            {
                **s,
                "assignment_id": mine["assignment_id"],
                "checked_in_at": mine["checked_in_at"],
                "checked_out_at": mine["checked_out_at"],
            }
        )
    return out


# --- watch slots and roster -----------------------------------------------------------


def _room_slots(estate: str, room: str, specs: list[SlotSpec], default: bool) -> dict[str, Any]:
    return {
        "estate": estate,
        "room": room,
        "source": "estate_windows" if default else "room",
        "slots": [
            {"day_type": s.day_type, "start": s.start, "end": s.end, "needed": s.needed}
            for s in specs
        ],
    }


@router.get("/estates/{estate}/watch-slots", response_model=list[RoomSlots])
async def watch_slots(estate: EstatePath, conn: ConnDep, _: EstateViewer) -> Any:
    """Each room's watch slots (the estate's drop-off windows unless a room has its own)."""
    specs, defaulted = await service.room_specs(conn, estate)
    return [_room_slots(estate, room, s, room in defaulted) for room, s in specs.items()]


@router.put("/estates/{estate}/rooms/{room}/watch-slots", response_model=RoomSlots)
async def put_watch_slots(
    estate: EstatePath, room: RoomPath, body: WatchSlotsIn, conn: ConnDep, _: EstateAdmin
) -> Any:
    """Set a room's watch slots per weekday and weekend (e.g. evenings, and weekends)."""
    await registry.get_room(conn, estate, room)
    specs = [SlotSpec("weekday", s, e, body.needed) for s, e in body.weekday]
    specs += [SlotSpec("weekend", s, e, body.needed) for s, e in body.weekend]
    if any(s.start == s.end for s in specs):
        raise Invalid("a watch slot cannot start and end at the same time")
    await repo.replace_watch_slots(conn, estate, room, specs)
    return _room_slots(estate, room, specs, False)


@router.post("/estates/{estate}/roster", response_model=RosterCreated, status_code=201)
async def generate_roster(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateAdmin,
    now: Now,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-04"])],
    replace: bool = False,
) -> Any:
    """Generate a month's roster: every watch slot, volunteers rotated fairly within
    their availability (409 when the month has one, unless `replace`)."""
    return await service.generate_roster(conn, estate, month, replace, now)


@router.get("/estates/{estate}/roster", response_model=list[Shift])
async def roster(
    estate: EstatePath,
    start: From,
    end: To,
    conn: ConnDep,
    _: EstateViewer,
    room: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Any:
    """The watches of local days [from, to] with who holds them; uncovered ones flagged."""
    _period(start, end)
    await registry.get_estate(conn, estate)
    return await repo.shifts_between(conn, estate, start, end, room)


@router.get("/estates/{estate}/coverage", response_model=Coverage, response_model_by_alias=True)
async def coverage(
    estate: EstatePath, start: From, end: To, conn: ConnDep, _: EstateViewer, now: Now
) -> Any:
    """Uncovered watches, and the busiest slots that need more volunteers."""
    _period(start, end)
    return await service.coverage(conn, estate, start, end, now)


@router.get("/estates/{estate}/rooms/{room}/on-duty", response_model=OnDuty)
async def on_duty(
    estate: EstatePath,
    room: RoomPath,
    conn: ConnDep,
    _: EstateViewer,
    now: Now,
    at: Annotated[
        datetime | None,
        Query(
            description="an instant with offset; default now",
            examples=["2026-04-03T19:00:00+08:00"],
        ),
    ] = None,
) -> Any:
    """Who watches the room at `at`."""
    if at is not None and at.tzinfo is None:
        raise Invalid("'at' needs an offset, e.g. 2026-04-03T19:00:00+08:00")
    when = at or now
    await registry.get_room(conn, estate, room)
    return {
        "estate": estate,
        "room": room,
        "at": when,
        "shifts": await repo.shifts_at(conn, estate, room, when),
    }


@router.get("/shifts/{shift}", response_model=ShiftActivity)
async def shift_detail(
    shift: IdPath, conn: ConnDep, principal: Annotated[Principal, Depends(require(Role.viewer))]
) -> Any:
    """A watch with its room's drops, kg, fill levels and alarms during it."""
    return await service.shift_activity(conn, await service.shift_in_scope(conn, principal, shift))


# --- check-in / check-out -------------------------------------------------------------


@router.post("/assignments/{assignment}/check-in", response_model=CheckIn)
async def check_in(assignment: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now) -> Any:
    """Check in to one's own watch, from 30 minutes before it until its end."""
    row = await service.check(conn, principal, assignment, "in", now)
    return {**row, "assignment_id": row["id"]}


@router.post("/assignments/{assignment}/check-out", response_model=CheckIn)
async def check_out(assignment: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now) -> Any:
    """Check out of one's own watch, up to an hour after it ends."""
    row = await service.check(conn, principal, assignment, "out", now)
    return {**row, "assignment_id": row["id"]}


# --- inspections and accuracy ---------------------------------------------------------


@router.post("/assignments/{assignment}/inspections", response_model=Inspection, status_code=201)
async def record_inspection(
    assignment: IdPath, body: InspectionIn, conn: ConnDep, principal: AnyVolunteer, now: Now
) -> Any:
    """Record what was checked, mis-sorted and re-sorted per category during a watch."""
    return await service.record_inspection(conn, principal, assignment, body, now)


@router.get("/inspections/{inspection}", response_model=Inspection)
async def get_inspection(
    inspection: IdPath,
    conn: ConnDep,
    principal: Annotated[Principal, Depends(require(Role.viewer))],
) -> Any:
    """One inspection."""
    return await service.inspection(conn, principal, inspection)


@router.put("/inspections/{inspection}", response_model=Inspection)
async def put_inspection(
    inspection: IdPath, body: InspectionIn, conn: ConnDep, principal: AnyVolunteer
) -> Any:
    """Correct an inspection (its recorder or an admin)."""
    return await service.edit_inspection(conn, principal, inspection, body)


@router.delete("/inspections/{inspection}", status_code=204)
async def delete_inspection(inspection: IdPath, conn: ConnDep, principal: AnyVolunteer) -> None:
    """Delete an inspection (its recorder or an admin)."""
    await service.edit_inspection(conn, principal, inspection, None)


@router.get("/estates/{estate}/inspections", response_model=list[Inspection])
async def list_inspections(
    estate: EstatePath, start: From, end: To, conn: ConnDep, _: EstateViewer
) -> Any:
    """Inspections of the watches on local days [from, to]."""
    _period(start, end)
    return await repo.list_inspections(conn, estate, start, end)


@router.get("/estates/{estate}/accuracy", response_model=Accuracy, response_model_by_alias=True)
async def accuracy(estate: EstatePath, start: From, end: To, conn: ConnDep, _: EstateViewer) -> Any:
    """Sorting accuracy = passed / inspected, with the number inspected, per category and
    building, over the watches on local days [from, to]."""
    _period(start, end)
    return await service.accuracy(conn, estate, start, end)


# --- swaps ----------------------------------------------------------------------------


@router.post("/assignments/{assignment}/swaps", response_model=Swap, status_code=201)
async def offer_swap(
    assignment: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now, body: SwapIn | None = None
) -> Any:
    """Offer one's own future watch to the estate's other volunteers."""
    return await service.offer_swap(conn, principal, assignment, body.note if body else None, now)


@router.get("/estates/{estate}/swaps", response_model=list[Swap])
async def list_swaps(
    estate: EstatePath,
    conn: ConnDep,
    principal: EstateVolunteer,
    now: Now,
    status: SwapStatus | None = None,
    upcoming: bool = False,
) -> Any:
    """An estate's swap offers, newest first: volunteers take open ones; admins see
    every accepted change."""
    await registry.get_estate(conn, estate)
    rows = await repo.list_swaps(conn, estate, status, now if upcoming else None)
    return [await service.swap_in_scope(conn, principal, r["id"]) for r in rows]


@router.post("/swaps/{swap}/accept", response_model=Swap)
async def accept_swap(swap: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now) -> Any:
    """Take an open offer: the watch becomes the caller's."""
    return await service.accept_swap(conn, principal, swap, now)


@router.post("/swaps/{swap}/cancel", response_model=Swap)
async def cancel_swap(swap: IdPath, conn: ConnDep, principal: AnyVolunteer) -> Any:
    """Withdraw an open offer (its volunteer or an admin)."""
    return await service.cancel_swap(conn, principal, swap)


# --- calendar feed (no bearer token: the URL's key is the secret) ---------------------


@router.get(
    "/calendar/{key}.ics",
    name="volunteer_calendar",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/calendar": {}}}},
)
async def volunteer_calendar(
    key: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$")],
    conn: ConnDep,
    request: Request,
    now: Now,
) -> Response:
    """A volunteer's watches as iCalendar, for a phone's calendar to subscribe to."""
    row = await repo.volunteer_of_calendar_key(conn, key)
    if row is None:
        raise NotFound("no calendar with this key")
    shifts = await repo.volunteer_shifts(conn, row["id"], now - CALENDAR_PAST, now + CALENDAR_AHEAD)
    body = calendar(row["name"], shifts, request.url.hostname or "fenlei", now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
