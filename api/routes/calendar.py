"""The calendar feed (no bearer token: the URL's key is the secret)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.calendar import service
from api.deps import ConnDep
from api.problems import responses
from api.routes.volunteer_deps import Now

router = APIRouter(prefix="/api/v1", tags=["volunteers"])

ROUTE_NAME = "volunteer_calendar"


def calendar_url(request: Request, key: str) -> str:
    """The tokenised URL of a volunteer's calendar feed."""
    return str(request.url_for(ROUTE_NAME, key=key))


@router.get(
    "/calendar/{key}.ics",
    name=ROUTE_NAME,
    # The feed is text/calendar; its errors are JSON like every other route's.
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
        **responses(404, 422, 503),
    },
)
async def volunteer_calendar(
    key: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$")],
    conn: ConnDep,
    request: Request,
    now: Now,
) -> Response:
    """A volunteer's watches as iCalendar, for a phone's calendar to subscribe to."""
    body = await service.feed(conn, key, request.url.hostname or "fenlei", now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
