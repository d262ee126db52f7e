"""SQL of the figures, over the rollups the ingester keeps (daily_category, household_days).

Local days were bucketed in the estate's time zone at ingest, so every query here is a
range over `day`; no query reads the raw events.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

_GRAMS = """
    coalesce(sum({col}) FILTER (WHERE category = 'dry'), 0)::bigint AS dry_g,
    coalesce(sum({col}) FILTER (WHERE category = 'wet'), 0)::bigint AS wet_g,
    coalesce(sum({col}) FILTER (WHERE category = 'recyclable'), 0)::bigint AS recyclable_g,
    coalesce(sum({col}) FILTER (WHERE category = 'hazardous'), 0)::bigint AS hazardous_g,
    coalesce(sum({col}) FILTER (WHERE category = 'construction'), 0)::bigint AS construction_g
"""

# Per estate: registry counts, households enrolled on `to` and, of those, the ones with
# a drop in the period (one index probe each into household_days), and the period's
# drops and grams per category from daily_category.
ESTATES_SQL = f"""
WITH reg AS (
    SELECT h.estate_id, count(*) AS enrolled, count(a.hit) AS active
    FROM households h
    LEFT JOIN LATERAL (
        SELECT 1 AS hit FROM household_days d
        WHERE d.estate_id = h.estate_id AND d.household = h.id
          AND d.day BETWEEN %(from)s AND %(to)s
        LIMIT 1
    ) a ON true
    WHERE h.estate_id = ANY(%(estates)s)
      AND h.enrolled_on <= %(to)s AND (h.left_on IS NULL OR h.left_on > %(to)s)
    GROUP BY h.estate_id
),
cat AS (
    SELECT estate_id,
           coalesce(sum(drops), 0)::bigint AS drops,
           coalesce(sum(in_window_drops), 0)::bigint AS in_window_drops,
           {_GRAMS.format(col="weight_g")}
    FROM daily_category
    WHERE estate_id = ANY(%(estates)s) AND day BETWEEN %(from)s AND %(to)s
    GROUP BY estate_id
)
SELECT e.id AS estate, e.name, e.households_total,
       coalesce(r.enrolled, 0) AS households_enrolled,
       coalesce(r.active, 0) AS households_active,
       coalesce(c.drops, 0) AS drops, coalesce(c.in_window_drops, 0) AS in_window_drops,
       coalesce(c.dry_g, 0) AS dry_g, coalesce(c.wet_g, 0) AS wet_g,
       coalesce(c.recyclable_g, 0) AS recyclable_g, coalesce(c.hazardous_g, 0) AS hazardous_g,
       coalesce(c.construction_g, 0) AS construction_g
FROM estates e
LEFT JOIN reg r ON r.estate_id = e.id
LEFT JOIN cat c ON c.estate_id = e.id
WHERE e.id = ANY(%(estates)s)
ORDER BY e.id
"""

# One row per local day of [from, to]. Households enrolled per day come from a running
# sum of +1 at enrolled_on and -1 at left_on (clamped to `from`), not a days x
# households product.
DAILY_SQL = f"""
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(%(from)s::date, %(to)s::date, interval '1 day') AS d
),
deltas AS (
    SELECT greatest(enrolled_on, %(from)s::date) AS day, count(*) AS n
    FROM households
    WHERE estate_id = %(estate)s AND enrolled_on <= %(to)s
    GROUP BY 1
    UNION ALL
    SELECT greatest(left_on, %(from)s::date), -count(*)
    FROM households
    WHERE estate_id = %(estate)s AND enrolled_on IS NOT NULL AND left_on <= %(to)s
    GROUP BY 1
),
enrolled AS (
    SELECT days.day, (sum(coalesce(x.n, 0)) OVER (ORDER BY days.day))::bigint AS enrolled
    FROM days
    LEFT JOIN (SELECT day, sum(n) AS n FROM deltas GROUP BY day) x ON x.day = days.day
),
active AS (
    SELECT d.day, count(*) AS active
    FROM household_days d
    JOIN households h ON h.estate_id = d.estate_id AND h.id = d.household
    WHERE d.estate_id = %(estate)s AND d.day BETWEEN %(from)s AND %(to)s
      AND h.enrolled_on <= d.day AND (h.left_on IS NULL OR h.left_on > d.day)
    GROUP BY d.day
),
cat AS (
    SELECT day, sum(drops)::bigint AS drops, sum(identified_drops)::bigint AS identified_drops,
           {_GRAMS.format(col="weight_g")}
    FROM daily_category
    WHERE estate_id = %(estate)s AND day BETWEEN %(from)s AND %(to)s
    GROUP BY day
)
SELECT e.day, e.enrolled AS households_enrolled, coalesce(a.active, 0) AS households_active,
       coalesce(c.drops, 0) AS drops, coalesce(c.identified_drops, 0) AS identified_drops,
       coalesce(c.dry_g, 0) AS dry_g, coalesce(c.wet_g, 0) AS wet_g,
       coalesce(c.recyclable_g, 0) AS recyclable_g, coalesce(c.hazardous_g, 0) AS hazardous_g,
       coalesce(c.construction_g, 0) AS construction_g
