"""Watch slots, roster generation and the roster, and watch coverage (viewer reads,
admin writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ID_PATTERN, ConnDep, EstateAdmin, EstatePath, EstateViewer, PeriodRulesDep
from api.registry import repository as registry
from api.roster import edits, service
from api.roster.schemas import (
    AssignmentIn,
    RoomSlots,
    RosterCreated,
    WatchCoverage,
    WatchSlotsIn,
)
from api.routes.volunteer_deps import (
    BODY,
    ERRORS,
    WRITE,
    From,
    IdPath,
    Now,
    RoomPath,
    To,
    check_period,
)
from api.shifts import repository as shifts
from api.shifts.schemas import Shift

router = APIRouter(prefix="/api/v1", tags=["volunteers"], responses=ERRORS)


@router.get("/estates/{estate}/watch-slots", response_model=list[RoomSlots])
async def watch_slots(estate: EstatePath, conn: ConnDep, _: EstateViewer) -> Any:
    """Each room's watch slots (the estate's drop-off windows unless a room has its own)."""
    return await service.estate_slots(conn, estate)


@router.put("/estates/{estate}/rooms/{room}/watch-slots", response_model=RoomSlots, responses=BODY)
async def put_watch_slots(
    estate: EstatePath, room: RoomPath, body: WatchSlotsIn, conn: ConnDep, _: EstateAdmin
) -> Any:
    """Set a room's watch slots per weekday and weekend (e.g. evenings, and weekends).

    An end before the start is a watch past midnight. 422 for a slot of no length or two
    slots of one day type that overlap."""
    return await service.set_watch_slots(conn, estate, room, body)


@router.post(
    "/estates/{estate}/roster", response_model=RosterCreated, status_code=201, responses=WRITE
)
async def generate_roster(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateAdmin,
    now: Now,
    rules: PeriodRulesDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-04"])],
    replace: bool = False,
) -> Any:
    """Generate a month's roster: every watch slot, volunteers rotated fairly within
    their availability (409 when the month has one, unless `replace`)."""
    first, last = service.month_bounds(month)
    rules.check_day(first, "month")
    rules.check_day(last, "month")
    return await service.generate_roster(conn, estate, month, replace, now)


@router.get("/estates/{estate}/roster", response_model=list[Shift])
async def roster(
    estate: EstatePath,
    start: From,
    end: To,
    conn: ConnDep,
    _: EstateViewer,
    rules: PeriodRulesDep,
    room: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Any:
    """The watches of local days [from, to] with who holds them; uncovered ones flagged."""
    check_period(rules, start, end)
    await registry.get_estate(conn, estate)
    return await shifts.shifts_between(conn, estate, start, end, room)


@router.get(
    "/estates/{estate}/coverage", response_model=WatchCoverage, response_model_by_alias=True
)
async def watch_coverage(
    estate: EstatePath,
    start: From,
    end: To,
    conn: ConnDep,
    _: EstateViewer,
    now: Now,
    rules: PeriodRulesDep,
) -> Any:
    """Uncovered watches, and the busiest slots that need more volunteers."""
    check_period(rules, start, end)
    return await service.watch_coverage(conn, estate, start, end, now)


# --- one seat of a published roster (the committee's edits) -------------------------


@router.post(
    "/estates/{estate}/shifts/{shift}/assignments",
    response_model=Shift,
    status_code=201,
    responses=BODY,
)
async def add_assignment(
    estate: EstatePath,
    shift: IdPath,
    body: AssignmentIn,
    conn: ConnDep,
    _: EstateAdmin,
    now: Now,
) -> Any:
    """Put a volunteer on a watch (one more seat); the watch after the change.

    404: no such shift in the estate; 422: not an active volunteer of the estate;
    409: the watch has ended, the volunteer already holds it, or holds another watch at
    an overlapping time."""
    return await edits.add_assignment(conn, estate, shift, body.volunteer_id, now)


@router.put("/estates/{estate}/assignments/{assignment}", response_model=Shift, responses=BODY)
async def replace_assignment(
    estate: EstatePath,
    assignment: IdPath,
    body: AssignmentIn,
    conn: ConnDep,
    _: EstateAdmin,
    now: Now,
) -> Any:
    """Give one seat to another volunteer (an open swap offer of it is withdrawn); the
    watch after the change.

    404: no such assignment in the estate; 422: not an active volunteer of the estate;
    409: the watch has ended, its volunteer has checked in, or the new volunteer already
    holds it or another watch at an overlapping time."""
    return await edits.replace_assignment(conn, estate, assignment, body.volunteer_id, now)


@router.delete("/estates/{estate}/assignments/{assignment}", response_model=Shift, responses=WRITE)
async def remove_assignment(
    estate: EstatePath, assignment: IdPath, conn: ConnDep, _: EstateAdmin, now: Now
) -> Any:
    """Take a volunteer off a watch; the watch after the change (its seat may now be
    uncovered). 404: no such assignment in the estate; 409: the watch has ended or its
    volunteer has checked in."""
    return await edits.remove_assignment(conn, estate, assignment, now)
