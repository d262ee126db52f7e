"""The committee's form of one room's watch slots (定时定点 windows per day type).

One line per slot: weekdays or weekends, start, end, overnight, volunteers per watch;
two blank lines to add slots, a Remove box to drop one. Saving replaces the room's
slots through `api.roster.service.set_room_specs` (the PUT watch-slots rules: no slot of
no length, no two slots of one day type that overlap; audited there). What the form
itself refuses (a missing or malformed time, an end before the start not marked
overnight, volunteers outside 1-20) comes back as messages with the lines as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ConnDep, EstatePath
from api.errors import ApiError, NotFound
from api.registry import repository as registry
from api.roster import service as roster
from api.roster.rotation import DayType, SlotSpec
from api.routes.volunteer_deps import RoomPath
from dashboards import common, layout, roster_words
from dashboards.roster_html import Committee, committee, committee_form, messages

router = APIRouter()

# Blank lines offered for new slots; lines a form may post at most.
NEW_LINES = 2
MAX_LINES = 60
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:00)?$")
DAY_TYPES: tuple[DayType, ...] = ("weekday", "weekend")


def slots_path(estate: str, room: str) -> str:
    """The form of a room's watch slots."""
    return f"/dashboards/estates/{estate}/roster/rooms/{room}/slots"


@dataclass(slots=True)
class Line:
    """One line of the form, as typed."""

    day: str = "weekday"
    start: str = ""
    end: str = ""
    overnight: bool = False
    needed: str = "1"
    remove: bool = False

    @classmethod
    def of(cls, spec: SlotSpec) -> Line:
        return cls(
            spec.day_type,
            f"{spec.start:%H:%M}",
            f"{spec.end:%H:%M}",
            spec.end <= spec.start,
            str(spec.needed),
        )

    def blank(self) -> bool:
        return not self.start.strip() and not self.end.strip()


def lines_of(form: Any) -> list[Line]:
    """The form's lines (at most MAX_LINES), as typed."""
    try:
        count = min(max(int(str(form.get("lines", "0"))), 0), MAX_LINES)
    except ValueError:
        count = 0

    def text(key: str, default: str = "") -> str:
        value = form.get(key)
        return value.strip()[:20] if isinstance(value, str) else default

    return [
        Line(
            text(f"days_{i}", "weekday"),
            text(f"start_{i}"),
            text(f"end_{i}"),
            text(f"overnight_{i}") == "1",
            text(f"needed_{i}", "1"),
            text(f"remove_{i}") == "1",
        )
        for i in range(count)
    ]


def specs_of(ctx: layout.Context, lines: list[Line]) -> tuple[list[SlotSpec], list[str]]:
    """The slots the lines say, and what is wrong with them (in the page's language);
    removed and blank lines are left out."""
    specs: list[SlotSpec] = []
    errors: list[str] = []
    for row, line in enumerate(lines, start=1):
        if line.remove or line.blank():
            continue
        if not (_CLOCK.match(line.start) and _CLOCK.match(line.end)):
            errors.append(ctx.t("slots.err.times", row=row))
            continue
        if line.day not in DAY_TYPES:
            errors.append(ctx.t("slots.err.days", row=row))
            continue
        try:
            needed = int(line.needed or "1")
        except ValueError:
            needed = 0
        if not 1 <= needed <= 20:
            errors.append(ctx.t("slots.err.needed", row=row))
            continue
        start, end = time.fromisoformat(line.start[:5]), time.fromisoformat(line.end[:5])
        if start == end:
            errors.append(ctx.t("slots.err.empty", row=row))
        elif end < start and not line.overnight:
            errors.append(ctx.t("slots.err.backwards", row=row))
        elif end > start and line.overnight:
            errors.append(ctx.t("slots.err.not_overnight", row=row))
        else:
            day: DayType = "weekend" if line.day == "weekend" else "weekday"
            specs.append(SlotSpec(day, start, end, needed))
    return specs, errors


def _line(ctx: layout.Context, i: int, line: Line, new: bool) -> str:
    days = "".join(
        f'<option value="{d}"{" selected" if line.day == d else ""}>'
        f"{ctx.t(f'roster.daytype.{d}')}</option>"
        for d in DAY_TYPES
    )

    def named(name: str) -> str:  # each field says its column to a screen reader
        return f'name="{name}_{i}" id="{name}_{i}" aria-label="{ctx.t(f"slots.col.{name}")}"'

    def box(name: str, on: bool) -> str:
        return f'<input type="checkbox" {named(name)} value="1"{" checked" if on else ""}>'

    def clock(name: str, value: str) -> str:
        return f'<input type="time" {named(name)} value="{escape(value)}">'

    label = ctx.t("slots.new") if new else str(i + 1)
    return (
        f'<tr data-line="{i}"><td>{escape(label)}</td>'
        f"<td><select {named('days')}>{days}</select></td>"
        f"<td>{clock('start', line.start)}</td><td>{clock('end', line.end)}</td>"
        f"<td>{box('overnight', line.overnight)}</td>"
        f'<td><input type="number" {named("needed")} min="1" max="20"'
        f' style="width:4em" value="{escape(line.needed)}"></td>'
        f"<td>{box('remove', line.remove)}</td></tr>"
    )


