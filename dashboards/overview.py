"""Estate overview: the three figures against targets, sorting accuracy, trends, rankings,
bins, data quality; each figure with its definition (口径, `dashboards.definitions`).

Every figure comes from the API's own repository and service (`api.metrics`,
`api.inspections`), so the page and `GET /api/v1/estates/{estate}/metrics` and
`…/accuracy` cannot disagree. The committee (an admin of the estate) also gets links to
its documents: the disclosure poster and the monthly report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from psycopg_pool import AsyncConnectionPool

from api.alarms import repository as alarm_repo
from api.auth.tokens import Role
from api.deps import EstatePath, PoolDep
from api.inspections import service as inspections
from api.metrics import repository as metrics
from api.metrics import service
from api.metrics.definitions import CATEGORIES, kg_total
from api.registry import repository as registry
from dashboards import (
    accuracy,
    alarm_banner,
    charts,
    common,
    definitions,
    freshness,
    i18n,
    layout,
    repository,
    tables,
)
from dashboards.period import Period, resolve_checked, today
from dashboards.settings import DashboardSettings, get_dashboard_settings

# The banner lists at most this many unresolved alarms (the newest).
BANNER_ALARMS = 20
UNRESOLVED = ("open", "acknowledged")
# Tables with more rows than a month's days come folded (the reader opens them): a
# year's daily rows and an estate's building groups, laid out, cost a phone ~0.3 s.
FOLD_ROWS = 31

router = APIRouter()
router.include_router(definitions.router)
router.include_router(accuracy.router)
Pool = AsyncConnectionPool[psycopg.AsyncConnection[object]]
T = TypeVar("T")
FIGURES = ("coverage", "participation_rate", "wet_share", "in_window_share")
# A day's figures that only drops make: blank on days that have not happened yet.
_DAY_FIGURES = (
    "households_enrolled",
    "households_active",
    "participation_rate",
    "drops",
    "identified_drops",
    "wet_share",
    "in_window_share",
)


@dataclass(slots=True)
class Overview:
    """Everything the page shows, for one estate and period."""

    current: dict[str, Any]
    previous: dict[str, Any]
    days: list[dict[str, Any]]
    buildings: list[dict[str, Any]]
    bins: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    # No drop recorded in the period: the page says so, its cards "no data yet".
    empty: bool = False
    # GET …/accuracy's totals for the period, and the previous period's totals.
    accuracy: dict[str, Any] = field(default_factory=dict)
    accuracy_before: dict[str, Any] = field(default_factory=dict)
    # `repository.newest_events` of the estate: the stale-data badge's input.
    newest: list[dict[str, Any]] = field(default_factory=list)
    # The estate's unresolved alarms, newest first: the banner at the top.
    alarms: list[dict[str, Any]] = field(default_factory=list)


async def _query(pool: Pool, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`fn(conn, *args)` on a connection of its own, so the page's queries overlap."""
    async with pool.connection() as conn:
        return await fn(conn, *args)


