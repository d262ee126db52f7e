"""SQL the dashboards need beyond the API's figures (which come from `api.metrics`).

Rejected messages per local day and reason, and the households behind the disclosure
board's star families (from the same rollups as the figures).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.metrics import repository as metrics

Conn = psycopg.AsyncConnection[Any]

# received_at is when fenlei got the message: that is the day a data problem showed.
REJECTED_DAILY_SQL = """
SELECT fenlei_local_day(r.received_at, e.timezone) AS day, r.reason, count(*)::int AS count
FROM rejected_messages r JOIN estates e ON e.id = r.estate_id
WHERE r.estate_id = %(estate)s
  AND r.received_at >= fenlei_local_day_start(%(from)s::date, e.timezone)
  AND r.received_at < fenlei_local_day_start(%(to)s::date + 1, e.timezone)
GROUP BY 1, 2 ORDER BY 1, 2
"""

# Households enrolled on `to` with their days with a drop in the period (the set bits
# of their months' day bitmaps inside the period, by the figures' own rule) and their
# drops in it.
HOUSEHOLD_DAYS_SQL = f"""
WITH days AS (
    SELECT m.household,
           sum(bit_count({metrics.DAYS_IN_PERIOD}::bit(32)))::int AS active_days
    FROM household_months m
    WHERE m.estate_id = %(estate)s AND m.month BETWEEN %(first_month)s AND %(last_month)s
    GROUP BY m.household
),
per_household AS ({metrics.PER_HOUSEHOLD_SQL})
SELECT h.building_id AS building, h.building_group_id AS building_group, h.id AS household,
       d.active_days, p.drops::int AS drops
FROM days d
JOIN per_household p ON p.household = d.household
JOIN households h ON h.estate_id = %(estate)s AND h.id = d.household
WHERE d.active_days > 0
  AND h.enrolled_on <= %(to)s AND (h.left_on IS NULL OR h.left_on > %(to)s)
"""


async def _rows(conn: Conn, sql: str, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    params = {"estate": estate, **metrics.period_params(start, end)}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def rejected_daily(conn: Conn, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    """[{day, reason, count}] of the estate's rejected messages, local days."""
    return await _rows(conn, REJECTED_DAILY_SQL, estate, start, end)


async def household_activity(
    conn: Conn, estate: str, start: date, end: date
) -> list[dict[str, Any]]:
    """[{building, building_group, household, active_days, drops}] of active households."""
    return await _rows(conn, HOUSEHOLD_DAYS_SQL, estate, start, end)
