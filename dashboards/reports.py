"""The printable 公示 poster (A4 PDF) and the monthly report (月报) workbook.

Poster: `/dashboards/estates/{estate}/poster?from=&to=[&group=[&building=]]` (the print
view; `building` only where several buildings have a group of that id) and
`…/poster.pdf` (A4 PDF), for whoever may see the disclosure board (any viewer of the
estate, as `dashboards.disclosure`). fenlei keeps only a hash of the estate's public link,
so its QR code is printed only when the committee pastes the link into the print view's
form (a POST, CSRF-checked, admins of the estate only): it is checked against the stored
hash and never stored or put in a URL.

Report: `/dashboards/estates/{estate}/report.xlsx?month=YYYY-MM` and
`/dashboards/district/report.xlsx?month=YYYY-MM` (`dashboards.monthly_report`).
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth.tokens import Role
from api.deps import ConnDep, EstatePath
from api.registry import repository as registry
from dashboards import common, district, layout, monthly_report, poster, poster_pdf, public_board
from dashboards.period import Period, resolve, today
from dashboards.settings import get_dashboard_settings

router = APIRouter()
Group = Annotated[str | None, Query(max_length=64)]
Building = Annotated[str | None, Query(max_length=64)]
From = Annotated[str | None, Query(alias="from")]
To = Annotated[str | None, Query(alias="to")]
Month = Annotated[str | None, Query(max_length=16)]
# The print view: the page's own header, picker and footer are not printed.
PAGE_PRINT_CSS = "@media print{main>h1,#generated,.noprint{display:none}main{padding:0}}"


def _download(body: bytes, media: str, name: str, inline: bool = False) -> Response:
    how = "inline" if inline else "attachment"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f"{how}; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
            # A poster may carry the public link's QR code: never kept by a cache.
            "Cache-Control": "no-store",
        },
    )


async def _poster(
    request: Request,
    conn: Any,
    estate: str,
    start: str | None,
    end: str | None,
    group: str | None,
    building: str | None,
    posted: bool,
) -> tuple[layout.Context, poster.Poster, common.Visitor, str, str | None] | Response:
    """The visitor's poster; with `posted`, the committee's form and its pasted link
    (what was typed, and the label key of what is wrong with it)."""
    if posted:
        who = await common.committee(request, conn, estate)
        if isinstance(who, common.Visitor):
            who = await common.refused(request) or who
    else:
        who = await common.visitor(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    typed, problem, url = "", None, None
    if posted:
        form = await request.form()
        value = form.get("link")
        typed = value.strip() if isinstance(value, str) else ""
        problem = poster.link_error(typed)
        if problem is None:
            found = await public_board.estate_of(conn, poster.link_token(typed))
            if found is None or found["id"] != estate:
                problem = "poster.link_wrong"
            else:
                url = typed
    tz = str(who.estate["timezone"])
    ctx = layout.Context(
        request,
        common.locale_of(request),
        resolve(start, end, tz, rules=common.period_rules(request)),
        estate,
        tz,
        keep=[("group", group)] + ([("building", building)] if building else []) if group else [],
        committee=who.principal.has_role(Role.admin),
    )
    assert ctx.period is not None
    settings = get_dashboard_settings(request)
    try:
        found_poster = await poster.load(
            conn, who.estate, ctx.period, group, settings, ctx.locale, url, building
        )
    except poster.AmbiguousGroup as several:
        return _which_building(ctx, several.buildings)
    if found_poster is None:
        return common.error_page(request, "poster.no_group", 404)
    return ctx, found_poster, who, typed, problem


def _which_building(ctx: layout.Context, buildings: list[str]) -> Response:
    """A 400 page: the group id is in several buildings; links to each one's poster."""
    path = ctx.request.url.path
    links = " ".join(
        f'<a class="building" href="{escape(ctx.href(path, building=b))}">{escape(b)}</a>'
        for b in buildings
    )
    body = f'<p class="error" id="poster-which-building">{ctx.t("poster.which_building")}</p>'
    return layout.page(ctx, ctx.t("error.title"), f"{body}<p>{links}</p>", status_code=400)


def _controls(ctx: layout.Context, found: poster.Poster, typed: str, problem: str | None) -> str:
    """What the print view has around the poster (never printed)."""
    base = f"/dashboards/estates/{ctx.estate}/poster"
    assert ctx.period is not None
    plain = layout.Context(ctx.request, ctx.locale, ctx.period, ctx.estate, ctx.timezone)
    groups = " ".join(
        f'<a class="group" href="{escape(plain.href(base, group=g, building=b))}">'
        f"{escape(ctx.t('poster.group', building=b, group=g))}</a>"
        for b, g in found.groups
    )
    out = (
        f'<div class="noprint exports" id="poster-controls"><p>'
        f'<button type="button" data-print>{ctx.t("poster.print")}</button> '
        f'<a id="poster-pdf" href="{escape(ctx.href(base + ".pdf"))}">{ctx.t("poster.pdf")}</a>'
        f"</p><p>{ctx.t('poster.groups')} "
        f'<a href="{escape(plain.href(base))}">{ctx.t("poster.estate_poster")}</a> {groups}</p>'
    )
    if ctx.committee and found.link.since is not None:
        error = f'<p class="error" id="poster-link-error">{ctx.t(problem)}</p>' if problem else ""
        out += (
            f'<form method="post" id="poster-link-form" action="{escape(ctx.href(base))}">'
            f"{common.csrf_field(ctx.request)}{error}<label>{ctx.t('poster.link_label')} "
            f'<input name="link" size="60" value="{escape(typed)}"></label> '
            f'<button type="submit" id="poster-link-show">{ctx.t("poster.link_show")}</button> '
            f'<button type="submit" id="poster-link-pdf" formaction="'
            f'{escape(ctx.href(base + ".pdf"))}">{ctx.t("poster.link_pdf")}</button></form>'
        )
    return out + "</div>"


