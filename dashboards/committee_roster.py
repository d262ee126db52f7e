"""The committee's roster of a month: each room's watch slots, generating and publishing
the month, the month's watches per day, room and slot with their volunteers (each watch
links to its page, where one seat is changed: `committee_shift`), the watches short of
volunteers, and the busy slots that need more, said in words (`roster_words`).

`/dashboards/estates/{estate}/roster?month=YYYY-MM` (the estate's admin, its committee).
Publishing is the API's POST roster: the watches exist, and volunteers see them, from
that moment; there are no drafts. A month that has a roster is generated again only
when the form says so (the API's `replace`): the watches not started yet are replaced,
the ones started stay. The slots form is `committee_slots`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from html import escape
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ConnDep, EstatePath
from api.errors import ApiError, Conflict, Invalid
from api.registry import repository as registry
from api.roster import service as roster
from api.routes.volunteer_deps import Now
from api.shifts import repository as shifts
from api.volunteers import repository as volunteers
from dashboards import committee_shift, committee_slots, common, layout, roster_words
from dashboards.roster_html import (
    Committee,
    committee,
    committee_form,
    day_label,
    messages,
    month_name,
    month_of,
    roster_path,
)

router = APIRouter()
router.include_router(committee_slots.router)
router.include_router(committee_shift.router)


def _int(request: Request, key: str) -> int | None:
    value = request.query_params.get(key, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


def _done(c: Committee, request: Request) -> str | None:
    """The note after a change that redirected here (what `?done=` names)."""
    key = request.query_params.get("done")
    if key == "slots":
        room = request.query_params.get("room", "")[:64]
        return c.ctx.t("roster.done.slots", room=room)
    if key == "generated":
        counts = {k: _int(request, k) for k in ("shifts", "filled", "seats", "uncovered")}
        if all(v is not None for v in counts.values()):
            return c.ctx.t("roster.done.generated", **counts)
    return None


def _month_picker(c: Committee, first: date) -> str:
    ctx = c.ctx
    estate = str(c.estate["id"])
    links = ""
    # The calendar's first and last months have no month before or after them.
    if (first.year, first.month) > (1, 1):
        prev = (first - timedelta(days=1)).replace(day=1)
        links += (
            f'<a href="{escape(roster_path(estate, prev))}" id="prev">{ctx.t("roster.prev")}</a>'
        )
    if (first.year, first.month) < (9999, 12):
        nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        links += (
            f'<a href="{escape(roster_path(estate, nxt))}" id="next">{ctx.t("roster.next")}</a>'
        )
    return (
        f'<form class="picker" method="get" action="{escape(roster_path(estate))}">'
        f'<label>{ctx.t("roster.month")} <input type="month" name="month" id="month"'
        f' value="{first:%Y-%m}"></label>'
        f'<button type="submit" id="month-show">{ctx.t("roster.show")}</button>'
        f"{links}</form>"
    )


def _slots_section(
    c: Committee,
    specs: dict[str, list[Any]],
    defaulted: set[str],
    names: dict[str, str | None],
    first: date,
) -> str:
    ctx = c.ctx
    estate = str(c.estate["id"])
    rows = []
    for room, room_specs in specs.items():
        listed = "；".join(
            f"{roster_words.day_type(ctx.locale, s.day_type)} "
            f"{roster_words.clock(s.start, s.end)} {ctx.t('roster.needed_n', n=s.needed)}"
            for s in room_specs
        ) or ctx.t("roster.slots.none")
        source = ctx.t("roster.slots.estate" if room in defaulted else "roster.slots.own")
        edit = f"{committee_slots.slots_path(estate, room)}?month={first:%Y-%m}"
        rows.append(
            f'<tr data-room="{escape(room)}">'
            f"<td>{escape(roster_words.room_label(room, names.get(room)))}</td>"
            f"<td>{escape(listed)}</td><td>{escape(source)}</td>"
            f'<td><a href="{escape(edit)}" id="slots-{escape(room)}">{ctx.t("roster.slots.edit")}'
            f"</a></td></tr>"
        )
    heads = "".join(
        f"<th>{ctx.t(k)}</th>"
        for k in ("roster.col.room", "roster.col.slots", "roster.col.source", "roster.col.action")
    )
    return (
        f'<div class="table" id="slots"><h2>{ctx.t("roster.slots")}</h2>'
        f'<p class="note">{ctx.t("roster.slots.help")}</p><div class="scroll"><table>'
        f"<thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></div>"
    )


def _publish_section(c: Committee, first: date, held: int, replace: bool) -> str:
    ctx = c.ctx
    estate = str(c.estate["id"])
    month = month_name(ctx.locale, first)
    if held:
        text = ctx.t("roster.publish.has", month=month, n=held)
        tick = (
            f'<label><input type="checkbox" name="replace" value="1" id="replace"'
            f"{' checked' if replace else ''}> {ctx.t('roster.publish.confirm')}</label> "
        )
        button = ctx.t("roster.publish.again")
    else:
        text, tick = ctx.t("roster.publish.none", month=month), ""
        button = ctx.t("roster.publish.button", month=month)
    return (
        f'<div class="table" id="publish"><h2>{ctx.t("roster.publish")}</h2><p>{escape(text)}</p>'
        f'<form method="post" action="{escape(roster_path(estate))}/generate">'
        f"{common.csrf_field(ctx.request)}"
        f'<input type="hidden" name="month" value="{first:%Y-%m}">{tick}'
        f'<button type="submit" id="publish-submit">{escape(button)}</button></form></div>'
    )


def _shares(c: Committee, people: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """Watches per volunteer this month: the active ones (also with none) and anyone
    else holding a watch, most first."""
    ctx = c.ctx
    held: dict[int, int] = {}
    names = {int(v["id"]): str(v["name"]) for v in people if v["active"]}
    for s in rows:
        for a in s["assignees"]:
            held[int(a["volunteer_id"])] = held.get(int(a["volunteer_id"]), 0) + 1
            names.setdefault(int(a["volunteer_id"]), str(a["name"]))
    order = sorted(names, key=lambda v: (-held.get(v, 0), v))
    body = "".join(
        f'<tr data-volunteer="{v}"><td>{escape(names[v])} · #{v}</td>'
        f'<td class="num">{held.get(v, 0)}</td></tr>'
        for v in order
    )
    return (
        f'<div class="table" id="shares"><h2>{ctx.t("roster.shares")}</h2><div class="scroll">'
        f"<table><thead><tr><th>{ctx.t('shift.col.volunteer')}</th>"
        f"<th>{ctx.t('roster.col.shifts')}</th></tr></thead><tbody>{body}</tbody></table></div>"
        f"</div>"
    )


def _shift_cells(c: Committee, s: dict[str, Any]) -> str:
    ctx = c.ctx
    names = ", ".join(str(a["name"]) for a in s["assignees"]) or ctx.t("roster.nobody")
    short = int(s["needed"]) - len(s["assignees"])
    flag = (
        f' <strong class="error">{ctx.t("roster.short_n", n=short)}</strong>' if short > 0 else ""
    )
    link = committee_shift.shift_path(str(c.estate["id"]), int(s["id"]))
    return (
        f"<td>{escape(day_label(ctx.locale, s['day']))}</td>"
        f"<td>{escape(roster_words.room_label(str(s['room']), s['room_name']))}</td>"
        f"<td>{roster_words.clock(s['local_start'], s['local_end'])}</td>"
        f'<td class="num">{s["needed"]}</td><td>{escape(names)}{flag}</td>'
        f'<td><a href="{escape(link)}" data-edit="{s["id"]}">{ctx.t("roster.edit")}</a></td>'
    )


def _shift_table(c: Committee, rows: list[dict[str, Any]], table_id: str) -> str:
    ctx = c.ctx
    heads = "".join(
        f"<th>{ctx.t(k)}</th>"
        for k in (
            "roster.col.day",
            "roster.col.room",
            "roster.col.time",
            "roster.col.needed",
            "roster.col.volunteers",
            "roster.col.action",
        )
    )
    body = "".join(
        f'<tr data-shift="{s["id"]}"{" data-uncovered" if s["uncovered"] else ""}>'
        f"{_shift_cells(c, s)}</tr>"
        for s in rows
    )
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


async def _page(
    c: Committee,
    conn: Any,
    first: date,
    last: date,
    now: datetime,
    errors: list[str],
    done: str | None = None,
    replace: bool = False,
    status: int = 200,
) -> Response:
    ctx = c.ctx
    estate = str(c.estate["id"])
    title = f"{ctx.t('roster.title')} · {c.estate['name']}"
    head = _month_picker(c, first) + messages(ctx, errors, done)
    try:
        common.period_rules(ctx.request).check(first, last)
    except Invalid:
        errors = [*errors, ctx.t("roster.err.period", month=month_name(ctx.locale, first))]
        body = _month_picker(c, first) + messages(ctx, errors, done)
        return layout.page(ctx, title, body, status_code=422 if status == 200 else status)
    specs, defaulted = await roster.room_specs(conn, estate)
    names = {r["id"]: r["name"] for r in await registry.list_rooms(conn, estate)}
    month_shifts = await shifts.shifts_between(conn, estate, first, last)
    watch = await roster.watch_coverage(conn, estate, first, last, now)
    uncovered = [s for s in month_shifts if s["uncovered"]]
    month = month_name(ctx.locale, first)
    weeks, per = roster.LOOKBACK_WEEKS, roster.DROPS_PER_VOLUNTEER
    help_ = ctx.t("roster.suggestions.help", weeks=weeks, n=per)
    parts = [
        head,
        _slots_section(c, specs, defaulted, names, first),
        _publish_section(c, first, len(month_shifts), replace),
        f'<p id="summary"><strong>'
        f"{ctx.t('roster.summary', shifts=len(month_shifts), uncovered=len(uncovered))}"
        f"</strong></p>",
        f'<div class="table" id="uncovered"><h2>{ctx.t("roster.uncovered")}</h2>',
        _shift_table(c, uncovered, "uncovered-table")
        if uncovered
        else f'<p class="note">{ctx.t("roster.uncovered.none")}</p>',
        "</div>",
        f'<div class="table" id="suggestions"><h2>{ctx.t("roster.suggestions")}</h2>'
        f'<p class="note">{help_}</p>',
    ]
    if watch["suggestions"]:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>{escape(roster_words.suggestion(ctx.locale, s))}</li>"
                for s in watch["suggestions"]
            )
            + "</ul>"
        )
    else:
        parts.append(f'<p class="note">{ctx.t("roster.suggestions.none")}</p>')
    parts.append("</div>")
    parts.append(_shares(c, await volunteers.list_volunteers(conn, estate), month_shifts))
    parts.append(f'<div class="table" id="month"><h2>{ctx.t("roster.table", month=month)}</h2>')
    parts.append(
        _shift_table(c, month_shifts, "roster-table")
        if month_shifts
        else f'<p class="note">{ctx.t("roster.table.none")}</p>'
    )
    parts.append("</div>")
    return layout.page(ctx, title, "".join(parts), status_code=status)


def _today(c: Committee, now: datetime) -> date:
    return now.astimezone(ZoneInfo(c.ctx.timezone)).date()


@router.get("/dashboards/estates/{estate}/roster", include_in_schema=False)
async def roster_page(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    now: Now,
    month: Annotated[str | None, Query()] = None,
) -> Response:
    """The month's roster with its slots, publishing, uncovered watches and suggestions."""
    c = await committee(request, conn, estate)
    if not isinstance(c, Committee):
        return c
    today = _today(c, now)
    bounds = month_of(month, today)
    if bounds is None:
        first, last = month_of(None, today) or roster.month_bounds(f"{today:%Y-%m}")
        return await _page(c, conn, first, last, now, [c.ctx.t("roster.err.month")], status=422)
    return await _page(c, conn, *bounds, now, [], _done(c, request))


