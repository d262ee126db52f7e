"""Volunteer pages for a phone: next shifts, who is on duty, one-tap check-in, an
inspection in a few taps, swaps; and the committee's roster with uncovered watches.

Server-rendered HTML with plain forms and no JavaScript. Signing in with the token opens
a server-side session (`dashboards.session`, area "volunteer"): its cookie
(`fenlei_volunteer`, HttpOnly, SameSite=Strict, path /volunteer) holds a random id, never
the token, and lasts FENLEI_VOLUNTEER_SESSION_MAX_AGE_S; signing out ends it on the
server, and revoking the token ends it too. Every form carries the session's CSRF token.
The pages call the same service functions as the JSON API with the same rules.
`?lang=en` switches to English (kept in a `fenlei_lang` cookie); zh-CN is the default.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.alarms import repository as alarm_repo
from api.auth.repository import find_principal
from api.auth.tokens import Principal, Role
from api.deps import ConnDep
from api.errors import ApiError, Forbidden, Invalid, NotFound
from api.inspections import service as inspection_service
from api.inspections.schemas import InspectionIn
from api.metrics.definitions import CATEGORIES
from api.registry import repository as registry
from api.roster import service as roster_service
from api.routes.calendar import calendar_url
from api.routes.volunteer_deps import Now
from api.shifts import repository as shift_repo
from api.shifts import service as shift_service
from api.swaps import repository as swap_repo
from api.swaps import service as swap_service
from api.volunteers import repository as volunteer_repo
from dashboards import alarm_banner, form_errors, i18n, roster_words, session
from dashboards.session import CSRF_FIELD, VOLUNTEER
from dashboards.settings import get_dashboard_settings
from dashboards.volunteer_html import CATEGORY_NAMES, Lang, button, csrf_input, page, t, when

pages_router = APIRouter(prefix="/volunteer", include_in_schema=False)

# Before sessions the cookie held the bearer token itself: removed wherever it is seen.
LEGACY_TOKEN_COOKIE = "fenlei_token"
LANG_COOKIE = session.LANG_COOKIE
SHOW_DAYS = 14
SHOW_SHIFTS = 10
# The phone page lists at most this many open alarms of the rooms I am on duty at.
BANNER_ALARMS = 10
ESTATE_ID = re.compile(r"[a-z0-9-]{1,64}")
MONTH = re.compile(r"\d{4}-\d{2}")


def _lang(request: Request) -> Lang:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if wanted == "en" else "zh"


def _forget_legacy(request: Request, response: Response) -> None:
    if LEGACY_TOKEN_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_TOKEN_COOKIE, path=VOLUNTEER.path)


def _html(request: Request, text: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(text, status_code=status)
    if "lang" in request.query_params:
        session.set_cookie(
            response,
            get_dashboard_settings(request),
            LANG_COOKIE,
            _lang(request),
            max_age=session.LANG_MAX_AGE_S,
            path=VOLUNTEER.path,
            samesite="strict",
        )
    _forget_legacy(request, response)
    return response


def _refused(request: Request) -> HTMLResponse:
    """A form without this session's CSRF token, or from another site: nothing done."""
    lang = _lang(request)
    back = f'<p><a class="btn alt" href="/volunteer">{t(lang, "back")}</a></p>'
    return _html(request, page(lang, t(lang, "title"), back, message=t(lang, "csrf")), 403)


def _back(message: str, to: str = "/volunteer") -> RedirectResponse:
    return RedirectResponse(f"{to}?msg={quote(message)}", status_code=303)


async def _principal(request: Request, conn: ConnDep) -> Principal | None:
    found = await session.state(request, conn, VOLUNTEER)
    # Kept for `_to_login`: a session whose token was revoked says so at sign-in.
    request.state.volunteer_ended = found.ended
    return found.principal


def _to_login(request: Request) -> RedirectResponse:
    """To sign in; when the phone's session ended (its token revoked or expired), the
    sign-in page says why."""
    response = RedirectResponse("/volunteer/login", status_code=303)
    ended = getattr(request.state, "volunteer_ended", None)
    session.tell_signin(request, response, VOLUNTEER, ended)
    _forget_legacy(request, response)
    return response


