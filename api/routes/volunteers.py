"""Volunteer routes: the volunteers themselves and the caller's own record and shifts;
and `router`, which includes every volunteer route module (roster, shifts,
inspections, swaps, calendar) so the app mounts volunteering in one line.

Roles: an admin of the estate acts on every record; a volunteer token linked to a
volunteer acts on that volunteer's own assignments, inspections and offers; a viewer
reads the roster, who is on duty, watch coverage and accuracy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from api.deps import ConnDep, EstateAdmin, EstatePath
from api.registry import repository as registry
from api.routes import calendar, calendar_keys, inspections, roster, shifts, swaps
from api.routes.calendar import calendar_url
from api.routes.volunteer_deps import BODY, ERRORS, WRITE, AnyVolunteer, IdPath, Now
from api.shifts import service as shifts_service
from api.shifts.schemas import MyShift
from api.volunteers import repository as repo
from api.volunteers import service, signin_links
from api.volunteers.access import acting_volunteer
from api.volunteers.schemas import (
    Me,
    SigninLink,
    SigninLinkIn,
    Volunteer,
    VolunteerCreated,
    VolunteerIn,
)

people = APIRouter(prefix="/api/v1", tags=["volunteers"], responses=ERRORS)


@people.post(
    "/estates/{estate}/volunteers", response_model=VolunteerCreated, status_code=201, responses=BODY
)
async def create_volunteer(
    estate: EstatePath, body: VolunteerIn, conn: ConnDep, _: EstateAdmin, request: Request
) -> Any:
    """Register a volunteer and create the volunteer token that acts as them.

    The token is shown only in this answer; hand it to the volunteer (their phone keeps it).
    """
    row, token = await service.create_volunteer(conn, estate, body)
    return {**row, "token": token, "calendar_url": calendar_url(request, row["calendar_key"])}


@people.get("/estates/{estate}/volunteers", response_model=list[Volunteer])
async def list_volunteers(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> Any:
    """An estate's volunteers, with their availability."""
    await registry.get_estate(conn, estate)
    return await repo.list_volunteers(conn, estate)


@people.put("/estates/{estate}/volunteers/{volunteer}", response_model=Volunteer, responses=BODY)
async def update_volunteer(
    estate: EstatePath, volunteer: IdPath, body: VolunteerIn, conn: ConnDep, _: EstateAdmin
) -> Any:
    """Replace a volunteer's details and availability."""
    return await service.update_volunteer(conn, estate, volunteer, body)


@people.delete("/estates/{estate}/volunteers/{volunteer}", status_code=204, responses=WRITE)
async def delete_volunteer(
    estate: EstatePath, volunteer: IdPath, conn: ConnDep, _: EstateAdmin
) -> None:
    """Remove a volunteer, their assignments and their token."""
    await service.volunteer_in(conn, estate, volunteer)
    await repo.delete_volunteer(conn, volunteer)


@people.post(
    "/estates/{estate}/volunteers/{volunteer}/signin-link",
    response_model=SigninLink,
    status_code=201,
    responses=BODY,
)
async def create_signin_link(
    estate: EstatePath,
    volunteer: IdPath,
    conn: ConnDep,
    _: EstateAdmin,
    body: Annotated[SigninLinkIn | None, Body()] = None,
) -> Any:
    """A one-time link that signs the volunteer's phone in (no token to type).

    Opening `url` on this server shows whose link it is; confirming uses it and starts a
    volunteer session for the volunteer's token. It works once, until `expires_at`
    (`valid_hours`, 72 by default), while the volunteer is active and the token works.
    A new link replaces the volunteer's earlier unused ones and changes nothing else; a
    volunteer with no working token is given a new one. 409 when the volunteer is
    inactive. The code is shown only in this answer (only its hash is stored).
    """
    hours = (body or SigninLinkIn()).valid_hours
    issued = await signin_links.issue(conn, estate, volunteer, hours)
    return {"url": issued.url, "expires_at": issued.expires_at}


@people.get("/me", response_model=Me)
async def me(conn: ConnDep, principal: AnyVolunteer, request: Request) -> Any:
    """The volunteer this token acts as, with the URL of their calendar feed."""
    row = await acting_volunteer(conn, principal)
    return {**row, "calendar_url": calendar_url(request, row["calendar_key"])}


@people.get("/me/shifts", response_model=list[MyShift])
async def my_shifts(
    conn: ConnDep, principal: AnyVolunteer, now: Now, days: Annotated[int, Query(ge=1, le=120)] = 31
) -> Any:
    """My watches from the one under way now to `days` ahead, in time order."""
    me_row = await acting_volunteer(conn, principal)
    return await shifts_service.my_shifts(conn, me_row["id"], now, now + timedelta(days=days))


# Everything volunteering serves, in the order the OpenAPI document lists it.
router = APIRouter()
for _routes in (
    people,
    roster.router,
    shifts.router,
    inspections.router,
    swaps.router,
    calendar.router,
    calendar_keys.router,
):
    router.include_router(_routes)
