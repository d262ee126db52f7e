"""Sign in with an API token, sign out, switch language, and the list of estates.

Both forms carry a CSRF token (`dashboards.session`): sign-in's is bound to a pre-session
cookie, sign-out's to the session.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.auth.repository import find_principal
from api.auth.tokens import Role
from api.deps import ConnDep
from api.registry import repository as registry
from dashboards import common, i18n, layout, session
from dashboards.settings import get_dashboard_settings

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only paths inside the dashboards: never an open redirect to another site."""
    if target and target.startswith("/dashboards") and not target.startswith("//"):
        return target
    return "/dashboards/"


# What the sign-in page says when a session ended (`session.tell_signin`).
_WHY = {"token": "signin.why.token", "session": "signin.why.session"}


def _form(request: Request, next_url: str, error: str | None, status_code: int = 200) -> Response:
    ctx = layout.Context(request, common.locale_of(request))
    csrf = session.signin_form(request, session.DASHBOARDS)
    # Why the visitor was sent here (their session's token revoked, say), shown once.
    ended = session.signin_reason(request) if error is None else None
    shown = f'<p class="error" id="signin-error">{ctx.t(error)}</p>' if error else ""
    if ended is not None:
        why = ctx.t(_WHY[ended])
        shown = f'<p class="error" id="signin-why" role="status">{why}</p>'
    body = (
        f'{shown}<form method="post" action="/dashboards/signin" class="picker form">'
        f'<input type="hidden" name="{session.CSRF_FIELD}" value="{escape(csrf.token)}">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        f'<label>{ctx.t("signin.token")} <input type="password" name="token" id="token" '
        f'size="50" autocomplete="off" required></label>'
        f'<button type="submit" id="signin-submit">{ctx.t("signin.submit")}</button></form>'
        f'<p class="note" id="signin-help">{ctx.t("signin.help")}</p>'
    )
    response = layout.page(
        ctx, ctx.t("signin.title"), body, signed_in=False, status_code=status_code
    )
    session.keep_signin_form(request, response, session.DASHBOARDS, csrf)
    session.forget_signin_reason(request, response, session.DASHBOARDS)
    return response


@router.get("/dashboards/signin", include_in_schema=False)
async def signin_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    return _form(request, _safe_next(next), None)


@router.post("/dashboards/signin", include_in_schema=False)
async def signin(
    request: Request,
    conn: ConnDep,
    token: Annotated[str, Form()],
    next: Annotated[str | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the form and the token; on success open a session and go where the user was
    going."""
    if not session.signin_allowed(request, session.DASHBOARDS, csrf):
        # A fresh form (and pre-session cookie) to try again with.
        return _form(request, _safe_next(next), "signin.expired", status_code=403)
    principal = await find_principal(conn, token.strip())
    if principal is None or not principal.has_role(Role.viewer):
        return _form(request, _safe_next(next), "signin.bad", status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    await session.start(request, conn, response, session.DASHBOARDS, principal.token_id)
    return response


@router.post("/dashboards/signout", include_in_schema=False)
async def signout(request: Request, conn: ConnDep) -> Response:
    """End the session, on the server too: a copy of the cookie no longer works."""
    if request.cookies.get(session.DASHBOARDS.cookie) and (
        refusal := await common.refused(request)
    ):
        return refusal
    response = RedirectResponse("/dashboards/signin", status_code=303)
    await session.end(request, conn, response, session.DASHBOARDS)
    return response


@router.get("/dashboards/lang/{locale}", include_in_schema=False)
async def switch_language(request: Request, locale: str, next: str | None = None) -> Response:
    """Remember the chosen language in a cookie and go back."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    session.set_cookie(
        response,
        get_dashboard_settings(request),
        session.LANG_COOKIE,
        i18n.parse_locale(locale),
        max_age=session.LANG_MAX_AGE_S,
        path="/dashboards",
    )
    return response


@router.get("/dashboards", include_in_schema=False)
@router.get("/dashboards/", include_in_schema=False)
async def index(request: Request, conn: ConnDep) -> Response:
    """The estates this token may see; a single one opens directly."""
    who = await common.visitor(request, conn)
    if not isinstance(who, common.Visitor):
        return who
    only = sorted(who.principal.estates) if who.principal.estates is not None else None
    estates = await registry.list_estates(conn, only)
    if len(estates) == 1:
        return RedirectResponse(f"/dashboards/estates/{estates[0]['id']}", status_code=303)
    ctx = layout.Context(request, common.locale_of(request))
    items = "".join(
        f'<li><a href="/dashboards/estates/{escape(e["id"])}">{escape(e["name"])}</a> '
        f'<span class="note">({escape(e["id"])})</span> · <a href="/dashboards/estates/'
        f'{escape(e["id"])}/disclosure">{ctx.t("nav.disclosure")}</a></li>'
        for e in estates
    )
    district = f"/dashboards/district?{urlencode([('estate', e['id']) for e in estates])}"
    body = (
        f'<section class="table"><ul id="estates">{items}</ul>'
        f'<p><a href="{escape(district)}">{ctx.t("nav.district")}</a></p></section>'
    )
    return layout.page(ctx, ctx.t("estates.title"), body)