async def load(pool: Pool, estate: str, timezone: str, period: Period) -> Overview:
    """Query the figures of `period` and of the previous period of equal length.

    The queries are independent: each runs on its own pooled connection, all at once
    (the page holds no other connection meanwhile, so they cannot starve it).
    """
    prev = period.previous()
    now, before, day_rows, building_rows, bin_rows, rejected = await asyncio.gather(
        _query(pool, metrics.estates_rows, [estate], period.start, period.end),
        _query(pool, metrics.estates_rows, [estate], prev.start, prev.end),
        _query(pool, metrics.daily_rows, estate, period.start, period.end),
        _query(pool, metrics.building_rows, estate, period.start, period.end),
        _query(pool, registry.list_bins, estate),
        _query(pool, repository.rejected_daily, estate, period.start, period.end),
    )
    checked, checked_before, newest, alarms = await asyncio.gather(
        _query(pool, inspections.estate_accuracy, estate, period.start, period.end),
        _query(pool, inspections.estate_accuracy, estate, prev.start, prev.end),
        _query(pool, repository.newest_events, [estate]),
        _query(pool, alarm_repo.list_alarms, estate, UNRESOLVED, BANNER_ALARMS),
    )
    current = service.estate_metrics(now[0], period.start, period.end)
    previous = service.estate_metrics(before[0], prev.start, prev.end)
    empty = not recorded(current)
    until = today(timezone)
    days = [
        _not_yet(d) if d["day"] > until else d
        for d in service.daily(estate, day_rows, period.start, period.end)["days"]
    ]
    buildings = service.buildings(estate, building_rows, period.start, period.end)["buildings"]
    zone = ZoneInfo(timezone)
    bins = [
        {
            **b,
            "last_seen": b["last_seen"] and b["last_seen"].astimezone(zone),
            "last_alarm_at": b["last_alarm_at"] and b["last_alarm_at"].astimezone(zone),
            "fill_pct": None if b["fill_pct"] is None else b["fill_pct"] / 100,
            "battery_pct": None if b["battery_pct"] is None else b["battery_pct"] / 100,
        }
        for b in bin_rows
    ]
    return Overview(
        _unknown_unless_recorded(current),
        _unknown_unless_recorded(previous),
        days,
        buildings,
        bins,
        rejected,
        empty,
        dict(checked),
        dict(checked_before),
        newest,
        [dict(a) for a in alarms],
    )


def recorded(figures: dict[str, Any]) -> bool:
    """Whether a period has any drop recorded: without one (days to come, an estate not
    yet sending, before its first drop) its figures say nothing, not 0 %, and no change
    against it can be told."""
    return int(figures["drops"]) > 0


def _not_yet(day: dict[str, Any]) -> dict[str, Any]:
    """A day that has not happened: no figures (shown '–', drawn as a gap), not zeros."""
    return {
        **day,
        **dict.fromkeys(_DAY_FIGURES),
        "kg": dict.fromkeys(day["kg"]),
    }


def _group_row(g: dict[str, Any], building: str, group: str | None) -> dict[str, Any]:
    return {
        "building": building,
        "building_group": group,
        **{
            k: g[k]
            for k in (
                "households_registered",
                "households_enrolled",
                "households_active",
                "participation_rate",
                "drops",
                "wet_share",
            )
        },
        "kg_total": kg_total(g["kg"]),
    }


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (r["participation_rate"] is None, -(r["participation_rate"] or 0)))
    return [{"rank": i, **r} for i, r in enumerate(rows, start=1)]


_GROUP_COLUMNS = [
    tables.Column("households_enrolled", "col.households_enrolled", "int"),
    tables.Column("households_active", "col.households_active", "int"),
    tables.Column("participation_rate", "col.participation_rate", "pct"),
    tables.Column("drops", "col.drops", "int"),
    tables.Column("kg_total", "col.kg_total", "kg"),
    tables.Column("wet_share", "col.wet_share", "pct"),
]