CookiePrincipal = Annotated[Principal | None, Depends(_principal)]


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (no multipart dependency for a handful of fields)."""
    fields = parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)
    return {k: v[-1].strip() for k, v in fields.items()}


# --- signing in ---------------------------------------------------------------------


_WHY = {"token": "signin.why.token", "session": "signin.why.session"}


def _login_form(request: Request, message: str | None, status: int = 200) -> HTMLResponse:
    lang = _lang(request)
    csrf = session.signin_form(request, VOLUNTEER)
    ended = session.signin_reason(request) if message is None else None
    if ended is not None:
        message = i18n.t(lang, _WHY[ended])
    body = (
        f'<div class="card"><form method="post" action="/volunteer/login">'
        f"{csrf_input(csrf.token)}"
        f'<label for="token">{t(lang, "token")}</label>'
        '<input id="token" name="token" autocomplete="off" required>'
        f'<p><button data-test="login">{t(lang, "login")}</button></p></form>'
        f'<p class="muted" id="login-help">{i18n.t(lang, "vsignin.help")}</p></div>'
    )
    response = _html(request, page(lang, t(lang, "title"), body, message=message), status)
    session.keep_signin_form(request, response, VOLUNTEER, csrf)
    session.forget_signin_reason(request, response, VOLUNTEER)
    return response


@pages_router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, msg: str | None = None) -> HTMLResponse:
    """The sign-in form: paste the token the committee handed out."""
    return _login_form(request, msg)


@pages_router.post("/login")
async def login(request: Request, conn: ConnDep) -> Response:
    """Check the form and the token; open a session whose cookie is not the token."""
    form = await _form(request)
    if not session.signin_allowed(request, VOLUNTEER, form.get(CSRF_FIELD)):
        return _login_form(request, t(_lang(request), "login_expired"), 403)
    token = form.get("token", "")
    principal = await find_principal(conn, token) if token else None
    if principal is None:
        # The form again, saying why (the token is a secret: not written back into it).
        return _login_form(request, i18n.t(_lang(request), "vsignin.bad"), 401)
    response = RedirectResponse("/volunteer", status_code=303)
    await session.start(request, conn, response, VOLUNTEER, principal.token_id)
    _forget_legacy(request, response)
    return response


@pages_router.post("/logout")
async def logout(request: Request, conn: ConnDep) -> Response:
    """Sign this phone out: the session ends on the server, so a copy of the cookie is
    useless too."""
    if request.cookies.get(VOLUNTEER.cookie) and not session.form_allowed(
        request, VOLUNTEER, (await _form(request)).get(CSRF_FIELD)
    ):
        return _refused(request)
    response = RedirectResponse("/volunteer/login", status_code=303)
    await session.end(request, conn, response, VOLUNTEER)
    _forget_legacy(request, response)
    return response


# --- the volunteer's home -------------------------------------------------------------


def _shift_card(
    lang: Lang, csrf: str, s: dict[str, Any], me: int, now: datetime, offered: set[int]
) -> str:
    mine = next(a for a in s["assignees"] if a["volunteer_id"] == me)
    aid = mine["assignment_id"]
    others = ", ".join(escape(a["name"]) for a in s["assignees"] if a["volunteer_id"] != me)
    actions = []
    near = s["starts_at"] - shift_service.CHECK_IN_EARLY <= now <= s["ends_at"]
    if mine["checked_in_at"] is None and near:
        actions.append(
            button(
                f"/volunteer/assignments/{aid}/check-in",
                t(lang, "check_in"),
                csrf=csrf,
                name=f"check-in-{aid}",
            )
        )
    elif mine["checked_in_at"] is not None and mine["checked_out_at"] is None:
        actions.append(
            button(
                f"/volunteer/assignments/{aid}/check-out",
                t(lang, "check_out"),
                csrf=csrf,
                alt=True,
                name=f"check-out-{aid}",
            )
        )
    if mine["checked_in_at"] is not None or near:
        actions.append(
            f'<a class="btn alt" data-test="inspect-{aid}" '
            f'href="/volunteer/inspect/{aid}">{t(lang, "inspect")}</a>'
        )
    if s["starts_at"] > now:
        actions.append(
            f'<span class="muted">{t(lang, "offered")}</span>'
            if aid in offered
            else button(
                f"/volunteer/assignments/{aid}/swap",
                t(lang, "offer"),
                csrf=csrf,
                alt=True,
                name=f"offer-{aid}",
            )
        )
    state = ""
    if mine["checked_out_at"] is not None:
        state = f"{t(lang, 'checked_out')} {mine['checked_out_at']:%H:%M}"
    elif mine["checked_in_at"] is not None:
        state = f"{t(lang, 'checked_in')}"
    return (
        f'<div class="card" data-test="shift-{s["id"]}"><b>'
        f"{when(lang, s['day'], s['local_start'], s['local_end'])}</b> · "
        f'{escape(s["room_name"] or s["room"])}<div class="muted">{escape(state)}'
        f"{' · ' + others if others else ''}</div>"
        f'<div class="row">{"".join(actions)}</div></div>'
    )


@pages_router.get("", response_class=HTMLResponse, response_model=None)
async def home(
    request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now, msg: str | None = None
) -> Response:
    """My next shifts, who is on duty at each room now, and offers I can take."""
    lang = _lang(request)
    if principal is None:
        return _to_login(request)
    csrf = session.form_token(request, VOLUNTEER)
    me = await volunteer_repo.volunteer_of_token(conn, principal.token_id)
    if me is None:
        if principal.role is not Role.volunteer:
            return RedirectResponse("/volunteer/roster", status_code=303)
        return _html(
            request,
            page(
                lang,
                t(lang, "title"),
                "",
                csrf=csrf,
                message=i18n.t(lang, "vsignin.not_linked"),
            ),
            403,
        )
    estate = me["estate"]
    shifts = (
        await shift_repo.volunteer_shifts(conn, me["id"], now, now + timedelta(days=SHOW_DAYS))
    )[:SHOW_SHIFTS]
    swaps = await swap_repo.list_swaps(conn, estate, "open", now)
    offered = {w["assignment_id"] for w in swaps if w["offered_by"] == me["id"]}
    cards = "".join(_shift_card(lang, csrf, s, me["id"], now, offered) for s in shifts)
    parts = [
        f"<p>{t(lang, 'hello')}，{escape(me['name'])}</p>",
        f"<h2>{t(lang, 'my_shifts')}</h2>",
        cards or f'<p class="muted">{t(lang, "no_shifts")}</p>',
        f"<h2>{t(lang, 'on_duty')}</h2>",
    ]
    duty_rooms: set[str] = set()
    for room in await registry.list_rooms(conn, estate):
        on_duty = [
            a
            for s in await shift_repo.shifts_at(conn, estate, room["id"], now)
            for a in s["assignees"]
        ]
        if any(a["volunteer_id"] == me["id"] for a in on_duty):
            duty_rooms.add(room["id"])
        names = [a["name"] + (" ✓" if a["checked_in_at"] else "") for a in on_duty]
        parts.append(
            f'<div class="card" data-test="room-{escape(room["id"])}">'
            f"<b>{escape(room['name'] or room['id'])}</b>: "
            + (
                escape(", ".join(names))
                if names
                else f'<span class="muted">{t(lang, "nobody")}</span>'
            )
            + "</div>"
        )
    if duty_rooms:
        # The open alarms of the rooms I am on duty at now, first on the page.
        alarms = [
            a
            for a in await alarm_repo.list_alarms(conn, estate, ("open",), BANNER_ALARMS)
            if a["room"] in duty_rooms
        ]
        (found,) = await registry.list_estates(conn, [estate])
        parts.insert(1, alarm_banner.render_volunteer(lang, csrf, alarms, found["timezone"]))
    parts.append(f"<h2>{t(lang, 'swaps')}</h2>")
    takeable = [w for w in swaps if w["offered_by"] != me["id"]]
    for w in takeable:
        shift = await shift_repo.get_shift(conn, w["shift_id"])
        assert shift is not None
        slot = when(lang, shift["day"], shift["local_start"], shift["local_end"])
        parts.append(
            f'<div class="card"><b>{slot}'
            f'</b> · {escape(shift["room_name"] or shift["room"])}<div class="muted">'
            f"{t(lang, 'from')}: {escape(w['offered_by_name'])} {escape(w['note'] or '')}</div>"
            + button(
                f"/volunteer/swaps/{w['id']}/accept",
                t(lang, "take"),
                csrf=csrf,
                name=f"take-{w['id']}",
            )
            + "</div>"
        )
    if not takeable:
        parts.append(f'<p class="muted">{t(lang, "no_swaps")}</p>')
    parts.append(
        f'<p><a href="{escape(calendar_url(request, me["calendar_key"]))}">'
        f"📅 {t(lang, 'calendar')}</a></p>"
    )
    return _html(request, page(lang, t(lang, "title"), "".join(parts), csrf=csrf, message=msg))


def _double_booked(lang: Lang, exc: swap_service.DoubleBooked) -> str:
    """A refused swap that would double-book its taker, in the page's language."""
    held, wanted = exc.held, exc.wanted
    return t(lang, "double_booked").format(
        name=exc.volunteer,
        held=when(lang, held["day"], held["local_start"], held["local_end"]),
        held_room=held["room_name"] or held["room"],
        wanted=when(lang, wanted["day"], wanted["local_start"], wanted["local_end"]),
        room=wanted["room_name"] or wanted["room"],
    )


