"""SQL of the volunteer domain: volunteers, watch slots, shifts, check-ins, inspections,
swaps, and the room telemetry a shift shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.volunteers.roster import ShiftSlot, SlotSpec

Conn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]


async def _one(conn: Conn, query: str, params: Sequence[Any] | dict[str, Any]) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def _all(conn: Conn, query: str, params: Sequence[Any] | dict[str, Any]) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


# --- volunteers -------------------------------------------------------------------

_VOLUNTEER = """
SELECT id, estate_id AS estate, name, contact, building_id AS building, kind, availability,
       unavailable_on, active, token_id, calendar_key
FROM volunteers
"""


async def insert_volunteer(
    conn: Conn, estate: str, body: dict[str, Any], token_sha256: bytes, calendar_key: str
) -> Row:
    """A new volunteer and the volunteer-role token for their estate, in one transaction."""
    async with conn.transaction():
        token = await _one(
            conn,
            "INSERT INTO api_tokens (name, role, estates, token_sha256)"
            " VALUES (%s, 'volunteer', %s, %s) RETURNING id",
            (f"volunteer {body['name']}", [estate], token_sha256),
        )
        assert token is not None
        row = await _one(
            conn,
            "INSERT INTO volunteers (estate_id, name, contact, building_id,"
            " kind, availability, unavailable_on, active, token_id, calendar_key)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                estate,
                body["name"],
                body["contact"],
                body["building"],
                body["kind"],
                _jsonb(body["availability"]),
                body["unavailable_on"],
                body["active"],
                token["id"],
                calendar_key,
            ),
        )
        assert row is not None
    found = await get_volunteer(conn, int(row["id"]))
    assert found is not None
    return found


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


async def update_volunteer(conn: Conn, volunteer_id: int, body: dict[str, Any]) -> Row | None:
    """Replace a volunteer's details; None when there is no such volunteer."""
    await conn.execute(
        "UPDATE volunteers SET name = %s, contact = %s, building_id = %s, kind = %s,"
        " availability = %s, unavailable_on = %s, active = %s WHERE id = %s",
        (
            body["name"],
            body["contact"],
            body["building"],
            body["kind"],
            _jsonb(body["availability"]),
            body["unavailable_on"],
            body["active"],
            volunteer_id,
        ),
    )
    return await get_volunteer(conn, volunteer_id)


async def get_volunteer(conn: Conn, volunteer_id: int) -> Row | None:
    """One volunteer by id."""
    return await _one(conn, _VOLUNTEER + " WHERE id = %s", (volunteer_id,))


async def volunteer_of_token(conn: Conn, token_id: int) -> Row | None:
    """The volunteer a bearer token acts as."""
    return await _one(conn, _VOLUNTEER + " WHERE token_id = %s", (token_id,))


async def volunteer_of_calendar_key(conn: Conn, key: str) -> Row | None:
    """The volunteer whose calendar URL carries `key`."""
    return await _one(conn, _VOLUNTEER + " WHERE calendar_key = %s AND active", (key,))


async def list_volunteers(conn: Conn, estate: str) -> list[Row]:
    """An estate's volunteers."""
    return await _all(conn, _VOLUNTEER + " WHERE estate_id = %s ORDER BY id", (estate,))


