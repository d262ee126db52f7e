"""SQL of alarms: the evaluator's reads and idempotent writes, and what people do
with a record (list, acknowledge, resolve) and the estates' thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from api.rows import Conn, Row, fetch_all, fetch_one

# Any constant: one evaluator writes at a time, a second one waits for its tick.
EVALUATOR_LOCK_ID = 0x66656E6C6516
SETTING_FIELDS = (
    "fill_pct",
    "battery_pct",
    "offline_minutes",
    "offline_window_minutes",
    "device_clear_minutes",
    "silent_room",
    "stuck_sensor",
)
# LISTEN fenlei_alarms: a notice at the commit of every tick that opened or resolved a
# record, and of every acknowledge or resolve by a person (payload: JSON saying what),
# so a notifier need not poll. A notice is a hint; the table is the truth.
NOTIFY_CHANNEL = "fenlei_alarms"
_ALARM = """
SELECT a.id, a.estate_id AS estate, a.room_id AS room, a.bin_id AS bin, a.kind, a.source,
       a.state, a.first_seen, a.last_seen, a.repeats, a.detail, a.opened_at,
       a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by
FROM alarms a
"""

# --- the evaluator ---------------------------------------------------------------------


async def lock_and_watermark(conn: Conn) -> tuple[datetime, datetime | None]:
    """In the tick's transaction: wait for any other evaluator, then (the transaction's
    time, the stored watermark or None on the first run)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVALUATOR_LOCK_ID,))
    row = await fetch_one(
        conn,
        "SELECT now() AS now, (SELECT events_until FROM alarm_evaluator) AS until",
        (),
    )
    assert row is not None
    return row["now"], row["until"]


async def save_watermark(conn: Conn, until: datetime) -> None:
    await conn.execute(
        "INSERT INTO alarm_evaluator (id, events_until) VALUES (true, %s)"
        " ON CONFLICT (id) DO UPDATE SET events_until = greatest(alarm_evaluator.events_until,"
        " excluded.events_until), ticked_at = now()",
        (until,),
    )


async def notify(conn: Conn, payload: str) -> None:
    """Queue a notice on NOTIFY_CHANNEL; PostgreSQL sends it when the transaction commits."""
    await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))


async def estates_with_settings(conn: Conn) -> list[Row]:
    """Every estate with its zone, drop-off windows and thresholds. An estate without
    a settings row gets one of the column defaults first (the defaults live there)."""
    await conn.execute(
        "INSERT INTO alarm_settings (estate_id) SELECT id FROM estates ORDER BY id"
        " ON CONFLICT (estate_id) DO NOTHING"
    )
    return await fetch_all(
        conn,
        "SELECT e.id AS estate, e.timezone, e.drop_windows, "
        + ", ".join(f"s.{f}" for f in SETTING_FIELDS)
        + " FROM estates e JOIN alarm_settings s ON s.estate_id = e.id ORDER BY e.id",
        (),
    )