def _page(
    c: Committee,
    room: dict[str, Any],
    lines: list[Line],
    fresh: int,
    defaulted: bool,
    errors: list[str],
    month: str,
    status: int = 200,
) -> Response:
    ctx = c.ctx
    estate = str(c.estate["id"])
    heads = "".join(
        f"<th>{ctx.t(k)}</th>"
        for k in (
            "slots.col.days",
            "slots.col.start",
            "slots.col.end",
            "slots.col.overnight",
            "slots.col.needed",
            "slots.col.remove",
        )
    )
    rows = "".join(_line(ctx, i, line, i >= len(lines) - fresh) for i, line in enumerate(lines))
    note = f'<p class="note">{ctx.t("slots.estate")}</p>' if defaulted else ""
    back = f"/dashboards/estates/{estate}/roster" + (f"?month={month}" if month else "")
    body = (
        messages(ctx, errors)
        + f'<p>{ctx.t("slots.help")}</p>{note}<p class="note">{ctx.t("slots.future")}</p>'
        f'<form method="post" action="{escape(slots_path(estate, str(room["id"])))}"'
        f' id="slots-form">{common.csrf_field(ctx.request)}'
        f'<input type="hidden" name="lines" value="{len(lines)}">'
        f'<input type="hidden" name="month" value="{escape(month)}">'
        f'<div class="table scroll"><table><thead><tr><th>#</th>{heads}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
        f'<p><button type="submit" id="slots-save">{ctx.t("slots.save")}</button> '
        f'<a href="{escape(back)}">{ctx.t("slots.back")}</a></p></form>'
    )
    name = roster_words.room_label(str(room["id"]), room.get("name"))
    return layout.page(ctx, ctx.t("slots.title", room=name), body, status_code=status)


async def _room(conn: Any, estate: str, room: str) -> dict[str, Any] | None:
    try:
        return await registry.get_room(conn, estate, room)
    except NotFound:
        return None


def _month(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text if re.fullmatch(r"\d{4}-\d{2}", text) else ""


@router.get("/dashboards/estates/{estate}/roster/rooms/{room}/slots", include_in_schema=False)
async def slots_page(
    request: Request,
    estate: EstatePath,
    room: RoomPath,
    conn: ConnDep,
    month: Annotated[str | None, Query()] = None,
) -> Response:
    """A room's watch slots as a form (the estate's committee)."""
    c = await committee(request, conn, estate)
    if not isinstance(c, Committee):
        return c
    found = await _room(conn, estate, room)
    if found is None:
        return layout.page(
            c.ctx,
            c.ctx.t("error.title"),
            messages(c.ctx, [c.ctx.t("slots.no_room")]),
            status_code=404,
        )
    specs, defaulted = await roster.room_specs(conn, estate)
    lines = [Line.of(s) for s in specs.get(room, [])] + [Line() for _ in range(NEW_LINES)]
    return _page(c, found, lines, NEW_LINES, room in defaulted, [], _month(month))


@router.post("/dashboards/estates/{estate}/roster/rooms/{room}/slots", include_in_schema=False)
async def save_slots(
    request: Request, estate: EstatePath, room: RoomPath, conn: ConnDep
) -> Response:
    """Replace the room's watch slots with the form's; back to the roster on success."""
    c = await committee_form(request, conn, estate)
    if not isinstance(c, Committee):
        return c
    found = await _room(conn, estate, room)
    if found is None:
        return layout.page(
            c.ctx,
            c.ctx.t("error.title"),
            messages(c.ctx, [c.ctx.t("slots.no_room")]),
            status_code=404,
        )
    form = await request.form()
    lines = lines_of(form)
    month = _month(form.get("month"))
    specs, errors = specs_of(c.ctx, lines)
    if not errors:
        try:
            await roster.set_room_specs(conn, estate, room, specs)
        except roster.SlotsOverlap as exc:
            errors.append(
                c.ctx.t(
                    "slots.err.overlap",
                    days=roster_words.day_type(c.ctx.locale, exc.first.day_type),
                    a=roster_words.clock(exc.first.start, exc.first.end),
                    b=roster_words.clock(exc.second.start, exc.second.end),
                )
            )
        except ApiError as exc:
            errors.append(c.ctx.t("roster.err.other", detail=str(exc)))
    if errors:
        _, defaulted = await roster.room_specs(conn, estate)
        return _page(c, found, lines, 0, room in defaulted, errors, month, status=422)
    to = f"/dashboards/estates/{estate}/roster?" + (f"month={month}&" if month else "")
    return RedirectResponse(f"{to}done=slots&room={room}", status_code=303)