async def delete_volunteer(conn: Conn, volunteer_id: int) -> None:
    """Remove a volunteer (their assignments go with them; their token is revoked)."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND id = (SELECT token_id FROM volunteers WHERE id = %s)",
            (volunteer_id,),
        )
        await conn.execute("DELETE FROM volunteers WHERE id = %s", (volunteer_id,))


# --- watch slots ------------------------------------------------------------------


async def watch_slots(conn: Conn, estate: str) -> dict[str, list[SlotSpec]]:
    """Rooms with their own slots (possibly none); rooms using the estate's are absent."""
    rows = await _all(
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


# --- shifts and the roster ----------------------------------------------------------

_SHIFT = """
SELECT s.id, s.estate_id AS estate, s.room_id AS room, r.name AS room_name, s.day,
       s.local_start, s.local_end, s.starts_at, s.ends_at, s.needed
FROM shifts s JOIN rooms r ON r.estate_id = s.estate_id AND r.id = s.room_id
"""
_ASSIGNEES = """
SELECT a.id AS assignment_id, a.shift_id, a.volunteer_id, v.name, a.checked_in_at,
       a.checked_out_at
FROM assignments a JOIN volunteers v ON v.id = a.volunteer_id
WHERE a.shift_id = ANY(%s) ORDER BY a.id
"""


async def _with_assignees(conn: Conn, shifts: list[Row]) -> list[Row]:
    by_id = {s["id"]: {**s, "assignees": []} for s in shifts}
    for a in await _all(conn, _ASSIGNEES, (list(by_id),)):
        by_id[a.pop("shift_id")]["assignees"].append(a)
    for s in by_id.values():
        s["uncovered"] = len(s["assignees"]) < s["needed"]
    return list(by_id.values())


async def shifts_between(
    conn: Conn, estate: str, start: date, end: date, room: str | None = None
) -> list[Row]:
    """An estate's shifts on local days [start, end], with their assignees."""
    rows = await _all(
        conn,
        _SHIFT + " WHERE s.estate_id = %(estate)s AND s.day BETWEEN"
        " %(start)s AND %(end)s AND (%(room)s::text IS NULL OR s.room_id = %(room)s)"
        " ORDER BY s.starts_at, s.room_id",
        {"estate": estate, "start": start, "end": end, "room": room},
    )
    return await _with_assignees(conn, rows)


async def shifts_at(conn: Conn, estate: str, room: str, at: datetime) -> list[Row]:
    """The shifts of a room whose watch includes instant `at`."""
    rows = await _all(
        conn,
        _SHIFT + " WHERE s.estate_id = %s AND s.room_id = %s"
        " AND s.starts_at <= %s AND %s < s.ends_at ORDER BY s.starts_at",
        (estate, room, at, at),
    )
    return await _with_assignees(conn, rows)


async def get_shift(conn: Conn, shift_id: int) -> Row | None:
    """One shift with its assignees."""
    rows = await _all(conn, _SHIFT + " WHERE s.id = %s", (shift_id,))
    return (await _with_assignees(conn, rows))[0] if rows else None


async def volunteer_shifts(
    conn: Conn, volunteer_id: int, since: datetime, until: datetime
) -> list[Row]:
    """A volunteer's shifts ending after `since` and starting before `until`."""
    rows = await _all(
        conn,
        _SHIFT + " JOIN assignments a ON a.shift_id = s.id"
        " WHERE a.volunteer_id = %s AND s.ends_at > %s AND s.starts_at < %s"
        " ORDER BY s.starts_at",
        (volunteer_id, since, until),
    )
    return await _with_assignees(conn, rows)


async def shifts_exist(conn: Conn, estate: str, first: date, last: date) -> bool:
    """True when the estate has any shift on local days [first, last]."""
    return (
        await _one(
            conn,
            "SELECT 1 AS x FROM shifts WHERE estate_id = %s AND day BETWEEN %s AND %s LIMIT 1",
            (estate, first, last),
        )
        is not None
    )


async def month_counts(conn: Conn, estate: str, first: date, last: date) -> dict[int, int]:
    """Shifts per volunteer already held on local days [first, last]."""
    rows = await _all(
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
            row = await _one(
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


# --- assignments: check-in, check-out ---------------------------------------------

_ASSIGNMENT = """
SELECT a.id, a.shift_id, a.volunteer_id, a.checked_in_at, a.checked_out_at,
       s.estate_id AS estate, s.room_id AS room, s.starts_at, s.ends_at
FROM assignments a JOIN shifts s ON s.id = a.shift_id
WHERE a.id = %s
"""


async def get_assignment(conn: Conn, assignment_id: int) -> Row | None:
    """An assignment with its shift's estate, room and instants."""
    return await _one(conn, _ASSIGNMENT, (assignment_id,))


async def set_check(conn: Conn, assignment_id: int, column: str, at: datetime) -> None:
    """Stamp checked_in_at or checked_out_at."""
    assert column in ("checked_in_at", "checked_out_at")
    await conn.execute(f"UPDATE assignments SET {column} = %s WHERE id = %s", (at, assignment_id))


# --- inspections ------------------------------------------------------------------

_INSPECTION = """
SELECT i.id, i.assignment_id, a.shift_id, i.volunteer_id, s.estate_id AS estate,
       s.room_id AS room, i.building_id AS building, i.notes, i.photo_ref, i.recorded_at,
       i.updated_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('category', l.category,
                    'checked', l.checked, 'mis_sorted', l.mis_sorted, 're_sorted', l.re_sorted)
                  ORDER BY l.category) FROM inspection_lines l WHERE l.inspection_id = i.id),
                '[]') AS lines
FROM inspections i JOIN assignments a ON a.id = i.assignment_id
JOIN shifts s ON s.id = a.shift_id
"""


async def _write_lines(conn: Conn, inspection_id: int, lines: Sequence[dict[str, Any]]) -> None:
    await conn.execute("DELETE FROM inspection_lines WHERE inspection_id = %s", (inspection_id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO inspection_lines (inspection_id, category, checked, mis_sorted,"
            " re_sorted) VALUES (%s, %s, %s, %s, %s)",
            [
                (inspection_id, x["category"], x["checked"], x["mis_sorted"], x["re_sorted"])
                for x in lines
            ],
        )


async def insert_inspection(
    conn: Conn, assignment_id: int, volunteer_id: int, body: dict[str, Any]
) -> int:
    """A new inspection with its lines; returns its id."""
    async with conn.transaction():
        row = await _one(
            conn,
            "INSERT INTO inspections (assignment_id, volunteer_id,"
            " building_id, notes, photo_ref) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING id",
            (assignment_id, volunteer_id, body["building"], body["notes"], body["photo_ref"]),
        )
        assert row is not None
        await _write_lines(conn, int(row["id"]), body["lines"])
    return int(row["id"])


async def update_inspection(conn: Conn, inspection_id: int, body: dict[str, Any]) -> None:
    """Replace an inspection's details and lines."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE inspections SET building_id = %s, notes = %s, photo_ref = %s,"
            " updated_at = now() WHERE id = %s",
            (body["building"], body["notes"], body["photo_ref"], inspection_id),
        )
        await _write_lines(conn, inspection_id, body["lines"])


async def delete_inspection(conn: Conn, inspection_id: int) -> None:
    """Delete an inspection."""
    await conn.execute("DELETE FROM inspections WHERE id = %s", (inspection_id,))


async def get_inspection(conn: Conn, inspection_id: int) -> Row | None:
    """One inspection with its lines."""
    return await _one(conn, _INSPECTION + " WHERE i.id = %s", (inspection_id,))


async def list_inspections(conn: Conn, estate: str, start: date, end: date) -> list[Row]:
    """An estate's inspections of shifts on local days [start, end]."""
    return await _all(
        conn,
        _INSPECTION + " WHERE s.estate_id = %s AND s.day BETWEEN %s AND %s ORDER BY i.recorded_at",
        (estate, start, end),
    )


_ACCURACY = """
SELECT {group} AS key, count(DISTINCT i.id) AS inspections,
       coalesce(sum(l.checked), 0) AS inspected, coalesce(sum(l.mis_sorted), 0) AS mis_sorted,
       coalesce(sum(l.re_sorted), 0) AS re_sorted
FROM inspections i JOIN assignments a ON a.id = i.assignment_id
JOIN shifts s ON s.id = a.shift_id JOIN inspection_lines l ON l.inspection_id = i.id
WHERE s.estate_id = %s AND s.day BETWEEN %s AND %s
GROUP BY 1 ORDER BY 1
"""


async def accuracy_counts(conn: Conn, estate: str, start: date, end: date) -> dict[str, list[Row]]:
    """Inspected / mis-sorted / re-sorted sums: the whole estate, per category, per building."""
    params = (estate, start, end)
    return {
        "total": await _all(conn, _ACCURACY.format(group="NULL::text"), params),
        "category": await _all(conn, _ACCURACY.format(group="l.category"), params),
        "building": await _all(conn, _ACCURACY.format(group="i.building_id"), params),
    }


# --- swaps ------------------------------------------------------------------------

_SWAP = """
SELECT w.id, w.assignment_id, a.shift_id, w.offered_by, o.name AS offered_by_name, w.taken_by,
       t.name AS taken_by_name, w.status, w.note, w.created_at, w.decided_at,
       s.estate_id AS estate
FROM swaps w JOIN assignments a ON a.id = w.assignment_id JOIN shifts s ON s.id = a.shift_id
JOIN volunteers o ON o.id = w.offered_by LEFT JOIN volunteers t ON t.id = w.taken_by
"""


async def insert_swap(
    conn: Conn, assignment_id: int, offered_by: int, note: str | None
) -> int | None:
    """Open a swap offer; None when the assignment already has an open one."""
    row = await _one(
        conn,
        "INSERT INTO swaps (assignment_id, offered_by, note)"
        " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (assignment_id, offered_by, note),
    )
    return int(row["id"]) if row else None


async def get_swap(conn: Conn, swap_id: int) -> Row | None:
    """One swap."""
    return await _one(conn, _SWAP + " WHERE w.id = %s", (swap_id,))


async def list_swaps(
    conn: Conn, estate: str, status: str | None, since: datetime | None
) -> list[Row]:
    """An estate's swaps, newest first (optionally one status, shifts ending after `since`)."""
    return await _all(
        conn,
        _SWAP + " WHERE s.estate_id = %(estate)s"
        " AND (%(status)s::text IS NULL OR w.status = %(status)s)"
        " AND (%(since)s::timestamptz IS NULL OR s.ends_at > %(since)s)"
        " ORDER BY w.created_at DESC, w.id DESC",
        {"estate": estate, "status": status, "since": since},
    )


async def accept_swap(conn: Conn, swap_id: int, assignment_id: int, taker: int) -> bool:
    """Hand the assignment to `taker`; False when the offer was no longer open."""
    async with conn.transaction():
        row = await _one(
            conn,
            "UPDATE swaps SET status = 'accepted', taken_by = %s,"
            " decided_at = now() WHERE id = %s AND status = 'open' RETURNING id",
            (taker, swap_id),
        )
        if row is None:
            return False
        await conn.execute(
            "UPDATE assignments SET volunteer_id = %s, checked_in_at = NULL,"
            " checked_out_at = NULL WHERE id = %s",
            (taker, assignment_id),
        )
    return True


async def cancel_swap(conn: Conn, swap_id: int) -> bool:
    """Withdraw an open offer; False when it was no longer open."""
    row = await _one(
        conn,
        "UPDATE swaps SET status = 'cancelled', decided_at = now()"
        " WHERE id = %s AND status = 'open' RETURNING id",
        (swap_id,),
    )
    return row is not None


# --- telemetry during a watch -------------------------------------------------------

_BIN_ACTIVITY = """
SELECT b.id AS bin, b.category,
       count(*) FILTER (WHERE e.kind = 'drop') AS drops,
       count(*) FILTER (WHERE e.kind = 'drop' AND e.household IS NOT NULL) AS identified_drops,
       coalesce(sum(e.weight_g) FILTER (WHERE e.kind = 'drop'), 0) AS weight_g,
       max(e.fill_pct) AS fill_pct_max,
       (array_agg(e.fill_pct ORDER BY e.ts DESC) FILTER (WHERE e.fill_pct IS NOT NULL))[1]
           AS fill_pct_last
FROM bins b LEFT JOIN events e
  ON e.bin_key = b.bin_key AND e.estate_id = b.estate_id AND e.ts >= %(start)s
     AND e.ts < %(end)s
WHERE b.estate_id = %(estate)s AND b.room_id = %(room)s
GROUP BY b.id, b.category ORDER BY b.id
"""
_ALARMS = """
SELECT e.ts, b.id AS bin, e.alarm
FROM events e JOIN bins b ON b.bin_key = e.bin_key
WHERE e.estate_id = %(estate)s AND b.room_id = %(room)s AND e.kind = 'alarm'
  AND e.ts >= %(start)s AND e.ts < %(end)s
ORDER BY e.ts LIMIT 200
"""


async def room_activity(
    conn: Conn, estate: str, room: str, start: datetime, end: datetime
) -> tuple[list[Row], list[Row]]:
    """Per-bin drops, weight and fill of a room in [start, end), and the alarms raised."""
    params = {"estate": estate, "room": room, "start": start, "end": end}
    return await _all(conn, _BIN_ACTIVITY, params), await _all(conn, _ALARMS, params)


_DROP_BUCKETS = """
SELECT b.room_id AS room, (e.ts AT TIME ZONE %(tz)s)::date AS day,
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
    return await _all(conn, _DROP_BUCKETS, {"estate": estate, "tz": tz, "start": start, "end": end})
