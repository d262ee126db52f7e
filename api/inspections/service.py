"""The inspection rules: who records or corrects an inspection and when, and sorting
accuracy = passed / inspected over an estate's watches."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from api.auth.tokens import Principal, Role
from api.errors import Conflict, Forbidden, NotFound
from api.inspections import repository as repo
from api.inspections.schemas import InspectionIn
from api.metrics.definitions import CATEGORIES, ratio
from api.registry import repository as registry
from api.rows import Conn, Row
from api.shifts.service import CHECK_IN_EARLY, assignment
from api.volunteers.access import owned

# Inspections are written up at the bin or soon after; later edits are an admin's.
INSPECTION_LATE = timedelta(hours=3)


def _inspection_values(body: InspectionIn) -> Row:
    return {
        "building": body.building,
        "notes": body.notes,
        "photo_ref": body.photo_ref,
        "lines": [x.model_dump() for x in body.lines],
    }


async def record_inspection(
    conn: Conn, principal: Principal, assignment_id: int, body: InspectionIn, now: datetime
) -> Row:
    """An inspection during one's own watch (an admin may record one at any time)."""
    a = await assignment(conn, assignment_id)
    me = await owned(conn, principal, a["estate"], a["volunteer_id"], "assignment")
    if principal.role is not Role.admin and not (
        a["starts_at"] - CHECK_IN_EARLY <= now <= a["ends_at"] + INSPECTION_LATE
    ):
        raise Conflict(
            "inspections are recorded during the watch or within "
            f"{INSPECTION_LATE.seconds // 3600} hours of its end"
        )
    recorder = me["id"] if me is not None and me["id"] == a["volunteer_id"] else a["volunteer_id"]
    inspection_id = await repo.insert_inspection(
        conn, assignment_id, recorder, _inspection_values(body)
    )
    return await inspection(conn, principal, inspection_id)


async def inspection(conn: Conn, principal: Principal, inspection_id: int) -> Row:
    """One inspection, for anyone who may see its estate."""
    row = await repo.get_inspection(conn, inspection_id)
    if row is None:
        raise NotFound(f"no inspection {inspection_id}")
    if not principal.may_see(row["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {row['estate']!r}")
    return row


async def edit_inspection(
    conn: Conn, principal: Principal, inspection_id: int, body: InspectionIn | None
) -> Row | None:
    """Replace (body) or delete (None) an inspection: its recorder or an admin only."""
    row = await inspection(conn, principal, inspection_id)
    await owned(conn, principal, row["estate"], row["volunteer_id"], "inspection")
    if body is None:
        await repo.delete_inspection(conn, inspection_id)
        return None
    await repo.update_inspection(conn, inspection_id, _inspection_values(body))
    return await inspection(conn, principal, inspection_id)


def _accuracy_row(r: Row | None) -> Row:
    inspected = int(r["inspected"]) if r else 0
    mis = int(r["mis_sorted"]) if r else 0
    return {
        "inspected": inspected,
        "passed": inspected - mis,
        "mis_sorted": mis,
        "re_sorted": int(r["re_sorted"]) if r else 0,
        "accuracy": ratio(inspected - mis, inspected),
        "inspections": int(r["inspections"]) if r else 0,
    }


async def estate_accuracy(conn: Conn, estate: str, start: date, end: date) -> Row:
    """The estate's totals only (inspected, passed, accuracy, …), for the figures."""
    counts = await repo.accuracy_counts(conn, estate, start, end)
    return _accuracy_row(counts["total"][0] if counts["total"] else None)


async def accuracy(conn: Conn, estate: str, start: date, end: date) -> Row:
    """Sorting accuracy (passed / inspected) of an estate, per category and building."""
    await registry.get_estate(conn, estate)
    counts = await repo.accuracy_counts(conn, estate, start, end)
    by_category = {r["key"]: r for r in counts["category"]}
    return {
        "estate": estate,
        "from": start,
        "to": end,
        **_accuracy_row(counts["total"][0] if counts["total"] else None),
        "by_category": {c: _accuracy_row(by_category.get(c)) for c in CATEGORIES},
        "by_building": [{"building": r["key"], **_accuracy_row(r)} for r in counts["building"]],
    }