def build_tables(ctx: layout.Context, data: Overview) -> dict[str, tables.Table]:
    """The page's tables by export name."""
    daily = [
        {
            "day": d["day"],
            **{
                k: d[k]
                for k in (
                    "households_enrolled",
                    "households_active",
                    "participation_rate",
                    "drops",
                    "wet_share",
                    "in_window_share",
                )
            },
            **{f"kg_{c}": d["kg"][c] for c in CATEGORIES},
        }
        for d in data.days
    ]
    buildings = _ranked([_group_row(b, b["building"], None) for b in data.buildings])
    groups = _ranked(
        [
            _group_row(g, b["building"], g["building_group"])
            for b in data.buildings
            for g in b["groups"]
        ]
    )
    rank = tables.Column("rank", "col.rank", "int")
    building = tables.Column("building", "col.building")
    return {
        "daily": tables.Table(
            "daily",
            ctx.t("table.daily"),
            [
                tables.Column("day", "col.day", "date"),
                *_GROUP_COLUMNS[:4],
                *(tables.Column(f"kg_{c}", f"col.kg_{c}", "kg") for c in CATEGORIES),
                tables.Column("wet_share", "col.wet_share", "pct"),
                tables.Column("in_window_share", "col.in_window_share", "pct"),
            ],
            daily,
        ),
        "buildings": tables.Table(
            "buildings",
            ctx.t("table.buildings"),
            [
                rank,
                building,
                tables.Column("households_registered", "col.households_registered", "int"),
                *_GROUP_COLUMNS,
            ],
            buildings,
        ),
        "groups": tables.Table(
            "groups",
            ctx.t("table.groups"),
            [
                rank,
                building,
                tables.Column("building_group", "col.building_group"),
                *_GROUP_COLUMNS,
            ],
            groups,
        ),
        "bins": tables.Table(
            "bins",
            ctx.t("table.bins"),
            [
                tables.Column("room", "col.room"),
                tables.Column("id", "col.bin"),
                tables.Column("category", "col.category", "category"),
                tables.Column("fill_pct", "col.fill_pct", "pct"),
                tables.Column("online", "col.online", "bool"),
                tables.Column("last_seen", "col.last_seen", "datetime"),
                tables.Column("battery_pct", "col.battery_pct", "pct"),
                tables.Column("last_alarm", "col.last_alarm"),
                tables.Column("last_alarm_at", "col.last_alarm_at", "datetime"),
            ],
            data.bins,
        ),
        "rejected": tables.Table(
            "rejected",
            ctx.t("table.rejected"),
            [
                tables.Column("day", "col.day", "date"),
                tables.Column("reason", "col.reason"),
                tables.Column("count", "col.count", "int"),
            ],
            data.rejected,
        ),
    }


def _card(
    ctx: layout.Context,
    figure: str,
    value: float | None,
    before: float | None,
    target: float | None,
    extra: str = "",
    kind: str = "card",
) -> str:
    """One figure against its target (None: none set), with its definition (口径);
    `value`/`before` None when that period has no data. `kind`: the box's class (the
    accuracy's is not one of the three figures' `card`s)."""
    state = "" if value is None or target is None else ("met" if value >= target else "missed")
    delta = None if value is None or before is None else value - before
    verdict = f" · {ctx.t('target.' + state)}" if state else ""
    shown = ctx.t("no_data_yet") if value is None else i18n.percent(value)
    change = ctx.t("no_data") if delta is None else i18n.points(ctx.locale, delta)
    aim = ctx.t("acc.no_target") if target is None else f"≥ {i18n.percent(target, 0)}"
    return (
        f'<div class="{kind} {state}" data-figure="{figure}" data-value="'
        f'{"" if value is None else repr(value)}"><div class="label">'
        f'{ctx.t("figure." + figure)}</div><div class="value">{shown}</div>'
        f'<div class="meta">{ctx.t("target")} {aim}{verdict}</div>{extra}'
        f"{definitions.footnote(ctx, figure)}"
        f'<div class="meta delta">{ctx.t("change")} {change}'
        f"</div></div>"
    )


def _unknown_unless_recorded(figures: dict[str, Any]) -> dict[str, Any]:
    """A period's figures, the cards' ones None when it has no drop recorded."""
    return figures if recorded(figures) else {**figures, **dict.fromkeys(FIGURES)}


def build_charts(
    ctx: layout.Context, data: Overview, targets: dict[str, float]
) -> list[charts.Chart]:
    """The page's figures, each with its definition beside its title."""
    x = [d["day"] for d in data.days]
    return [
        replace(c, hint=ctx.t("def.hint." + c.name if c.name == "participation" else "def.label"))
        for c in _charts(ctx, data, targets, x)
    ]


