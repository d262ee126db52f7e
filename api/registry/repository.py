"""SQL of the registry: estates, rooms, bins and households."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.errors import Conflict, NotFound
from api.registry.schemas import DEFAULT_WINDOWS, RECENT_GAPS, EstateIn, HouseholdIn

Conn = psycopg.AsyncConnection[Any]

_ESTATE_COLUMNS = """
    e.id, e.name, e.timezone, e.households_total, e.drop_windows, e.created_at, e.updated_at,
    (SELECT count(*) FROM households h WHERE h.estate_id = e.id) AS households_registered
"""


async def _one(conn: Conn, query: str, params: Sequence[Any] | dict[str, Any]) -> Any:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def _all(conn: Conn, query: str, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def estate_ids(conn: Conn) -> list[str]:
    """Every estate id, sorted."""
    return [r["id"] for r in await _all(conn, "SELECT id FROM estates ORDER BY id", ())]


async def list_estates(conn: Conn, only: Sequence[str] | None) -> list[dict[str, Any]]:
    """Estates (all, or those in `only`)."""
    return await _all(
        conn,
        f"SELECT {_ESTATE_COLUMNS} FROM estates e"
        " WHERE %(only)s::text[] IS NULL OR e.id = ANY(%(only)s) ORDER BY e.id",
        {"only": list(only) if only is not None else None},
    )


async def get_estate(conn: Conn, estate: str) -> dict[str, Any]:
    """One estate; NotFound when it does not exist."""
    row = await _one(conn, f"SELECT {_ESTATE_COLUMNS} FROM estates e WHERE e.id = %s", (estate,))
    if row is None:
        raise NotFound(f"no estate {estate!r} (create it with PUT /api/v1/estates/{estate})")
    return dict(row)


async def _has_drops(conn: Conn, estate: str) -> bool:
    return (
        await _one(
            conn, "SELECT 1 AS x FROM daily_category WHERE estate_id = %s LIMIT 1", (estate,)
        )
        is not None
    )


async def put_estate(conn: Conn, estate: str, body: EstateIn) -> tuple[dict[str, Any], bool]:
    """Create or update an estate; returns (estate, created).

    Conflict when the time zone or windows would change under recorded drops: the
    rollups bucketed them by the old ones.
    """
    windows = [list(w) for w in (body.drop_windows or DEFAULT_WINDOWS)]
    async with conn.transaction():
        old = await _one(
            conn, "SELECT timezone, drop_windows FROM estates WHERE id = %s FOR UPDATE", (estate,)
        )
        if (
            old is not None
            and (old["timezone"] != body.timezone or old["drop_windows"] != windows)
            and await _has_drops(conn, estate)
        ):
            raise Conflict(
                f"estate {estate!r} already has drops counted in local days of "
                f"{old['timezone']} and windows {old['drop_windows']}; changing the time "
                "zone or windows would mis-date them"
            )
        await conn.execute(
            "INSERT INTO estates (id, name, timezone, households_total, drop_windows)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
            " name = excluded.name, timezone = excluded.timezone,"
            " households_total = excluded.households_total,"
            " drop_windows = excluded.drop_windows, updated_at = now()",
            (estate, body.name, body.timezone, body.households_total, Jsonb(windows)),
        )
    return await get_estate(conn, estate), old is None


@asynccontextmanager
async def _in_use(why: str) -> AsyncIterator[None]:
    """Conflict when the database refuses a delete because events name the bin.

    The checks above see committed events only; an ingester storing the bin's first
    event meanwhile is caught by event_keys' key check on bins (migration 0013).
    """
    try:
        yield
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict(why) from None


async def delete_estate(conn: Conn, estate: str) -> None:
    """Delete an estate and its registry; Conflict once it has events."""
    async with conn.transaction():
        await get_estate(conn, estate)
        if (
            await _one(conn, "SELECT 1 AS x FROM events WHERE estate_id = %s LIMIT 1", (estate,))
            is not None
        ):
            raise Conflict(f"estate {estate!r} has recorded events; it cannot be deleted")
        async with _in_use(f"estate {estate!r} has recorded events; it cannot be deleted"):
            await conn.execute("DELETE FROM estates WHERE id = %s", (estate,))


_ROOM = """
SELECT r.estate_id AS estate, r.id, r.name,
       (SELECT count(*) FROM bins b WHERE b.estate_id = r.estate_id AND b.room_id = r.id) AS bins
FROM rooms r WHERE r.estate_id = %(estate)s AND (%(room)s::text IS NULL OR r.id = %(room)s)
ORDER BY r.id
"""


async def list_rooms(conn: Conn, estate: str) -> list[dict[str, Any]]:
    """An estate's rooms."""
    await get_estate(conn, estate)
    return await _all(conn, _ROOM, {"estate": estate, "room": None})


