"""The committee's edits of one seat of a published roster: add a volunteer to a watch,
put another volunteer in someone's place, or take someone off.

The rules: the watch is the estate's and has not ended; the volunteer is an active one
of the same estate, not already on that watch and not on another watch at an overlapping
time (in any room: the check runs under a lock on their row, as a swap's does); a seat
whose volunteer has checked in stays as it is (the watch happened). A replaced seat's
open swap offer is withdrawn: it was the old volunteer's to make. Each edit is audited.
"""

from __future__ import annotations

from datetime import datetime

from api.auth import audit
from api.errors import Conflict, Invalid, NotFound
from api.roster import repository as repo
from api.rows import Conn, Row
from api.shifts import repository as shifts
from api.swaps import repository as swaps
from api.volunteers import repository as volunteers


class UnknownVolunteer(Invalid):
    """No active volunteer of this id in the shift's estate (422)."""

    def __init__(self, volunteer_id: int, estate: str, inactive: bool) -> None:
        self.volunteer_id, self.inactive = volunteer_id, inactive
        why = "is no longer active" if inactive else f"is not a volunteer of estate {estate!r}"
        super().__init__(f"volunteer {volunteer_id} {why}")


class AlreadyOnShift(Conflict):
    """The volunteer already holds a seat of this watch (409)."""

    def __init__(self, name: str) -> None:
        self.volunteer = name
        super().__init__(f"{name} already holds this watch")


class DoubleBooked(Conflict):
    """The volunteer holds another watch at an overlapping time (409); carries the name
    and that watch (`held`: day, local_start, local_end, room, room_name) for a page."""

    def __init__(self, name: str, held: Row) -> None:
        self.volunteer, self.held = name, held
        super().__init__(
            f"{name} already holds the watch of {held['day']} {held['local_start']:%H:%M}-"
            f"{held['local_end']:%H:%M} in room {held['room']}, which overlaps this one:"
            " nobody can stand watch in two rooms at once"
        )


class WatchEnded(Conflict):
    """The watch has ended: its seats are a record now (409)."""

    def __init__(self) -> None:
        super().__init__("this watch has ended; its volunteers can no longer be changed")


class CheckedIn(Conflict):
    """The seat's volunteer has checked in: they stood the watch (409)."""

    def __init__(self, name: str) -> None:
        self.volunteer = name
        super().__init__(f"{name} has checked in to this watch; the seat stays theirs")


async def shift_of(conn: Conn, estate: str, shift_id: int) -> Row:
    """A shift of `estate` with its assignees; NotFound otherwise."""
    shift = await shifts.get_shift(conn, shift_id)
    if shift is None or shift["estate"] != estate:
        raise NotFound(f"no shift {shift_id} in estate {estate!r}")
    return shift


async def _seat(conn: Conn, estate: str, assignment_id: int, now: datetime) -> tuple[Row, Row]:
    """An assignment of `estate` and its shift, when the seat may still change."""
    a = await shifts.get_assignment(conn, assignment_id)
    if a is None or a["estate"] != estate:
        raise NotFound(f"no assignment {assignment_id} in estate {estate!r}")
    shift = await shift_of(conn, estate, int(a["shift_id"]))
    if shift["ends_at"] <= now:
        raise WatchEnded()
    if a["checked_in_at"] is not None:
        holder = next(x for x in shift["assignees"] if x["assignment_id"] == assignment_id)
        raise CheckedIn(str(holder["name"]))
    return a, shift


async def _volunteer(conn: Conn, estate: str, volunteer_id: int) -> Row:
    v = await volunteers.get_volunteer(conn, volunteer_id)
    if v is None or v["estate"] != estate:
        raise UnknownVolunteer(volunteer_id, estate, inactive=False)
    if not v["active"]:
        raise UnknownVolunteer(volunteer_id, estate, inactive=True)
    return v


async def _free(conn: Conn, v: Row, shift: Row) -> None:
    """Under the volunteer's row lock: not on this watch, nor on one overlapping it."""
    await swaps.lock_volunteer(conn, int(v["id"]))
    held = await swaps.clashing_shift(conn, int(v["id"]), int(shift["id"]))
    if held is None:
        return
    if held["id"] == shift["id"]:
        raise AlreadyOnShift(str(v["name"]))
    raise DoubleBooked(str(v["name"]), held)


async def add_assignment(
    conn: Conn, estate: str, shift_id: int, volunteer_id: int, now: datetime
) -> Row:
    """Put a volunteer on a watch (one more seat); the watch as it is now."""
    shift = await shift_of(conn, estate, shift_id)
    if shift["ends_at"] <= now:
        raise WatchEnded()
    v = await _volunteer(conn, estate, volunteer_id)
    async with conn.transaction():
        await _free(conn, v, shift)
        assignment_id = await repo.insert_assignment(conn, shift_id, volunteer_id)
        if assignment_id is None:
            raise AlreadyOnShift(str(v["name"]))
    audit.record(
        "assignment_added",
        f"volunteer {volunteer_id} put on shift {shift_id} of {estate}",
        estate=estate,
        shift_id=shift_id,
        assignment_id=assignment_id,
        volunteer_id=volunteer_id,
    )
    return await shift_of(conn, estate, shift_id)


async def replace_assignment(
    conn: Conn, estate: str, assignment_id: int, volunteer_id: int, now: datetime
) -> Row:
    """Give a seat to another volunteer; the watch as it is now."""
    a, shift = await _seat(conn, estate, assignment_id, now)
    v = await _volunteer(conn, estate, volunteer_id)
    async with conn.transaction():
        await _free(conn, v, shift)
        withdrawn = await repo.reassign(conn, assignment_id, volunteer_id)
    audit.record(
        "assignment_replaced",
        f"assignment {assignment_id} of shift {shift['id']} of {estate} passes from volunteer"
        f" {a['volunteer_id']} to volunteer {volunteer_id}",
        estate=estate,
        shift_id=shift["id"],
        assignment_id=assignment_id,
        from_volunteer_id=a["volunteer_id"],
        to_volunteer_id=volunteer_id,
        swaps_withdrawn=withdrawn,
    )
    return await shift_of(conn, estate, int(shift["id"]))


async def remove_assignment(conn: Conn, estate: str, assignment_id: int, now: datetime) -> Row:
    """Take a volunteer off a watch (the seat is empty again); the watch as it is now."""
    a, shift = await _seat(conn, estate, assignment_id, now)
    await repo.delete_assignment(conn, assignment_id)
    audit.record(
        "assignment_removed",
        f"volunteer {a['volunteer_id']} taken off shift {shift['id']} of {estate}",
        estate=estate,
        shift_id=shift["id"],
        assignment_id=assignment_id,
        volunteer_id=a["volunteer_id"],
    )
    return await shift_of(conn, estate, int(shift["id"]))
