"""The volunteer records: registering one with its token and calendar key, finding one
of an estate, replacing one's details."""

from __future__ import annotations

import secrets

from api.auth.tokens import hash_token, new_token
from api.errors import NotFound
from api.registry import repository as registry
from api.rows import Conn, Row
from api.volunteers import repository as repo
from api.volunteers.schemas import VolunteerIn

# The calendar URL's key is its only secret: 24 random bytes, like a token.
CALENDAR_KEY_BYTES = 24


def _volunteer_values(body: VolunteerIn) -> Row:
    return {
        "name": body.name,
        "contact": body.contact,
        "building": body.building,
        "kind": body.kind,
        "active": body.active,
        "unavailable_on": body.unavailable_on,
        "availability": None
        if body.availability is None
        else [
            {"days": w.days, "start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M")}
            for w in body.availability
        ],
    }


async def create_volunteer(conn: Conn, estate: str, body: VolunteerIn) -> tuple[Row, str]:
    """A new volunteer with a fresh volunteer token for the estate; returns (row, token)."""
    await registry.get_estate(conn, estate)
    token = new_token()
    row = await repo.insert_volunteer(
        conn,
        estate,
        _volunteer_values(body),
        hash_token(token),
        secrets.token_urlsafe(CALENDAR_KEY_BYTES),
    )
    return row, token


async def volunteer_in(conn: Conn, estate: str, volunteer_id: int) -> Row:
    """A volunteer of the estate; NotFound otherwise."""
    row = await repo.get_volunteer(conn, volunteer_id)
    if row is None or row["estate"] != estate:
        raise NotFound(f"no volunteer {volunteer_id} in estate {estate!r}")
    return row


async def update_volunteer(conn: Conn, estate: str, volunteer_id: int, body: VolunteerIn) -> Row:
    """Replace a volunteer's details."""
    await volunteer_in(conn, estate, volunteer_id)
    row = await repo.update_volunteer(conn, volunteer_id, _volunteer_values(body))
    assert row is not None
    return row
