"""The alarm banner: an estate's unresolved alarms as a coloured block at the top of a
page, in the visitor's language, with acknowledge and resolve buttons for the committee
(an admin of the estate) and an acknowledge button on a volunteer's phone page for the
volunteer on duty at that room now.

`render(ctx, alarms)` is the committee's fragment (buttons only when `ctx.committee`),
`render_volunteer(lang, csrf, alarms)` the phone's. The buttons are plain forms that
POST with the session's CSRF token to the routes below, which call the same service as
the JSON API (`api.alarms.service`: same rules, same audit records) and go back to the
page they came from. Pages pass the rows of `api.alarms.repository.list_alarms`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.alarms import repository as alarm_repo
from api.alarms import service
from api.deps import ConnDep, EstatePath
from api.errors import ApiError, Conflict
from api.routes.volunteer_deps import IdPath, Now
from dashboards import common, i18n, layout, session
from dashboards.common import Visitor
from dashboards.i18n import Locale
from dashboards.session import CSRF_FIELD, VOLUNTEER
from dashboards.volunteer_html import csrf_input

Row = dict[str, Any]
router = APIRouter(include_in_schema=False)
# Kinds that need someone at the bin now (red); the rest can wait for the round (amber).
URGENT = frozenset({"overflow", "odour", "temperature", "tilt", "fill_high"})
# The banner's own rules: the pages' style sheet is shared, the banner brings its own.
STYLE = (
    "<style>.alarm-banner{border-radius:8px;padding:10px 14px;margin:8px 0;"
    "border:2px solid #d97706;background:#fffbeb}"
    ".alarm-banner.urgent{border-color:#b91c1c;background:#fef2f2}"
    ".alarm-banner h2{margin:0 0 6px;font-size:1.1em}"
    ".alarm-banner ul{list-style:none;margin:0;padding:0}"
    ".alarm-banner li{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;"
    "padding:6px 0;border-top:1px solid #e5e7eb}"
    ".alarm-banner li.urgent .kind{color:#b91c1c}.alarm-banner .kind{font-weight:bold}"
    ".alarm-banner li.acknowledged{opacity:.75}"
    ".alarm-banner form{display:inline;margin:0}</style>"
)


def kind_word(locale: Locale, kind: str) -> str:
    """An alarm kind as a word (满溢, 离线, …)."""
    return i18n.t(locale, f"alarms.kind.{kind}")


def _facts(locale: Locale, a: Row, zone: ZoneInfo) -> str:
    if a.get("bin"):
        where = i18n.t(locale, "alarms.where.bin", room=a["room"], bin=a["bin"])
    else:
        where = i18n.t(locale, "alarms.where.room", room=a["room"])
    since = a["first_seen"].astimezone(zone).strftime("%m-%d %H:%M")
    parts = [where, i18n.t(locale, "alarms.since", time=since)]
    if int(a.get("repeats") or 1) > 1:
        parts.append(i18n.t(locale, "alarms.repeats", n=f"{int(a['repeats']):,}"))
    if a["state"] == "acknowledged" and a.get("acknowledged_by"):
        parts.append(i18n.t(locale, "alarms.acknowledged_by", who=a["acknowledged_by"]))
    return " · ".join(escape(p) for p in parts)


def _button(action: str, label: str, csrf: str, back: str, name: str) -> str:
    return (
        f'<form method="post" action="{escape(action)}">{csrf}'
        f'<input type="hidden" name="back" value="{escape(back)}">'
        f'<button type="submit" data-test="{escape(name)}">{escape(label)}</button></form>'
    )


def _banner(locale: Locale, alarms: Sequence[Row], zone: ZoneInfo, buttons: Any) -> str:
    shown = [a for a in alarms if a["state"] != "resolved"]
    if not shown:
        return ""
    urgent = any(a["kind"] in URGENT and a["state"] == "open" for a in shown)
    items = []
    for a in shown:
        cls = " ".join(c for c in ("urgent" if a["kind"] in URGENT else "", a["state"]) if c)
        items.append(
            f'<li class="{cls}" data-alarm="{int(a["id"])}">'
            f'<span class="kind">{escape(kind_word(locale, a["kind"]))}</span>'
            f"<span>{_facts(locale, a, zone)}</span>{buttons(a)}</li>"
        )
    title = i18n.t(locale, "alarms.count", n=len(shown))
    return (
        f'{STYLE}<section class="alarm-banner{" urgent" if urgent else ""}" role="alert"'
        f' aria-label="{escape(i18n.t(locale, "alarms.title"))}">'
        f"<h2>{escape(title)}</h2><ul>{''.join(items)}</ul></section>"
    )


def render(ctx: layout.Context, alarms: Sequence[Row]) -> str:
    """The estate's unresolved alarms as a banner ("" when there are none); with the
    committee's acknowledge and resolve buttons when `ctx.committee`."""
    zone = ZoneInfo(ctx.timezone)
    back = ctx.request.url.path + (f"?{ctx.request.url.query}" if ctx.request.url.query else "")

    def buttons(a: Row) -> str:
        if not ctx.committee:
            return ""
        csrf = common.csrf_field(ctx.request)
        base = f"/dashboards/estates/{a['estate']}/alarms/{int(a['id'])}"
        out = ""
        if a["state"] == "open":
            out += _button(
                f"{base}/acknowledge", ctx.t("alarms.acknowledge"), csrf, back, f"ack-{a['id']}"
            )
        out += _button(f"{base}/resolve", ctx.t("alarms.resolve"), csrf, back, f"resolve-{a['id']}")
        return out

    return _banner(ctx.locale, alarms, zone, buttons)


