"""The page a volunteer's one-time sign-in link opens (`api.volunteers.signin_links`).

`GET /volunteer/link/<code>` uses nothing: it says whose link it is ("以 王阿姨 的身份
登录？") with a confirm button, so a chat app's link preview that fetches the URL does
not eat the link. The button POSTs to `/volunteer/login/link/<code>` (under the sign-in
path, where the sign-in forms' pre-session cookie is sent: the same double-submit CSRF
check as `/volunteer/login`); that uses the link and opens a volunteer session for the
volunteer's token (`dashboards.session.start`), then goes to /volunteer. A link that is
used, replaced, expired or no longer usable gets a page saying so, in zh-CN or English
(`?lang=en`).
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ConnDep
from api.volunteers import signin_links
from api.volunteers.signin_links import LinkState
from dashboards import common, session
from dashboards.i18n import Locale, t
from dashboards.session import CSRF_FIELD, VOLUNTEER
from dashboards.volunteer_html import csrf_input, page

router = APIRouter(include_in_schema=False)
CODE = re.compile(signin_links.CODE_PATTERN)
# Gone (410) for a link that worked once, 404 for one that never was.
_STATUS = {LinkState.unknown: 404}
# The app's Referrer-Policy (same-origin) stays: under no-referrer the browser sends
# `Origin: null` with the confirm POST, which the CSRF check refuses as another site's.
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def _refusal(locale: Locale, state: LinkState, status: int | None = None) -> HTMLResponse:
    body = f'<p><a class="btn alt" href="/volunteer/login">{t(locale, "vol.landing.home")}</a></p>'
    text = page(
        locale, t(locale, "vol.landing.title"), body, message=t(locale, f"vol.landing.{state}")
    )
    return _html(text, status or _STATUS.get(state, 410))


@router.get("/volunteer/link/{code}", response_class=HTMLResponse, response_model=None)
async def landing(code: str, request: Request, conn: ConnDep) -> Response:
    """Whose link this is and a button to sign in as them; nothing is used yet."""
    locale = common.locale_of(request)
    if CODE.fullmatch(code) is None:
        return _refusal(locale, LinkState.unknown)
    found = await signin_links.look_up(conn, code)
    if found.state is not LinkState.ok or found.row is None:
        return _refusal(locale, found.state)
    csrf = session.signin_form(request, VOLUNTEER)
    name = found.row["name"]
    body = (
        f'<div class="card"><p><b id="link-name">'
        f"{escape(t(locale, 'vol.landing.confirm', name=name))}</b></p>"
        f'<p class="muted">{t(locale, "vol.landing.help")}</p>'
        f'<form method="post" action="/volunteer/login/link/{code}?lang={locale}">'
        f"{csrf_input(csrf.token)}"
        f'<p><button data-test="confirm-link">{t(locale, "vol.landing.button")}</button></p>'
        f"</form></div>"
    )
    response = _html(page(locale, t(locale, "vol.landing.title"), body))
    session.keep_signin_form(request, response, VOLUNTEER, csrf)
    return response


@router.post("/volunteer/login/link/{code}", response_model=None)
async def confirm(code: str, request: Request, conn: ConnDep) -> Response:
    """Use the link and sign this phone in as its volunteer; then their pages."""
    locale = common.locale_of(request)
    fields = parse_qs((await request.body()).decode(errors="replace"))
    sent = fields.get(CSRF_FIELD, [None])[-1]
    if not session.signin_allowed(request, VOLUNTEER, sent):
        back = f'<p><a class="btn alt" href="/volunteer/link/{escape(code)}?lang={locale}">'
        back += f"{t(locale, 'vol.landing.title')}</a></p>"
        text = page(
            locale, t(locale, "vol.landing.title"), back, message=t(locale, "vol.landing.csrf")
        )
        return _html(text, 403)
    if CODE.fullmatch(code) is None:
        return _refusal(locale, LinkState.unknown)
    found, token_id = await signin_links.redeem(conn, code)
    if token_id is None:
        return _refusal(locale, found.state)
    response = RedirectResponse("/volunteer", status_code=303)
    await session.start(request, conn, response, VOLUNTEER, token_id)
    return response
