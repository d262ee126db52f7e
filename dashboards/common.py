"""What every page handler does first: locale, session, estate access, and exports."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Literal
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth.tokens import Principal, Role
from api.periods import PeriodRules
from api.registry import repository as registry
from dashboards import form_errors, i18n, layout, session, tables
from dashboards.i18n import Locale

ExportFormat = Literal["csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def locale_of(request: Request) -> Locale:
    """`?lang=` first, then the language cookie, then zh-CN."""
    return i18n.parse_locale(
        request.query_params.get("lang") or request.cookies.get(session.LANG_COOKIE)
    )


@dataclass(slots=True)
class Visitor:
    """A signed-in viewer (or higher) and the estate row when the page has one."""

    principal: Principal
    estate: dict[str, Any] | None = None


def period_rules(request: Request) -> PeriodRules:
    """The API's bounds of a period (FENLEI_MAX_PERIOD_DAYS, FENLEI_PERIOD_FUTURE_DAYS):
    a page asks the API for no period it would refuse."""
    rules: PeriodRules = request.app.state.settings.period_rules()
    return rules


def to_signin(request: Request) -> RedirectResponse:
    """Redirect to sign-in, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/dashboards/signin?{urlencode({'next': here})}", status_code=303)


def to_signin_because(request: Request, ended: session.Ended | None) -> RedirectResponse:
    """`to_signin`, and when the visitor's session `ended` (its token revoked or expired,
    or the session itself), the sign-in page says so."""
    response = to_signin(request)
    session.tell_signin(request, response, session.DASHBOARDS, ended)
    return response


def error_page(request: Request, key: str, status_code: int) -> HTMLResponse:
    """A short page saying why the dashboard cannot be shown."""
    ctx = layout.Context(request, locale_of(request))
    return layout.page(
        ctx, ctx.t("error.title"), f'<p class="error">{ctx.t(key)}</p>', status_code=status_code
    )


async def visitor(request: Request, conn: Any, estate: str | None = None) -> Visitor | Response:
    """The signed-in visitor allowed to see `estate`, or the response to send instead."""
    found = await session.state(request, conn, session.DASHBOARDS)
    principal = found.principal
    if principal is None:
        return to_signin_because(request, found.ended)
    if not principal.has_role(Role.viewer):
        return error_page(request, "error.forbidden", 403)
    if estate is None:
        return Visitor(principal)
    if not principal.may_see(estate):
        return error_page(request, "error.forbidden", 403)
    rows = await registry.list_estates(conn, [estate])
    if not rows:
        return error_page(request, "error.not_found", 404)
    return Visitor(principal, dict(rows[0]))


def csrf_field(request: Request) -> str:
    """The hidden CSRF input of a dashboards form that POSTs (the session's token)."""
    token = session.form_token(request, session.DASHBOARDS)
    return f'<input type="hidden" name="{session.CSRF_FIELD}" value="{escape(token)}">'


async def refused(request: Request) -> Response | None:
    """For a dashboards form's POST: a 403 page when the form is not this session's (no
    or a wrong CSRF token) or comes from another site; None when it may go ahead."""
    form = await request.form()
    sent = form.get(session.CSRF_FIELD)
    if session.form_allowed(request, session.DASHBOARDS, sent if isinstance(sent, str) else None):
        return None
    return error_page(request, "error.csrf", 403)


async def committee(request: Request, conn: Any, estate: str) -> Visitor | Response:
    """A signed-in admin allowed `estate` (its committee), or the response to send instead:
    sign-in when there is no session, 403 for any other role or estate."""
    who = await visitor(request, conn, estate)
    if isinstance(who, Visitor) and not who.principal.has_role(Role.admin):
        return error_page(request, "error.admin_only", 403)
    return who


def problems_html(locale: Locale, problems: list[form_errors.Problem]) -> str:
    """A refused form's sentences (`dashboards.form_errors`) above the form, announced to
    screen readers; "" when there are none. Mark the refused inputs with
    `aria-invalid="true"` (the style sheet outlines them) and keep their values."""
    if not problems:
        return ""
    items = "".join(f"<li>{escape(p.message)}</li>" for p in problems)
    return (
        f'<div class="msg error" role="alert" id="form-errors">'
        f"{i18n.t(locale, 'form.invalid')}<ul>{items}</ul></div>"
    )


def export(table: tables.Table, locale: Locale, fmt: str, filename: str) -> Response:
    """A table as a CSV or Excel download."""
    if fmt == "xlsx":
        body, media, ext = tables.to_xlsx(table, locale), XLSX_TYPE, "xlsx"
    else:
        body, media, ext = tables.to_csv(table, locale), "text/csv; charset=utf-8", "csv"
    name = f"{filename}.{ext}"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
            ),
            "Cache-Control": "no-store",
        },
    )
