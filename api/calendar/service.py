"""The calendar feed: which volunteer a URL key names and which of their watches it
shows, and replacing a key that leaked."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from api.calendar.ics import calendar
from api.errors import NotFound
from api.rows import Conn, Row
from api.shifts import repository as shifts
from api.volunteers import repository as volunteers
from api.volunteers.service import CALENDAR_KEY_BYTES

# Recent past (so a phone keeps last week's watches) and the months ahead.
CALENDAR_PAST = timedelta(days=31)
CALENDAR_AHEAD = timedelta(days=120)


async def feed(conn: Conn, key: str, host: str, now: datetime) -> str:
    """The VCALENDAR text of the active volunteer whose calendar URL carries `key`
    (NotFound once their token is revoked or expired, like an unknown key)."""
    row = await volunteers.volunteer_of_calendar_key(conn, key)
    if row is None:
        raise NotFound("no calendar with this key")
    watches = await shifts.volunteer_shifts(
        conn, row["id"], now - CALENDAR_PAST, now + CALENDAR_AHEAD
    )
    return calendar(row["name"], watches, host, now)


async def rotate_key(conn: Conn, volunteer_id: int) -> Row:
    """A new calendar key for the volunteer: the old URL stops working at once and the
    phone subscribes again with the new one. Returns the volunteer's record."""
    row = await volunteers.set_calendar_key(
        conn, volunteer_id, secrets.token_urlsafe(CALENDAR_KEY_BYTES)
    )
    if row is None:
        raise NotFound(f"no volunteer {volunteer_id}")
    return row
