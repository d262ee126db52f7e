"""The api_tokens table: create, list and revoke (sync, for the CLI), rotate (async, for
the CLI and the API) and look up (async).

Only SHA-256 hashes are stored. A rotation moves the replaced hash to
`previous_sha256`, accepted until `previous_valid_until` (the grace); every time is
the database's `now()`, so each process agrees on when a token expires. Every change
writes one audit record (`api.auth.audit`), never a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.auth import audit, caller
from api.auth.tokens import Principal, Role, hash_token, new_token
from api.errors import Conflict, NotAuthenticated, NotFound
from api.rows import Conn, Row, fetch_one

_INSERT = """
INSERT INTO api_tokens (name, role, estates, token_sha256, expires_at)
VALUES (%s, %s, %s, %s, %s) RETURNING id
"""
# The token a secret names, and whether that secret works now (and if not, why not).
# The current secret works until the token expires or is revoked; the one a rotation
# replaced, only until the end of its grace.
_LOOKUP = """
SELECT id, name, role, estates, expires_at, rotated_at,
       CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
            WHEN expires_at <= now() THEN 'expired'
            WHEN token_sha256 = %(h)s OR previous_valid_until > now() THEN 'active'
            ELSE 'rotated' END AS state
FROM api_tokens WHERE token_sha256 = %(h)s OR previous_sha256 = %(h)s
ORDER BY token_sha256 = %(h)s DESC LIMIT 1
"""
_BY_ID = """
SELECT id, name, role, estates FROM api_tokens
WHERE id = %(id)s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
  AND (%(since)s::timestamptz IS NULL OR rotated_at IS NULL OR rotated_at <= %(since)s)
"""
_LIST = """
SELECT id, name, role, estates, created_at, revoked_at, expires_at, rotated_at,
       expires_at <= now() AS expired
FROM api_tokens ORDER BY id
"""
_REVOKE = "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL"
_GET = """
SELECT id, name, role, estates, expires_at, revoked_at, expires_at <= now() AS expired
FROM api_tokens WHERE id = %s
"""
# A new secret for the same id, role and estates; the old hash is kept for the grace.
# `renew` replaces the expiry (a rotation may also extend a token's life).
_ROTATE = """
UPDATE api_tokens SET token_sha256 = %(new)s, previous_sha256 = token_sha256,
       previous_valid_until = now() + %(grace)s, rotated_at = now(),
       expires_at = CASE WHEN %(renew)s THEN %(expires)s ELSE expires_at END
WHERE id = %(id)s AND revoked_at IS NULL
  AND (%(renew)s OR expires_at IS NULL OR expires_at > now())
