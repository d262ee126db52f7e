"""Who is on duty, a shift's telemetry, and check-in/out of one's own watch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ConnDep, EstatePath, EstateViewer, SettingsDep, Viewer
from api.fields import Instant
from api.registry import repository as registry
from api.routes.volunteer_deps import ERRORS, WRITE, AnyVolunteer, IdPath, Now, RoomPath
from api.shifts import repository as repo
from api.shifts import service
from api.shifts.schemas import CheckIn, OnDuty, ShiftActivity

router = APIRouter(prefix="/api/v1", tags=["volunteers"], responses=ERRORS)


@router.get("/estates/{estate}/rooms/{room}/on-duty", response_model=OnDuty)
async def on_duty(
    estate: EstatePath,
    room: RoomPath,
    conn: ConnDep,
    _: EstateViewer,
    now: Now,
    at: Annotated[
        Instant | None,
        Query(
            description="an instant with offset; default now",
            examples=["2026-04-03T19:00:00+08:00"],
        ),
    ] = None,
) -> Any:
    """Who watches the room at `at`."""
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
    shift: IdPath, conn: ConnDep, principal: Viewer, settings: SettingsDep, now: Now
) -> Any:
    """A watch with its room's drops, kg, fill levels and alarms during it (`raw_events`
    is `retained_away` once the watch is older than FENLEI_RAW_RETENTION_DAYS)."""
    found = await service.shift_in_scope(conn, principal, shift)
    return await service.shift_activity(conn, found, settings.raw_retention_days, now)


@router.post("/assignments/{assignment}/check-in", response_model=CheckIn, responses=WRITE)
async def check_in(assignment: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now) -> Any:
    """Check in to one's own watch, from 30 minutes before it until its end."""
    row = await service.check(conn, principal, assignment, "in", now)
    return {**row, "assignment_id": row["id"]}


@router.post("/assignments/{assignment}/check-out", response_model=CheckIn, responses=WRITE)
async def check_out(assignment: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now) -> Any:
    """Check out of one's own watch, up to an hour after it ends."""
    row = await service.check(conn, principal, assignment, "out", now)
    return {**row, "assignment_id": row["id"]}
