"""Token management (admin): rotate a token's secret, keeping its id, role and estates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from api.auth import service
from api.auth.tokens import DURATION_PATTERN, Role
from api.deps import Admin, ConnDep
from api.problems import responses

router = APIRouter(prefix="/api/v1", tags=["tokens"])

TokenPath = Annotated[int, Path(ge=1, le=2**62, description="Token id (`fenlei token list`).")]
# 403 also when the token reaches estates the caller may not see; 409 for a revoked
# token, or an expired one rotated without a new expiry.
ERRORS = responses(401, 403, 404, 409, 422)


class TokenRotated(BaseModel):
    """A token's new secret, shown only in this answer, and until when the old one works."""

    id: int
    name: str
    role: Role
    estates: list[str] | None = Field(description="null: every estate")
    token: str = Field(description="the new secret; store it now, it is not shown again")
    expires_at: datetime | None = Field(description="null: the token does not expire")
    previous_valid_until: datetime = Field(
        description="the replaced secret works until then (the rotation itself: no grace)"
    )


@router.post("/tokens/{token}/rotate", response_model=TokenRotated, responses=ERRORS)
async def rotate_token(
    token: TokenPath,
    conn: ConnDep,
    principal: Admin,
    response: Response,
    grace: Annotated[
        str | None,
        Query(
            pattern=DURATION_PATTERN,
            description="how long the old secret keeps working (at most 30d); default: it"
            " stops at once",
            examples=["1h"],
        ),
    ] = None,
    expires_in: Annotated[
        str | None,
        Query(
            pattern=DURATION_PATTERN,
            description="a new lifetime from now (at most 3650d); default: the expiry stays",
            examples=["90d"],
        ),
    ] = None,
) -> Any:
    """Give the token a new secret; its id, role and estates stay. An admin limited to
    estates rotates only tokens limited to some of them."""
    done = await service.rotate(conn, principal, token, grace, expires_in)
    # The answer carries a secret: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    p = done.principal
    return {
        "id": p.token_id,
        "name": p.name,
        "role": p.role,
        "estates": sorted(p.estates) if p.estates is not None else None,
        "token": done.token,
        "expires_at": done.expires_at,
        "previous_valid_until": done.previous_valid_until,
    }