async def get_room(conn: Conn, estate: str, room: str) -> dict[str, Any]:
    """One room; NotFound for an unknown estate or room."""
    row = await _one(conn, _ROOM, {"estate": estate, "room": room})
    if row is None:
        await get_estate(conn, estate)
        raise NotFound(f"no room {room!r} in estate {estate!r}")
    return dict(row)


async def put_room(
    conn: Conn, estate: str, room: str, name: str | None
) -> tuple[dict[str, Any], bool]:
    """Create or rename a room; returns (room, created)."""
    await get_estate(conn, estate)
    row = await _one(
        conn,
        "INSERT INTO rooms (estate_id, id, name) VALUES (%s, %s, %s)"
        " ON CONFLICT (estate_id, id) DO UPDATE SET name = excluded.name"
        " RETURNING (xmax = 0) AS created",
        (estate, room, name),
    )
    return await get_room(conn, estate, room), bool(row["created"])


async def delete_room(conn: Conn, estate: str, room: str) -> None:
    """Delete an empty room; Conflict while it has bins."""
    found = await get_room(conn, estate, room)
    if found["bins"]:
        raise Conflict(f"room {room!r} still has {found['bins']} bin(s); delete them first")
    async with _in_use(f"room {room!r} has recorded events; it cannot be deleted"):
        await conn.execute("DELETE FROM rooms WHERE estate_id = %s AND id = %s", (estate, room))


# A bin's stored watermark and lost seqs (ingest/watermark.py), for a query over `bins b`:
# SEQ_COLUMNS in its select list, SEQ_JOINS after its FROM. Probes by bin_key only.
SEQ_COLUMNS = """
       nullif(w.seq, 0) AS seq_watermark, w.gap_since AS seq_gap_open_since,
       coalesce(g.lost, 0) AS seq_lost, coalesce(g.filled_late, 0) AS seq_filled_late,
       coalesce(g.recent, '[]'::jsonb) AS seq_gaps"""
SEQ_JOINS = f"""
LEFT JOIN bin_watermarks w ON w.bin_key = b.bin_key
LEFT JOIN LATERAL (
    SELECT sum(s.to_seq - s.from_seq + 1)::bigint AS lost,
           sum(s.filled_late)::bigint AS filled_late,
           (SELECT jsonb_agg(r ORDER BY r.recorded_at DESC, r.from_seq DESC)
            FROM (SELECT from_seq, to_seq, opened_at, recorded_at, filled_late
                  FROM seq_gaps x WHERE x.bin_key = b.bin_key
                  ORDER BY recorded_at DESC, from_seq DESC LIMIT {RECENT_GAPS}) AS r) AS recent
    FROM seq_gaps s
    WHERE s.bin_key = b.bin_key
) AS g ON true"""

_BIN = f"""
SELECT b.estate_id AS estate, b.room_id AS room, b.id, b.category, b.online, b.last_seen,
       b.fill_pct, b.battery_pct, b.last_alarm, b.last_alarm_at, b.bin_key,{SEQ_COLUMNS}
FROM bins b{SEQ_JOINS}
WHERE b.estate_id = %(estate)s AND (%(room)s::text IS NULL OR b.room_id = %(room)s)
  AND (%(bin)s::text IS NULL OR b.id = %(bin)s)
ORDER BY b.room_id, b.id
"""


async def list_bins(conn: Conn, estate: str) -> list[dict[str, Any]]:
    """An estate's bins with their device state."""
    await get_estate(conn, estate)
    return await _all(conn, _BIN, {"estate": estate, "room": None, "bin": None})


async def get_bin(conn: Conn, estate: str, room: str, bin_id: str) -> dict[str, Any]:
    """One bin; NotFound naming what is missing."""
    row = await _one(conn, _BIN, {"estate": estate, "room": room, "bin": bin_id})
    if row is None:
        await get_room(conn, estate, room)
        raise NotFound(f"no bin {bin_id!r} in room {room!r} of estate {estate!r}")
    return dict(row)


async def _bin_has_events(conn: Conn, bin_key: int) -> bool:
    return (
        await _one(conn, "SELECT 1 AS x FROM events WHERE bin_key = %s LIMIT 1", (bin_key,))
        is not None
    )


async def put_bin(
    conn: Conn, estate: str, room: str, bin_id: str, category: str
) -> tuple[dict[str, Any], bool]:
    """Create a bin or change its category; Conflict when a used bin would change category."""
    async with conn.transaction():
        await get_room(conn, estate, room)
        old = await _one(
            conn,
            "SELECT bin_key, category FROM bins WHERE estate_id = %s"
            " AND room_id = %s AND id = %s FOR UPDATE",
            (estate, room, bin_id),
        )
        if old is None:
            await conn.execute(
                "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, %s, %s, %s)",
                (estate, room, bin_id, category),
            )
        elif old["category"] != category:
            if await _bin_has_events(conn, old["bin_key"]):
                raise Conflict(
                    f"bin {bin_id!r} has recorded events as {old['category']!r};"
                    " register a new bin id for the new category"
                )
            await conn.execute(
                "UPDATE bins SET category = %s WHERE bin_key = %s", (category, old["bin_key"])
            )
    return await get_bin(conn, estate, room, bin_id), old is None


