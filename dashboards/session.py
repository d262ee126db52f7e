"""Sign-in sessions of the pages, kept in the database, and the CSRF tokens of their forms.

A session cookie holds a random id (256 bits); the `sessions` table (migration 0017)
keeps only its SHA-256, the token it was opened with, its area (the committees'
dashboards or the volunteers' pages) and its expiry. So signing out ends the session for
every copy of the cookie, it expires on the server whatever the browser keeps, revoking
(or expiring, or rotating) the token ends its sessions at the next request, and no
cookie is ever the bearer token.

Every form that POSTs carries a CSRF token (field `csrf`): signed in, HMAC(session
secret, session id), bound to the session; before sign-in, HMAC(secret, a random
pre-session cookie) (double submit: another site cannot sign a visitor in as itself).
A POST is also refused when the browser says it comes from another site
(`Sec-Fetch-Site`, `Origin`, `Referer`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import psycopg
from fastapi import Request, Response

from api.auth.repository import principal_by_id
from api.auth.tokens import Principal
from dashboards.settings import DashboardSettings, get_dashboard_settings

LANG_COOKIE = "fenlei_lang"
# A year: the language is a preference, not a secret.
LANG_MAX_AGE_S = 365 * 24 * 3600
# The hidden field of every form that POSTs.
CSRF_FIELD = "csrf"
# The random value a sign-in form's token is bound to, before there is a session.
PRESESSION_COOKIE = "fenlei_csrf"
PRESESSION_MAX_AGE_S = 24 * 3600
# Why the last request was sent to sign in (`Ended`), for the sign-in page to say so: a
# short-lived cookie on the sign-in path, not a query value (a link cannot make the page
# say it), read and removed by the sign-in page.
WHY_COOKIE = "fenlei_signin_why"
WHY_MAX_AGE_S = 300
# Session ids are 43 characters (token_urlsafe(32)); anything much longer is not one.
_MAX_COOKIE_CHARS = 128


@dataclass(frozen=True, slots=True)
class Area:
    """Pages with a session of their own: its cookie, the cookie's path, where to sign in."""

    name: Literal["dashboards", "volunteer"]
    cookie: str
    path: str
    signin_path: str
    samesite: Literal["lax", "strict"]

    def max_age_s(self, settings: DashboardSettings) -> int:
        """How long a session of this area lasts."""
        if self.name == "volunteer":
            return settings.volunteer_session_max_age_s
        return settings.session_max_age_s


# Lax: a link to a dashboard (in a message, say) opens it signed in; Strict on the
# phone pages, which have nothing to link to from outside.
DASHBOARDS = Area("dashboards", "fenlei_session", "/dashboards", "/dashboards/signin", "lax")
VOLUNTEER = Area("volunteer", "fenlei_volunteer", "/volunteer", "/volunteer/login", "strict")

_INSERT = """
INSERT INTO sessions (id_sha256, token_id, area, expires_at)
VALUES (%s, %s, %s, now() + make_interval(secs => %s))
"""
# Run at each sign-in: sessions ended or expired are of no use, not even to audit.
_PURGE = "DELETE FROM sessions WHERE expires_at <= now() OR ended_at IS NOT NULL"
# The token's own state (revoked, expired, rotated since) is `principal_by_id`'s rule.
_CURRENT = """
SELECT token_id, created_at FROM sessions
WHERE id_sha256 = %s AND area = %s AND ended_at IS NULL AND expires_at > now()
"""
_END = "UPDATE sessions SET ended_at = now() WHERE id_sha256 = %s AND ended_at IS NULL"


def _digest(value: str) -> bytes:
    # 256 random bits: a fast hash is enough, as for API tokens.
    return hashlib.sha256(value.encode()).digest()


