"""The calendar feed: which volunteer a URL key names and which of their watches it shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.calendar.ics import calendar
from api.errors import NotFound
from api.rows import Conn
from api.shifts import repository as shifts
from api.volunteers import repository as volunteers

# Recent past (so a phone keeps last week's watches) and the months ahead.
CALENDAR_PAST = timedelta(days=31)
CALENDAR_AHEAD = timedelta(days=120)


async def feed(conn: Conn, key: str, host: str, now: datetime) -> str:
    """The VCALENDAR text of the active volunteer whose calendar URL carries `key`."""
    row = await volunteers.volunteer_of_calendar_key(conn, key)
    if row is None:
        raise NotFound("no calendar with this key")
    watches = await shifts.volunteer_shifts(
        conn, row["id"], now - CALENDAR_PAST, now + CALENDAR_AHEAD
    )
    return calendar(row["name"], watches, host, now)
