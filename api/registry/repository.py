"""SQL of the registry: estates, rooms, bins and households with their history."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.auth import audit
from api.errors import Conflict, Invalid, NotFound
from api.registry.history import Applied, History, Membership, Spell, apply_row, union_days
from api.registry.schemas import (
    DEFAULT_WINDOWS,
    MAX_BACKDATED_LISTED,
    RECENT_GAPS,
    EstateIn,
    HouseholdIn,
)

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
    # event_keys, not events: raw-event retention (deploy/retention.py) drops old events
    # but keeps every key, and its primary key (bin_key, event_id) answers this.
    return (
        await _one(conn, "SELECT 1 AS x FROM event_keys WHERE bin_key = %s LIMIT 1", (bin_key,))
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
# Each household's history is in household_memberships and household_spells (migration
# 0016); the rules that turn a row into history are api.registry.history's. A POST reads
# the histories its rows name, applies the rows in Python and writes back the households
# that changed, all in one transaction.

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
# One writer per estate's registry at a time: two requests naming the same new
# household would both plan it as new.
LOCK_REGISTRY = "SELECT pg_advisory_xact_lock(hashtext('fenlei.registry/' || %s))"
# psycopg cannot load an infinite date: '-infinity' (since before records) reads as null.
HISTORIES = """
SELECT h.id, h.display_name, h.publish_consent,
       coalesce((SELECT jsonb_agg(jsonb_build_array(nullif(m.valid_from, '-infinity'),
                                                    m.valid_to, m.building_id,
                                                    m.building_group_id, m.recorded_at)
                                  ORDER BY m.valid_from)
                 FROM household_memberships m
                 WHERE m.estate_id = h.estate_id AND m.household_id = h.id),
                '[]') AS memberships,
       coalesce((SELECT jsonb_agg(jsonb_build_array(s.enrolled_on, s.left_on, s.recorded_at)
                                  ORDER BY s.enrolled_on)
                 FROM household_spells s
                 WHERE s.estate_id = h.estate_id AND s.household_id = h.id),
                '[]') AS spells
FROM households h
WHERE h.estate_id = %(estate)s AND h.id = ANY(%(ids)s::text[])
"""
FORGET_HISTORIES = [
    "DELETE FROM household_memberships WHERE estate_id = %(estate)s"
    " AND household_id = ANY(%(ids)s::text[])",
    "DELETE FROM household_spells WHERE estate_id = %(estate)s"
    " AND household_id = ANY(%(ids)s::text[])",
]
WRITE_HOUSEHOLDS = """
INSERT INTO households (estate_id, id, display_name, publish_consent)
SELECT %(estate)s, * FROM unnest(%(ids)s::text[], %(names)s::text[], %(consents)s::boolean[])
ON CONFLICT (estate_id, id) DO UPDATE SET
    display_name = excluded.display_name, publish_consent = excluded.publish_consent
"""
WRITE_MEMBERSHIPS = """
INSERT INTO household_memberships (estate_id, household_id, valid_from, valid_to,
                                   building_id, building_group_id, recorded_at)
SELECT %(estate)s, x.h, coalesce(x.f, '-infinity'), x.t, x.b, x.g, coalesce(x.r, now())
FROM unnest(%(m_ids)s::text[], %(m_from)s::date[], %(m_to)s::date[], %(m_buildings)s::text[],
            %(m_groups)s::text[], %(m_recorded)s::timestamptz[]) AS x(h, f, t, b, g, r)
"""
WRITE_SPELLS = """
INSERT INTO household_spells (estate_id, household_id, enrolled_on, left_on, recorded_at)
SELECT %(estate)s, x.h, x.e, x.l, coalesce(x.r, now())
FROM unnest(%(s_ids)s::text[], %(s_enrolled)s::date[], %(s_left)s::date[],
            %(s_recorded)s::timestamptz[]) AS x(h, e, l, r)
