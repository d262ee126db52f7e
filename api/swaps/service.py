"""The swap rules: one's own future watch may be offered; a volunteer of the same
estate may take an open offer before the watch starts, unless they already hold a watch
at an overlapping time (in any room); its offerer or an admin may withdraw it."""

from __future__ import annotations

from datetime import datetime

from api.auth import audit
from api.auth.tokens import Principal, Role
from api.errors import Conflict, Forbidden, NotFound
from api.rows import Conn, Row
from api.shifts import repository as shifts
from api.shifts.service import assignment
from api.swaps import repository as repo
from api.volunteers.access import acting_volunteer, owned


def _slot(shift: Row) -> str:
    """A watch's local day and clock times, e.g. Mon 2026-04-06 16:30–20:00."""
    return f"{shift['day']:%a %Y-%m-%d} {shift['local_start']:%H:%M}–{shift['local_end']:%H:%M}"


def _room(shift: Row) -> str:
    name = shift["room_name"]
    return f"{shift['room']} ({name})" if name and name != shift["room"] else str(shift["room"])


class DoubleBooked(Conflict):
    """Taking the watch would put its taker in two rooms at once (409). Carries the name
    and both watches (`wanted`, `held`: day, local_start, local_end, room, room_name) so
    a page can say it in its own language."""

    def __init__(self, volunteer: str, wanted: Row, held: Row) -> None:
        self.volunteer, self.wanted, self.held = volunteer, wanted, held
        super().__init__(
            f"{volunteer} already holds the watch {_slot(held)} in room {_room(held)},"
            f" which overlaps this one ({_slot(wanted)} in room {_room(wanted)}):"
            " nobody can stand watch in two rooms at once, so the offer stays open"
        )


async def _swap_view(conn: Conn, swap_id: int) -> Row:
    row = await repo.get_swap(conn, swap_id)
    if row is None:
        raise NotFound(f"no swap {swap_id}")
    shift = await shifts.get_shift(conn, row["shift_id"])
    return {**row, "shift": shift}


async def offer_swap(
    conn: Conn, principal: Principal, assignment_id: int, note: str | None, now: datetime
) -> Row:
    """Offer one's own future assignment to the estate's other volunteers."""
    a = await assignment(conn, assignment_id)
    await owned(conn, principal, a["estate"], a["volunteer_id"], "assignment")
    if a["starts_at"] <= now:
        raise Conflict("this watch has already started; it can no longer be swapped")
    swap_id = await repo.insert_swap(conn, assignment_id, a["volunteer_id"], note)
    if swap_id is None:
        raise Conflict("this assignment is already offered")
    return await _swap_view(conn, swap_id)


async def swap_in_scope(conn: Conn, principal: Principal, swap_id: int) -> Row:
    """A swap of an estate the caller may see."""
    row = await _swap_view(conn, swap_id)
    if not principal.may_see(row["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {row['estate']!r}")
    return row


async def list_swaps(
    conn: Conn, principal: Principal, estate: str, status: str | None, since: datetime | None
) -> list[Row]:
    """An estate's swap offers, newest first (optionally one status, watches ending after
    `since`)."""
    rows = await repo.list_swaps(conn, estate, status, since)
    return [await swap_in_scope(conn, principal, r["id"]) for r in rows]


async def accept_swap(conn: Conn, principal: Principal, swap_id: int, now: datetime) -> Row:
    """Take an open offer: the caller (a volunteer of the estate) now holds the watch."""
    swap = await swap_in_scope(conn, principal, swap_id)
    if principal.role is Role.viewer:
        raise Forbidden("this needs the volunteer role; the token has viewer")
    me = await acting_volunteer(conn, principal)
    if me["estate"] != swap["estate"]:
        raise Forbidden("only a volunteer of the same estate can take this watch")
    if swap["status"] != "open":
        raise Conflict(f"this offer is {swap['status']}")
    if me["id"] == swap["offered_by"]:
        raise Conflict("you cannot take your own offer; cancel it instead")
    if any(x["volunteer_id"] == me["id"] for x in swap["shift"]["assignees"]):
        raise Conflict("you already hold this watch")
    if swap["shift"]["starts_at"] <= now:
        raise Conflict("this watch has already started")
    async with conn.transaction():
        # Checked under the taker's row lock: two accepts for the same taker (two tabs,
        # two phones) run one after the other, and the second sees the first's watch.
        await repo.lock_volunteer(conn, me["id"])
        held = await repo.clashing_shift(conn, me["id"], swap["shift_id"])
        if held is not None:
            raise DoubleBooked(me["name"], swap["shift"], held)
        if not await repo.accept_swap(conn, swap_id, swap["assignment_id"], me["id"]):
            raise Conflict("this offer was taken or withdrawn a moment ago")
    audit.record(
        "swap_accepted",
        f"swap {swap_id} of {swap['estate']} accepted: assignment {swap['assignment_id']}"
        f" passes from volunteer {swap['offered_by']} to volunteer {me['id']}",
        estate=swap["estate"],
        swap_id=swap_id,
        assignment_id=swap["assignment_id"],
        shift_id=swap["shift_id"],
        from_volunteer_id=swap["offered_by"],
        to_volunteer_id=me["id"],
    )
    return await _swap_view(conn, swap_id)


async def cancel_swap(conn: Conn, principal: Principal, swap_id: int) -> Row:
    """Withdraw one's own open offer (or an admin withdraws any)."""
    swap = await swap_in_scope(conn, principal, swap_id)
    await owned(conn, principal, swap["estate"], swap["offered_by"], "swap offer")
    if not await repo.cancel_swap(conn, swap_id):
        raise Conflict(f"this offer is {swap['status']}")
    return await _swap_view(conn, swap_id)