async def _act(
    request: Request,
    principal: Principal | None,
    action: Callable[[Principal], Awaitable[Any]],
    form: dict[str, str] | None = None,
) -> Response:
    """Do `action` for the signed-in volunteer when the form is this session's."""
    lang = _lang(request)
    if principal is None:
        return _to_login(request)
    if form is None:
        form = await _form(request)
    if not session.form_allowed(request, VOLUNTEER, form.get(CSRF_FIELD)):
        return _refused(request)
    try:
        await action(principal)
    except swap_service.DoubleBooked as exc:
        return _back(_double_booked(lang, exc))
    except ApiError as exc:
        return _back(form_errors.service_message(lang, exc))
    return _back(t(lang, "saved"))


@pages_router.post("/assignments/{assignment}/check-in")
async def check_in(
    assignment: int, request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now
) -> Response:
    """One tap: check in to my watch."""
    return await _act(
        request, principal, lambda p: shift_service.check(conn, p, assignment, "in", now)
    )


@pages_router.post("/assignments/{assignment}/check-out")
async def check_out(
    assignment: int, request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now
) -> Response:
    """One tap: check out of my watch."""
    return await _act(
        request, principal, lambda p: shift_service.check(conn, p, assignment, "out", now)
    )


@pages_router.post("/assignments/{assignment}/swap")
async def offer_swap(
    assignment: int, request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now
) -> Response:
    """Offer my watch to the others."""
    return await _act(
        request, principal, lambda p: swap_service.offer_swap(conn, p, assignment, None, now)
    )


