"""Swap offers: offer one's own future watch, take another's, withdraw one's own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ConnDep, EstatePath
from api.registry import repository as registry
from api.routes.volunteer_deps import (
    BODY,
    ERRORS,
    WRITE,
    AnyVolunteer,
    EstateVolunteer,
    IdPath,
    Now,
)
from api.swaps import service
from api.swaps.schemas import Swap, SwapIn, SwapStatus

router = APIRouter(prefix="/api/v1", tags=["volunteers"], responses=ERRORS)


@router.post(
    "/assignments/{assignment}/swaps", response_model=Swap, status_code=201, responses=BODY
)
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
    return await service.list_swaps(conn, principal, estate, status, now if upcoming else None)


@router.post("/swaps/{swap}/accept", response_model=Swap, responses=WRITE)
async def accept_swap(swap: IdPath, conn: ConnDep, principal: AnyVolunteer, now: Now) -> Any:
    """Take an open offer: the watch becomes the caller's."""
    return await service.accept_swap(conn, principal, swap, now)


@router.post("/swaps/{swap}/cancel", response_model=Swap, responses=WRITE)
async def cancel_swap(swap: IdPath, conn: ConnDep, principal: AnyVolunteer) -> Any:
    """Withdraw an open offer (its volunteer or an admin)."""
    return await service.cancel_swap(conn, principal, swap)
