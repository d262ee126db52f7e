"""The shift rules: which shifts a caller may see, when a check-in or check-out counts,
and what a volunteer's own shifts and a shift's telemetry answer."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Literal

from api.auth.tokens import Principal
from api.errors import Conflict, Forbidden, NotFound
from api.metrics.definitions import kg
from api.rows import Conn, Row
from api.shifts import repository as repo
from api.volunteers.access import owned

# A volunteer may check in this early (they arrive to set up) and no later than the
# watch's end; check-out is accepted until an hour after the end (they forgot).
CHECK_IN_EARLY = timedelta(minutes=30)
CHECK_OUT_LATE = timedelta(hours=1)


async def shift_in_scope(conn: Conn, principal: Principal, shift_id: int) -> Row:
    """A shift the caller's estates include; NotFound / Forbidden otherwise."""
    shift = await repo.get_shift(conn, shift_id)
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    if not principal.may_see(shift["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {shift['estate']!r}")
    return shift


async def assignment(conn: Conn, assignment_id: int) -> Row:
    """An assignment with its shift's estate, room and instants; NotFound otherwise."""
    row = await repo.get_assignment(conn, assignment_id)
    if row is None:
        raise NotFound(f"no assignment {assignment_id}")
    return row


async def my_shifts(conn: Conn, volunteer_id: int, since: datetime, until: datetime) -> list[Row]:
    """A volunteer's shifts in [since, until), each with their own assignment's stamps."""
    out = []
    for s in await repo.volunteer_shifts(conn, volunteer_id, since, until):
        mine = next(a for a in s["assignees"] if a["volunteer_id"] == volunteer_id)
        out.append(
            {
                **s,
                "assignment_id": mine["assignment_id"],
                "checked_in_at": mine["checked_in_at"],
                "checked_out_at": mine["checked_out_at"],
            }
        )
    return out


async def check(
    conn: Conn,
    principal: Principal,
    assignment_id: int,
    action: Literal["in", "out"],
    now: datetime,
) -> Row:
    """Check in (`in`) or out (`out`) of one's own assignment, near the watch's time."""
    a = await assignment(conn, assignment_id)
    await owned(conn, principal, a["estate"], a["volunteer_id"], "assignment")
    if action == "in":
        if a["checked_in_at"] is not None:
            raise Conflict(f"already checked in at {a['checked_in_at'].isoformat()}")
        if not a["starts_at"] - CHECK_IN_EARLY <= now <= a["ends_at"]:
            raise Conflict(
                f"check-in is open from {CHECK_IN_EARLY.seconds // 60} minutes before the watch"
                f" ({a['starts_at'].isoformat()}) until its end ({a['ends_at'].isoformat()})"
            )
        await repo.set_check(conn, assignment_id, "checked_in_at", now)
    else:
        if a["checked_in_at"] is None:
            raise Conflict("check in before checking out")
        if a["checked_out_at"] is not None:
            raise Conflict(f"already checked out at {a['checked_out_at'].isoformat()}")
        if now > a["ends_at"] + CHECK_OUT_LATE:
            raise Conflict("check-out closed an hour after the watch ended")
        await repo.set_check(conn, assignment_id, "checked_out_at", max(now, a["checked_in_at"]))
    return await assignment(conn, assignment_id)


async def shift_activity(
    conn: Conn, shift: Row, retention_days: int | None = None, now: datetime | None = None
) -> Row:
    """A shift with its room's drops, weights, fill levels and alarms during the watch;
    `raw_events` says whether raw-event retention may have dropped them."""
    bins, alarms = await repo.room_activity(
        conn, shift["estate"], shift["room"], shift["starts_at"], shift["ends_at"]
    )
    grams: dict[str, int] = defaultdict(int)
    for b in bins:
        grams[b["category"]] += int(b["weight_g"])
    return {
        "shift": shift,
        "drops": sum(int(b["drops"]) for b in bins),
        "identified_drops": sum(int(b["identified_drops"]) for b in bins),
        # kg per category as the figures define it (all five categories, grams / 1000).
        "kg": kg(grams),
        "bins": [{**b, "kg": int(b["weight_g"]) / 1000} for b in bins],
        "alarms": alarms,
        "raw_events": "retained_away"
        if retention_days is not None
        and shift["ends_at"] < (now or datetime.now(UTC)) - timedelta(days=retention_days)
        else "kept",
    }