def set_cookie(
    response: Response,
    settings: DashboardSettings,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str,
    samesite: Literal["lax", "strict"] = "lax",
) -> None:
    """Set a cookie the way every fenlei cookie is set: HttpOnly, SameSite, Secure per
    the settings."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite=samesite,
        secure=settings.secure_cookies(),
        path=path,
    )


def _delete_cookie(
    response: Response, settings: DashboardSettings, name: str, path: str, samesite: str
) -> None:
    response.delete_cookie(
        name,
        path=path,
        httponly=True,
        samesite=samesite,  # type: ignore[arg-type]
        secure=settings.secure_cookies(),
    )


async def start(
    request: Request,
    conn: psycopg.AsyncConnection[Any],
    response: Response,
    area: Area,
    token_id: int,
) -> None:
    """Open a session for `token_id` and set its cookie on `response`.

    Always a new id (a session the browser brought along is ended: nobody can plant one
    and wait for its sign-in); the sign-in form's pre-session cookie is dropped.
    """
    settings = get_dashboard_settings(request)
    previous = request.cookies.get(area.cookie)
    if previous:
        await conn.execute(_END, (_digest(previous),))
    await conn.execute(_PURGE)
    value = secrets.token_urlsafe(32)
    max_age = area.max_age_s(settings)
    await conn.execute(_INSERT, (_digest(value), token_id, area.name, max_age))
    set_cookie(
        response,
        settings,
        area.cookie,
        value,
        max_age=max_age,
        path=area.path,
        samesite=area.samesite,
    )
    _delete_cookie(response, settings, PRESESSION_COOKIE, area.signin_path, area.samesite)
    forget_signin_reason(request, response, area)


async def end(
    request: Request, conn: psycopg.AsyncConnection[Any], response: Response, area: Area
) -> None:
    """End the request's session on the server, so a copy of its cookie no longer works,
    and remove the cookie."""
    value = request.cookies.get(area.cookie)
    if value:
        await conn.execute(_END, (_digest(value),))
    _delete_cookie(response, get_dashboard_settings(request), area.cookie, area.path, area.samesite)


# Why a request that brought a session cookie has no session: "token" (the session is
# open but its token was revoked, expired or rotated since), "session" (the session
# itself expired or was ended).
Ended = Literal["token", "session"]


@dataclass(frozen=True, slots=True)
class State:
    """The request's session: its principal, or why a cookie it brought no longer works
    (`ended` None: there was no cookie, nothing to explain)."""

    principal: Principal | None
    ended: Ended | None = None


async def state(request: Request, conn: psycopg.AsyncConnection[Any], area: Area) -> State:
    """`current`, and why not when the request brought a cookie that no longer works."""
    value = request.cookies.get(area.cookie)
    if not value:
        return State(None)
    if len(value) > _MAX_COOKIE_CHARS:
        return State(None, "session")
    cur = await conn.execute(_CURRENT, (_digest(value), area.name))
    row: Any = await cur.fetchone()
    if row is None:
        return State(None, "session")
    token_id, began = row
    principal = await principal_by_id(conn, int(token_id), since=began)
    return State(principal, None if principal is not None else "token")


async def current(
    request: Request, conn: psycopg.AsyncConnection[Any], area: Area
) -> Principal | None:
    """Who the request's session belongs to: None without an open, unexpired session of
    `area` whose token still works (not revoked, not expired, not rotated since the
    session began)."""
    return (await state(request, conn, area)).principal


def tell_signin(request: Request, response: Response, area: Area, ended: Ended | None) -> None:
    """On a redirect to sign in: when the session `ended`, remove its dead cookie and
    leave the sign-in page the reason to show (`signin_reason`)."""
    if ended is None:
        return
    settings = get_dashboard_settings(request)
    _delete_cookie(response, settings, area.cookie, area.path, area.samesite)
    set_cookie(
        response,
        settings,
        WHY_COOKIE,
        ended,
        max_age=WHY_MAX_AGE_S,
        path=area.signin_path,
        samesite=area.samesite,
    )


def signin_reason(request: Request) -> Ended | None:
    """The reason `tell_signin` left for this sign-in page (remove it with
    `forget_signin_reason` once shown)."""
    value = request.cookies.get(WHY_COOKIE)
    return "token" if value == "token" else "session" if value == "session" else None


def forget_signin_reason(request: Request, response: Response, area: Area) -> None:
    """Remove the reason once the sign-in page showed it: a reload shows the plain form."""
    if WHY_COOKIE in request.cookies:
        settings = get_dashboard_settings(request)
        _delete_cookie(response, settings, WHY_COOKIE, area.signin_path, area.samesite)


# --- CSRF -------------------------------------------------------------------------------


def _mac(settings: DashboardSettings, *parts: str) -> str:
    return hmac.new(settings.secret(), "\0".join(parts).encode(), hashlib.sha256).hexdigest()


def _same(expected: str, sent: str | None) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and `sent` is whatever was posted.
    return bool(expected) and hmac.compare_digest(expected.encode(), (sent or "").encode())


def form_token(request: Request, area: Area) -> str:
    """The CSRF token of the signed-in visitor's forms ("" without a session cookie)."""
    value = request.cookies.get(area.cookie)
    if not value:
        return ""
    return _mac(get_dashboard_settings(request), "session", area.name, value)


