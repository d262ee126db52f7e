"""SQL of the figures, over the rollups the ingester keeps.

The estates' figures (coverage, participation, kg) come from the household bitmaps
(migration 0024, `ESTATES_BITS_SQL`); the per-day and per-building figures of one
estate from the tables below.

- `daily_category` (estate, local day, category): drops and grams;
- `household_months` (estate, month, household): a bitmap of the local days of the
  month with a drop (bit d-1 for day d) and the month's grams. A year of one estate is
  ~14k rows, so participation over any period is "any bit of the period's days set",
  with a narrower mask in the (at most two) months the period only partly covers;
- `household_days` (estate, local day, household): only for the grams of those partly
  covered edge months (~370k rows per estate-year, so never scanned for a whole year).

Local days were bucketed in the estate's time zone at ingest, so every query here is a
range over days or months; no query reads the raw events.
"""

from __future__ import annotations

from datetime import date, timedelta
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
_HOUSEHOLD_GRAMS = "dry_g, wet_g, recyclable_g, hazardous_g, construction_g"

# The bits of a household-month row `m` of household_months that are days of [from, to]
# (with `period_params`): months strictly inside the period count whole, the first and
# last month through the mask of their days in the period. Only meaningful for rows of
# months BETWEEN %(first_month)s AND %(last_month)s.
DAYS_IN_PERIOD = """(m.days & CASE m.month WHEN %(first_month)s THEN %(first_mask)s
                                    WHEN %(last_month)s THEN %(last_mask)s
                                    ELSE -1 END)"""

# A household-month row has a drop on a day of [from, to] (a row exists only for a month
# with a drop).
IN_PERIOD = f"""m.month BETWEEN %(first_month)s AND %(last_month)s
          AND {DAYS_IN_PERIOD} <> 0"""

# The estates queries after their `reg` (enrolled and active households per estate):
# the period's drops and grams per category from daily_category, one row per estate.
_ESTATES_CAT = f"""
cat AS (
    SELECT estate_id,
           coalesce(sum(drops), 0)::bigint AS drops,
           coalesce(sum(in_window_drops), 0)::bigint AS in_window_drops,
           {_GRAMS.format(col="weight_g")}
    FROM daily_category
    WHERE estate_id = ANY(%(estates)s) AND day BETWEEN %(from)s AND %(to)s
    GROUP BY estate_id
),"""
_LOST_AND_ROWS = """
lost AS (
    -- Seqs declared lost (ingest/watermark.py): the gaps recorded on a local day of
    -- the period, whole (the figures' own rule: a gap counts on the day it was recorded),
    -- and how many of their events arrived later all the same.
    SELECT b.estate_id,
           sum(g.to_seq - g.from_seq + 1)::bigint AS seqs_lost,
           sum(g.filled_late)::bigint AS seqs_filled_late
    FROM seq_gaps g
    JOIN bins b ON b.bin_key = g.bin_key
    JOIN estates le ON le.id = b.estate_id
    WHERE b.estate_id = ANY(%(estates)s)
      AND g.recorded_at >= (%(from)s::date)::timestamp AT TIME ZONE le.timezone
      AND g.recorded_at < (%(to)s::date + 1)::timestamp AT TIME ZONE le.timezone
    GROUP BY b.estate_id
)
SELECT e.id AS estate, e.name, e.households_total,
       coalesce(r.enrolled, 0) AS households_enrolled,
       coalesce(r.active, 0) AS households_active,
       coalesce(c.drops, 0) AS drops, coalesce(c.in_window_drops, 0) AS in_window_drops,
       coalesce(c.dry_g, 0) AS dry_g, coalesce(c.wet_g, 0) AS wet_g,
       coalesce(c.recyclable_g, 0) AS recyclable_g, coalesce(c.hazardous_g, 0) AS hazardous_g,
       coalesce(c.construction_g, 0) AS construction_g,
       coalesce(l.seqs_lost, 0) AS seqs_lost, coalesce(l.seqs_filled_late, 0) AS seqs_filled_late
FROM estates e
LEFT JOIN reg r ON r.estate_id = e.id
LEFT JOIN cat c ON c.estate_id = e.id
LEFT JOIN lost l ON l.estate_id = e.id
WHERE e.id = ANY(%(estates)s)
ORDER BY e.id
"""
_ESTATES_TAIL = _ESTATES_CAT + _LOST_AND_ROWS