def _charts(
    ctx: layout.Context, data: Overview, targets: dict[str, float], x: list[Any]
) -> list[charts.Chart]:
    return [
        charts.Chart(
            "daily-kg",
            ctx.t("chart.daily_kg"),
            charts.stacked_kg(
                ctx.locale, x, {c: [d["kg"][c] for d in data.days] for c in CATEGORIES}
            ),
            ctx.t("def.kg"),
        ),
        charts.Chart(
            "participation",
            ctx.t("chart.daily_participation"),
            charts.share_line(
                ctx.locale,
                x,
                [d["participation_rate"] for d in data.days],
                ctx.t("figure.participation_rate"),
                targets["participation_rate"],
            ),
            ctx.t("def.daily_participation"),
        ),
        charts.Chart(
            "wet-share",
            ctx.t("chart.wet_share"),
            charts.share_line(
                ctx.locale,
                x,
                [d["wet_share"] for d in data.days],
                ctx.t("figure.wet_share"),
                targets["wet_share"],
            ),
            ctx.t("def.wet_share"),
        ),
        charts.Chart(
            "in-window",
            ctx.t("chart.in_window"),
            charts.share_line(
                ctx.locale,
                x,
                [d["in_window_share"] for d in data.days],
                ctx.t("figure.in_window_share"),
                targets["in_window_share"],
            ),
            ctx.t("def.in_window_share"),
        ),
        charts.Chart(
            "buildings",
            ctx.t("chart.buildings"),
            charts.ranked_bars(
                ctx.locale,
                [b["building"] for b in data.buildings],
                [b["participation_rate"] for b in data.buildings],
                targets["participation_rate"],
            ),
            ctx.t("def.buildings"),
        ),
        charts.Chart(
            "rejected",
            ctx.t("chart.rejected"),
            charts.counts_by_reason(ctx.locale, data.rejected, x),
            ctx.t("def.rejected"),
        ),
    ]


def render(
    ctx: layout.Context, estate: dict[str, Any], data: Overview, settings: DashboardSettings
) -> Response:
    """The overview page."""
    targets = settings.targets()
    cards = "".join(_card(ctx, f, data.current[f], data.previous[f], targets[f]) for f in FIGURES)
    cards += _accuracy_card(ctx, data, settings.target_accuracy)
    empty = f'<p class="note" id="empty-state">{ctx.t("empty.period")}</p>' if data.empty else ""
    assert ctx.period is not None
    stem = f"{estate['id']}-{ctx.period.start}-{ctx.period.end}"
    plots = "".join(charts.to_html(c, f"{stem}-{c.name}") for c in build_charts(ctx, data, targets))
    base = f"/dashboards/estates/{estate['id']}/export"
    tabs = "".join(
        tables.to_html(tb, ctx.locale, ctx.href(f"{base}/{name}"), FOLD_ROWS)
        for name, tb in build_tables(ctx, data).items()
    )
    title = f"{estate['name']} · {ctx.t('overview.title')}"
    return layout.page(
        ctx,
        title,
        f"{alarm_banner.render(ctx, data.alarms)}"
        f"{empty}{_documents(ctx, str(estate['id']))}{definitions.link(ctx)}"
        f'<div class="cards">{cards}</div><div class="grid">{plots}</div>{tabs}',
        charts=True,
    )


def _accuracy_card(ctx: layout.Context, data: Overview, target: float | None) -> str:
    """Sorting accuracy beside the three figures: GET …/accuracy's, with its evidence and
    a link to its page (per room, category and week: `dashboards.accuracy`)."""
    acc = data.accuracy
    evidence = (
        f'<div class="meta" id="accuracy-inspected">'
        f"{ctx.t('acc.inspected', n=i18n.number(acc['inspected']), m=acc['inspections'])}"
        f"</div>"
        if acc.get("inspected")
        else f'<div class="meta" id="accuracy-none">{ctx.t("acc.none")}</div>'
    )
    href = ctx.href(f"/dashboards/estates/{ctx.estate}/accuracy")
    evidence += (
        f'<div class="meta"><a id="accuracy-details" href="{escape(href)}">'
        f"{ctx.t('acc.details')}</a></div>"
    )
    return _card(
        ctx,
        "accuracy",
        acc.get("accuracy"),
        data.accuracy_before.get("accuracy"),
        target,
        evidence,
        "acc-card",
    )