def render_volunteer(
    lang: Locale, csrf: str, alarms: Sequence[Row], timezone: str = "Asia/Shanghai"
) -> str:
    """The open alarms of the room a volunteer is on duty at, for the phone page, with
    an acknowledge button each (`csrf`: the volunteer session's form token)."""

    def buttons(a: Row) -> str:
        if a["state"] != "open":
            return ""
        return _button(
            f"/volunteer/alarms/{int(a['id'])}/acknowledge",
            i18n.t(lang, "alarms.acknowledge"),
            csrf_input(csrf),
            "/volunteer",
            f"ack-{a['id']}",
        )

    return _banner(lang, alarms, ZoneInfo(timezone), buttons)


def _back_to(form_back: object, estate: str) -> str:
    """Only back to one of this site's dashboards pages (never another site)."""
    default = f"/dashboards/estates/{estate}"
    if not isinstance(form_back, str):
        return default
    parts = urlsplit(form_back)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboards/"):
        return default
    return form_back


async def _committee_act(
    request: Request, conn: ConnDep, estate: str, alarm: int, act: str, now: Any
) -> Response:
    who = await common.committee(request, conn, estate)
    if not isinstance(who, Visitor):
        return who
    refused = await common.refused(request)
    if refused is not None:
        return refused
    row = await alarm_repo.get_alarm(conn, alarm)
    if row is None or row["estate"] != estate:
        return common.error_page(request, "alarms.err.not_found", 404)
    try:
        if act == "acknowledge":
            await service.acknowledge(conn, who.principal, alarm, now)
        else:
            await service.resolve(conn, who.principal, alarm, now)
    except Conflict:
        key = "alarms.err.not_open" if act == "acknowledge" else "alarms.err.resolved"
        return common.error_page(request, key, 409)
    form = await request.form()
    return RedirectResponse(_back_to(form.get("back"), estate), status_code=303)


@router.post("/dashboards/estates/{estate}/alarms/{alarm}/acknowledge")
async def committee_acknowledge(
    request: Request, estate: EstatePath, alarm: IdPath, conn: ConnDep, now: Now
) -> Response:
    """The committee acknowledges an alarm from the banner."""
    return await _committee_act(request, conn, estate, alarm, "acknowledge", now)


@router.post("/dashboards/estates/{estate}/alarms/{alarm}/resolve")
async def committee_resolve(
    request: Request, estate: EstatePath, alarm: IdPath, conn: ConnDep, now: Now
) -> Response:
    """The committee marks an alarm resolved from the banner."""
    return await _committee_act(request, conn, estate, alarm, "resolve", now)


@router.post("/volunteer/alarms/{alarm}/acknowledge")
async def volunteer_acknowledge(
    request: Request, alarm: IdPath, conn: ConnDep, now: Now
) -> Response:
    """The volunteer on duty at the alarm's room acknowledges it from the phone page."""
    lang: Locale = "en" if request.cookies.get(session.LANG_COOKIE) == "en" else "zh"
    found = await session.state(request, conn, VOLUNTEER)
    if found.principal is None:
        return RedirectResponse(VOLUNTEER.signin_path, status_code=303)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not session.form_allowed(request, VOLUNTEER, sent if isinstance(sent, str) else None):
        return common.error_page(request, "error.csrf", 403)
    try:
        await service.acknowledge(conn, found.principal, alarm, now)
    except ApiError as exc:
        key = {409: "alarms.err.not_open", 403: "alarms.err.not_on_duty"}.get(
            exc.status_code, "alarms.err.not_found"
        )
        return RedirectResponse(f"/volunteer?msg={quote(i18n.t(lang, key))}", status_code=303)
    msg = quote(i18n.t(lang, "alarms.done.acknowledged"))
    return RedirectResponse(f"/volunteer?msg={msg}", status_code=303)