# Per estate: registry counts, households enrolled on `to` (the spell in force that day:
# spells never overlap, so one row per household) and, of those, the ones with
# a drop in the period, and the period's drops and grams per category from
# daily_category. Two ways to find the active households, chosen by the period's length:
# - long periods: one probe per enrolled household into its months (index only), which
#   stops at the first month with a drop: ~1,200 probes per estate whatever the length;
# - periods within one or two months: the estate's rows of those months (one per
#   household active in them), hashed: a few thousand index entries, cheaper than the
#   probes (one day: 4.6 against 7.6 ms for one estate-year, 51 against 108 ms for 20).
ESTATES_SQL = f"""
WITH reg AS (
    SELECT h.estate_id, count(*) AS enrolled,
           count(*) FILTER (WHERE EXISTS (
               SELECT FROM household_months m
               WHERE m.estate_id = h.estate_id AND m.household = h.household_id
                 AND {IN_PERIOD}
           )) AS active
    FROM household_spells h
    WHERE h.estate_id = ANY(%(estates)s)
      AND h.enrolled_on <= %(to)s AND (h.left_on IS NULL OR h.left_on > %(to)s)
    GROUP BY h.estate_id
),{_ESTATES_TAIL}"""
ESTATES_SHORT_SQL = f"""
WITH active AS (
    SELECT DISTINCT m.estate_id, m.household
    FROM household_months m
    WHERE m.estate_id = ANY(%(estates)s) AND {IN_PERIOD}
),
reg AS (
    SELECT h.estate_id, count(*) AS enrolled, count(a.household) AS active
    FROM household_spells h
    LEFT JOIN active a ON a.estate_id = h.estate_id AND a.household = h.household_id
    WHERE h.estate_id = ANY(%(estates)s)
      AND h.enrolled_on <= %(to)s AND (h.left_on IS NULL OR h.left_on > %(to)s)
    GROUP BY h.estate_id
),{_ESTATES_TAIL}"""
# Months a period may touch and still count as short for ESTATES_SHORT_SQL.
SHORT_PERIOD_MONTHS = 2

# The days of the period's partly covered edge months. The comparisons of two
# parameters are folded by the planner: an empty edge (a period of whole months) is
# no scan at all, where the ranges alone would probe each estate's index entries.
_EDGE_DAYS = """(
    (%(from)s::date <= %(head_to)s::date AND day BETWEEN %(from)s AND %(head_to)s)
    OR (%(tail_from)s::date <= %(to)s::date AND day BETWEEN %(tail_from)s AND %(to)s))"""

