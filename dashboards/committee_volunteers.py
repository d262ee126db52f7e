"""The committee's volunteer screens: list, add, edit, deactivate and reactivate, and a
printable one-time sign-in link (with its QR code) per volunteer; the sheet import
(`dashboards.volunteer_import`) and the page a sign-in link opens
(`dashboards.volunteer_link`) are included in `router`.

The committee is a signed-in admin allowed the estate (`common.committee`). Every change
goes through the same service functions as the API (`api.volunteers.service`), and so
through the same checks and audit records; every form POST is CSRF-checked.
"""

from __future__ import annotations

from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ConnDep, EstatePath
from api.errors import Conflict
from api.routes.volunteer_deps import IdPath
from api.volunteers import availability_text, form_input, service, signin_links
from api.volunteers import repository as repo
from api.volunteers.schemas import VolunteerIn
from dashboards import (
    common,
    i18n,
    layout,
    qr,
    volunteer_form,
    volunteer_import,
    volunteer_link,
)
from dashboards.committee_page import committee_page

router = APIRouter()
# The notes a change leaves on the list (`?done=`), by name: no text from the URL is shown.
DONE = ("added", "saved", "deactivated", "reactivated", "imported")


def base_path(estate: str) -> str:
    """The volunteer list of an estate."""
    return f"/dashboards/estates/{estate}/volunteers"


def _done(ctx: layout.Context) -> str:
    done = ctx.request.query_params.get("done")
    if done not in DONE:
        return ""
    count = ctx.request.query_params.get("count", "")
    text = ctx.t(f"vol.done.{done}", count=count if count.isdigit() else "0")
    return f'<p class="card met" id="done" role="status">{escape(text)}</p>'


def _button(ctx: layout.Context, action: str, label: str, test: str, **fields: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items()
    )
    return (
        f'<form method="post" action="{escape(action)}" style="display:inline">'
        f'{common.csrf_field(ctx.request)}{hidden}<button type="submit" data-test="{test}">'
        f"{escape(label)}</button></form>"
    )


def _row(ctx: layout.Context, base: str, v: dict[str, Any]) -> str:
    vid = v["id"]
    availability = availability_text.words(v["availability"], ctx.locale) or ctx.t("vol.any_time")
    status = ctx.t("vol.active") if v["active"] else ctx.t("vol.inactive")
    actions = f'<a href="{base}/{vid}/edit" data-test="edit-{vid}">{ctx.t("vol.edit")}</a> '
    if v["active"]:
        actions += _button(
            ctx, f"{base}/{vid}/active", ctx.t("vol.deactivate"), f"deactivate-{vid}", active="0"
        )
        actions += " " + _button(
            ctx, f"{base}/{vid}/signin-link", ctx.t("vol.link.issue"), f"link-{vid}"
        )
    else:
        actions += _button(
            ctx, f"{base}/{vid}/active", ctx.t("vol.reactivate"), f"reactivate-{vid}", active="1"
        )
    cells = [
        v["name"],
        v["contact"] or "",
        v["building"] or "",
        volunteer_form.kind_name(ctx.locale, v["kind"]),
        availability,
        status,
    ]
    tds = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
    return f'<tr data-test="volunteer-{vid}">{tds}<td>{actions}</td></tr>'


@router.get("/dashboards/estates/{estate}/volunteers", include_in_schema=False, response_model=None)
async def volunteers_page(estate: EstatePath, request: Request, conn: ConnDep) -> Response:
    """The estate's volunteers: who, how to reach them, when they can watch, active or not."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    _, ctx = found
    base = base_path(estate)
    rows = await repo.list_volunteers(conn, estate)
    names = ("name", "contact", "building", "kind", "availability", "active", "actions")
    head = "".join(f"<th>{ctx.t(f'vol.col.{n}')}</th>" for n in names)
    table = (
        f'<div class="table"><table id="volunteers"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(_row(ctx, base, v) for v in rows)
        + "</tbody></table></div>"
        if rows
        else f'<p class="note" id="no-volunteers">{ctx.t("vol.none")}</p>'
    )
    links = (
        f'<p><a href="{base}/new" id="add">{ctx.t("vol.add")}</a> · '
        f'<a href="{base}/import" id="import">{ctx.t("vol.import")}</a></p>'
    )
    return layout.page(ctx, ctx.t("vol.title"), _done(ctx) + links + table)


def _form_page(
    ctx: layout.Context,
    title: str,
    action: str,
    values: dict[str, str],
    errors: list[form_input.FieldError],
) -> Response:
    body = volunteer_form.render(ctx, action, values, errors)
    return layout.page(ctx, title, body, status_code=422 if errors else 200)


@router.get(
    "/dashboards/estates/{estate}/volunteers/new", include_in_schema=False, response_model=None
)
async def new_page(estate: EstatePath, request: Request, conn: ConnDep) -> Response:
    """An empty form for a new volunteer."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    _, ctx = found
    return _form_page(ctx, ctx.t("vol.add"), f"{base_path(estate)}/new", {}, [])


