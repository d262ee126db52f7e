"""SQL the dashboards need beyond the API's figures (which come from `api.metrics`).

Rejected messages per local day and reason, the households behind the disclosure
board's star families (from the same rollups as the figures, placed by the registry's
history), and the households' public codes for their cards.
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

# Households enrolled on `to`, placed where they belong on `to`, with their days with a
# drop in the whole period (the set bits of their months' day bitmaps inside the period)
# and their drops in it: the figures' own rules (api/metrics), read from the registry's
# history (a membership in force on `to`, a spell covering it), so the board of a period
# never changes when a later move or departure is recorded. Their display name and
# consent are as recorded now: a withdrawn consent hides the name on past boards too.
HOUSEHOLD_DAYS_SQL = f"""
WITH days AS (
    SELECT m.household,
           sum(bit_count({metrics.DAYS_IN_PERIOD}::bit(32)))::int AS active_days
    FROM household_months m
    WHERE m.estate_id = %(estate)s AND m.month BETWEEN %(first_month)s AND %(last_month)s
    GROUP BY m.household
),
per_household AS ({metrics.PER_HOUSEHOLD_SQL})
SELECT ms.building_id AS building, ms.building_group_id AS building_group,
       h.id AS household, h.display_name, h.publish_consent,
       d.active_days, p.drops::int AS drops
FROM days d
JOIN per_household p ON p.household = d.household
JOIN households h ON h.estate_id = %(estate)s AND h.id = d.household
JOIN household_memberships ms
  ON ms.estate_id = h.estate_id AND ms.household_id = h.id
 AND ms.valid_from <= %(to)s AND (ms.valid_to IS NULL OR ms.valid_to > %(to)s)
WHERE d.active_days > 0
  AND EXISTS (
      SELECT FROM household_spells s
      WHERE s.estate_id = h.estate_id AND s.household_id = h.id
        AND s.enrolled_on <= %(to)s AND (s.left_on IS NULL OR s.left_on > %(to)s)
  )
"""

# Every household of the estate with its place on %(day)s (the committee's "now"): the
# membership in force that day, or, for a household whose first membership starts
# later, that one. Ordered as a committee walks the estate: building, group, id.
HOUSEHOLD_CARDS_SQL = """
SELECT h.id AS household, h.display_name, h.publish_consent,
       m.building_id AS building, m.building_group_id AS building_group
FROM households h
LEFT JOIN LATERAL (
    SELECT ms.building_id, ms.building_group_id
    FROM household_memberships ms
    WHERE ms.estate_id = h.estate_id AND ms.household_id = h.id
      AND (ms.valid_to IS NULL OR ms.valid_to > %(day)s)
    ORDER BY ms.valid_from
    LIMIT 1
) m ON true
WHERE h.estate_id = %(estate)s
ORDER BY m.building_id, m.building_group_id NULLS FIRST, h.id
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
    """[{building, building_group, household, display_name, publish_consent, active_days,
    drops}] of the households enrolled on `end` and active in the period."""
    return await _rows(conn, HOUSEHOLD_DAYS_SQL, estate, start, end)


async def household_cards(conn: Conn, estate: str, day: date) -> list[dict[str, Any]]:
    """[{household, display_name, publish_consent, building, building_group}] of every
    household of the estate, placed where it belongs on `day`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(HOUSEHOLD_CARDS_SQL, {"estate": estate, "day": day})
        return await cur.fetchall()