"""
# Households written per statement round (a 100k-row sheet shows progress this often).
WRITE_CHUNK = 5_000


def _history_of(row: dict[str, Any]) -> History:
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    return History(
        tuple(
            Membership(day(f), day(t), b, g, datetime.fromisoformat(r))
            for f, t, b, g, r in row["memberships"]
        ),
        tuple(
            Spell(date.fromisoformat(e), day(lo), datetime.fromisoformat(r))
            for e, lo, r in row["spells"]
        ),
        row["display_name"],
        row["publish_consent"],
    )


async def load_histories(conn: Conn, estate: str, ids: Sequence[str]) -> dict[str, History]:
    """The stored histories of those of `ids` that are registered."""
    rows = await _all(conn, HISTORIES, {"estate": estate, "ids": list(ids)})
    return {r["id"]: _history_of(r) for r in rows}


def history_params(estate: str, histories: dict[str, History]) -> dict[str, Any]:
    """The array parameters of WRITE_HOUSEHOLDS, WRITE_MEMBERSHIPS and WRITE_SPELLS."""
    members = [(i, m) for i, h in histories.items() for m in h.memberships]
    spells = [(i, s) for i, h in histories.items() for s in h.spells]
    return {
        "estate": estate,
        "ids": list(histories),
        "names": [h.display_name for h in histories.values()],
        "consents": [h.publish_consent for h in histories.values()],
        "m_ids": [i for i, _ in members],
        "m_from": [m.valid_from for _, m in members],
        "m_to": [m.valid_to for _, m in members],
        "m_buildings": [m.building for _, m in members],
        "m_groups": [m.building_group for _, m in members],
        "m_recorded": [m.recorded_at for _, m in members],
        "s_ids": [i for i, _ in spells],
        "s_enrolled": [s.enrolled_on for _, s in spells],
        "s_left": [s.left_on for _, s in spells],
        "s_recorded": [s.recorded_at for _, s in spells],
    }


def check_unique(rows: Sequence[HouseholdIn]) -> None:
    """Conflict when one request names a household twice (which row would win?)."""
    seen: set[str] = set()
    dup = sorted({r.id for r in rows if r.id in seen or seen.add(r.id)})  # type: ignore[func-returns-value]
    if dup:
        raise Conflict(f"household id(s) given more than once: {', '.join(dup[:10])}")


@dataclass(frozen=True)
class Upsert:
    """What applying a request's rows did (`Upserted` in the API's words)."""

    rows: int
    created: int
    updated: int
    backdated: list[tuple[str, Applied]]

    def as_response(self) -> dict[str, Any]:
        touched = [t for _, a in self.backdated for t in a.touched]
        return {
            "upserted": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.rows - self.created - self.updated,
            "backdated": {
                "rows": len(self.backdated),
                "earliest": min((t[0] for t in touched), default=None),
                "days_touched": union_days(touched),
                "changes": [
                    {"id": i, "from": a.touched[0][0], "days": a.days_touched}
                    for i, a in self.backdated[:MAX_BACKDATED_LISTED]
                ],
            },
        }


# Errors listed one by one in a refusal (all are counted in its message).
MAX_ERRORS_LISTED = 100


def plan(
    rows: Sequence[HouseholdIn], stored: dict[str, History], today: date
) -> tuple[dict[str, History], Upsert]:
    """The histories to write and what they amount to; Invalid naming every row that
    contradicts its stored history (then nothing is written)."""
    changed: dict[str, History] = {}
    created = 0
    backdated: list[tuple[str, Applied]] = []
    errors: list[dict[str, object]] = []
    for i, row in enumerate(rows):
        old = stored.get(row.id)
        applied = apply_row(old, row, today)
        if applied.history is None:
            errors += [
                {"loc": ["body", i, e.field], "msg": f"{row.id}: {e.message}", "type": "history"}
                for e in applied.errors
            ]
            continue
        if applied.history != old:
            changed[row.id] = applied.history
            created += old is None
        if applied.touched:
            backdated.append((row.id, applied))
    if errors:
        raise Invalid(
            f"{len(errors)} row(s) contradict the registry's history; nothing was stored",
            errors[:MAX_ERRORS_LISTED],
        )
    return changed, Upsert(len(rows), created, len(changed) - created, backdated)


def estate_today(timezone: str, now: datetime | None = None) -> date:
    """Today in the estate's zone: the default effective date of a change."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