# A device alarm event opens the record of its (bin, kind) or repeats it. Which events
# belong to a record: those of its bin and kind stored after the previous record of
# that key resolved. `repeats` is their count, recounted rather than incremented, so
# reading an event twice (the re-read margin, a restart) cannot count it twice.
_DEVICE_UPSERT = """
WITH scanned AS MATERIALIZED (
    SELECT e.bin_key, e.alarm AS kind, e.ts, e.received_at, e.fill_pct
    FROM events e
    WHERE e.received_at > %(since)s AND e.received_at <= %(until)s
      AND e.kind = 'alarm' AND e.alarm = ANY(%(kinds)s)
),
keyed AS (
    -- Per (bin, kind): when its latest record resolved (events before belong to it).
    SELECT k.bin_key, k.kind, b.estate_id, b.room_id, b.id AS bin_id,
           (SELECT max(r.resolved_at) FROM alarms r
            WHERE r.estate_id = b.estate_id AND r.room_id = b.room_id AND r.bin_id = b.id
              AND r.kind = k.kind AND r.state = 'resolved') AS after
    FROM (SELECT DISTINCT bin_key, kind FROM scanned) k JOIN bins b ON b.bin_key = k.bin_key
),
fresh AS (
    SELECT k.estate_id, k.room_id, k.bin_id, k.bin_key, k.kind, k.after,
           min(s.ts) AS first_seen, max(s.ts) AS last_seen,
           -- The newest reading the device sent with its alarm: the message says it.
           (array_agg(s.fill_pct ORDER BY s.ts DESC)
              FILTER (WHERE s.fill_pct IS NOT NULL))[1] AS fill_pct
    FROM keyed k JOIN scanned s ON s.bin_key = k.bin_key AND s.kind = k.kind
    WHERE k.after IS NULL OR s.received_at > k.after
    GROUP BY k.estate_id, k.room_id, k.bin_id, k.bin_key, k.kind, k.after
)
INSERT INTO alarms AS a (estate_id, room_id, bin_id, kind, source, first_seen, last_seen,
                         detail, repeats)
SELECT f.estate_id, f.room_id, f.bin_id, f.kind, 'device', f.first_seen, f.last_seen,
       CASE WHEN f.fill_pct IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('fill_pct', f.fill_pct) END,
       (SELECT count(*) FROM events e
        WHERE e.bin_key = f.bin_key AND e.kind = 'alarm' AND e.alarm = f.kind
          AND e.ts >= f.first_seen AND (f.after IS NULL OR e.received_at > f.after))
FROM fresh f
ORDER BY f.estate_id, f.room_id, f.bin_id, f.kind
ON CONFLICT (estate_id, room_id, coalesce(bin_id, ''), kind) WHERE state <> 'resolved'
DO UPDATE SET
    first_seen = least(a.first_seen, excluded.first_seen),
    last_seen = greatest(a.last_seen, excluded.last_seen),
    -- A newer reading replaces the one kept; an old event re-read (the overlap) does not.
    detail = CASE WHEN excluded.detail ? 'fill_pct' AND excluded.last_seen >= a.last_seen
                  THEN a.detail || excluded.detail ELSE a.detail END,
    repeats = greatest(1, (
        SELECT count(*) FROM events e JOIN bins b ON b.bin_key = e.bin_key
        WHERE b.estate_id = a.estate_id AND b.room_id = a.room_id AND b.id = a.bin_id
          AND e.kind = 'alarm' AND e.alarm = a.kind
          AND e.ts >= least(a.first_seen, excluded.first_seen)
          AND e.received_at > coalesce((
              SELECT max(r.resolved_at) FROM alarms r
              WHERE r.estate_id = a.estate_id AND r.room_id = a.room_id
                AND r.bin_id = a.bin_id AND r.kind = a.kind AND r.state = 'resolved'),
              '-infinity')))
RETURNING a.id, (xmax = 0) AS inserted, a.estate_id, a.bin_id, a.kind
"""


async def upsert_device_alarms(
    conn: Conn, since: datetime, until: datetime, kinds: Sequence[str]
) -> list[Row]:
    """Open or repeat the records of the device alarm events stored in (since, until]."""
    return await fetch_all(
        conn, _DEVICE_UPSERT, {"since": since, "until": until, "kinds": list(kinds)}
    )


async def overflows_emptied(conn: Conn) -> list[Row]:
    """Unresolved overflow records whose bin was emptied after the alarm's last repeat."""
    return await fetch_all(
        conn,
        "SELECT a.id FROM alarms a JOIN bins b ON b.estate_id = a.estate_id"
        " AND b.room_id = a.room_id AND b.id = a.bin_id"
        " WHERE a.state <> 'resolved' AND a.source = 'device' AND a.kind = 'overflow'"
        " AND EXISTS (SELECT 1 FROM events e WHERE e.estate_id = a.estate_id"
        " AND e.bin_key = b.bin_key AND e.kind = 'empty' AND e.ts > a.last_seen)",
        (),
    )


async def device_alarms_quiet(conn: Conn, now: datetime) -> list[Row]:
    """Unresolved device records not repeated for their estate's device_clear_minutes."""
    return await fetch_all(
        conn,
        "SELECT a.id FROM alarms a JOIN alarm_settings s ON s.estate_id = a.estate_id"
        " WHERE a.state <> 'resolved' AND a.source = 'device'"
        " AND a.last_seen < %s - make_interval(mins => s.device_clear_minutes)",
        (now,),
    )


async def unresolved(conn: Conn) -> list[Row]:
    """Every unresolved record (few: one per bin and kind at most)."""
    return await fetch_all(conn, _ALARM + " WHERE a.state <> 'resolved'", ())


async def people_resolutions(conn: Conn, kinds: Sequence[str]) -> list[Row]:
    """The latest resolution of each (bin or room, kind) made by a person (not 'auto')."""
    return await fetch_all(
        conn,
        "SELECT DISTINCT ON (estate_id, room_id, coalesce(bin_id, ''), kind)"
        " estate_id AS estate, room_id AS room, bin_id AS bin, kind, resolved_at, resolved_by"
        " FROM alarms WHERE state = 'resolved' AND kind = ANY(%s)"
        # Older resolutions are history: a bin silent for a month may alarm again.
        " AND resolved_at > now() - interval '30 days'"
        " ORDER BY estate_id, room_id, coalesce(bin_id, ''), kind, resolved_at DESC",
        (list(kinds),),
    )


