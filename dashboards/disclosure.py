"""Public disclosure board (公示): building groups ranked and their star families.

Made for printing and posting in stairwells, so nothing on it identifies a family
without its consent: a star family is shown by its display name only when it consented
(`publish_consent`), by its public code (`pseudonym`) otherwise, never by its household
id (the card's token); groups with fewer enrolled households than `disclosure_min_group`
are left out (with their star families). Households are placed where the registry's
history puts them on the period's last day, so a later move leaves a past board as it was.

The committee (an admin of the estate) exports every household's code with its current
place (`/disclosure/codes`) to print it on the household's card, where the board's hint
tells residents to look.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth.tokens import Role
from api.deps import ConnDep, EstatePath
from api.metrics import repository as metrics
from api.metrics import service
from dashboards import common, i18n, layout, repository, tables
from dashboards.period import resolve, today
from dashboards.pseudonym import pseudonym, visible_groups
from dashboards.settings import DashboardSettings, get_dashboard_settings

router = APIRouter()

GROUP_COLUMNS = [
    tables.Column("rank", "col.rank", "int"),
    tables.Column("building", "col.building"),
    tables.Column("building_group", "col.building_group"),
    tables.Column("households_enrolled", "col.households_enrolled", "int"),
    tables.Column("households_active", "col.households_active", "int"),
    tables.Column("participation_rate", "col.participation_rate", "pct"),
    tables.Column("wet_share", "col.wet_share", "pct"),
]
STAR_COLUMNS = [
    tables.Column("building", "col.building"),
    tables.Column("building_group", "col.building_group"),
    tables.Column("household", "col.household"),
    tables.Column("active_days", "col.active_days", "int"),
]
CODE_COLUMNS = [
    tables.Column("household", "col.household_id"),
    tables.Column("display_name", "col.display_name"),
    tables.Column("code", "col.public_code"),
    tables.Column("building", "col.building"),
    tables.Column("building_group", "col.building_group"),
    tables.Column("publish_consent", "col.publish_consent", "bool"),
]


def public_name(secret: bytes, estate: str, household: dict[str, Any]) -> str:
    """How the board names a household: its display name if it consented to that (and
    has one), its public code otherwise."""
    name = household.get("display_name")
    if household.get("publish_consent") and name:
        return str(name)
    return pseudonym(secret, estate, household["household"])


def board(
    estate: str,
    buildings: list[dict[str, Any]],
    activity: list[dict[str, Any]],
    settings: DashboardSettings,
    none_label: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(ranked visible groups, star families, number of hidden groups). Pure."""
    sizes = {
        (b["building"], g["building_group"]): int(g["households_enrolled"])
        for b in buildings
        for g in b["groups"]
    }
    shown = visible_groups(sizes, settings.disclosure_min_group)
    groups = [
        {
            "building": b["building"],
            "building_group": g["building_group"] or none_label,
            **{
                k: g[k]
                for k in (
                    "households_enrolled",
                    "households_active",
                    "participation_rate",
                    "wet_share",
                )
            },
        }
        for b in buildings
        for g in b["groups"]
        if (b["building"], g["building_group"]) in shown
    ]
    groups.sort(
        key=lambda r: (
            r["participation_rate"] is None,
            -(r["participation_rate"] or 0),
            r["building"],
            r["building_group"],
        )
    )
    by_group: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for h in activity:
        key = (h["building"], h["building_group"])
        if key in shown:
            by_group[key].append(
                {
                    "building": h["building"],
                    "building_group": h["building_group"] or none_label,
                    "household": public_name(settings.secret(), estate, h),
                    "active_days": h["active_days"],
                    "drops": h["drops"],
                }
            )
    stars: list[dict[str, Any]] = []
    for key in sorted(by_group, key=lambda k: (k[0], k[1] or "")):
        ranked = sorted(
            by_group[key], key=lambda r: (-r["active_days"], -r["drops"], r["household"])
        )
        stars += ranked[: settings.disclosure_stars]
    for row in stars:
        del row["drops"]
    return (
        [{"rank": i, **g} for i, g in enumerate(groups, start=1)],
        stars,
        len(sizes) - len(shown),
    )