async def upsert_households(
    conn: Conn,
    estate: str,
    rows: Sequence[HouseholdIn],
    progress: Callable[[int], None] | None = None,
) -> Upsert:
    """Apply the rows to the estate's registry, in one transaction: all or none."""
    check_unique(rows)
    async with conn.transaction():
        found = await get_estate(conn, estate)
        await conn.execute(LOCK_REGISTRY, (estate,))
        stored = await load_histories(conn, estate, [r.id for r in rows])
        changed, done = plan(rows, stored, estate_today(found["timezone"]))
        places = [(m.building, m.building_group) for h in changed.values() for m in h.memberships]
        params = {
            "estate": estate,
            "buildings": [b for b, _ in places],
            "groups": [g for _, g in places],
        }
        await conn.execute(UPSERT_BUILDINGS, params)
        await conn.execute(UPSERT_GROUPS, params)
        ids = list(changed)
        for start in range(0, len(ids), WRITE_CHUNK):
            chunk = {i: changed[i] for i in ids[start : start + WRITE_CHUNK]}
            written = history_params(estate, chunk)
            for sql in FORGET_HISTORIES:
                await conn.execute(sql, written)
            await conn.execute(WRITE_HOUSEHOLDS, written)
            await conn.execute(WRITE_MEMBERSHIPS, written)
            await conn.execute(WRITE_SPELLS, written)
            if progress is not None:
                progress(len(chunk))
    back = done.as_response()["backdated"]
    # Who changed the registry, and how far back (over the API or from a sheet).
    audit.record(
        "households",
        f"households of {estate} changed: {done.created} new, {done.updated} changed",
        estate=estate,
        rows=done.rows,
        households_created=done.created,
        households_updated=done.updated,
        backdated_rows=back["rows"],
        backdated_from=back["earliest"],
        days_touched=back["days_touched"],
    )
    return done


# The latest recorded membership and spell: the household as it stands.
_HOUSEHOLD = """
SELECT h.id, m.building_id AS building, m.building_group_id AS building_group,
       s.enrolled_on, s.left_on, h.display_name, h.publish_consent
FROM households h
JOIN LATERAL (SELECT building_id, building_group_id FROM household_memberships m
              WHERE m.estate_id = h.estate_id AND m.household_id = h.id
              ORDER BY m.valid_from DESC LIMIT 1) AS m ON true
LEFT JOIN LATERAL (SELECT enrolled_on, left_on FROM household_spells s
                   WHERE s.estate_id = h.estate_id AND s.household_id = h.id
                   ORDER BY s.enrolled_on DESC LIMIT 1) AS s ON true
WHERE h.estate_id = %(estate)s AND (%(id)s::text IS NULL OR h.id = %(id)s)
  AND (%(building)s::text IS NULL OR m.building_id = %(building)s)
ORDER BY h.id LIMIT %(limit)s OFFSET %(offset)s
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


async def household_history(conn: Conn, estate: str, household: str) -> dict[str, Any]:
    """A household's memberships and spells, oldest first; NotFound when unknown."""
    histories = await load_histories(conn, estate, [household])
    if household not in histories:
        await get_household(conn, estate, household)  # names what is missing
    h = histories[household]
    return {
        "id": household,
        "display_name": h.display_name,
        "publish_consent": h.publish_consent,
        "memberships": [dataclasses.asdict(m) for m in h.memberships],
        "spells": [dataclasses.asdict(s) for s in h.spells],
    }


async def delete_household(conn: Conn, estate: str, household: str) -> None:
    """Remove a household and its history from the registry (for one entered by
    mistake: the periods it counted in change; a household that leaves gets left_on).
    Its drops stay, as an unregistered token's."""
    await get_household(conn, estate, household)
    await conn.execute(
        "DELETE FROM households WHERE estate_id = %s AND id = %s", (estate, household)
    )
    audit.record(
        "household_deleted",
        f"household {household} of {estate} deleted",
        estate=estate,
        household=household,
    )