@pages_router.post("/swaps/{swap}/accept")
async def accept_swap(
    swap: int, request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now
) -> Response:
    """Take someone's offered watch."""
    return await _act(request, principal, lambda p: swap_service.accept_swap(conn, p, swap, now))


# --- recording an inspection ------------------------------------------------------------

COUNTS = ("checked", "mis_sorted", "re_sorted")
TEXTS = ("building", "notes", "photo_ref")
_TEXT_WORDS = {"building": "building", "notes": "notes", "photo_ref": "photo"}


def _inspection_form(
    request: Request,
    assignment: int,
    values: dict[str, str],
    problems: list[form_errors.Problem] | None = None,
    marked: set[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The inspection form holding `values` (what was typed, when it was refused), with
    the refusal's sentences above it and its refused inputs marked."""
    lang = _lang(request)
    marked = marked or set()

    def invalid(name: str) -> str:
        return ' aria-invalid="true" class="invalid"' if name in marked else ""

    rows = "".join(
        f"<tr><th>{CATEGORY_NAMES[lang][c]}</th>"
        + "".join(
            f'<td><input type="number" inputmode="numeric" min="0" '
            f'value="{escape(values.get(f"{c}_{k}", "0"))}" name="{c}_{k}" '
            f'aria-label="{CATEGORY_NAMES[lang][c]} {t(lang, k)}"{invalid(f"{c}_{k}")}></td>'
            for k in COUNTS
        )
        + "</tr>"
        for c in CATEGORIES
    )
    texts = "".join(
        f"<label>{t(lang, _TEXT_WORDS[name])}"
        + (
            f'<textarea name="notes" rows="2"{invalid(name)}>{escape(values.get(name, ""))}'
            "</textarea>"
            if name == "notes"
            else f'<input name="{name}" value="{escape(values.get(name, ""))}"{invalid(name)}>'
        )
        + "</label>"
        for name in TEXTS
    )
    shown = ""
    if problems:
        items = "".join(f"<li>{escape(p.message)}</li>" for p in problems)
        shown = (
            f'<div class="msg error" role="alert" id="form-errors">'
            f"{i18n.t(lang, 'form.invalid')}<ul>{items}</ul></div>"
        )
    csrf = session.form_token(request, VOLUNTEER)
    body = (
        f'{shown}<form class="card" method="post" action="/volunteer/inspect/{assignment}">'
        f"{csrf_input(csrf)}"
        f'<div class="scroll"><table class="counts"><tr><th></th><th>{t(lang, "checked")}</th>'
        f"<th>{t(lang, 'mis_sorted')}</th><th>{t(lang, 're_sorted')}</th></tr>{rows}</table>"
        f"</div>{texts}"
        f'<p class="row"><button data-test="save">{t(lang, "save")}</button>'
        f'<a class="btn alt" href="/volunteer">{t(lang, "back")}</a></p></form>'
    )
    return _html(request, page(lang, t(lang, "inspect"), body, csrf=csrf), status)


@pages_router.get("/inspect/{assignment}", response_class=HTMLResponse, response_model=None)
async def inspect_page(
    assignment: int,
    request: Request,
    conn: ConnDep,
    principal: CookiePrincipal,
    msg: str | None = None,
) -> Response:
    """Per category: drops checked, mis-sorted, re-sorted; building, notes, photo."""
    if principal is None:
        return _to_login(request)
    me = await volunteer_repo.volunteer_of_token(conn, principal.token_id)
    values = {"building": (me or {}).get("building") or ""}
    problems = [form_errors.Problem((), msg)] if msg else None
    return _inspection_form(request, assignment, values, problems)


def _inspection_lines(form: dict[str, str]) -> list[dict[str, Any]]:
    """The form's lines with a count entered (a category left at 0 is no line)."""

    def number(key: str) -> int:
        value = form.get(key) or "0"
        return int(value) if value.isdigit() else -1  # -1: refused by the schema

    lines = [{"category": c, **{k: number(f"{c}_{k}") for k in COUNTS}} for c in CATEGORIES]
    return [x for x in lines if any(x[k] for k in COUNTS)]


def _inspection_from_form(form: dict[str, str]) -> InspectionIn:
    return InspectionIn.model_validate(
        {
            **{name: form.get(name) or None for name in TEXTS},
            "lines": _inspection_lines(form),
        }
    )


def _refused_inputs(
    lang: Lang, form: dict[str, str], exc: ValidationError
) -> tuple[list[form_errors.Problem], set[str]]:
    """The refusal's sentences, naming each field as the form does, and the inputs to
    mark: a count's own input, a whole line's three, a text field."""
    lines = _inspection_lines(form)

    def category(loc: form_errors.Loc) -> str | None:
        index = loc[1] if len(loc) > 1 else None
        if loc[:1] == ("lines",) and isinstance(index, int) and index < len(lines):
            return str(lines[index]["category"])
        return None

    def label(loc: form_errors.Loc) -> str:
        c = category(loc)
        if c is not None:
            name = CATEGORY_NAMES[lang][c]
            return f"{name} · {t(lang, str(loc[2]))}" if len(loc) > 2 and loc[2] in COUNTS else name
        if loc[:1] and loc[0] in TEXTS:
            return t(lang, _TEXT_WORDS[str(loc[0])])
        return i18n.t(lang, "form.field.form")

    problems = form_errors.validation_problems(lang, exc, label)
    marked: set[str] = set()
    for p in problems:
        c = category(p.loc)
        if c is not None:
            wanted = [str(p.loc[2])] if len(p.loc) > 2 and p.loc[2] in COUNTS else COUNTS
            marked |= {f"{c}_{k}" for k in wanted}
        elif p.loc[:1] and p.loc[0] in TEXTS:
            marked.add(str(p.loc[0]))
    return problems, marked


@pages_router.post("/inspect/{assignment}")
async def inspect(
    assignment: int, request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now
) -> Response:
    """Save the inspection and go back to my shifts; when it is refused, the form again
    with everything typed and why, in the page's language."""
    if principal is None:
        return _to_login(request)
    lang = _lang(request)
    form = await _form(request)
    if not session.form_allowed(request, VOLUNTEER, form.get(CSRF_FIELD)):
        return _refused(request)
    try:
        body = _inspection_from_form(form)
    except ValidationError as exc:
        problems, marked = _refused_inputs(lang, form, exc)
        return _inspection_form(request, assignment, form, problems, marked, 422)
    try:
        await inspection_service.record_inspection(conn, principal, assignment, body, now)
    except ApiError as exc:
        problem = form_errors.Problem((), form_errors.service_message(lang, exc))
        return _inspection_form(request, assignment, form, [problem], None, exc.status_code)
    return _back(t(lang, "saved"))


# --- the committee's roster ---------------------------------------------------------------


@pages_router.get("/roster", response_class=HTMLResponse, response_model=None)
async def roster_page(
    request: Request,
    conn: ConnDep,
    principal: CookiePrincipal,
    now: Now,
    estate: str | None = None,
    month: str | None = None,
) -> Response:
    """A month's watches with uncovered ones flagged, accuracy and suggestions (viewer+);
    a refusal (another estate's, a month that is not YYYY-MM) is a page in its language."""
    if principal is None:
        return _to_login(request)
    try:
        return await _roster(request, conn, principal, now, estate, month)
    except ApiError as exc:
        lang = _lang(request)
        csrf = session.form_token(request, VOLUNTEER)
        message = form_errors.service_message(lang, exc)
        back = f'<p><a class="btn alt" href="/volunteer">{t(lang, "back")}</a></p>'
        return _html(
            request,
            page(lang, t(lang, "roster"), back, csrf=csrf, message=message),
            exc.status_code,
        )


async def _roster(
    request: Request,
    conn: ConnDep,
    principal: Principal,
    now: datetime,
    estate: str | None,
    month: str | None,
) -> Response:
    lang = _lang(request)
    if estate is not None and not ESTATE_ID.fullmatch(estate):
        raise NotFound(f"no estate {estate!r}")
    if month is not None and not MONTH.fullmatch(month):
        raise Invalid(f"month {month!r} is not YYYY-MM")
    if estate is None:
        me = await volunteer_repo.volunteer_of_token(conn, principal.token_id)
        visible = (
            sorted(principal.estates) if principal.estates else await registry.estate_ids(conn)
        )
        estate = me["estate"] if me else (visible[0] if visible else None)
    if estate is None or not principal.may_see(estate):
        raise Forbidden(f"the token is not allowed to see estate {estate!r}")
    found = await registry.get_estate(conn, estate)
    local_today = now.astimezone(ZoneInfo(found["timezone"])).date()
    first, last = roster_service.month_bounds(month or f"{local_today:%Y-%m}")
    watch = await roster_service.watch_coverage(conn, estate, first, last, now)
    acc = await inspection_service.accuracy(conn, estate, first, last)
    shifts = await shift_repo.shifts_between(conn, estate, first, last)
    pct = "—" if acc["accuracy"] is None else f"{acc['accuracy']:.1%}"
    parts = [
        f'<div class="card"><b>{t(lang, "accuracy")}: {pct}</b> '
        f'<span class="muted">({acc["inspected"]} {t(lang, "inspected")})</span><br>'
        f'<span class="bad">{t(lang, "uncovered")}: {len(watch["uncovered"])}</span>'
        f" / {watch['shifts']}</div>"
    ]
    if watch["suggestions"]:
        parts.append(f"<h2>{t(lang, 'suggest')}</h2>")
        parts += [
            f'<div class="card">{escape(roster_words.suggestion(lang, s))}</div>'
            for s in watch["suggestions"]
        ]
    rows = "".join(
        f'<tr{" class=bad" if s["uncovered"] else ""} data-test="roster-{s["id"]}"><td>'
        f"{when(lang, s['day'], s['local_start'], s['local_end'])}</td>"
        f"<td>{escape(s['room_name'] or s['room'])}</td><td>"
        + (escape(", ".join(a["name"] for a in s["assignees"])) or t(lang, "uncovered"))
        + "</td></tr>"
        for s in shifts
    )
    parts.append(f"<h2>{t(lang, 'roster')} {first:%Y-%m}</h2><table>{rows}</table>")
    return _html(
        request,
        page(
            lang,
            f"{t(lang, 'roster')} · {found['name']}",
            "".join(parts),
            csrf=session.form_token(request, VOLUNTEER),
        ),
    )