@router.post("/dashboards/estates/{estate}/roster/generate", include_in_schema=False)
async def generate(request: Request, estate: EstatePath, conn: ConnDep, now: Now) -> Response:
    """Generate and publish the month's roster (the API's POST roster, `replace` when the
    form's box is ticked); back to the month with what it did."""
    c = await committee_form(request, conn, estate)
    if not isinstance(c, Committee):
        return c
    form = await request.form()
    value = form.get("month")
    replace = form.get("replace") == "1"
    today = _today(c, now)
    bounds = month_of(value if isinstance(value, str) else "", today)
    if bounds is None:
        first, last = roster.month_bounds(f"{today:%Y-%m}")
        return await _page(c, conn, first, last, now, [c.ctx.t("roster.err.month")], status=422)
    first, last = bounds
    label = month_name(c.ctx.locale, first)
    rules = common.period_rules(request)
    try:
        rules.check_day(first, "month")
        rules.check_day(last, "month")
    except Invalid:
        return await _page(
            c, conn, first, last, now, [c.ctx.t("roster.err.period", month=label)], status=422
        )
    if not await registry.list_rooms(conn, estate):
        return await _page(c, conn, first, last, now, [c.ctx.t("roster.err.no_rooms")], status=422)
    try:
        made = await roster.generate_roster(conn, estate, f"{first:%Y-%m}", replace, now)
    except Conflict:
        error = c.ctx.t("roster.err.exists", month=label)
        return await _page(c, conn, first, last, now, [error], replace=replace, status=409)
    except ApiError as exc:
        error = c.ctx.t("roster.err.other", detail=str(exc))
        return await _page(
            c, conn, first, last, now, [error], replace=replace, status=exc.status_code
        )
    counts = (
        f"shifts={made['shifts']}&filled={made['filled']}&seats={made['seats']}"
        f"&uncovered={made['uncovered_shifts']}"
    )
    return RedirectResponse(
        f"{roster_path(estate, first)}&done=generated&{counts}", status_code=303
    )