async def _load(
    request: Request, conn: Any, estate: str, start: str | None, end: str | None
) -> tuple[layout.Context, dict[str, Any], dict[str, tables.Table], int, bool] | Response:
    who = await common.visitor(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    tz = str(who.estate["timezone"])
    ctx = layout.Context(request, common.locale_of(request), resolve(start, end, tz), estate, tz)
    assert ctx.period is not None
    p = ctx.period
    buildings = service.buildings(
        estate, await metrics.building_rows(conn, estate, p.start, p.end), p.start, p.end
    )
    activity = await repository.household_activity(conn, estate, p.start, p.end)
    groups, stars, hidden = board(
        estate,
        buildings["buildings"],
        activity,
        get_dashboard_settings(request),
        ctx.t("disclosure.none"),
    )
    found = {
        "groups": tables.Table("groups", ctx.t("table.groups"), GROUP_COLUMNS, groups),
        "stars": tables.Table("stars", ctx.t("table.stars"), STAR_COLUMNS, stars),
    }
    return ctx, who.estate, found, hidden, who.principal.has_role(Role.admin)


@router.get("/dashboards/estates/{estate}/disclosure", include_in_schema=False)
async def disclosure_page(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """The printable board."""
    loaded = await _load(request, conn, estate, start, end)
    if isinstance(loaded, Response):
        return loaded
    ctx, row, found, hidden, committee = loaded
    minimum = get_dashboard_settings(request).disclosure_min_group
    base = f"/dashboards/estates/{estate}/disclosure/export"
    codes = ""
    if committee:  # a link only (no household id on this page), and never printed
        href = f"/dashboards/estates/{estate}/disclosure/codes"
        codes = (
            f'<p class="noprint exports" id="codes-export">{ctx.t("disclosure.codes")} '
            f'<a class="export" data-format="csv" href="{escape(href)}?format=csv">'
            f"{ctx.t('export.csv')}</a> "
            f'<a class="export" data-format="xlsx" href="{escape(href)}?format=xlsx">'
            f"{ctx.t('export.xlsx')}</a></p>"
        )
    body = (
        f"<p>{ctx.t('disclosure.intro')}</p>"
        f'<p id="code-hint">{ctx.t("disclosure.code_hint")}</p>'
        f'<p class="note" id="hidden-groups">{ctx.t("disclosure.hidden", n=minimum, m=hidden)}'
        f'</p><p class="noprint"><button onclick="window.print()">'
        f"{ctx.t('disclosure.print')}</button></p>{codes}"
        + "".join(
            tables.to_html(tb, ctx.locale, ctx.href(f"{base}/{name}")) for name, tb in found.items()
        )
    )
    return layout.page(ctx, f"{row['name']} · {ctx.t('disclosure.title')}", body)


@router.get("/dashboards/estates/{estate}/disclosure/export/{table}", include_in_schema=False)
async def disclosure_export(
    request: Request,
    estate: EstatePath,
    table: str,
    conn: ConnDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    format: Annotated[common.ExportFormat, Query()] = "csv",
) -> Response:
    """A board table as CSV or Excel."""
    loaded = await _load(request, conn, estate, start, end)
    if isinstance(loaded, Response):
        return loaded
    ctx, _, found, _, _ = loaded
    assert ctx.period is not None
    if table not in found:
        return common.error_page(request, "error.not_found", 404)
    return common.export(
        found[table],
        ctx.locale,
        format,
        f"{estate}-disclosure-{table}-{ctx.period.start}-{ctx.period.end}",
    )


@router.get("/dashboards/estates/{estate}/disclosure/codes", include_in_schema=False)
async def household_codes(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    format: Annotated[common.ExportFormat, Query()] = "csv",
) -> Response:
    """Every household's public code, for the committee to print on its card (admin).

    One row per household: its id (the card's token), display name, code, and where it
    belongs today (the estate's local day), as CSV or Excel, formula-safe.
    """
    who = await common.committee(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    day = today(str(who.estate["timezone"]))
    secret = get_dashboard_settings(request).secret()
    rows = [
        {**h, "code": pseudonym(secret, estate, h["household"])}
        for h in await repository.household_cards(conn, estate, day)
    ]
    locale = common.locale_of(request)
    table = tables.Table("codes", i18n.t(locale, "table.codes"), CODE_COLUMNS, rows)
    return common.export(table, locale, format, f"{estate}-household-codes-{day}")
