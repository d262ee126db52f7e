"""SQL the dashboards need beyond the API's figures (which come from `api.metrics`).

Rejected messages per local day and reason, sorting accuracy per room, category and
week, each estate's newest stored event (the stale-data badge), the households behind the disclosure
board's star families (from the same rollups as the figures, placed by the registry's
history), every household with its place for the committee's code slips, and the
estates' public board links (stored as SHA-256 only: `public_boards`, migration 0019).
"""

from __future__ import annotations

from datetime import date, datetime
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


# The API's accuracy sums (api/inspections/repository.py), split by the shift's room,
# the line's category and the week (from Monday) of the shift's local day: a watch's
# inspections count on the day of the watch, as the API counts them.
ACCURACY_WEEKLY_SQL = """
SELECT s.room_id AS room, l.category, date_trunc('week', s.day)::date AS week,
       count(DISTINCT i.id)::int AS inspections, sum(l.checked)::int AS inspected,
       sum(l.mis_sorted)::int AS mis_sorted, sum(l.re_sorted)::int AS re_sorted
FROM inspections i JOIN assignments a ON a.id = i.assignment_id
JOIN shifts s ON s.id = a.shift_id JOIN inspection_lines l ON l.inspection_id = i.id
WHERE s.estate_id = %(estate)s AND s.day BETWEEN %(from)s AND %(to)s
GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
"""

# Each estate's newest stored event of any kind, with its drop-off windows and its
# watched rooms' watch slots: the index events_estate_ts (estate_id, ts DESC) answers
# each in one probe. Events stamped ahead of the clock (the contract allows 5 minutes)
# are no proof the bins are talking now.
NEWEST_EVENTS_SQL = """
SELECT e.id, e.name, e.timezone, e.drop_windows, n.ts AS newest,
       coalesce((SELECT jsonb_agg(jsonb_build_array(s.day_type, s.starts::text, s.ends::text))
                 FROM watch_slots s WHERE s.estate_id = e.id), '[]') AS watch_slots
FROM estates e
LEFT JOIN LATERAL (
    SELECT v.ts FROM events v
    WHERE v.estate_id = e.id AND v.ts <= now() + interval '5 minutes'
    ORDER BY v.ts DESC LIMIT 1
) n ON true
WHERE e.id = ANY(%(estates)s)
ORDER BY e.id
"""


async def _rows(conn: Conn, sql: str, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    params = {"estate": estate, **metrics.period_params(start, end)}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def rejected_daily(conn: Conn, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    """[{day, reason, count}] of the estate's rejected messages, local days."""
    return await _rows(conn, REJECTED_DAILY_SQL, estate, start, end)


async def accuracy_weekly(conn: Conn, estate: str, start: date, end: date) -> list[dict[str, Any]]:
    """[{room, category, week, inspections, inspected, mis_sorted, re_sorted}] of the
    inspections of the estate's watches on local days [start, end]."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ACCURACY_WEEKLY_SQL, {"estate": estate, "from": start, "to": end})
        return await cur.fetchall()


async def newest_events(conn: Conn, estates: list[str]) -> list[dict[str, Any]]:
    """[{id, name, timezone, drop_windows, newest, watch_slots}] of the estates (newest:
    None when the estate never stored an event; watch_slots: [[day_type, start, end]])."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(NEWEST_EVENTS_SQL, {"estates": estates})
        return await cur.fetchall()


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


# One link per estate. Only the token's SHA-256 is stored (as api_tokens do): a leaked
# table opens no board, and 24 random bytes need no slow hash.
PUBLIC_BOARD_BY_HASH_SQL = """
SELECT e.id, e.name, e.timezone
FROM public_boards p JOIN estates e ON e.id = p.estate_id
WHERE p.token_sha256 = %s
"""
PUBLIC_BOARD_OF_ESTATE_SQL = "SELECT created_at FROM public_boards WHERE estate_id = %s"
PUBLIC_BOARD_DELETE_SQL = "DELETE FROM public_boards WHERE estate_id = %s"
# Made or replaced in one statement (two admins pressing at once: the later one wins,
# neither fails); `replaced` says whether a link was there before it.
PUBLIC_BOARD_UPSERT_SQL = """
WITH old AS (SELECT FROM public_boards WHERE estate_id = %(estate)s)
INSERT INTO public_boards (estate_id, token_sha256, created_by)
VALUES (%(estate)s, %(hash)s, %(by)s)
ON CONFLICT (estate_id) DO UPDATE
SET token_sha256 = EXCLUDED.token_sha256, created_at = now(), created_by = EXCLUDED.created_by
RETURNING EXISTS (SELECT FROM old) AS replaced
"""


async def public_board_estate(conn: Conn, token_sha256: bytes) -> dict[str, Any] | None:
    """{id, name, timezone} of the estate whose public link has this hash, or None
    (unknown, replaced or revoked)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(PUBLIC_BOARD_BY_HASH_SQL, (token_sha256,))
        return await cur.fetchone()


async def public_board_since(conn: Conn, estate: str) -> datetime | None:
    """When the estate's current public link was made; None when it has none."""
    cur = await conn.execute(PUBLIC_BOARD_OF_ESTATE_SQL, (estate,))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def replace_public_board(conn: Conn, estate: str, token_sha256: bytes, token_id: int) -> bool:
    """Store the estate's new link, ending the old one; True when there was one."""
    cur = await conn.execute(
        PUBLIC_BOARD_UPSERT_SQL, {"estate": estate, "hash": token_sha256, "by": token_id}
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def delete_public_board(conn: Conn, estate: str) -> bool:
    """End the estate's public link; True when there was one."""
    cur = await conn.execute(PUBLIC_BOARD_DELETE_SQL, (estate,))
    return cur.rowcount == 1