async def bins_state(conn: Conn) -> list[Row]:
    """Every bin's device state: online flag (the last will sets it false), the time
    of its last message (the database's clock), battery."""
    return await fetch_all(
        conn,
        "SELECT bin_key, estate_id AS estate, room_id AS room, id AS bin, online,"
        " last_seen, battery_pct, fill_pct FROM bins ORDER BY bin_key",
        (),
    )


async def fill_readings(conn: Conn, since: datetime, until: datetime) -> list[Row]:
    """Each bin's newest fill reading stored in (since, until]: an event with fill_pct,
    or an `empty` (fill 0 when it carries none)."""
    return await fetch_all(
        conn,
        "SELECT DISTINCT ON (e.bin_key) e.bin_key, e.ts, e.received_at, e.kind,"
        " coalesce(e.fill_pct, 0) AS fill_pct"
        " FROM events e WHERE e.received_at > %s AND e.received_at <= %s"
        " AND (e.fill_pct IS NOT NULL OR e.kind = 'empty')"
        " ORDER BY e.bin_key, e.ts DESC, (e.kind = 'empty') DESC",
        (since, until),
    )


async def recent_drop_weights(conn: Conn, since: datetime, until: datetime, run: int) -> list[Row]:
    """For each bin with a drop stored in (since, until]: its newest `run` drop weights
    (newest first) and when the newest was stored."""
    return await fetch_all(
        conn,
        "WITH touched AS (SELECT DISTINCT bin_key, estate_id FROM events"
        " WHERE received_at > %s AND received_at <= %s AND kind = 'drop')"
        " SELECT t.bin_key, w.weights, w.newest_received"
        " FROM touched t CROSS JOIN LATERAL ("
        "   SELECT array_agg(weight_g ORDER BY ts DESC) AS weights,"
        "          max(received_at) AS newest_received FROM ("
        "     SELECT weight_g, ts, received_at FROM events e"
        "     WHERE e.estate_id = t.estate_id AND e.bin_key = t.bin_key AND e.kind = 'drop'"
        "     ORDER BY e.ts DESC LIMIT %s) last) w",
        (since, until, run),
    )


async def rejected_fill(conn: Conn, since: datetime, until: datetime) -> list[Row]:
    """Per bin topic: fill levels refused as impossible (reason bad_fill) in the margin."""
    return await fetch_all(
        conn,
        "SELECT topic, count(*) AS n, max(received_at) AS newest FROM rejected_messages"
        " WHERE received_at > %s AND received_at <= %s AND reason = 'bad_fill'"
        " GROUP BY topic",
        (since, until),
    )


async def identified_drops(
    conn: Conn, estate: str, windows: Sequence[tuple[datetime, datetime]]
) -> list[Row]:
    """Identified drops (with a household) per room and window index of an estate."""
    return await fetch_all(
        conn,
        "SELECT b.room_id AS room, w.i, count(e.ts) AS n"
        " FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS w(s, e, i)"
        " JOIN events e ON e.estate_id = %s AND e.ts >= w.s AND e.ts < w.e"
        "   AND e.kind = 'drop' AND e.household IS NOT NULL"
        " JOIN bins b ON b.bin_key = e.bin_key"
        " GROUP BY b.room_id, w.i",
        ([s for s, _ in windows], [e for _, e in windows], estate),
    )


async def rooms_with_bins(conn: Conn, estate: str) -> list[str]:
    rows = await fetch_all(
        conn, "SELECT DISTINCT room_id FROM bins WHERE estate_id = %s ORDER BY 1", (estate,)
    )
    return [r["room_id"] for r in rows]


async def silent_windows_recorded(conn: Conn, estate: str, start: datetime) -> set[str]:
    """Rooms that already have a silent_room record (any state) for the window at `start`."""
    rows = await fetch_all(
        conn,
        "SELECT room_id FROM alarms WHERE estate_id = %s AND kind = 'silent_room'"
        " AND (detail->>'window_start')::timestamptz = %s",
        (estate, start),
    )
    return {r["room_id"] for r in rows}


async def room_has_drop_since(conn: Conn, estate: str, room: str, since: datetime) -> bool:
    row = await fetch_one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM events e JOIN bins b ON b.bin_key = e.bin_key"
        " WHERE e.estate_id = %s AND b.room_id = %s AND e.ts >= %s AND e.kind = 'drop'"
        " AND e.household IS NOT NULL) AS found",
        (estate, room, since),
    )
    return bool(row and row["found"])


