"""SQL of the volunteer records (and the volunteer token each one acts with)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from api.rows import Conn, Row, fetch_all, fetch_one

_VOLUNTEER = """
SELECT id, estate_id AS estate, name, contact, building_id AS building, kind, availability,
       unavailable_on, active, token_id, calendar_key
FROM volunteers
"""


async def insert_volunteer(
    conn: Conn, estate: str, body: dict[str, Any], token_sha256: bytes, calendar_key: str
) -> Row:
    """A new volunteer and the volunteer-role token for their estate, in one transaction."""
    async with conn.transaction():
        token = await fetch_one(
            conn,
            "INSERT INTO api_tokens (name, role, estates, token_sha256)"
            " VALUES (%s, 'volunteer', %s, %s) RETURNING id",
            (f"volunteer {body['name']}", [estate], token_sha256),
        )
        assert token is not None
        row = await fetch_one(
            conn,
            "INSERT INTO volunteers (estate_id, name, contact, building_id,"
            " kind, availability, unavailable_on, active, token_id, calendar_key)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                estate,
                body["name"],
                body["contact"],
                body["building"],
                body["kind"],
                _jsonb(body["availability"]),
                body["unavailable_on"],
                body["active"],
                token["id"],
                calendar_key,
            ),
        )
        assert row is not None
    found = await get_volunteer(conn, int(row["id"]))
    assert found is not None
    return found


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


async def update_volunteer(conn: Conn, volunteer_id: int, body: dict[str, Any]) -> Row | None:
    """Replace a volunteer's details; None when there is no such volunteer."""
    await conn.execute(
        "UPDATE volunteers SET name = %s, contact = %s, building_id = %s, kind = %s,"
        " availability = %s, unavailable_on = %s, active = %s WHERE id = %s",
        (
            body["name"],
            body["contact"],
            body["building"],
            body["kind"],
            _jsonb(body["availability"]),
            body["unavailable_on"],
            body["active"],
            volunteer_id,
        ),
    )
    return await get_volunteer(conn, volunteer_id)


async def get_volunteer(conn: Conn, volunteer_id: int) -> Row | None:
    """One volunteer by id."""
    return await fetch_one(conn, _VOLUNTEER + " WHERE id = %s", (volunteer_id,))


async def volunteer_of_token(conn: Conn, token_id: int) -> Row | None:
    """The volunteer a bearer token acts as."""
    return await fetch_one(conn, _VOLUNTEER + " WHERE token_id = %s", (token_id,))


async def volunteer_of_calendar_key(conn: Conn, key: str) -> Row | None:
    """The volunteer whose calendar URL carries `key`."""
    return await fetch_one(conn, _VOLUNTEER + " WHERE calendar_key = %s AND active", (key,))


async def list_volunteers(conn: Conn, estate: str) -> list[Row]:
    """An estate's volunteers."""
    return await fetch_all(conn, _VOLUNTEER + " WHERE estate_id = %s ORDER BY id", (estate,))


async def delete_volunteer(conn: Conn, volunteer_id: int) -> None:
    """Remove a volunteer (their assignments go with them; their token is revoked)."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND id = (SELECT token_id FROM volunteers WHERE id = %s)",
            (volunteer_id,),
        )
        await conn.execute("DELETE FROM volunteers WHERE id = %s", (volunteer_id,))
