"""Token management over the API: who may rotate which token, and with what lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.auth import repository
from api.auth.tokens import MAX_GRACE, Principal, expiry_in, parse_duration
from api.errors import Forbidden
from api.rows import Conn


async def rotate(
    conn: Conn,
    principal: Principal,
    token_id: int,
    grace: str | None = None,
    expires_in: str | None = None,
) -> repository.Rotated:
    """Rotate token `token_id` for an admin whose estates include all of the token's
    (rotating hands over the new secret, so it must not reach beyond the caller's own)."""
    target = await repository.get_token(conn, token_id)
    estates = target["estates"]
    if not principal.covers(frozenset(estates) if isinstance(estates, list) else None):
        raise Forbidden(f"token {token_id} reaches estates this token may not see")
    length = parse_duration(grace, MAX_GRACE, "grace") if grace else timedelta(0)
    expires = expiry_in(expires_in, datetime.now(UTC)) if expires_in else None
    return await repository.rotate_token(
        conn, token_id, length, expires, renew=expires_in is not None
    )
