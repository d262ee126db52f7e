"""Inspections of a watch (recorded by its volunteer or an admin) and sorting accuracy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ConnDep, EstatePath, EstateViewer, PeriodRulesDep, Viewer
from api.inspections import repository as repo
from api.inspections import service
from api.inspections.schemas import Accuracy, Inspection, InspectionIn
from api.routes.volunteer_deps import (
    BODY,
    ERRORS,
    WRITE,
    AnyVolunteer,
    From,
    IdPath,
    Now,
    To,
    check_period,
)

router = APIRouter(prefix="/api/v1", tags=["volunteers"], responses=ERRORS)


@router.post(
    "/assignments/{assignment}/inspections",
    response_model=Inspection,
    status_code=201,
    responses=BODY,
)
async def record_inspection(
    assignment: IdPath, body: InspectionIn, conn: ConnDep, principal: AnyVolunteer, now: Now
) -> Any:
    """Record what was checked, mis-sorted and re-sorted per category during a watch."""
    return await service.record_inspection(conn, principal, assignment, body, now)


@router.get("/inspections/{inspection}", response_model=Inspection)
async def get_inspection(inspection: IdPath, conn: ConnDep, principal: Viewer) -> Any:
    """One inspection."""
    return await service.inspection(conn, principal, inspection)


@router.put("/inspections/{inspection}", response_model=Inspection, responses=BODY)
async def put_inspection(
    inspection: IdPath, body: InspectionIn, conn: ConnDep, principal: AnyVolunteer
) -> Any:
    """Correct an inspection (its recorder or an admin)."""
    return await service.edit_inspection(conn, principal, inspection, body)


@router.delete("/inspections/{inspection}", status_code=204, responses=WRITE)
async def delete_inspection(inspection: IdPath, conn: ConnDep, principal: AnyVolunteer) -> None:
    """Delete an inspection (its recorder or an admin)."""
    await service.edit_inspection(conn, principal, inspection, None)


@router.get("/estates/{estate}/inspections", response_model=list[Inspection])
async def list_inspections(
    estate: EstatePath, start: From, end: To, conn: ConnDep, _: EstateViewer, rules: PeriodRulesDep
) -> Any:
    """Inspections of the watches on local days [from, to]."""
    check_period(rules, start, end)
    return await repo.list_inspections(conn, estate, start, end)


@router.get("/estates/{estate}/accuracy", response_model=Accuracy, response_model_by_alias=True)
async def accuracy(
    estate: EstatePath, start: From, end: To, conn: ConnDep, _: EstateViewer, rules: PeriodRulesDep
) -> Any:
    """Sorting accuracy = passed / inspected, with the number inspected, per category and
    building, over the watches on local days [from, to]."""
    check_period(rules, start, end)
    return await service.accuracy(conn, estate, start, end)
