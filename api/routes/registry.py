"""Registry routes (admin role): estates, rooms, bins and households."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from api.deps import ID_PATTERN, Admin, ConnDep, EstateAdmin, EstatePath
from api.fields import PG_INT_MAX, Text
from api.problems import responses
from api.registry import repository as repo
from api.registry.schemas import (
    HOUSEHOLD_PATTERN,
    Bin,
    BinIn,
    Estate,
    EstateIn,
    Household,
    HouseholdHistory,
    HouseholdIn,
    Room,
    RoomIn,
    Upserted,
)

router = APIRouter(
    prefix="/api/v1", tags=["registry"], responses=responses(401, 403, 404, 422, 503)
)

RoomPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["r1"])]
BinPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["b-wet"])]
HouseholdPath = Annotated[str, Path(pattern=HOUSEHOLD_PATTERN, examples=["JJQ-0001"])]
# A committee sheet is a few thousand rows; the cap bounds one request's transaction.
MAX_HOUSEHOLDS_PER_CALL = 50_000
# A write that can contradict what is stored; one with a body can also be unreadable
# or too large.
WRITE = responses(409)
BODY = responses(400, 409, 413)
CREATED: dict[int | str, dict[str, Any]] = {201: {"description": "created (200: updated)"}, **BODY}


def _status(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


@router.get("/estates", response_model=list[Estate])
async def list_estates(conn: ConnDep, principal: Admin) -> Any:
    """Every estate the token may see."""
    return await repo.list_estates(
        conn, sorted(principal.estates) if principal.estates is not None else None
    )


@router.put("/estates/{estate}", response_model=Estate, responses=CREATED)
async def put_estate(
    estate: EstatePath, body: EstateIn, conn: ConnDep, _: EstateAdmin, response: Response
) -> Any:
    """Create or update an estate (409 when its time zone would change under its drops)."""
    row, created = await repo.put_estate(conn, estate, body)
    _status(response, created)
    return row


@router.get("/estates/{estate}", response_model=Estate)
async def get_estate(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> Any:
    """One estate."""
    return await repo.get_estate(conn, estate)


@router.delete("/estates/{estate}", status_code=204, responses=WRITE)
async def delete_estate(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> None:
    """Delete an estate with its registry (409 once it has events)."""
    await repo.delete_estate(conn, estate)


@router.get("/estates/{estate}/rooms", response_model=list[Room])
async def list_rooms(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> Any:
    """An estate's refuse rooms."""
    return await repo.list_rooms(conn, estate)


@router.put("/estates/{estate}/rooms/{room}", response_model=Room, responses=CREATED)
async def put_room(
    estate: EstatePath,
    room: RoomPath,
    conn: ConnDep,
    _: EstateAdmin,
    response: Response,
    body: RoomIn | None = None,
) -> Any:
    """Create or rename a refuse room."""
    row, created = await repo.put_room(conn, estate, room, body.name if body else None)
    _status(response, created)
    return row


@router.get("/estates/{estate}/rooms/{room}", response_model=Room)
async def get_room(estate: EstatePath, room: RoomPath, conn: ConnDep, _: EstateAdmin) -> Any:
    """One refuse room."""
    return await repo.get_room(conn, estate, room)


@router.delete("/estates/{estate}/rooms/{room}", status_code=204, responses=WRITE)
async def delete_room(estate: EstatePath, room: RoomPath, conn: ConnDep, _: EstateAdmin) -> None:
    """Delete a room without bins (409 otherwise)."""
    await repo.delete_room(conn, estate, room)


@router.put("/estates/{estate}/rooms/{room}/bins/{bin}", response_model=Bin, responses=CREATED)
async def put_bin(
    estate: EstatePath,
    room: RoomPath,
    bin: BinPath,
    body: BinIn,
    conn: ConnDep,
    _: EstateAdmin,
    response: Response,
) -> Any:
    """Register a bin with its category; its events are accepted at once."""
    row, created = await repo.put_bin(conn, estate, room, bin, body.category)
    _status(response, created)
    return row


@router.get("/estates/{estate}/rooms/{room}/bins/{bin}", response_model=Bin)
async def get_bin(
    estate: EstatePath, room: RoomPath, bin: BinPath, conn: ConnDep, _: EstateAdmin
) -> Any:
    """One bin with its device state."""
    return await repo.get_bin(conn, estate, room, bin)


@router.delete("/estates/{estate}/rooms/{room}/bins/{bin}", status_code=204, responses=WRITE)
async def delete_bin(
    estate: EstatePath, room: RoomPath, bin: BinPath, conn: ConnDep, _: EstateAdmin
) -> None:
    """Delete a bin that never sent an event (409 otherwise)."""
    await repo.delete_bin(conn, estate, room, bin)


@router.post("/estates/{estate}/households", response_model=Upserted, responses=BODY)
async def upsert_households(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateAdmin,
    body: Annotated[list[HouseholdIn], Body(max_length=MAX_HOUSEHOLDS_PER_CALL)],
) -> Any:
    """Bulk upsert with dated changes; all or nothing (one invalid row, or one that
    contradicts the household's recorded history: 422 naming it, nothing stored).

    A change of building or building group applies from the row's `effective_on`
    (default today, in the estate's time zone); `left_on` ends an enrolment spell and a
    later `enrolled_on` opens a new one. Changes reaching back before today are allowed
    and listed under `backdated`, with the days whose figures they rewrote.
    """
    return (await repo.upsert_households(conn, estate, body)).as_response()


@router.get("/estates/{estate}/households", response_model=list[Household])
async def list_households(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateAdmin,
    building: Annotated[Text | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    offset: Annotated[int, Query(ge=0, le=PG_INT_MAX)] = 0,
) -> Any:
    """A page of the estate's households, by id."""
    return await repo.list_households(conn, estate, building, limit, offset)


@router.get("/estates/{estate}/households/{household}", response_model=Household)
async def get_household(
    estate: EstatePath, household: HouseholdPath, conn: ConnDep, _: EstateAdmin
) -> Any:
    """One household."""
    return await repo.get_household(conn, estate, household)


@router.get("/estates/{estate}/households/{household}/history", response_model=HouseholdHistory)
async def household_history(
    estate: EstatePath, household: HouseholdPath, conn: ConnDep, _: EstateAdmin
) -> Any:
    """Where the household belonged and when it was enrolled, oldest first."""
    return await repo.household_history(conn, estate, household)


@router.delete("/estates/{estate}/households/{household}", status_code=204, responses=WRITE)
async def delete_household(
    estate: EstatePath, household: HouseholdPath, conn: ConnDep, _: EstateAdmin
) -> None:
    """Remove a household entered by mistake, history and all: the periods it counted
    in change (a household that leaves gets `left_on` instead). Its drops become an
    unregistered token's."""
    await repo.delete_household(conn, estate, household)
