"""The committee's page of one watch of the roster: who holds its seats, and the forms
to put another volunteer in someone's place, take someone off, or add one.

The edits are `api.roster.edits` (the same as the admin JSON routes, audited there); a
refusal (unknown or inactive volunteer, already on the watch, double booking, ended
watch, checked-in seat) comes back as a message in the page's language with the
volunteer that was picked still picked.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ConnDep, EstatePath
from api.errors import ApiError, NotFound
from api.roster import edits
from api.routes.volunteer_deps import Now
from api.volunteers import repository as volunteers
from dashboards import common, i18n, layout, roster_words
from dashboards.roster_html import (
    Committee,
    committee,
    committee_form,
    day_label,
    messages,
    month_name,
    roster_path,
    volunteer_select,
)

router = APIRouter()

IdPath = Annotated[int, Path(ge=1, le=2**62)]
DONE = ("added", "replaced", "removed")


def shift_path(estate: str, shift: int) -> str:
    """The page of one watch."""
    return f"/dashboards/estates/{estate}/roster/shifts/{shift}"


def refusal(ctx: layout.Context, exc: ApiError) -> str:
    """What an edit's refusal says, in the page's language."""
    if isinstance(exc, edits.UnknownVolunteer):
        key = "shift.err.inactive" if exc.inactive else "shift.err.unknown"
        return ctx.t(key, id=exc.volunteer_id)
    if isinstance(exc, edits.AlreadyOnShift):
        return ctx.t("shift.err.already", name=exc.volunteer)
    if isinstance(exc, edits.DoubleBooked):
        held = exc.held
        return ctx.t(
            "shift.err.double",
            name=exc.volunteer,
            when=f"{day_label(ctx.locale, held['day'])} "
            + roster_words.clock(held["local_start"], held["local_end"]),
            room=roster_words.room_label(str(held["room"]), held["room_name"]),
        )
    if isinstance(exc, edits.WatchEnded):
        return ctx.t("shift.err.ended")
    if isinstance(exc, edits.CheckedIn):
        return ctx.t("shift.err.checked_in", name=exc.volunteer)
    if isinstance(exc, NotFound):
        return ctx.t("shift.err.gone")
    return ctx.t("roster.err.other", detail=str(exc))


def _form(ctx: layout.Context, action: str, inner: str, button: str, label: str) -> str:
    return (
        f'<form method="post" action="{escape(action)}" style="display:inline">'
        f"{common.csrf_field(ctx.request)}{inner}"
        f'<button type="submit" id="{button}">{escape(label)}</button></form>'
    )


async def _page(
    c: Committee,
    conn: Any,
    shift: dict[str, Any],
    now: datetime,
    errors: list[str],
    chosen: dict[str, str],
    done: str | None = None,
    status: int = 200,
) -> Response:
    ctx = c.ctx
    estate = str(c.estate["id"])
    tz = ZoneInfo(ctx.timezone)
    people = [v for v in await volunteers.list_volunteers(conn, estate) if v["active"]]
    base = shift_path(estate, int(shift["id"]))
    open_ = shift["ends_at"] > now
    what = ctx.t(
        "shift.what",
        day=day_label(ctx.locale, shift["day"]),
        times=roster_words.clock(shift["local_start"], shift["local_end"]),
        room=roster_words.room_label(str(shift["room"]), shift["room_name"]),
        needed=shift["needed"],
        held=len(shift["assignees"]),
    )
    rows = []
    for a in shift["assignees"]:
        aid = int(a["assignment_id"])
        stamp = a["checked_in_at"]
        checked = i18n.moment(ctx.locale, stamp.astimezone(tz)) if stamp else "–"
        actions = ""
        if open_ and stamp is None:
            pick = volunteer_select(
                ctx, "volunteer_id", people, chosen.get(f"seat-{aid}", ""), f"replace-{aid}"
            )
            actions = (
                _form(
                    ctx,
                    f"{base}/seats/{aid}/replace",
                    f'<label for="replace-{aid}">{ctx.t("shift.col.replace")}</label> {pick} ',
                    f"replace-submit-{aid}",
                    ctx.t("shift.replace"),
                )
                + " "
                + _form(
                    ctx, f"{base}/seats/{aid}/remove", "", f"remove-{aid}", ctx.t("shift.remove")
                )
            )
        rows.append(
            f'<tr data-assignment="{aid}"><td>{escape(str(a["name"]))} · #{a["volunteer_id"]}</td>'
            f"<td>{escape(checked)}</td><td>{actions}</td></tr>"
        )
    if rows:
        seats = (
            f'<div class="table scroll"><table id="seats"><thead><tr>'
            f"<th>{ctx.t('shift.col.volunteer')}</th><th>{ctx.t('shift.col.checked_in')}</th>"
            f"<th>{ctx.t('roster.col.action')}</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    else:
        seats = f'<p class="error" id="seats-none">{ctx.t("shift.none")}</p>'
    add = ""
    if open_:
        pick = volunteer_select(ctx, "volunteer_id", people, chosen.get("add", ""), "add-volunteer")
        add = f"<h2>{ctx.t('shift.add')}</h2>" + _form(
            ctx, f"{base}/add", f"{pick} ", "add-submit", ctx.t("shift.add.button")
        )
    else:
        add = f'<p class="note">{ctx.t("shift.ended")}</p>'
    first = shift["day"].replace(day=1)
    back = (
        f'<p><a id="back" href="{escape(roster_path(estate, first))}">'
        f"{escape(ctx.t('shift.back', month=month_name(ctx.locale, first)))}</a></p>"
    )
    body = messages(ctx, errors, done) + f'<p id="shift-what">{escape(what)}</p>{seats}{add}{back}'
    return layout.page(ctx, ctx.t("shift.title"), body, status_code=status)


async def _shift(conn: Any, estate: str, shift: int) -> dict[str, Any] | None:
    try:
        return await edits.shift_of(conn, estate, shift)
    except NotFound:
        return None


def _no_shift(c: Committee) -> Response:
    body = messages(c.ctx, [c.ctx.t("shift.err.no_shift")])
    return layout.page(c.ctx, c.ctx.t("shift.title"), body, status_code=404)


@router.get("/dashboards/estates/{estate}/roster/shifts/{shift}", include_in_schema=False)
async def shift_page(
    request: Request, estate: EstatePath, shift: IdPath, conn: ConnDep, now: Now
) -> Response:
    """One watch with its seats and the forms to change them (the estate's committee)."""
    c = await committee(request, conn, estate)
    if not isinstance(c, Committee):
        return c
    found = await _shift(conn, estate, shift)
    if found is None:
        return _no_shift(c)
    key = request.query_params.get("done")
    done = c.ctx.t(f"roster.done.{key}") if key in DONE else None
    return await _page(c, conn, found, now, [], {}, done)


def _picked(form: Any) -> tuple[str, int | None]:
    """The volunteer id the form picked, as typed and as a number (None if not one)."""
    value = form.get("volunteer_id")
    text = value.strip()[:20] if isinstance(value, str) else ""
    return text, int(text) if text.isdigit() and 0 < int(text) <= 2**62 else None


async def _edit(
    request: Request,
    conn: Any,
    estate: str,
    shift: int,
    now: datetime,
    slot: str,
    done: str,
    action: Any,
) -> Response:
    """Run one edit from a form: back to the watch's page, or its refusal on the page."""
    c = await committee_form(request, conn, estate)
    if not isinstance(c, Committee):
        return c
    found = await _shift(conn, estate, shift)
    if found is None:
        return _no_shift(c)
    text, volunteer = _picked(await request.form())
    if volunteer is None and done != "removed":
        return await _page(
            c, conn, found, now, [c.ctx.t("shift.err.choose")], {slot: text}, None, 422
        )
    try:
        await action(volunteer)
    except ApiError as exc:
        found = await _shift(conn, estate, shift) or found
        return await _page(
            c, conn, found, now, [refusal(c.ctx, exc)], {slot: text}, None, exc.status_code
        )
    return RedirectResponse(f"{shift_path(estate, shift)}?done={done}", status_code=303)


async def _seat_in(conn: Any, estate: str, shift: int, assignment: int) -> bool:
    found = await _shift(conn, estate, shift)
    return found is not None and any(a["assignment_id"] == assignment for a in found["assignees"])


@router.post("/dashboards/estates/{estate}/roster/shifts/{shift}/add", include_in_schema=False)
async def add_seat(
    request: Request, estate: EstatePath, shift: IdPath, conn: ConnDep, now: Now
) -> Response:
    """Put the picked volunteer on this watch."""

    async def run(volunteer: int) -> None:
        await edits.add_assignment(conn, estate, shift, volunteer, now)

    return await _edit(request, conn, estate, shift, now, "add", "added", run)


@router.post(
    "/dashboards/estates/{estate}/roster/shifts/{shift}/seats/{assignment}/replace",
    include_in_schema=False,
)
async def replace_seat(
    request: Request,
    estate: EstatePath,
    shift: IdPath,
    assignment: IdPath,
    conn: ConnDep,
    now: Now,
) -> Response:
    """Give this seat to the picked volunteer."""

    async def run(volunteer: int) -> None:
        if not await _seat_in(conn, estate, shift, assignment):
            raise NotFound(f"no assignment {assignment} on shift {shift}")
        await edits.replace_assignment(conn, estate, assignment, volunteer, now)

    return await _edit(request, conn, estate, shift, now, f"seat-{assignment}", "replaced", run)


@router.post(
    "/dashboards/estates/{estate}/roster/shifts/{shift}/seats/{assignment}/remove",
    include_in_schema=False,
)
async def remove_seat(
    request: Request,
    estate: EstatePath,
    shift: IdPath,
    assignment: IdPath,
    conn: ConnDep,
    now: Now,
) -> Response:
    """Take this seat's volunteer off the watch."""

    async def run(_: int | None) -> None:
        if not await _seat_in(conn, estate, shift, assignment):
            raise NotFound(f"no assignment {assignment} on shift {shift}")
        await edits.remove_assignment(conn, estate, assignment, now)

    return await _edit(request, conn, estate, shift, now, "remove", "removed", run)
