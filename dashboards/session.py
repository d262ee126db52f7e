"""Sign-in sessions: an HMAC-signed, HttpOnly cookie naming an API token by its id.

The cookie holds `token id . expiry . signature`, never the token: revoking the token
in `api_tokens` ends its sessions at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import psycopg
from fastapi import Request, Response

from api.auth.tokens import Principal, Role
from dashboards.settings import DashboardSettings

COOKIE = "fenlei_session"
LANG_COOKIE = "fenlei_lang"
# A year: the language is a preference, not a secret.
LANG_MAX_AGE_S = 365 * 24 * 3600

_BY_ID = "SELECT id, name, role, estates FROM api_tokens WHERE id = %s AND revoked_at IS NULL"


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def encode(secret: bytes, token_id: int, expires: int) -> str:
    """The cookie value for a token id valid until `expires` (Unix seconds)."""
    payload = f"{token_id}.{expires}"
    return f"{payload}.{_sign(secret, payload)}"


def decode(secret: bytes, value: str, now: float | None = None) -> int | None:
    """The token id of a valid, unexpired cookie value; None otherwise."""
    try:
        token_id, expires, signature = value.split(".")
        ok = hmac.compare_digest(signature, _sign(secret, f"{token_id}.{expires}"))
        if ok and int(expires) > (time.time() if now is None else now):
            return int(token_id)
    except ValueError:
        pass
    return None


def start(response: Response, settings: DashboardSettings, token_id: int) -> None:
    """Set the session cookie on `response`."""
    expires = int(time.time()) + settings.session_max_age_s
    response.set_cookie(
        COOKIE,
        encode(settings.secret(), token_id, expires),
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        path="/dashboards",
    )


def end(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE, path="/dashboards")


async def principal(
    request: Request, conn: psycopg.AsyncConnection[Any], settings: DashboardSettings
) -> Principal | None:
    """Who the session belongs to, when it is valid and its token still active."""
    value = request.cookies.get(COOKIE)
    token_id = decode(settings.secret(), value) if value else None
    if token_id is None:
        return None
    cur = await conn.execute(_BY_ID, (token_id,))
    row: Any = await cur.fetchone()
    if row is None:
        return None
    tid, name, role, estates = row
    return Principal(
        int(tid),
        str(name),
        Role(str(role)),
        frozenset(estates) if isinstance(estates, list) else None,
    )