def _print_view(
    ctx: layout.Context, found: poster.Poster, typed: str, problem: str | None
) -> Response:
    body = (
        f"<style>{poster.PRINT_CSS}{PAGE_PRINT_CSS}</style>{_controls(ctx, found, typed, problem)}"
        f"{poster.article(ctx.locale, found)}"
    )
    title = f"{found.estate['name']} · {ctx.t('poster.page_title')}"
    return layout.page(ctx, title, body, status_code=400 if problem else 200)


async def _pdf(ctx: layout.Context, found: poster.Poster) -> Response:
    assert ctx.period is not None
    pdf = await poster_pdf.render_async(poster.document(ctx.locale, found))
    part = f"-{found.group[0]}-{found.group[1]}" if found.group else ""
    name = f"{ctx.estate}-poster{part}-{ctx.period.start}-{ctx.period.end}.pdf"
    return _download(pdf, poster_pdf.PDF_TYPE, name, inline=True)


# GET shows the poster; POST (the committee's form, CSRF-checked in `_poster`) carries the
# pasted public link for its QR code in the body, never in a URL.
@router.api_route(
    "/dashboards/estates/{estate}/poster", methods=["GET", "POST"], include_in_schema=False
)
async def poster_page(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    start: From = None,
    end: To = None,
    group: Group = None,
    building: Building = None,
) -> Response:
    """The poster's print view (A4 print CSS), with the link's QR code when posted."""
    posted = request.method == "POST"
    loaded = await _poster(request, conn, estate, start, end, group, building, posted=posted)
    if isinstance(loaded, Response):
        return loaded
    ctx, found, _, typed, problem = loaded
    return _print_view(ctx, found, typed, problem)


@router.api_route(
    "/dashboards/estates/{estate}/poster.pdf", methods=["GET", "POST"], include_in_schema=False
)
async def poster_pdf_file(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    start: From = None,
    end: To = None,
    group: Group = None,
    building: Building = None,
) -> Response:
    """The poster as an A4 PDF; posted with the public link, with its QR code (the print
    view with the form's message when the link is not the estate's)."""
    posted = request.method == "POST"
    loaded = await _poster(request, conn, estate, start, end, group, building, posted=posted)
    if isinstance(loaded, Response):
        return loaded
    ctx, found, _, typed, problem = loaded
    if problem:
        return _print_view(ctx, found, typed, problem)
    return await _pdf(ctx, found)


# -- the monthly report ----------------------------------------------------------------------


def _month(request: Request, value: str | None, timezone: str) -> Period | Response:
    """The month asked for (the last one that ended when none is), or a 400 page in the
    UI's language when it is not a month the API serves."""
    month = monthly_report.month_period(value, today(timezone))
    rules = common.period_rules(request)
    if month is None or rules.clamp(month.start, month.end) != (month.start, month.end):
        return common.error_page(request, "report.bad_month", 400)
    return month


@router.get("/dashboards/estates/{estate}/report.xlsx", include_in_schema=False)
async def estate_report(
    request: Request, estate: EstatePath, conn: ConnDep, month: Month = None
) -> Response:
    """The estate's monthly report (月报) as one Excel workbook."""
    who = await common.visitor(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    chosen = _month(request, month, str(who.estate["timezone"]))
    if isinstance(chosen, Response):
        return chosen
    locale = common.locale_of(request)
    targets = get_dashboard_settings(request).targets()
    sheets = await monthly_report.estate_report(conn, who.estate, chosen, targets, locale)
    name = f"{estate}-report-{chosen.start:%Y-%m}.xlsx"
    return _download(monthly_report.workbook(sheets, locale), common.XLSX_TYPE, name)


@router.get("/dashboards/district/report.xlsx", include_in_schema=False)
async def district_report(request: Request, conn: ConnDep, month: Month = None) -> Response:
    """The monthly report of every estate the caller may see, as one Excel workbook."""
    who = await common.visitor(request, conn)
    if not isinstance(who, common.Visitor):
        return who
    principal = who.principal
    estates = await registry.list_estates(
        conn, sorted(principal.estates) if principal.estates is not None else None
    )
    zone = district.shared_zone(estates) or "Asia/Shanghai"
    chosen = _month(request, month, zone)
    if isinstance(chosen, Response):
        return chosen
    locale = common.locale_of(request)
    targets = get_dashboard_settings(request).targets()
    sheets = await monthly_report.district_report(conn, estates, chosen, targets, locale)
    name = f"district-report-{chosen.start:%Y-%m}.xlsx"
    return _download(monthly_report.workbook(sheets, locale), common.XLSX_TYPE, name)
