"""SQL of the volunteer records (and the volunteer token each one acts with).

Each change of a record writes one audit record (`api.auth.audit`): who registered,
changed or removed which volunteer; never their token or calendar key.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from api.auth import audit
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
    audit.record(
        "volunteer_created",
        f"volunteer {found['id']} of {estate} created with token {token['id']}",
        estate=estate,
        volunteer_id=found["id"],
        volunteer_token_id=token["id"],
    )
    return found


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


async def update_volunteer(conn: Conn, volunteer_id: int, body: dict[str, Any]) -> Row | None:
    """Replace a volunteer's details; None when there is no such volunteer."""
    before = await get_volunteer(conn, volunteer_id)
    if before is None:
        return None
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
    after = await get_volunteer(conn, volunteer_id)
    assert after is not None
    # Which fields changed, not their values: the audit log is no copy of the records.
    changed = sorted(k for k in body if before.get(k) != after.get(k))
    audit.record(
        "volunteer_changed",
        f"volunteer {volunteer_id} of {after['estate']} changed: {', '.join(changed) or 'nothing'}",
        estate=after["estate"],
        volunteer_id=volunteer_id,
        fields=changed,
        active=after["active"],
    )
    return after


async def get_volunteer(conn: Conn, volunteer_id: int) -> Row | None:
    """One volunteer by id."""
    return await fetch_one(conn, _VOLUNTEER + " WHERE id = %s", (volunteer_id,))


async def volunteer_of_token(conn: Conn, token_id: int) -> Row | None:
    """The volunteer a bearer token acts as."""
    return await fetch_one(conn, _VOLUNTEER + " WHERE token_id = %s", (token_id,))


# The key works only while the volunteer is active and their token works: revoking
# or letting the token expire ends the calendar feed with it.
_BY_CALENDAR_KEY = """
SELECT v.id, v.estate_id AS estate, v.name, v.token_id FROM volunteers v
JOIN api_tokens t ON t.id = v.token_id
WHERE v.calendar_key = %s AND v.active AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
"""


async def volunteer_of_calendar_key(conn: Conn, key: str) -> Row | None:
    """The active volunteer whose calendar URL carries `key`, while their token works."""
    return await fetch_one(conn, _BY_CALENDAR_KEY, (key,))


async def set_calendar_key(conn: Conn, volunteer_id: int, key: str) -> Row | None:
    """Replace a volunteer's calendar key (the old URL stops at once); None when there
    is no such volunteer."""
    row = await fetch_one(
        conn,
        "UPDATE volunteers SET calendar_key = %s WHERE id = %s RETURNING id, estate_id AS estate",
        (key, volunteer_id),
    )
    if row is None:
        return None
    audit.record(
        "calendar_key_rotated",
        f"calendar key of volunteer {volunteer_id} of {row['estate']} rotated",
        estate=row["estate"],
        volunteer_id=volunteer_id,
    )
    return await get_volunteer(conn, volunteer_id)


async def list_volunteers(conn: Conn, estate: str) -> list[Row]:
    """An estate's volunteers."""
    return await fetch_all(conn, _VOLUNTEER + " WHERE estate_id = %s ORDER BY id", (estate,))


async def delete_volunteer(conn: Conn, volunteer_id: int) -> None:
    """Remove a volunteer (their assignments go with them; their token is revoked)."""
    async with conn.transaction():
        revoked = await fetch_one(
            conn,
            "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND id = (SELECT token_id FROM volunteers WHERE id = %s) RETURNING id",
            (volunteer_id,),
        )
        gone = await fetch_one(
            conn,
            "DELETE FROM volunteers WHERE id = %s RETURNING estate_id AS estate",
            (volunteer_id,),
        )
    if gone is not None:
        audit.record(
            "volunteer_deleted",
            f"volunteer {volunteer_id} of {gone['estate']} deleted",
            estate=gone["estate"],
            volunteer_id=volunteer_id,
            revoked_token_id=revoked["id"] if revoked else None,
        )
