"""Alarms of an estate: list them, acknowledge and resolve one, and the thresholds of
the derived alarms. The records themselves are written by `fenlei alarms`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.alarms import service
from api.alarms.schemas import Alarm, AlarmSettingsIn, AlarmSettingsOut, StateFilter
from api.deps import ConnDep, EstateAdmin, EstatePath, EstateViewer, Viewer
from api.problems import responses
from api.routes.volunteer_deps import IdPath, Now

router = APIRouter(prefix="/api/v1", tags=["alarms"], responses=responses(401, 403, 404, 422, 503))


@router.get("/estates/{estate}/alarms", response_model=list[Alarm])
async def list_alarms(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateViewer,
    state: Annotated[
        StateFilter, Query(description="unresolved = open or acknowledged")
    ] = "unresolved",
) -> Any:
    """The estate's alarm records in a state, newest first (at most 1,000)."""
    return await service.list_alarms(conn, estate, state)


@router.post("/alarms/{alarm}/acknowledge", response_model=Alarm, responses=responses(409))
async def acknowledge(alarm: IdPath, conn: ConnDep, principal: Viewer, now: Now) -> Any:
    """Someone is on it: an admin of the estate or the volunteer on duty at its room
    now. 409 unless the alarm is open."""
    return await service.acknowledge(conn, principal, alarm, now)


@router.post("/alarms/{alarm}/resolve", response_model=Alarm, responses=responses(409))
async def resolve(alarm: IdPath, conn: ConnDep, principal: Viewer, now: Now) -> Any:
    """Done: an admin of the estate or the volunteer on duty at its room now. 409 when
    it is already resolved."""
    return await service.resolve(conn, principal, alarm, now)


@router.get("/estates/{estate}/alarm-settings", response_model=AlarmSettingsOut)
async def get_settings(estate: EstatePath, conn: ConnDep, _: EstateViewer) -> Any:
    """The estate's thresholds (the defaults until an admin sets them)."""
    return await service.get_settings(conn, estate)


@router.put(
    "/estates/{estate}/alarm-settings",
    response_model=AlarmSettingsOut,
    responses=responses(400, 413),
)
async def put_settings(
    estate: EstatePath, body: AlarmSettingsIn, conn: ConnDep, _: EstateAdmin
) -> Any:
    """Set the estate's thresholds (admin)."""
    return await service.put_settings(conn, estate, body)
