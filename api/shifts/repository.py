"""SQL of shifts: reading them with their assignees, an assignment and its check-in and
check-out stamps, and a room's bins and alarms during a watch."""

from __future__ import annotations

from datetime import date, datetime

from api.rows import Conn, Row, fetch_all, fetch_one

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
    for a in await fetch_all(conn, _ASSIGNEES, (list(by_id),)):
        by_id[a.pop("shift_id")]["assignees"].append(a)
    for s in by_id.values():
        s["uncovered"] = len(s["assignees"]) < s["needed"]
    return list(by_id.values())


async def shifts_between(
    conn: Conn, estate: str, start: date, end: date, room: str | None = None
) -> list[Row]:
    """An estate's shifts on local days [start, end], with their assignees."""
    rows = await fetch_all(
        conn,
        _SHIFT + " WHERE s.estate_id = %(estate)s AND s.day BETWEEN"
        " %(start)s AND %(end)s AND (%(room)s::text IS NULL OR s.room_id = %(room)s)"
        " ORDER BY s.starts_at, s.room_id",
        {"estate": estate, "start": start, "end": end, "room": room},
    )
    return await _with_assignees(conn, rows)


async def shifts_at(conn: Conn, estate: str, room: str, at: datetime) -> list[Row]:
    """The shifts of a room whose watch includes instant `at`."""
    rows = await fetch_all(
        conn,
        _SHIFT + " WHERE s.estate_id = %s AND s.room_id = %s"
        " AND s.starts_at <= %s AND %s < s.ends_at ORDER BY s.starts_at",
        (estate, room, at, at),
    )
    return await _with_assignees(conn, rows)


async def get_shift(conn: Conn, shift_id: int) -> Row | None:
    """One shift with its assignees."""
    rows = await fetch_all(conn, _SHIFT + " WHERE s.id = %s", (shift_id,))
    return (await _with_assignees(conn, rows))[0] if rows else None


async def volunteer_shifts(
    conn: Conn, volunteer_id: int, since: datetime, until: datetime
) -> list[Row]:
    """A volunteer's shifts ending after `since` and starting before `until`."""
    rows = await fetch_all(
        conn,
        _SHIFT + " JOIN assignments a ON a.shift_id = s.id"
        " WHERE a.volunteer_id = %s AND s.ends_at > %s AND s.starts_at < %s"
        " ORDER BY s.starts_at",
        (volunteer_id, since, until),
    )
    return await _with_assignees(conn, rows)


_ASSIGNMENT = """
SELECT a.id, a.shift_id, a.volunteer_id, a.checked_in_at, a.checked_out_at,
       s.estate_id AS estate, s.room_id AS room, s.starts_at, s.ends_at
FROM assignments a JOIN shifts s ON s.id = a.shift_id
WHERE a.id = %s
"""


async def get_assignment(conn: Conn, assignment_id: int) -> Row | None:
    """An assignment with its shift's estate, room and instants."""
    return await fetch_one(conn, _ASSIGNMENT, (assignment_id,))


async def set_check(conn: Conn, assignment_id: int, column: str, at: datetime) -> None:
    """Stamp checked_in_at or checked_out_at."""
    assert column in ("checked_in_at", "checked_out_at")
    await conn.execute(f"UPDATE assignments SET {column} = %s WHERE id = %s", (at, assignment_id))


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
    return await fetch_all(conn, _BIN_ACTIVITY, params), await fetch_all(conn, _ALARMS, params)
