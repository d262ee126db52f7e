"""Dependencies and parameters the volunteer route modules share: the clock, the
volunteer role, path ids and a bounded period of local days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Depends, Path, Query

from api.auth.tokens import Principal, Role
from api.deps import ID_PATTERN, require, require_estate
from api.periods import PeriodRules
from api.problems import responses

# A roster view longer than this is a report, not a screen.
MAX_PERIOD_DAYS = 400
# What every volunteering route may answer besides its own; one with a body can also be
# unreadable or too large, and a write can contradict what is stored.
ERRORS = responses(401, 403, 404, 422, 503)
BODY = responses(400, 409, 413)
WRITE = responses(409)


def get_now() -> datetime:
    """The current instant; tests override this dependency to stand at a watch's time."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]
AnyVolunteer = Annotated[Principal, Depends(require(Role.volunteer))]
EstateVolunteer = Annotated[Principal, Depends(require_estate(Role.volunteer))]
RoomPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["r1"])]
IdPath = Annotated[int, Path(ge=1, le=2**62)]
From = Annotated[date, Query(alias="from", description="first local day (inclusive)")]
To = Annotated[date, Query(alias="to", description="last local day (inclusive)")]


def check_period(rules: PeriodRules, start: date, end: date) -> None:
    """Invalid unless [start, end] is a period `rules` allow, of at most MAX_PERIOD_DAYS."""
    rules.check(start, end, max_days=MAX_PERIOD_DAYS)
