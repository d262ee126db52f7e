"""What each committee volunteer screen does first: the committee visitor and the page
context whose header links the committee's screens."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from dashboards import common, layout


async def committee_page(
    request: Request, conn: Any, estate: str
) -> tuple[common.Visitor, layout.Context] | Response:
    """The signed-in admin allowed `estate` and the page context, or the response to send
    instead (sign-in, 403, 404)."""
    who = await common.committee(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    ctx = layout.Context(
        request,
        common.locale_of(request),
        estate=estate,
        timezone=who.estate["timezone"],
        committee=True,
    )
    return who, ctx