# The household bitmaps (migration 0024; kept by fenlei_add_drops and the spells
# trigger, deploy/sql/idempotent/02_rollups.sql): per estate, the households with a drop
# in the period are the OR of the bitmaps of the period's whole months and of the days
# of its (at most two) partly covered edge months; the households enrolled on `to` are
# registry bitmap of the month end on or before `to` with the households whose spells
# start or end after it, up to `to`, set from household_spells. Active = bit_count(active AND
# enrolled): exact distinct households, a few rows per estate whatever the period and
# the households. Drops and grams: monthly_category for whole months, daily_category
# for the edge days. Bitmaps are padded to the estate's ordinal count (the shorter ones
# were written before later households got their ordinals).
ESTATES_BITS_SQL = f"""
WITH est AS (
    SELECT e.id AS estate_id, coalesce(n.next_ordinal, 0) AS width
    FROM estates e
    LEFT JOIN household_ordinal_next n ON n.estate_id = e.id
    WHERE e.id = ANY(%(estates)s)
),
act AS (
    SELECT x.estate_id, bit_or(fenlei_pad(x.active, est.width)) AS active
    FROM (
        SELECT estate_id, active FROM household_month_bits
        WHERE estate_id = ANY(%(estates)s) AND month = ANY(%(full_months)s::date[])
        UNION ALL
        SELECT estate_id, active FROM household_day_bits
        WHERE estate_id = ANY(%(estates)s)
          AND {_EDGE_DAYS}
    ) AS x
    JOIN est ON est.estate_id = x.estate_id
    GROUP BY x.estate_id
),
snap AS (
    -- The registry bitmap of %(snap_day)s: `to` itself when it ends a month, else the
    -- end of the month before (fenlei_add_drops makes one for each month with a drop).
    SELECT est.estate_id, est.width, b.enrolled
    FROM est
    LEFT JOIN household_enrolled_bits b
           ON b.estate_id = est.estate_id AND b.as_of = %(snap_day)s
),
changed AS (
    -- Households whose enrolment can differ between %(snap_day)s and `to`: a spell
    -- starts or ends in between; in an estate without that bitmap, every spell so far.
    SELECT estate_id, household_id FROM household_spells
    WHERE estate_id = ANY(%(estates)s)
      AND enrolled_on > %(snap_day)s AND enrolled_on <= %(to)s
      AND %(snap_day)s::date < %(to)s::date
    UNION
    SELECT estate_id, household_id FROM household_spells
    WHERE estate_id = ANY(%(estates)s) AND left_on > %(snap_day)s AND left_on <= %(to)s
      AND %(snap_day)s::date < %(to)s::date
    UNION
    SELECT sp.estate_id, sp.household_id
    FROM snap JOIN household_spells sp ON sp.estate_id = snap.estate_id
    WHERE snap.enrolled IS NULL AND sp.enrolled_on <= %(to)s
),
flips AS (
    SELECT c.estate_id,
           array_agg(o.ordinal) FILTER (WHERE c.enrolled) AS set_on,
           array_agg(o.ordinal) FILTER (WHERE NOT c.enrolled) AS set_off
    FROM (
        -- A probe per changed household (a join could hash them and scan every spell).
        SELECT c.estate_id, c.household_id,
               EXISTS (
                   SELECT FROM household_spells s
                   WHERE s.estate_id = c.estate_id AND s.household_id = c.household_id
                     AND s.enrolled_on <= %(to)s AND (s.left_on IS NULL OR s.left_on > %(to)s)
               ) AS enrolled
        FROM changed c
    ) AS c
    JOIN household_ordinals o ON o.estate_id = c.estate_id AND o.household = c.household_id
    GROUP BY c.estate_id
),
enr AS (
    SELECT snap.estate_id,
           CASE WHEN f.estate_id IS NULL THEN fenlei_pad(snap.enrolled, snap.width)
                ELSE fenlei_set_bits(snap.enrolled, f.set_on, f.set_off, snap.width)
           END AS enrolled
    FROM snap
    LEFT JOIN flips f ON f.estate_id = snap.estate_id
),
reg AS (
    SELECT enr.estate_id, bit_count(enr.enrolled) AS enrolled,
           coalesce(bit_count(fenlei_and(enr.enrolled, a.active)), 0) AS active
    FROM enr
    LEFT JOIN act a ON a.estate_id = enr.estate_id
),
cat AS (
    SELECT estate_id,
           coalesce(sum(drops), 0)::bigint AS drops,
           coalesce(sum(in_window_drops), 0)::bigint AS in_window_drops,
           {_GRAMS.format(col="weight_g")}
    FROM (
        SELECT estate_id, category, drops, weight_g, in_window_drops FROM monthly_category
        WHERE estate_id = ANY(%(estates)s) AND month = ANY(%(full_months)s::date[])
        UNION ALL
        SELECT estate_id, category, drops, weight_g, in_window_drops FROM daily_category
        WHERE estate_id = ANY(%(estates)s)
          AND {_EDGE_DAYS}
    ) AS x
    GROUP BY estate_id
),{_LOST_AND_ROWS}"""

# Per month of the period, how many households enrolled on day d had a drop on day d,
# as an array indexed by day of month: each household-month's bitmap is masked with the
# days of the month the household was enrolled in the period (days lo..hi of the month:
# bits lo-1..hi-1, in bigint since 1 << 31 does not fit an int; hi may pass the month's
# end, whose bits are never set), then the 31 bit positions are summed. Date minus date
# is an integer, so the per-row work is integer arithmetic; OFFSET 0 keeps the masked
# bitmap computed once per row rather than once per bit.
_ACTIVE_BY_DAY = f"""
    SELECT m.month + (u.i - 1)::int AS day, u.n AS active
    FROM (
        SELECT b.month, ARRAY[{", ".join(f"sum((b.bits >> {i}) & 1)" for i in range(31))}]
            AS counts
        FROM (
            SELECT m.month,
                   CASE WHEN r.hi < r.lo THEN 0
                        ELSE m.days & ((1::bigint << r.hi) - (1::bigint << (r.lo - 1)))::int
                   END AS bits
            FROM household_months m
            JOIN (
                SELECT household_id AS id, greatest(enrolled_on, %(from)s::date) AS first_day,
                       least(left_on, %(to)s::date + 1) AS after_day
                FROM household_spells
                WHERE estate_id = %(estate)s AND enrolled_on <= %(to)s
                  AND (left_on IS NULL OR left_on > %(from)s)
            ) AS h ON h.id = m.household,
            LATERAL (SELECT greatest(h.first_day - m.month + 1, 1) AS lo,
                            least(h.after_day - m.month, 31) AS hi) AS r
            WHERE m.estate_id = %(estate)s
              AND m.month BETWEEN %(first_month)s AND %(last_month)s
            OFFSET 0
        ) AS b
        GROUP BY b.month
    ) AS m
    CROSS JOIN LATERAL unnest(m.counts) WITH ORDINALITY AS u(n, i)
    WHERE u.n > 0
"""