@router.post(
    "/dashboards/estates/{estate}/volunteers/new", include_in_schema=False, response_model=None
)
async def add(estate: EstatePath, request: Request, conn: ConnDep) -> Response:
    """Register the volunteer (with their token, as the API does); the form again, with
    what was typed and its problems, when it is not valid."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    _, ctx = found
    if (refused := await common.refused(request)) is not None:
        return refused
    values = volunteer_form.values_from(await request.form())
    result = form_input.volunteer_in(values)
    if isinstance(result, list):
        return _form_page(ctx, ctx.t("vol.add"), f"{base_path(estate)}/new", values, result)
    await service.create_volunteer(conn, estate, result)
    return RedirectResponse(f"{base_path(estate)}?done=added", status_code=303)


async def _volunteer(conn: Any, estate: str, volunteer: int) -> dict[str, Any] | None:
    row = await repo.get_volunteer(conn, volunteer)
    return row if row is not None and row["estate"] == estate else None


@router.get(
    "/dashboards/estates/{estate}/volunteers/{volunteer}/edit",
    include_in_schema=False,
    response_model=None,
)
async def edit_page(
    estate: EstatePath, volunteer: IdPath, request: Request, conn: ConnDep
) -> Response:
    """The volunteer's details in a form."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    _, ctx = found
    row = await _volunteer(conn, estate, volunteer)
    if row is None:
        return common.error_page(request, "error.not_found", 404)
    action = f"{base_path(estate)}/{volunteer}/edit"
    return _form_page(ctx, ctx.t("vol.edit"), action, volunteer_form.values_of(row, ctx.locale), [])


@router.post(
    "/dashboards/estates/{estate}/volunteers/{volunteer}/edit",
    include_in_schema=False,
    response_model=None,
)
async def edit(estate: EstatePath, volunteer: IdPath, request: Request, conn: ConnDep) -> Response:
    """Replace the volunteer's details (their days off and active state stay)."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    _, ctx = found
    if (refused := await common.refused(request)) is not None:
        return refused
    row = await _volunteer(conn, estate, volunteer)
    if row is None:
        return common.error_page(request, "error.not_found", 404)
    values = volunteer_form.values_from(await request.form())
    result = form_input.volunteer_in(
        values, active=row["active"], unavailable_on=row["unavailable_on"]
    )
    if isinstance(result, list):
        action = f"{base_path(estate)}/{volunteer}/edit"
        return _form_page(ctx, ctx.t("vol.edit"), action, values, result)
    await service.update_volunteer(conn, estate, volunteer, result)
    return RedirectResponse(f"{base_path(estate)}?done=saved", status_code=303)


@router.post(
    "/dashboards/estates/{estate}/volunteers/{volunteer}/active",
    include_in_schema=False,
    response_model=None,
)
async def set_active(
    estate: EstatePath, volunteer: IdPath, request: Request, conn: ConnDep
) -> Response:
    """Deactivate (`active=0`) or reactivate (`active=1`) a volunteer; nothing else changes.
    An inactive volunteer is left out of new rosters and their links stop working."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    if (refused := await common.refused(request)) is not None:
        return refused
    row = await _volunteer(conn, estate, volunteer)
    if row is None:
        return common.error_page(request, "error.not_found", 404)
    active = (await request.form()).get("active") == "1"
    body = VolunteerIn.model_validate(
        {
            k: row[k]
            for k in ("name", "contact", "building", "kind", "availability", "unavailable_on")
        }
        | {"active": active}
    )
    await service.update_volunteer(conn, estate, volunteer, body)
    done = "reactivated" if active else "deactivated"
    return RedirectResponse(f"{base_path(estate)}?done={done}", status_code=303)


def qr_data_uri(url: str) -> str:
    """The QR code of a sign-in link, large enough to scan from a phone's screen."""
    return qr.data_uri(url, scale=6, border=3)


@router.post(
    "/dashboards/estates/{estate}/volunteers/{volunteer}/signin-link",
    include_in_schema=False,
    response_model=None,
)
async def signin_link(
    estate: EstatePath, volunteer: IdPath, request: Request, conn: ConnDep
) -> Response:
    """A new one-time sign-in link for the volunteer's phone, on a page to print (link and
    QR code): shown only now, since only its hash is kept."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    _, ctx = found
    if (refused := await common.refused(request)) is not None:
        return refused
    if await _volunteer(conn, estate, volunteer) is None:
        return common.error_page(request, "error.not_found", 404)
    try:
        issued = await signin_links.issue(conn, estate, volunteer, signin_links.DEFAULT_VALID_HOURS)
    except Conflict:
        body = f'<p class="error">{ctx.t("vol.link.inactive")}</p>'
        return layout.page(ctx, ctx.t("vol.link.issue"), body, status_code=409)
    url = str(request.base_url).rstrip("/") + issued.url
    expires = i18n.moment(ctx.locale, issued.expires_at.astimezone(ZoneInfo(ctx.timezone)))
    name = issued.volunteer["name"]
    body = (
        f'<div class="card" id="signin-card" style="max-width:30em">'
        f"<p>{escape(ctx.t('vol.link.help', expires=expires))}</p>"
        f'<p><img id="signin-qr" src="{qr_data_uri(url)}" alt="{ctx.t("vol.link.qr_alt")}" '
        f'style="width:240px;height:240px"></p>'
        f'<p style="word-break:break-all"><a id="signin-url" href="{escape(url)}">'
        f"{escape(url)}</a></p>"
        f'<p class="noprint"><button type="button" data-print>{ctx.t("vol.link.print")}</button> '
        f'<a href="{base_path(estate)}">{ctx.t("vol.back")}</a></p></div>'
    )
    response = layout.page(ctx, ctx.t("vol.link.title", name=name), body)
    return response


@router.get(
    "/dashboards/estates/{estate}/volunteers/{volunteer}/signin-link",
    include_in_schema=False,
    response_model=None,
)
async def signin_link_again(estate: EstatePath, volunteer: IdPath) -> Response:
    """A link is shown once, by the POST that makes it (the language switch of its page
    comes here): back to the list, where the button makes a new one."""
    return RedirectResponse(base_path(estate), status_code=303)


for _part in (volunteer_import.router, volunteer_link.router):
    router.include_router(_part)