def _documents(ctx: layout.Context, estate: str) -> str:
    """The committee's documents of this period (poster, its PDF) and of its last month
    (the monthly report); '' for anyone else. Built by their own pages."""
    if not ctx.committee:
        return ""
    assert ctx.period is not None
    base = f"/dashboards/estates/{estate}"
    period = ctx.period.query()
    month = f"{ctx.period.end:%Y-%m}"
    links = [
        ("doc-poster", f"{base}/poster", period, ctx.t("docs.poster")),
        ("doc-poster-pdf", f"{base}/poster.pdf", period, ctx.t("docs.poster_pdf")),
        ("doc-report", f"{base}/report.xlsx", {"month": month}, ctx.t("docs.report", month=month)),
    ]
    return document_links(ctx, links)


def document_links(ctx: layout.Context, links: list[tuple[str, str, dict[str, str], str]]) -> str:
    """A row of document links: (id, path, query, label) each."""
    shown = " · ".join(
        f'<a id="{i}" href="{escape(path + "?" + urlencode(query))}">{escape(label)}</a>'
        for i, path, query, label in links
    )
    return (
        f'<p class="noprint exports" id="committee-documents"><strong>{ctx.t("docs.title")}'
        f"</strong> {shown}</p>"
    )


def _context(
    request: Request, who: common.Visitor, start: str | None, end: str | None
) -> layout.Context:
    assert who.estate is not None
    tz = str(who.estate["timezone"])
    rules = common.period_rules(request)
    asked = resolve_checked(start, end, tz, rules=rules)
    return layout.Context(
        request,
        common.locale_of(request),
        asked.period,
        str(who.estate["id"]),
        tz,
        committee=who.principal.has_role(Role.admin),
        rules=rules,
        notices=asked.notices,
    )


async def _visitor(request: Request, pool: Pool, estate: str) -> common.Visitor | Response:
    # A connection only for the check: `load` then takes several of its own.
    async with pool.connection() as conn:
        return await common.visitor(request, conn, estate)


@router.get("/dashboards/estates/{estate}", include_in_schema=False)
async def overview_page(
    request: Request,
    estate: EstatePath,
    pool: PoolDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """The estate overview for the chosen period."""
    who = await _visitor(request, pool, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    ctx = _context(request, who, start, end)
    assert ctx.period is not None
    data = await load(pool, estate, ctx.timezone, ctx.period)
    settings = get_dashboard_settings(request)
    ctx.badges = [
        freshness.badge(ctx.locale, s)
        for s in freshness.decide(data.newest, settings.stale_minutes, datetime.now(UTC))
    ]
    return render(ctx, who.estate, data, settings)


@router.get("/dashboards/estates/{estate}/export/{table}", include_in_schema=False)
async def overview_export(
    request: Request,
    estate: EstatePath,
    table: str,
    pool: PoolDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    format: Annotated[common.ExportFormat, Query()] = "csv",
) -> Response:
    """One of the overview's tables as CSV or Excel."""
    who = await _visitor(request, pool, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    ctx = _context(request, who, start, end)
    assert ctx.period is not None
    found = build_tables(ctx, await load(pool, estate, ctx.timezone, ctx.period)).get(table)
    if found is None:
        return common.error_page(request, "error.not_found", 404)
    return common.export(
        found, ctx.locale, format, f"{estate}-{table}-{ctx.period.start}-{ctx.period.end}"
    )
