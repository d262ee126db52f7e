"""SQL of inspections and their per-category lines, and the sums accuracy is made of."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from api.rows import Conn, Row, fetch_all, fetch_one

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
        row = await fetch_one(
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
    return await fetch_one(conn, _INSPECTION + " WHERE i.id = %s", (inspection_id,))


async def list_inspections(conn: Conn, estate: str, start: date, end: date) -> list[Row]:
    """An estate's inspections of shifts on local days [start, end]."""
    return await fetch_all(
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
        "total": await fetch_all(conn, _ACCURACY.format(group="NULL::text"), params),
        "category": await fetch_all(conn, _ACCURACY.format(group="l.category"), params),
        "building": await fetch_all(conn, _ACCURACY.format(group="i.building_id"), params),
    }