_DERIVED_UPSERT = """
INSERT INTO alarms AS a (estate_id, room_id, bin_id, kind, source, first_seen, last_seen,
                         detail)
VALUES (%(estate)s, %(room)s, %(bin)s, %(kind)s, 'derived', %(seen)s, %(seen)s, %(detail)s)
ON CONFLICT (estate_id, room_id, coalesce(bin_id, ''), kind) WHERE state <> 'resolved'
DO UPDATE SET last_seen = greatest(a.last_seen, excluded.last_seen), detail = excluded.detail
RETURNING a.id, (xmax = 0) AS inserted
"""


async def open_derived(conn: Conn, rows: Sequence[Row]) -> int:
    """Open (or refresh) derived records; returns how many were new."""
    opened = 0
    for r in rows:
        got = await fetch_one(conn, _DERIVED_UPSERT, {**r, "detail": Jsonb(r["detail"])})
        opened += bool(got and got["inserted"])
    return opened


async def resolve_auto(conn: Conn, ids: Sequence[int], why: str) -> int:
    """Resolve these records as their condition cleared; returns how many changed."""
    if not ids:
        return 0
    cur = await conn.execute(
        "UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = 'auto',"
        " detail = detail || jsonb_build_object('cleared', %s::text)"
        " WHERE id = ANY(%s) AND state <> 'resolved'",
        (why, sorted(set(ids))),
    )
    return cur.rowcount


# --- people ----------------------------------------------------------------------------


async def list_alarms(conn: Conn, estate: str, states: Sequence[str], limit: int) -> list[Row]:
    return await fetch_all(
        conn,
        _ALARM + " WHERE a.estate_id = %s AND a.state = ANY(%s)"
        " ORDER BY a.last_seen DESC, a.id DESC LIMIT %s",
        (estate, list(states), limit),
    )


async def unresolved_counts(conn: Conn, estates: Sequence[str]) -> dict[str, int]:
    """Each estate's unresolved (open or acknowledged) alarms; 0 when it has none."""
    rows = await fetch_all(
        conn,
        "SELECT estate_id AS estate, count(*) AS n FROM alarms"
        " WHERE estate_id = ANY(%s) AND state <> 'resolved' GROUP BY estate_id",
        (list(estates),),
    )
    counts = {e: 0 for e in estates}
    counts.update({str(r["estate"]): int(r["n"]) for r in rows})
    return counts


async def get_alarm(conn: Conn, alarm_id: int) -> Row | None:
    return await fetch_one(conn, _ALARM + " WHERE a.id = %s", (alarm_id,))


async def acknowledge(conn: Conn, alarm_id: int, by: str) -> bool:
    """Open -> acknowledged; False when the record is not open."""
    cur = await conn.execute(
        "UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(),"
        " acknowledged_by = %s WHERE id = %s AND state = 'open'",
        (by, alarm_id),
    )
    if cur.rowcount == 1:
        await notify(conn, orjson.dumps({"acknowledged": alarm_id}).decode())
    return cur.rowcount == 1


async def resolve(conn: Conn, alarm_id: int, by: str) -> bool:
    """Open or acknowledged -> resolved by a person; False when already resolved."""
    cur = await conn.execute(
        "UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = %s"
        " WHERE id = %s AND state <> 'resolved'",
        (by, alarm_id),
    )
    if cur.rowcount == 1:
        await notify(conn, orjson.dumps({"resolved": alarm_id}).decode())
    return cur.rowcount == 1


async def get_settings(conn: Conn, estate: str) -> Row:
    """The estate's thresholds; the column defaults when it has no row (read inside a
    transaction that is rolled back, so a read never writes)."""
    # real -> one decimal as stored from the API (80.0, not 80.00000305...).
    cols = ", ".join(
        f"round({f}::numeric, 1)::float8 AS {f}" if f in ("fill_pct", "battery_pct") else f
        for f in SETTING_FIELDS
    )
    async with conn.transaction(force_rollback=True):
        await conn.execute(
            "INSERT INTO alarm_settings (estate_id) VALUES (%s) ON CONFLICT DO NOTHING",
            (estate,),
        )
        row = await fetch_one(
            conn,
            f"SELECT estate_id AS estate, {cols}, updated_at FROM alarm_settings"
            " WHERE estate_id = %s",
            (estate,),
        )
    assert row is not None
    return row


async def put_settings(conn: Conn, estate: str, values: dict[str, Any]) -> None:
    cols = ", ".join(SETTING_FIELDS)
    marks = ", ".join(f"%({f})s" for f in SETTING_FIELDS)
    sets = ", ".join(f"{f} = excluded.{f}" for f in SETTING_FIELDS)
    await conn.execute(
        f"INSERT INTO alarm_settings (estate_id, {cols}) VALUES (%(estate)s, {marks})"
        f" ON CONFLICT (estate_id) DO UPDATE SET {sets}, updated_at = now()",
        {**values, "estate": estate},
    )
