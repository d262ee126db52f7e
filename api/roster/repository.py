"""SQL of the roster: watch slots, writing a generated month, the shifts already held,
and the drops per quarter hour that say how busy a slot is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from api.roster.rotation import ShiftSlot, SlotSpec
from api.rows import Conn, Row, fetch_all, fetch_one


async def watch_slots(conn: Conn, estate: str) -> dict[str, list[SlotSpec]]:
    """Rooms with their own slots (possibly none); rooms using the estate's are absent."""
    rows = await fetch_all(
        conn,
        "SELECT r.room_id, s.day_type, s.starts, s.ends, s.needed FROM watched_rooms r"
        " LEFT JOIN watch_slots s ON s.estate_id = r.estate_id AND s.room_id = r.room_id"
        " WHERE r.estate_id = %s ORDER BY r.room_id, s.day_type, s.starts",
        (estate,),
    )
    out: dict[str, list[SlotSpec]] = {}
    for r in rows:
        specs = out.setdefault(r["room_id"], [])
        if r["day_type"] is not None:
            specs.append(SlotSpec(r["day_type"], r["starts"], r["ends"], int(r["needed"])))
    return out


async def replace_watch_slots(
    conn: Conn, estate: str, room: str, specs: Sequence[SlotSpec]
) -> None:
    """Replace a room's watch slots."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM watch_slots WHERE estate_id = %s AND room_id = %s", (estate, room)
        )
        await conn.execute(
            "INSERT INTO watched_rooms (estate_id, room_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (estate, room),
        )
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO watch_slots (estate_id, room_id, day_type, starts, ends, needed)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(estate, room, s.day_type, s.start, s.end, s.needed) for s in specs],
            )


async def shifts_exist(conn: Conn, estate: str, first: date, last: date) -> bool:
    """True when the estate has any shift on local days [first, last]."""
    return (
        await fetch_one(
            conn,
            "SELECT 1 AS x FROM shifts WHERE estate_id = %s AND day BETWEEN %s AND %s LIMIT 1",
            (estate, first, last),
        )
        is not None
    )


async def month_counts(conn: Conn, estate: str, first: date, last: date) -> dict[int, int]:
    """Shifts per volunteer already held on local days [first, last]."""
    rows = await fetch_all(
        conn,
        "SELECT a.volunteer_id, count(*) AS n FROM assignments a"
        " JOIN shifts s ON s.id = a.shift_id WHERE s.estate_id = %s"
        " AND s.day BETWEEN %s AND %s GROUP BY a.volunteer_id",
        (estate, first, last),
    )
    return {int(r["volunteer_id"]): int(r["n"]) for r in rows}


async def store_roster(
    conn: Conn,
    estate: str,
    first: date,
    last: date,
    replace_after: datetime | None,
    slots: Sequence[ShiftSlot],
    chosen: Sequence[Sequence[int]],
) -> None:
    """Write generated shifts and assignments; with `replace_after`, first delete the
    period's shifts that start after it (and their assignments, check-ins and swaps)."""
    async with conn.transaction():
        if replace_after is not None:
            await conn.execute(
                "DELETE FROM shifts WHERE estate_id = %s AND day BETWEEN %s"
                " AND %s AND starts_at > %s",
                (estate, first, last, replace_after),
            )
        for slot, volunteers in zip(slots, chosen, strict=True):
            row = await fetch_one(
                conn,
                "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end,"
                " starts_at, ends_at, needed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    estate,
                    slot.room,
                    slot.day,
                    slot.start,
                    slot.end,
                    slot.starts_at,
                    slot.ends_at,
                    slot.needed,
                ),
            )
            assert row is not None
            if volunteers:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO assignments (shift_id, volunteer_id) VALUES (%s, %s)",
                        [(row["id"], v) for v in volunteers],
                    )


_DROP_BUCKETS = """
-- The local day by the one rule (fenlei_local_day); the quarter hour of local time.
SELECT b.room_id AS room, fenlei_local_day(e.ts, %(tz)s) AS day,
       (date_trunc('hour', e.ts AT TIME ZONE %(tz)s)
        + floor(extract(minute FROM e.ts AT TIME ZONE %(tz)s) / 15) * interval '15 minutes'
       )::time AS quarter,
       count(*) AS drops
FROM events e JOIN bins b ON b.bin_key = e.bin_key
WHERE e.estate_id = %(estate)s AND e.kind = 'drop' AND e.ts >= %(start)s AND e.ts < %(end)s
GROUP BY 1, 2, 3
"""


async def drop_quarters(
    conn: Conn, estate: str, tz: str, start: datetime, end: datetime
) -> list[Row]:
    """Drops per room, local day and local quarter hour in [start, end): at most
    rooms x days x 96 rows, whatever the number of events."""
    return await fetch_all(
        conn, _DROP_BUCKETS, {"estate": estate, "tz": tz, "start": start, "end": end}
    )


# --- one seat of a published roster ---------------------------------------------------


async def insert_assignment(conn: Conn, shift_id: int, volunteer_id: int) -> int | None:
    """A new seat of a shift; None when the volunteer already holds one of it."""
    row = await fetch_one(
        conn,
        "INSERT INTO assignments (shift_id, volunteer_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (shift_id, volunteer_id),
    )
    return int(row["id"]) if row else None


async def reassign(conn: Conn, assignment_id: int, volunteer_id: int) -> int:
    """Give a seat to another volunteer (no check-in yet), withdrawing its open swap
    offer, which was the previous holder's; returns the offers withdrawn (0 or 1)."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE swaps SET status = 'cancelled', decided_at = now()"
            " WHERE assignment_id = %s AND status = 'open'",
            (assignment_id,),
        )
        withdrawn = cur.rowcount
        await conn.execute(
            "UPDATE assignments SET volunteer_id = %s, checked_in_at = NULL,"
            " checked_out_at = NULL WHERE id = %s",
            (volunteer_id, assignment_id),
        )
    return max(withdrawn, 0)


async def delete_assignment(conn: Conn, assignment_id: int) -> None:
    """Remove a seat (its swap offers and inspections go with it)."""
    await conn.execute("DELETE FROM assignments WHERE id = %s", (assignment_id,))