# One row per local day of [from, to]. Households enrolled per day come from a running
# sum of +1 at each spell's enrolled_on and -1 at its left_on (clamped to `from`), not
# a days x households product. A household with several spells in the period counts
# on the days of each (they never overlap), and so does its bitmap in _ACTIVE_BY_DAY.
DAILY_SQL = f"""
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(%(from)s::date, %(to)s::date, interval '1 day') AS d
),
deltas AS (
    SELECT greatest(enrolled_on, %(from)s::date) AS day, count(*) AS n
    FROM household_spells
    WHERE estate_id = %(estate)s AND enrolled_on <= %(to)s
    GROUP BY 1
    UNION ALL
    SELECT greatest(left_on, %(from)s::date), -count(*)
    FROM household_spells
    WHERE estate_id = %(estate)s AND left_on <= %(to)s
    GROUP BY 1
),
enrolled AS (
    SELECT days.day, (sum(coalesce(x.n, 0)) OVER (ORDER BY days.day))::bigint AS enrolled
    FROM days
    LEFT JOIN (SELECT day, sum(n) AS n FROM deltas GROUP BY day) x ON x.day = days.day
),
active AS ({_ACTIVE_BY_DAY}),
cat AS (
    SELECT day, sum(drops)::bigint AS drops, sum(identified_drops)::bigint AS identified_drops,
           sum(in_window_drops)::bigint AS in_window_drops,
           {_GRAMS.format(col="weight_g")}
    FROM daily_category
    WHERE estate_id = %(estate)s AND day BETWEEN %(from)s AND %(to)s
    GROUP BY day
)
SELECT e.day, e.enrolled AS households_enrolled, coalesce(a.active, 0) AS households_active,
       coalesce(c.drops, 0) AS drops, coalesce(c.identified_drops, 0) AS identified_drops,
       coalesce(c.in_window_drops, 0) AS in_window_drops,
       coalesce(c.dry_g, 0) AS dry_g, coalesce(c.wet_g, 0) AS wet_g,
       coalesce(c.recyclable_g, 0) AS recyclable_g, coalesce(c.hazardous_g, 0) AS hazardous_g,
       coalesce(c.construction_g, 0) AS construction_g
FROM enrolled e
LEFT JOIN active a ON a.day = e.day
LEFT JOIN cat c ON c.day = e.day
ORDER BY e.day
"""

# A household's drops and grams in [from, to]: whole months from household_months, the
# days of the partly covered edge months (`edge_days`) from household_days. A row
# exists only for a month or day with a drop, so every household here was active.
PER_HOUSEHOLD_SQL = f"""
    SELECT household, sum(drops)::bigint AS drops,
           sum(dry_g)::bigint AS dry_g, sum(wet_g)::bigint AS wet_g,
           sum(recyclable_g)::bigint AS recyclable_g, sum(hazardous_g)::bigint AS hazardous_g,
           sum(construction_g)::bigint AS construction_g
    FROM (
        SELECT household, drops, {_HOUSEHOLD_GRAMS}
        FROM household_months
        WHERE estate_id = %(estate)s AND month = ANY(%(full_months)s::date[])
        UNION ALL
        SELECT household, drops, {_HOUSEHOLD_GRAMS}
        FROM household_days
        WHERE estate_id = %(estate)s AND day BETWEEN %(from)s AND %(head_to)s
        UNION ALL
        SELECT household, drops, {_HOUSEHOLD_GRAMS}
        FROM household_days
        WHERE estate_id = %(estate)s AND day BETWEEN %(tail_from)s AND %(to)s
    ) AS x
    GROUP BY household
"""

