"""SQL of the fill forecast: the estate's zone and threshold, its bins, their readings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

# The fill alarm's threshold when the estate has no alarm_settings row: the column
# default of migration 0021 (90 %).
DEFAULT_THRESHOLD_PCT = 90.0

_ESTATE = """
    SELECT e.id, e.name, e.timezone, coalesce(s.fill_pct, %s)::float8 AS threshold_pct
      FROM estates e
      LEFT JOIN alarm_settings s ON s.estate_id = e.id
     WHERE e.id = %s
"""

_BINS = """
    SELECT b.bin_key, b.room_id AS room, r.name AS room_name, b.id AS bin, b.category,
           b.fill_pct, b.state_ts
      FROM bins b
      JOIN rooms r ON r.estate_id = b.estate_id AND r.id = b.room_id
     WHERE b.estate_id = %s
     ORDER BY b.room_id, b.id
"""

# Every event that says a level (drops, fills and overflow alarms carry fill_pct) and
# every empty; the events_estate_ts index serves the range.
_READINGS = """
    SELECT bin_key, ts, fill_pct, kind = 'empty' AS emptied
      FROM events
     WHERE estate_id = %s AND ts >= %s AND ts <= %s
       AND (fill_pct IS NOT NULL OR kind = 'empty')
     ORDER BY bin_key, ts
"""


async def estate(conn: psycopg.AsyncConnection[Any], estate_id: str) -> dict[str, Any] | None:
    """The estate's id, name, time zone and fill threshold; None when there is none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ESTATE, (DEFAULT_THRESHOLD_PCT, estate_id))
        return await cur.fetchone()


async def bins(conn: psycopg.AsyncConnection[Any], estate_id: str) -> list[dict[str, Any]]:
    """The estate's bins with their rooms and device state (fill_pct at state_ts)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_BINS, (estate_id,))
        return await cur.fetchall()


async def readings(
    conn: psycopg.AsyncConnection[Any], estate_id: str, since: datetime, until: datetime
) -> list[tuple[int, datetime, float | None, bool]]:
    """(bin_key, ts, fill_pct, emptied) of the estate's events in [since, until]."""
    cur = await conn.execute(_READINGS, (estate_id, since, until))
    rows = await cur.fetchall()
    return [(int(k), ts, None if f is None else float(f), bool(e)) for k, ts, f, e in rows]
