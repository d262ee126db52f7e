"""The api_tokens table: create, list and revoke (sync, for the CLI) and look up (async)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.auth.tokens import Principal, Role, hash_token, new_token
from api.errors import NotFound

_INSERT = """
INSERT INTO api_tokens (name, role, estates, token_sha256)
VALUES (%s, %s, %s, %s) RETURNING id
"""
_FIND = """
SELECT id, name, role, estates FROM api_tokens
WHERE token_sha256 = %s AND revoked_at IS NULL
"""
_LIST = """
SELECT id, name, role, estates, created_at, revoked_at FROM api_tokens ORDER BY id
"""
_REVOKE = "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL"


def create_token(
    conn: psycopg.Connection[object],
    role: Role,
    estates: Sequence[str] | None = None,
    name: str = "",
) -> tuple[int, str]:
    """Store a new token's hash; returns (id, token). The token is never stored."""
    token = new_token()
    row = conn.execute(
        _INSERT, (name, role.value, list(estates) if estates else None, hash_token(token))
    ).fetchone()
    assert row is not None
    return int(row[0]), token  # type: ignore[index]


def list_tokens(conn: psycopg.Connection[object]) -> list[dict[str, object]]:
    """Every token's id, name, role, estates, created_at and revoked_at."""
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(_LIST).fetchall())


def revoke_token(conn: psycopg.Connection[object], token_id: int) -> None:
    """Revoke a token at once; raises NotFound for an unknown or already revoked id."""
    if conn.execute(_REVOKE, (token_id,)).rowcount != 1:
        raise NotFound(f"no active token with id {token_id}")


async def find_principal(conn: psycopg.AsyncConnection[object], token: str) -> Principal | None:
    """The principal of an active token, or None."""
    cur = await conn.execute(_FIND, (hash_token(token),))
    row = await cur.fetchone()
    if row is None:
        return None
    values: tuple[Any, ...] = tuple(row)  # type: ignore[arg-type]
    token_id, name, role, estates = values
    return Principal(
        int(token_id),
        str(name),
        Role(str(role)),
        frozenset(estates) if isinstance(estates, list) else None,
    )


def describe(row: dict[str, object]) -> str:
    """One line for `fenlei token list`."""
    estates = row["estates"]
    revoked = row["revoked_at"]
    created = row["created_at"]
    assert isinstance(created, datetime)
    return (
        f"{row['id']:>5}  {row['role']!s:<9} "
        f"{','.join(estates) if isinstance(estates, list) else '*':<20} "
        f"{created:%Y-%m-%d}  {'revoked' if revoked else 'active ':<7}  {row['name']}"
    )
