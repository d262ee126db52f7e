"""Watch slots, roster generation and the roster, and watch coverage (viewer reads,
admin writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ID_PATTERN, ConnDep, EstateAdmin, EstatePath, EstateViewer, PeriodRulesDep
from api.registry import repository as registry
from api.roster import service
from api.roster.schemas import RoomSlots, RosterCreated, WatchCoverage, WatchSlotsIn
from api.routes.volunteer_deps import (
    BODY,
    ERRORS,
    WRITE,
    From,
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
    """Set a room's watch slots per weekday and weekend (e.g. evenings, and weekends)."""
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
