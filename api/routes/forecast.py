"""Fill forecast (viewer role and up): when each bin is full, and per room 清运 before."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.csv import FORMAT_QUERY, Format, csv_response
from api.deps import ConnDep, EstatePath, EstateViewer
from api.errors import NotFound
from api.forecast import service
from api.forecast.schemas import EstateForecast, EstateRooms
from api.problems import responses

router = APIRouter(prefix="/api/v1", tags=["figures"], responses=responses(401, 403, 422, 503))
ERRORS = responses(404)
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}

Horizon = Annotated[
    int,
    Query(ge=1, le=168, description="hours ahead to look for a full time (1–168)", examples=[72]),
]
FormatQ = Annotated[Format, FORMAT_QUERY]


async def _body(conn: ConnDep, estate: str, horizon: int) -> dict[str, Any]:
    body = await service.estate_forecast(conn, estate, timedelta(hours=horizon))
    if body is None:
        raise NotFound(f"no estate {estate!r}")
    return body


@router.get(
    "/estates/{estate}/forecast", response_model=EstateForecast, responses={**CSV, **ERRORS}
)
async def estate_forecast(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateViewer,
    horizon_hours: Horizon = 72,
    format: FormatQ = "json",
) -> Any:
    """Per bin: fill now, rate now, and when it reaches the estate's fill alarm threshold,
    from its rates per local hour over the last 14 days between empties."""
    body = await _body(conn, estate, horizon_hours)
    if format == "csv":
        return csv_response(service.csv_bins(body), f"{estate}-forecast.csv")
    return body


@router.get(
    "/estates/{estate}/forecast/rooms", response_model=EstateRooms, responses={**CSV, **ERRORS}
)
async def room_forecast(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateViewer,
    horizon_hours: Horizon = 72,
    format: FormatQ = "json",
) -> Any:
    """Per room, the earliest time one of its bins is full: 清运 before (soonest first)."""
    body = service.rooms(await _body(conn, estate, horizon_hours))
    if format == "csv":
        return csv_response(service.csv_rooms(body), f"{estate}-forecast-rooms.csv")
    return body