# Per building and per building group, households grouped by where they belong on `to`
# (their membership in force that day): their identified drops of the whole period
# (anonymous drops have no building), enrolled on `to` (a spell in force that day),
# active among those.
BUILDINGS_SQL = f"""
WITH per_household AS ({PER_HOUSEHOLD_SQL}),
hh AS (
    SELECT h.building_id, h.building_group_id, p.*, s.household_id IS NOT NULL AS enrolled
    FROM household_memberships h
    LEFT JOIN household_spells s
           ON s.estate_id = h.estate_id AND s.household_id = h.household_id
          AND s.enrolled_on <= %(to)s AND (s.left_on IS NULL OR s.left_on > %(to)s)
    LEFT JOIN per_household p ON p.household = h.household_id
    WHERE h.estate_id = %(estate)s
      AND h.valid_from <= %(to)s AND (h.valid_to IS NULL OR h.valid_to > %(to)s)
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


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _month_mask(start: date, end: date, month: date) -> int:
    """Bits of the days of `month` inside [start, end] (bit d-1 for day d)."""
    last = _next_month(month) - timedelta(days=1)
    lo, hi = max(start, month).day, min(end, last).day
    return (1 << hi) - (1 << (lo - 1))


def edge_days(start: date, end: date) -> tuple[list[date], date, date]:
    """The months wholly inside [start, end], and where the partly covered ones end.

    Returns (whole months, last day of the head edge, first day of the tail edge): the
    head edge is [start, head_to], the tail edge [tail_from, end], either possibly empty
    (head_to < start, tail_from > end). Without a whole month the head is the period.
    """
    first = start if start.day == 1 else _next_month(start.replace(day=1))
    until = end + timedelta(days=1)
    if until.day != 1:
        until = until.replace(day=1)
    months = []
    month = first
    while month < until:
        months.append(month)
        month = _next_month(month)
    if not months:
        return [], end, end + timedelta(days=1)
    return months, first - timedelta(days=1), until


def period_params(start: date, end: date) -> dict[str, Any]:
    """The parameters every figures query of [start, end] takes."""
    first, last = start.replace(day=1), end.replace(day=1)
    full, head_to, tail_from = edge_days(start, end)
    return {
        "from": start,
        "to": end,
        "first_month": first,
        "last_month": last,
        "first_mask": _month_mask(start, end, first),
        "last_mask": _month_mask(start, end, last),
        "full_months": full,
        "head_to": head_to,
        "tail_from": tail_from,
        # The registry bitmap ESTATES_BITS_SQL starts from: `end` when it ends its month.
        "snap_day": end if (end + timedelta(days=1)).day == 1 else last - timedelta(days=1),
    }


async def _fetch(
    conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    # Not prepared: a prepared statement turns to PostgreSQL's generic plan after five
    # runs, which cannot see the period and measured 1.3-1.6x slower than the custom
    # plan; planning these queries costs 2-5 ms.
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params, prepare=False)
        return await cur.fetchall()


async def estate_exists(conn: psycopg.AsyncConnection[Any], estate: str) -> bool:
    """Whether the registry has this estate (a primary-key probe)."""
    cur = await conn.execute("SELECT 1 FROM estates WHERE id = %s", (estate,))
    return await cur.fetchone() is not None


def probes_sql(start: date, end: date) -> str:
    """The figures query before the bitmaps (#17), for a period: kept to measure the
    bitmaps against (bench/city.py) and to check them (tests/city)."""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    return ESTATES_SHORT_SQL if months <= SHORT_PERIOD_MONTHS else ESTATES_SQL


# The planner's cost of ESTATES_BITS_SQL grows with the estates and passes
# jit_above_cost at a few thousand, though the run stays small (a few rows per estate):
# JIT then compiles for ~1 s. Off for this statement's transaction only.
NO_JIT = "SELECT set_config('jit', 'off', true)"


async def estates_rows(
    conn: psycopg.AsyncConnection[Any], estates: list[str], start: date, end: date
) -> list[dict[str, Any]]:
    """One row of counts per existing estate among `estates` (the household bitmaps)."""
    params = {"estates": estates, **period_params(start, end)}
    async with conn.transaction():
        await conn.execute(NO_JIT)
        return await _fetch(conn, ESTATES_BITS_SQL, params)


async def daily_rows(
    conn: psycopg.AsyncConnection[Any], estate: str, start: date, end: date
) -> list[dict[str, Any]]:
    """One row of counts per local day of [start, end]."""
    return await _fetch(conn, DAILY_SQL, {"estate": estate, **period_params(start, end)})


async def building_rows(
    conn: psycopg.AsyncConnection[Any], estate: str, start: date, end: date
) -> list[dict[str, Any]]:
    """Rows per building (is_building) and per building group, buildings first."""
    return await _fetch(conn, BUILDINGS_SQL, {"estate": estate, **period_params(start, end)})
