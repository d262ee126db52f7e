"""District view: several estates side by side with the same figures, sortable, with totals."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.alarms import repository as alarm_repo
from api.auth.tokens import Role
from api.deps import ConnDep
from api.metrics import repository as metrics
from api.metrics import service
from api.metrics.definitions import kg_total
from api.registry import repository as registry
from dashboards import charts, common, definitions, freshness, layout, tables
from dashboards.period import resolve_checked
from dashboards.settings import get_dashboard_settings

router = APIRouter()
Estates = Annotated[list[str] | None, Query(alias="estate")]

COLUMNS = [
    tables.Column("estate", "col.estate"),
    tables.Column("name", "col.name"),
    tables.Column("households_total", "col.households_total", "int"),
    tables.Column("households_enrolled", "col.households_enrolled", "int"),
    tables.Column("households_active", "col.households_active", "int"),
    tables.Column("coverage", "col.coverage", "pct"),
    tables.Column("participation_rate", "col.participation_rate", "pct"),
    tables.Column("wet_share", "col.wet_share", "pct"),
    tables.Column("in_window_share", "col.in_window_share", "pct"),
    tables.Column("drops", "col.drops", "int"),
    tables.Column("kg_total", "col.kg_total", "kg"),
    # Unresolved alarms now (not the period's): which estate needs someone at a bin.
    tables.Column("open_alarms", "col.open_alarms", "int"),
]


# The table's figures whose definitions (口径) are listed under it.
NOTED = ("coverage", "participation_rate", "wet_share", "in_window_share")


def shared_zone(estates: list[dict[str, Any]]) -> str | None:
    """The time zone of the estates when they all share one, else None (the page then
    tells the time in UTC, saying so)."""
    zones = {str(e["timezone"]) for e in estates}
    return zones.pop() if len(zones) == 1 else None


def _row(figures: dict[str, Any], estate: str, name: str) -> dict[str, Any]:
    return {
        **{c.key: figures.get(c.key) for c in COLUMNS},
        "estate": estate,
        "name": name,
        "kg_total": kg_total(figures["kg"]),
    }


async def _load(
    request: Request, conn: Any, wanted: list[str] | None, start: str | None, end: str | None
) -> tuple[layout.Context, dict[str, Any], tables.Table] | Response:
    who = await common.visitor(request, conn)
    if not isinstance(who, common.Visitor):
        return who
    principal = who.principal
    visible = await registry.list_estates(
        conn, sorted(principal.estates) if principal.estates is not None else None
    )
    names = {e["id"]: e["name"] for e in visible}
    chosen = sorted(set(wanted) & names.keys()) if wanted else sorted(names)
    if wanted and any(not principal.may_see(e) for e in wanted):
        return common.error_page(request, "error.forbidden", 403)
    zone = shared_zone([e for e in visible if e["id"] in chosen])
    rules = common.period_rules(request)
    asked = resolve_checked(start, end, zone or "Asia/Shanghai", rules=rules)
    ctx = layout.Context(
        request,
        common.locale_of(request),
        asked.period,
        keep=[("estate", e) for e in wanted or []],
        timezone=zone or "Asia/Shanghai",
        clock=zone or "UTC",
        committee=principal.has_role(Role.admin),
        rules=rules,
        notices=asked.notices,
    )
    minutes = get_dashboard_settings(request).stale_minutes
    ctx.badges = [
        freshness.badge(ctx.locale, s)
        for s in await freshness.stale_estates(conn, chosen, minutes, datetime.now(UTC))
    ]
    assert ctx.period is not None
    body = service.multi_metrics(
        await metrics.estates_rows(conn, chosen, ctx.period.start, ctx.period.end),
        ctx.period.start,
        ctx.period.end,
    )
    alarms = await alarm_repo.unresolved_counts(conn, chosen)
    rows = [
        {**_row(e, e["estate"], names[e["estate"]]), "open_alarms": alarms[e["estate"]]}
        for e in body["estates"]
    ]
    rows.append(
        {**_row(body["totals"], ctx.t("district.total"), ""), "open_alarms": sum(alarms.values())}
    )
    return ctx, body, tables.Table("estates", ctx.t("table.estates"), COLUMNS, rows)


@router.get("/dashboards/district", include_in_schema=False)
async def district_page(
    request: Request,
    conn: ConnDep,
    estate: Estates = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """Every estate the token may see (or the `estate=` ones), side by side."""
    loaded = await _load(request, conn, estate, start, end)
    if isinstance(loaded, Response):
        return loaded
    ctx, body, table = loaded
    assert ctx.period is not None
    target = get_dashboard_settings(request).target_participation_rate
    chart = charts.Chart(
        "district",
        ctx.t("chart.district"),
        charts.ranked_bars(
            ctx.locale,
            [e["estate"] for e in body["estates"]],
            [e["participation_rate"] for e in body["estates"]],
            target,
        ),
        ctx.t("def.participation_rate"),
        ctx.t("def.label"),
    )
    links = "".join(
        f'<a href="{escape(ctx.href("/dashboards/estates/" + e["estate"]))}">'
        f"{escape(e['estate'])}</a> "
        for e in body["estates"]
    )
    report = ""
    if ctx.committee:  # the committee's (admins') monthly report of the period's last month
        month = f"{ctx.period.end:%Y-%m}"
        href = f"/dashboards/district/report.xlsx?{urlencode({'month': month})}"
        report = (
            f'<p class="noprint exports" id="committee-documents"><strong>'
            f"{ctx.t('docs.title')}</strong> "
            f'<a id="doc-district-report" href="{escape(href)}">'
            f"{escape(ctx.t('docs.district_report', month=month))}</a></p>"
        )
    html = (
        f"{report}"
        f"{tables.to_html(table, ctx.locale, ctx.href('/dashboards/district/export'))}"
        f"{definitions.footnotes(ctx, NOTED)}"
        f"{charts.to_html(chart, f'district-{ctx.period.start}-{ctx.period.end}')}"
        f'<p class="noprint">{links}</p>'
    )
    return layout.page(ctx, ctx.t("district.title"), html, charts=True)


@router.get("/dashboards/district/export", include_in_schema=False)
async def district_export(
    request: Request,
    conn: ConnDep,
    estate: Estates = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    format: Annotated[common.ExportFormat, Query()] = "csv",
) -> Response:
    """The district table as CSV or Excel."""
    loaded = await _load(request, conn, estate, start, end)
    if isinstance(loaded, Response):
        return loaded
    ctx, _, table = loaded
    assert ctx.period is not None
    return common.export(table, ctx.locale, format, f"district-{ctx.period.start}-{ctx.period.end}")