@dataclass(frozen=True, slots=True)
class SigninForm:
    """A sign-in form's CSRF token, and the pre-session value to set when it is new."""

    token: str
    new_cookie: str | None


def signin_form(request: Request, area: Area) -> SigninForm:
    """The token for a sign-in form, bound to the browser's pre-session cookie (a new
    one when it has none: set it with `keep_signin_form`)."""
    value = request.cookies.get(PRESESSION_COOKIE)
    fresh = None
    if not value or len(value) > _MAX_COOKIE_CHARS:
        value = fresh = secrets.token_urlsafe(32)
    return SigninForm(_mac(get_dashboard_settings(request), "signin", area.name, value), fresh)


def keep_signin_form(request: Request, response: Response, area: Area, form: SigninForm) -> None:
    """Set the pre-session cookie a new sign-in form's token is bound to."""
    if form.new_cookie is not None:
        set_cookie(
            response,
            get_dashboard_settings(request),
            PRESESSION_COOKIE,
            form.new_cookie,
            max_age=PRESESSION_MAX_AGE_S,
            path=area.signin_path,
            samesite=area.samesite,
        )


def _host_of(url: str) -> str | None:
    try:
        return urlsplit(url).netloc.lower() or None
    except ValueError:
        return None


def from_this_site(request: Request) -> bool:
    """False when the browser says the request comes from another site.

    Browsers send `Sec-Fetch-Site` and `Origin` with a form's POST (`Referer` too: the
    pages' Referrer-Policy is same-origin); clients that send none (curl, the tests'
    HTTP clients) pass, and the CSRF token decides. Compared with the host the client
    asked for (`Host`, or a proxy's `X-Forwarded-Host`), not with a configured name.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    sent = request.headers.get("origin") or request.headers.get("referer")
    if sent is None:
        return True
    hosts = {
        h.split(",")[0].strip().lower()
        for h in (request.headers.get("host"), request.headers.get("x-forwarded-host"))
        if h
    }
    return _host_of(sent) in hosts  # "null" (a sandboxed frame, say) has no host


def form_allowed(request: Request, area: Area, sent: str | None) -> bool:
    """A signed-in form's POST: from this site, with the token of the session's forms."""
    return from_this_site(request) and _same(form_token(request, area), sent)


def signin_allowed(request: Request, area: Area, sent: str | None) -> bool:
    """A sign-in form's POST: from this site, with the token of the pre-session cookie."""
    value = request.cookies.get(PRESESSION_COOKIE)
    if not value or not from_this_site(request):
        return False
    return _same(_mac(get_dashboard_settings(request), "signin", area.name, value), sent)
