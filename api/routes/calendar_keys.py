"""Replacing a volunteer's calendar key (its feed URL leaked, or a phone was lost): by
an admin of the estate, or by the volunteer themself. The old URL stops at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.calendar import service
from api.deps import ConnDep, EstateAdmin, EstatePath
from api.problems import responses
from api.routes.calendar import calendar_url
from api.routes.volunteer_deps import AnyVolunteer, IdPath
from api.volunteers.access import acting_volunteer
from api.volunteers.service import volunteer_in

router = APIRouter(prefix="/api/v1", tags=["volunteers"])


class CalendarKeyRotated(BaseModel):
    """The volunteer's new calendar feed URL (its key is the only secret)."""

    volunteer_id: int
    calendar_url: str = Field(description="subscribe to this one; the old URL answers 404")


def _answer(request: Request, response: Response, row: dict[str, Any]) -> dict[str, Any]:
    # The answer carries a secret: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return {"volunteer_id": row["id"], "calendar_url": calendar_url(request, row["calendar_key"])}


@router.post(
    "/estates/{estate}/volunteers/{volunteer}/calendar-key",
    response_model=CalendarKeyRotated,
    responses=responses(401, 403, 404, 422),
)
async def rotate_calendar_key(
    estate: EstatePath,
    volunteer: IdPath,
    conn: ConnDep,
    _: EstateAdmin,
    request: Request,
    response: Response,
) -> Any:
    """Give a volunteer a new calendar URL; the old one stops working."""
    await volunteer_in(conn, estate, volunteer)
    return _answer(request, response, await service.rotate_key(conn, volunteer))


@router.post(
    "/me/calendar-key",
    response_model=CalendarKeyRotated,
    # 403: the token is not linked to an active volunteer.
    responses=responses(401, 403),
)
async def rotate_my_calendar_key(
    conn: ConnDep, principal: AnyVolunteer, request: Request, response: Response
) -> Any:
    """Give my calendar a new URL (the old one leaked); the old one stops working."""
    me = await acting_volunteer(conn, principal)
    return _answer(request, response, await service.rotate_key(conn, me["id"]))