FROM enrolled e
LEFT JOIN active a ON a.day = e.day
LEFT JOIN cat c ON c.day = e.day
ORDER BY e.day
"""

# Per building and per building group: the registered households' identified drops
# (anonymous drops have no building), enrolled on `to`, active among those.
BUILDINGS_SQL = """
WITH per_household AS (
    SELECT household, sum(drops)::bigint AS drops,
           sum(dry_g)::bigint AS dry_g, sum(wet_g)::bigint AS wet_g,
           sum(recyclable_g)::bigint AS recyclable_g, sum(hazardous_g)::bigint AS hazardous_g,
           sum(construction_g)::bigint AS construction_g
    FROM household_days
    WHERE estate_id = %(estate)s AND day BETWEEN %(from)s AND %(to)s
    GROUP BY household
),
hh AS (
    SELECT h.building_id, h.building_group_id, p.*,
           coalesce(h.enrolled_on <= %(to)s AND (h.left_on IS NULL OR h.left_on > %(to)s),
                    false) AS enrolled
    FROM households h
    LEFT JOIN per_household p ON p.household = h.id
    WHERE h.estate_id = %(estate)s
)
SELECT building_id AS building, building_group_id AS building_group,
       GROUPING(building_group_id) = 1 AS is_building,
       count(*) AS households_registered,
       count(*) FILTER (WHERE enrolled) AS households_enrolled,
       count(*) FILTER (WHERE enrolled AND household IS NOT NULL) AS households_active,
       coalesce(sum(drops), 0)::bigint AS drops,
       coalesce(sum(dry_g), 0)::bigint AS dry_g, coalesce(sum(wet_g), 0)::bigint AS wet_g,
       coalesce(sum(recyclable_g), 0)::bigint AS recyclable_g,
       coalesce(sum(hazardous_g), 0)::bigint AS hazardous_g,
       coalesce(sum(construction_g), 0)::bigint AS construction_g
FROM hh
GROUP BY GROUPING SETS ((building_id), (building_id, building_group_id))
ORDER BY building_id, GROUPING(building_group_id) DESC, building_group_id NULLS FIRST
"""


async def estates_rows(
    conn: psycopg.AsyncConnection[Any], estates: list[str], start: date, end: date
) -> list[dict[str, Any]]:
    """One row of counts per existing estate among `estates`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ESTATES_SQL, {"estates": estates, "from": start, "to": end})
        return await cur.fetchall()


async def daily_rows(
    conn: psycopg.AsyncConnection[Any], estate: str, start: date, end: date
) -> list[dict[str, Any]]:
    """One row of counts per local day of [start, end]."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(DAILY_SQL, {"estate": estate, "from": start, "to": end})
        return await cur.fetchall()


async def building_rows(
    conn: psycopg.AsyncConnection[Any], estate: str, start: date, end: date
) -> list[dict[str, Any]]:
    """Rows per building (is_building) and per building group, buildings first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(BUILDINGS_SQL, {"estate": estate, "from": start, "to": end})
        return await cur.fetchall()
