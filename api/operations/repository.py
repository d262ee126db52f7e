"""SQL of the operators' views: the quarantine, and bins with their device logins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.registry.repository import SEQ_COLUMNS, SEQ_JOINS

_FILTER = """
WHERE (%(estates)s::text[] IS NULL OR estate_id = ANY(%(estates)s))
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
"""
REJECTED_SQL = f"""
SELECT id, received_at, topic, estate_id AS estate, reason, detail, item_index,
       payload
FROM rejected_messages {_FILTER}
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s
"""
COUNTS_SQL = f"""
SELECT reason, count(*) AS n FROM rejected_messages {_FILTER} GROUP BY reason ORDER BY reason
"""

# Past the cap rejections are only counted (ingest/quarantine.py); the tally has no
# time axis, so `since` does not narrow it.
DROPPED_SQL = """
SELECT reason, sum(dropped) AS n FROM rejected_tally
WHERE (%(estates)s::text[] IS NULL OR estate_id = ANY(%(estates)s)) AND dropped > 0
GROUP BY reason ORDER BY reason
"""


async def rejected(
    conn: psycopg.AsyncConnection[Any],
    estates: list[str] | None,
    since: datetime | None,
    limit: int,
) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """The newest rejections (up to `limit`), the count of all kept ones matching, and
    of those dropped past the cap, by reason."""
    params = {"estates": estates, "since": since, "limit": limit}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(COUNTS_SQL, params)
        counts = {r["reason"]: int(r["n"]) for r in await cur.fetchall()}
        await cur.execute(DROPPED_SQL, params)
        dropped = {r["reason"]: int(r["n"]) for r in await cur.fetchall()}
        await cur.execute(REJECTED_SQL, params)
        rows = await cur.fetchall()
    return rows, counts, dropped


BINS_SQL = f"""
SELECT b.estate_id AS estate, b.room_id AS room, b.id, b.category, b.online, b.last_seen,
       b.fill_pct, b.battery_pct, b.last_alarm, b.last_alarm_at,
       (a.username IS NOT NULL) AS has_credentials, a.last_connected_at,{SEQ_COLUMNS}
FROM bins b LEFT JOIN mqtt_accounts a ON a.bin_key = b.bin_key{SEQ_JOINS}
WHERE b.estate_id = %s
ORDER BY b.room_id, b.id
"""


async def bins(conn: psycopg.AsyncConnection[Any], estate: str) -> list[dict[str, Any]]:
    """An estate's bins: device state and whether each has an MQTT login."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(BINS_SQL, (estate,))
        return await cur.fetchall()
