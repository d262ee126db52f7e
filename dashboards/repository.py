"""SQL the dashboards need beyond the API's figures (which come from `api.metrics`).

Rejected messages per local day and reason, drops inside the windows per day, and the
households behind the disclosure board's star families.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.AsyncConnection[Any]

# received_at is when fenlei got the message: that is the day a data problem showed.
REJECTED_DAILY_SQL = """
SELECT (r.received_at AT TIME ZONE e.timezone)::date AS day, r.reason, count(*)::int AS count
FROM rejected_messages r JOIN estates e ON e.id = r.estate_id
WHERE r.estate_id = %(estate)s
  AND r.received_at >= (%(from)s::date::timestamp AT TIME ZONE e.timezone)
  AND r.received_at < ((%(to)s::date + 1)::timestamp AT TIME ZONE e.timezone)
GROUP BY 1, 2 ORDER BY 1, 2
"""

IN_WINDOW_DAILY_SQL = """
SELECT day, sum(in_window_drops)::bigint AS in_window_drops, sum(drops)::bigint AS drops
FROM daily_category
WHERE estate_id = %(estate)s AND day BETWEEN %(from)s AND %(to)s
GROUP BY day ORDER BY day
"""

# Households enrolled on `to` with their days with a drop in the period.
HOUSEHOLD_DAYS_SQL = """
SELECT h.building_id AS building, h.building_group_id AS building_group, h.id AS household,
       count(*)::int AS active_days, sum(d.drops)::int AS drops
FROM household_days d
JOIN households h ON h.estate_id = d.estate_id AND h.id = d.household
WHERE d.estate_id = %(estate)s AND d.day BETWEEN %(from)s AND %(to)s
  AND h.enrolled_on <= %(to)s AND (h.left_on IS NULL OR h.left_on > %(to)s)
GROUP BY 1, 2, 3
"""


async def _rows(conn: Conn, sql: str, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, {"estate": estate, "from": start, "to": end})
        return await cur.fetchall()


async def rejected_daily(conn: Conn, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    """[{day, reason, count}] of the estate's rejected messages, local days."""
    return await _rows(conn, REJECTED_DAILY_SQL, estate, start, end)


async def in_window_daily(conn: Conn, estate: str, start: date,
                          end: date) -> list[dict[str, Any]]:
    """[{day, in_window_drops, drops}] for days with drops."""
    return await _rows(conn, IN_WINDOW_DAILY_SQL, estate, start, end)


async def household_activity(conn: Conn, estate: str, start: date,
                             end: date) -> list[dict[str, Any]]:
    """[{building, building_group, household, active_days, drops}] of active households."""
    return await _rows(conn, HOUSEHOLD_DAYS_SQL, estate, start, end)
