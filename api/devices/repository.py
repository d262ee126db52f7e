"""SQL of device accounts (`mqtt_accounts`) and of the revocation queue.

A device account's row is deleted to revoke it; the table's trigger queues the
username in `mqtt_revocations` (also when a bin, room or estate is deleted by any
path), and the admin client drains that queue onto the broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.AsyncConnection[Any]

_INFO = """
SELECT username, client_id, created_at, rotated_at, broker_applied, last_connected_at
FROM mqtt_accounts WHERE bin_key = %s
"""
# One statement for create and rotate: a rotation keeps created_at and stamps rotated_at.
UPSERT_DEVICE = """
INSERT INTO mqtt_accounts (username, client_id, kind, bin_key, password_hash, salt, iterations)
VALUES (%(username)s, %(username)s, 'device', %(bin_key)s, %(hash)s, %(salt)s, %(iterations)s)
ON CONFLICT (username) DO UPDATE SET
    password_hash = excluded.password_hash, salt = excluded.salt,
    iterations = excluded.iterations, rotated_at = now(), broker_applied = false
RETURNING (xmax = 0) AS created
"""
# A revocation still queued for this username predates the login being issued again:
# sending it now would delete the new login from the broker.
FORGET_QUEUED = "DELETE FROM mqtt_revocations WHERE username = %s"
BINS_WITHOUT_ACCOUNT = """
SELECT b.estate_id AS estate, b.room_id AS room, b.id AS bin, b.bin_key
FROM bins b
WHERE b.estate_id = %(estate)s AND (%(room)s::text IS NULL OR b.room_id = %(room)s)
  AND NOT EXISTS (SELECT 1 FROM mqtt_accounts a WHERE a.bin_key = b.bin_key)
ORDER BY b.room_id, b.id
"""
MARK_APPLIED = """
UPDATE mqtt_accounts SET broker_applied = true
WHERE username = %s AND password_hash = %s
"""
# Locked so that a POST issuing the same username again waits until the broker has
# executed the old deletion (its FORGET_QUEUED blocks on these rows).
CLAIM_REVOCATIONS = """
SELECT r.id, r.username,
       EXISTS (SELECT 1 FROM mqtt_accounts a WHERE a.username = r.username) AS reissued
FROM mqtt_revocations r ORDER BY r.id LIMIT %s FOR UPDATE OF r SKIP LOCKED
"""
FORGET_REVOCATIONS = "DELETE FROM mqtt_revocations WHERE id = ANY(%s)"


# The advisory-lock class of "issuing a bin's login" (the bin_key is the object id).
ISSUE_LOCK_CLASS = 0x6D717474  # "mqtt"


@asynccontextmanager
async def issuing(conn: Conn, bin_key: int) -> AsyncIterator[None]:
    """Serialise issuing one bin's login across API processes, commit and broker both.

    Two rotations racing could otherwise leave the broker with one password and the
    database with the other's hash, both marked applied. A session lock, because the
    database commit must come before the broker is told.
    """
    await conn.execute("SELECT pg_advisory_lock(%s, %s)", (ISSUE_LOCK_CLASS, bin_key))
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (ISSUE_LOCK_CLASS, bin_key))


async def _one(conn: Conn, query: str, params: Sequence[Any] | dict[str, Any]) -> Any:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def get_info(conn: Conn, bin_key: int) -> dict[str, Any] | None:
    """The bin's account metadata (never the hash), or None without one."""
    row = await _one(conn, _INFO, (bin_key,))
    return dict(row) if row is not None else None


async def put_device(
    conn: Conn, bin_key: int, username: str, password_hash: str, salt: str, iterations: int
) -> bool:
    """Store a new hash for the bin's login (created or rotated); True when created."""
    params = {
        "username": username,
        "bin_key": bin_key,
        "hash": password_hash,
        "salt": salt,
        "iterations": iterations,
    }
    async with conn.transaction():
        await conn.execute(FORGET_QUEUED, (username,))
        row = await _one(conn, UPSERT_DEVICE, params)
    return bool(row["created"])


async def mark_applied(conn: Conn, username: str, password_hash: str) -> None:
    """The broker confirmed this password (not a later one that raced it)."""
    await conn.execute(MARK_APPLIED, (username, password_hash))


async def delete_device(conn: Conn, bin_key: int) -> str | None:
    """Delete the bin's login (the trigger queues its revocation); its username or None."""
    row = await _one(
        conn, "DELETE FROM mqtt_accounts WHERE bin_key = %s RETURNING username", (bin_key,)
    )
    return str(row["username"]) if row is not None else None


async def claim_revocations(conn: Conn, limit: int) -> list[dict[str, Any]]:
    """Queued revocations, locked until the caller's transaction ends (skip others')."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(CLAIM_REVOCATIONS, (limit,))
        return await cur.fetchall()


async def forget_revocations(conn: Conn, ids: Sequence[int]) -> None:
    """Drop queue rows the broker has executed (or that no longer apply)."""
    await conn.execute(FORGET_REVOCATIONS, (list(ids),))