RETURNING id, name, role, estates, expires_at, previous_valid_until
"""

UNKNOWN = "the bearer token is unknown"


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _refusal(row: Row) -> str:
    """Why a known secret does not work (it is the caller's own: saying so leaks nothing)."""
    if row["state"] == "revoked":
        return "the bearer token was revoked"
    if row["state"] == "expired":
        return f"the bearer token expired at {_at(row['expires_at'])}"
    rotated = _at(row["rotated_at"])
    return f"the bearer token was replaced by a rotation at {rotated}; use the new one"


def _principal(row: Row) -> Principal:
    estates = row["estates"]
    return Principal(
        int(row["id"]),
        str(row["name"]),
        Role(str(row["role"])),
        frozenset(estates) if isinstance(estates, list) else None,
    )


def _scope(estates: Sequence[str] | None) -> str:
    return ", ".join(estates) if estates else "every estate"


def create_token(
    conn: psycopg.Connection[Any],
    role: Role,
    estates: Sequence[str] | None = None,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """Store a new token's hash; returns (id, token). The token is never stored."""
    token = new_token()
    row = conn.execute(
        _INSERT,
        (name, role.value, list(estates) if estates else None, hash_token(token), expires_at),
    ).fetchone()
    assert row is not None
    token_id = int(row[0])
    audit.record(
        "token_created",
        f"token {token_id} created: role {role.value}, {_scope(estates)}",
        target_token_id=token_id,
        target_name=name,
        role=role.value,
        estates=list(estates) if estates else None,
        expires_at=expires_at,
    )
    return token_id, token


def list_tokens(conn: psycopg.Connection[Any]) -> list[dict[str, object]]:
    """Every token's id, name, role, estates, created_at, revoked_at, expires_at (with
    `expired`) and rotated_at."""
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(_LIST).fetchall())


def revoke_token(conn: psycopg.Connection[Any], token_id: int) -> None:
    """Revoke a token at once; raises NotFound for an unknown or already revoked id."""
    if conn.execute(_REVOKE, (token_id,)).rowcount != 1:
        raise NotFound(f"no active token with id {token_id}")
    audit.record("token_revoked", f"token {token_id} revoked", target_token_id=token_id)


@dataclass(frozen=True, slots=True)
class Rotated:
    """A rotated token: its new secret (shown once) and until when the old one works."""

    principal: Principal
    token: str
    expires_at: datetime | None
    previous_valid_until: datetime


async def get_token(conn: Conn, token_id: int) -> Row:
    """A token's id, name, role, estates, expires_at (with `expired`) and revoked_at;
    NotFound when there is none."""
    row = await fetch_one(conn, _GET, (token_id,))
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    return row


async def rotate_token(
    conn: Conn,
    token_id: int,
    grace: timedelta = timedelta(0),
    expires_at: datetime | None = None,
    renew: bool = False,
) -> Rotated:
    """A new secret for token `token_id`; the old one works for `grace` more (none: it
    stops at once). With `renew`, the expiry becomes `expires_at` (None: never).

    NotFound for an unknown id, Conflict for a revoked token or an expired one that
    is not renewed (rotating cannot bring it back by accident).
    """
    token = new_token()
    row = await fetch_one(
        conn,
        _ROTATE,
        {
            "new": hash_token(token),
            "grace": grace,
            "renew": renew,
            "expires": expires_at,
            "id": token_id,
        },
    )
    if row is None:
        found = await get_token(conn, token_id)
        if found["revoked_at"] is not None:
            raise Conflict(f"token {token_id} is revoked; create a new one instead")
        raise Conflict(
            f"token {token_id} expired at {_at(found['expires_at'])};"
            " give it a new expiry to rotate it"
        )
    rotated = Rotated(_principal(row), token, row["expires_at"], row["previous_valid_until"])
    audit.record(
        "token_rotated",
        f"token {token_id} rotated; the old secret works until {_at(rotated.previous_valid_until)}",
        target_token_id=token_id,
        grace_s=int(grace.total_seconds()),
        previous_valid_until=rotated.previous_valid_until,
        expires_at=rotated.expires_at,
        renewed=renew,
    )
    return rotated


async def authenticate(conn: Conn, token: str) -> Principal:
    """The principal of a working token; NotAuthenticated saying why otherwise
    (unknown, revoked, expired, or replaced by a rotation)."""
    row = await fetch_one(conn, _LOOKUP, {"h": hash_token(token)})
    if row is None:
        raise NotAuthenticated(UNKNOWN)
    if row["state"] != "active":
        raise NotAuthenticated(_refusal(row))
    principal = _principal(row)
    caller.note(principal)
    return principal


async def find_principal(conn: Conn, token: str) -> Principal | None:
    """The principal of a working token (not revoked, not expired, not rotated away
    after its grace), or None."""
    try:
        return await authenticate(conn, token)
    except NotAuthenticated:
        return None


async def principal_by_id(
    conn: Conn, token_id: int, since: datetime | None = None
) -> Principal | None:
    """The principal of token `token_id` while it works (not revoked, not expired), for
    a session that names the token by id; with `since` (when the session began), also
    None once the token was rotated after it: a rotation ends the old secret's sessions."""
    row = await fetch_one(conn, _BY_ID, {"id": token_id, "since": since})
    if row is None:
        return None
    principal = _principal(row)
    caller.note(principal)
    return principal


def describe(row: dict[str, object]) -> str:
    """One line for `fenlei token list`."""
    estates = row["estates"]
    created = row["created_at"]
    expires = row["expires_at"]
    assert isinstance(created, datetime)
    state = "revoked" if row["revoked_at"] else "expired" if row["expired"] else "active"
    until = f"{expires:%Y-%m-%d %H:%M}" if isinstance(expires, datetime) else "never"
    return (
        f"{row['id']:>5}  {row['role']!s:<9} "
        f"{','.join(estates) if isinstance(estates, list) else '*':<20} "
        f"{created:%Y-%m-%d}  {state:<7}  expires {until:<16}  {row['name']}"
    )