async def delete_bin(conn: Conn, estate: str, room: str, bin_id: str) -> None:
    """Delete an unused bin; Conflict once it has events."""
    found = await get_bin(conn, estate, room, bin_id)
    if await _bin_has_events(conn, found["bin_key"]):
        raise Conflict(f"bin {bin_id!r} has recorded events; it cannot be deleted")
    async with _in_use(f"bin {bin_id!r} has recorded events; it cannot be deleted"):
        await conn.execute("DELETE FROM bins WHERE bin_key = %s", (found["bin_key"],))


# -- households ---------------------------------------------------------------------------

UPSERT_BUILDINGS = """
INSERT INTO buildings (estate_id, id)
SELECT DISTINCT %(estate)s, b FROM unnest(%(buildings)s::text[]) AS b
ON CONFLICT DO NOTHING
"""
UPSERT_GROUPS = """
INSERT INTO building_groups (estate_id, building_id, id)
SELECT DISTINCT %(estate)s, b, g FROM unnest(%(buildings)s::text[], %(groups)s::text[]) AS x(b, g)
WHERE g IS NOT NULL
ON CONFLICT DO NOTHING
"""
UPSERT_HOUSEHOLDS = """
INSERT INTO households (estate_id, id, building_id, building_group_id, enrolled_on, left_on)
SELECT %(estate)s, * FROM unnest(%(ids)s::text[], %(buildings)s::text[], %(groups)s::text[],
                                 %(enrolled)s::date[], %(left)s::date[])
ON CONFLICT (estate_id, id) DO UPDATE SET
    building_id = excluded.building_id, building_group_id = excluded.building_group_id,
    enrolled_on = excluded.enrolled_on, left_on = excluded.left_on
RETURNING (xmax = 0) AS created
"""


def household_params(estate: str, rows: Sequence[HouseholdIn]) -> dict[str, Any]:
    """The array parameters of the three upsert statements."""
    return {
        "estate": estate,
        "ids": [r.id for r in rows],
        "buildings": [r.building for r in rows],
        "groups": [r.building_group for r in rows],
        "enrolled": [r.enrolled_on for r in rows],
        "left": [r.left_on for r in rows],
    }


def check_unique(rows: Sequence[HouseholdIn]) -> None:
    """Conflict when one request names a household twice (which row would win?)."""
    seen: set[str] = set()
    dup = sorted({r.id for r in rows if r.id in seen or seen.add(r.id)})  # type: ignore[func-returns-value]
    if dup:
        raise Conflict(f"household id(s) given more than once: {', '.join(dup[:10])}")


async def upsert_households(
    conn: Conn, estate: str, rows: Sequence[HouseholdIn]
) -> tuple[int, int]:
    """Insert or update households in one transaction; returns (created, updated)."""
    check_unique(rows)
    params = household_params(estate, rows)
    async with conn.transaction():
        await get_estate(conn, estate)
        await conn.execute(UPSERT_BUILDINGS, params)
        await conn.execute(UPSERT_GROUPS, params)
        created = [r["created"] for r in await _all(conn, UPSERT_HOUSEHOLDS, params)]
    return sum(created), len(created) - sum(created)


_HOUSEHOLD = """
SELECT id, building_id AS building, building_group_id AS building_group, enrolled_on, left_on
FROM households
WHERE estate_id = %(estate)s AND (%(id)s::text IS NULL OR id = %(id)s)
  AND (%(building)s::text IS NULL OR building_id = %(building)s)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s
"""


async def list_households(
    conn: Conn, estate: str, building: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """A page of an estate's households, by id."""
    await get_estate(conn, estate)
    return await _all(
        conn,
        _HOUSEHOLD,
        {"estate": estate, "id": None, "building": building, "limit": limit, "offset": offset},
    )


async def get_household(conn: Conn, estate: str, household: str) -> dict[str, Any]:
    """One household; NotFound naming what is missing."""
    rows = await _all(
        conn,
        _HOUSEHOLD,
        {"estate": estate, "id": household, "building": None, "limit": 1, "offset": 0},
    )
    if not rows:
        await get_estate(conn, estate)
        raise NotFound(f"no household {household!r} in estate {estate!r}")
    return dict(rows[0])


async def delete_household(conn: Conn, estate: str, household: str) -> None:
    """Remove a household from the registry (its drops stay, as unregistered tokens)."""
    await get_household(conn, estate, household)
    await conn.execute(
        "DELETE FROM households WHERE estate_id = %s AND id = %s", (estate, household)
    )
