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

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth.repository import find_principal
from api.auth.tokens import Principal, Role
from api.deps import ConnDep
from api.errors import ApiError, Forbidden
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
from dashboards import session
from dashboards.session import CSRF_FIELD, VOLUNTEER
from dashboards.settings import get_dashboard_settings
from dashboards.volunteer_html import CATEGORY_NAMES, Lang, button, csrf_input, page, t, when

pages_router = APIRouter(prefix="/volunteer", include_in_schema=False)

# Before sessions the cookie held the bearer token itself: removed wherever it is seen.
LEGACY_TOKEN_COOKIE = "fenlei_token"
LANG_COOKIE = session.LANG_COOKIE
SHOW_DAYS = 14
SHOW_SHIFTS = 10


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
    return await session.current(request, conn, VOLUNTEER)


CookiePrincipal = Annotated[Principal | None, Depends(_principal)]


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (no multipart dependency for a handful of fields)."""
    fields = parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)
    return {k: v[-1].strip() for k, v in fields.items()}


# --- signing in ---------------------------------------------------------------------


def _login_form(request: Request, message: str | None, status: int = 200) -> HTMLResponse:
    lang = _lang(request)
    csrf = session.signin_form(request, VOLUNTEER)
    body = (
        f'<div class="card"><form method="post" action="/volunteer/login">'
        f"{csrf_input(csrf.token)}"
        f'<label for="token">{t(lang, "token")}</label>'
        '<input id="token" name="token" autocomplete="off" required>'
        f'<p><button data-test="login">{t(lang, "login")}</button></p></form></div>'
    )
    response = _html(request, page(lang, t(lang, "title"), body, message=message), status)
    session.keep_signin_form(request, response, VOLUNTEER, csrf)
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
        return _back("令牌无效 / unknown token", "/volunteer/login")
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
        return RedirectResponse("/volunteer/login", status_code=303)
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
                message=("此令牌未关联志愿者 / this token is not linked to a volunteer"),
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
    for room in await registry.list_rooms(conn, estate):
        names = [
            a["name"] + (" ✓" if a["checked_in_at"] else "")
            for s in await shift_repo.shifts_at(conn, estate, room["id"], now)
            for a in s["assignees"]
        ]
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
        return RedirectResponse("/volunteer/login", status_code=303)
    if form is None:
        form = await _form(request)
    if not session.form_allowed(request, VOLUNTEER, form.get(CSRF_FIELD)):
        return _refused(request)
    try:
        await action(principal)
    except swap_service.DoubleBooked as exc:
        return _back(_double_booked(lang, exc))
    except ApiError as exc:
        return _back(str(exc))
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


@pages_router.get("/inspect/{assignment}", response_class=HTMLResponse, response_model=None)
async def inspect_page(
    assignment: int,
    request: Request,
    conn: ConnDep,
    principal: CookiePrincipal,
    msg: str | None = None,
) -> Response:
    """Per category: drops checked, mis-sorted, re-sorted; building, notes, photo."""
    lang = _lang(request)
    if principal is None:
        return RedirectResponse("/volunteer/login", status_code=303)
    me = await volunteer_repo.volunteer_of_token(conn, principal.token_id)
    rows = "".join(
        f"<tr><th>{CATEGORY_NAMES[lang][c]}</th>"
        + "".join(
            f'<td><input type="number" inputmode="numeric" min="0" value="0" '
            f'name="{c}_{k}" aria-label="{c} {k}"></td>'
            for k in ("checked", "mis_sorted", "re_sorted")
        )
        + "</tr>"
        for c in CATEGORIES
    )
    building = escape((me or {}).get("building") or "")
    csrf = session.form_token(request, VOLUNTEER)
    body = (
        f'<form class="card" method="post" action="/volunteer/inspect/{assignment}">'
        f"{csrf_input(csrf)}"
        f"<table><tr><th></th><th>{t(lang, 'checked')}</th><th>{t(lang, 'mis_sorted')}"
        f"</th><th>{t(lang, 're_sorted')}</th></tr>{rows}</table>"
        f'<label>{t(lang, "building")}<input name="building" value="{building}"></label>'
        f'<label>{t(lang, "notes")}<textarea name="notes" rows="2"></textarea></label>'
        f'<label>{t(lang, "photo")}<input name="photo_ref"></label>'
        f'<p class="row"><button data-test="save">{t(lang, "save")}</button>'
        f'<a class="btn alt" href="/volunteer">{t(lang, "back")}</a></p></form>'
    )
    return _html(request, page(lang, t(lang, "inspect"), body, csrf=csrf, message=msg))


def _inspection_from_form(form: dict[str, str]) -> InspectionIn:
    def number(key: str) -> int:
        value = form.get(key) or "0"
        return int(value) if value.isdigit() else -1  # -1: refused by the schema

    lines = [
        {
            "category": c,
            "checked": number(f"{c}_checked"),
            "mis_sorted": number(f"{c}_mis_sorted"),
            "re_sorted": number(f"{c}_re_sorted"),
        }
        for c in CATEGORIES
    ]
    return InspectionIn.model_validate(
        {
            "building": form.get("building") or None,
            "notes": form.get("notes") or None,
            "photo_ref": form.get("photo_ref") or None,
            "lines": [x for x in lines if x["checked"] or x["mis_sorted"] or x["re_sorted"]],
        }
    )


@pages_router.post("/inspect/{assignment}")
async def inspect(
    assignment: int, request: Request, conn: ConnDep, principal: CookiePrincipal, now: Now
) -> Response:
    """Save the inspection and go back to my shifts."""
    if principal is None:
        return RedirectResponse("/volunteer/login", status_code=303)
    form = await _form(request)
    if not session.form_allowed(request, VOLUNTEER, form.get(CSRF_FIELD)):
        return _refused(request)
    try:
        body = _inspection_from_form(form)
    except ValidationError as exc:
        return _back(
            f"输入有误 / check the numbers: {exc.errors()[0]['msg']}",
            f"/volunteer/inspect/{assignment}",
        )
    return await _act(
        request,
        principal,
        lambda p: inspection_service.record_inspection(conn, p, assignment, body, now),
        form,
    )


# --- the committee's roster ---------------------------------------------------------------


@pages_router.get("/roster", response_class=HTMLResponse, response_model=None)
async def roster_page(
    request: Request,
    conn: ConnDep,
    principal: CookiePrincipal,
    now: Now,
    estate: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,64}$")] = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
) -> Response:
    """A month's watches with uncovered ones flagged, accuracy and suggestions (viewer+)."""
    lang = _lang(request)
    if principal is None:
        return RedirectResponse("/volunteer/login", status_code=303)
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
            f'<div class="card">{escape(s["room"])} · {s["day_type"]} '
            f"{s['start']:%H:%M}–{s['end']:%H:%M}: {s['avg_drops']} / "
            f"{s['avg_volunteers']} → {s['suggested_volunteers']}</div>"
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
