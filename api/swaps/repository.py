"""SQL of swap offers: opening, listing, and handing an assignment to its taker (under a
lock on the taker, after checking they hold no watch at the same time)."""

from __future__ import annotations

from datetime import datetime

from api.rows import Conn, Row, fetch_all, fetch_one

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
    row = await fetch_one(
        conn,
        "INSERT INTO swaps (assignment_id, offered_by, note)"
        " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (assignment_id, offered_by, note),
    )
    return int(row["id"]) if row else None


async def get_swap(conn: Conn, swap_id: int) -> Row | None:
    """One swap."""
    return await fetch_one(conn, _SWAP + " WHERE w.id = %s", (swap_id,))


async def list_swaps(
    conn: Conn, estate: str, status: str | None, since: datetime | None
) -> list[Row]:
    """An estate's swaps, newest first (optionally one status, shifts ending after `since`)."""
    return await fetch_all(
        conn,
        _SWAP + " WHERE s.estate_id = %(estate)s"
        " AND (%(status)s::text IS NULL OR w.status = %(status)s)"
        " AND (%(since)s::timestamptz IS NULL OR s.ends_at > %(since)s)"
        " ORDER BY w.created_at DESC, w.id DESC",
        {"estate": estate, "status": status, "since": since},
    )


# The taker's other watch that shares an instant with shift %(shift)s, in any room of any
# estate (a volunteer row belongs to one estate, but the check does not rely on it).
# The same shift counts too: a taker who already holds a seat of it cannot take another.
_CLASH = """
SELECT s.id, s.estate_id AS estate, s.room_id AS room, r.name AS room_name, s.day,
       s.local_start, s.local_end, s.starts_at, s.ends_at
FROM assignments a JOIN shifts s ON s.id = a.shift_id
JOIN rooms r ON r.estate_id = s.estate_id AND r.id = s.room_id
JOIN shifts wanted ON wanted.id = %(shift)s
WHERE a.volunteer_id = %(taker)s
  AND s.starts_at < wanted.ends_at AND wanted.starts_at < s.ends_at
ORDER BY s.starts_at, s.room_id LIMIT 1
"""


async def lock_volunteer(conn: Conn, volunteer_id: int) -> None:
    """Lock a volunteer's row until the transaction ends, so whatever gives them a watch
    runs one at a time and each sees the watches the previous one gave.

    The row and not their assignments: a concurrent accept adds an assignment, which no
    lock on the existing ones would stop. NO KEY UPDATE leaves foreign-key checks (other
    inserts of their assignments) unblocked."""
    await conn.execute("SELECT 1 FROM volunteers WHERE id = %s FOR NO KEY UPDATE", (volunteer_id,))


async def clashing_shift(conn: Conn, taker: int, shift_id: int) -> Row | None:
    """The first watch `taker` holds that overlaps shift `shift_id`, or None."""
    return await fetch_one(conn, _CLASH, {"taker": taker, "shift": shift_id})


async def accept_swap(conn: Conn, swap_id: int, assignment_id: int, taker: int) -> bool:
    """Hand the assignment to `taker`; False when the offer was no longer open."""
    async with conn.transaction():
        row = await fetch_one(
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
    row = await fetch_one(
        conn,
        "UPDATE swaps SET status = 'cancelled', decided_at = now()"
        " WHERE id = %s AND status = 'open' RETURNING id",
        (swap_id,),
    )
    return row is not None
