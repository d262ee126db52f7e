"""Sorting accuracy (分类准确率) of an estate's inspections: per category, and per refuse
room × category × week, with a weekly chart; linked from the overview's accuracy card.

The totals and the per-category figures are the API's own (`api.inspections.service`,
the answer of `GET /api/v1/estates/{estate}/accuracy`); the room × week split sums the
same inspection lines (`repository.accuracy_weekly`) and applies the same rule, passed
= inspected - mis-sorted, accuracy = passed / inspected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth.tokens import Role
from api.deps import ConnDep, EstatePath
from api.inspections import service as inspections
from api.metrics.definitions import CATEGORIES, ratio
from dashboards import charts, common, definitions, freshness, layout, repository, tables
from dashboards.period import resolve_checked
from dashboards.settings import get_dashboard_settings

router = APIRouter()

_COUNTS = [
    tables.Column("inspections", "acc.col.inspections", "int"),
    tables.Column("inspected", "acc.col.inspected", "int"),
    tables.Column("passed", "acc.col.passed", "int"),
    tables.Column("mis_sorted", "acc.col.mis_sorted", "int"),
    tables.Column("re_sorted", "acc.col.re_sorted", "int"),
    tables.Column("accuracy", "acc.col.accuracy", "pct"),
]


def weekly_rows(weekly: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each room × category × week's sums with passed and accuracy, as the API makes them."""
    return [
        {
            **r,
            "passed": r["inspected"] - r["mis_sorted"],
            "accuracy": ratio(r["inspected"] - r["mis_sorted"], r["inspected"]),
        }
        for r in weekly
    ]


def by_week(rows: list[dict[str, Any]]) -> tuple[list[Any], dict[str, Sequence[float | None]]]:
    """The weeks and each inspected category's accuracy per week, every room together
    (None: a week without inspections of that category)."""
    weeks = sorted({r["week"] for r in rows})
    sums: dict[tuple[Any, str], list[int]] = {}
    for r in rows:
        got = sums.setdefault((r["week"], r["category"]), [0, 0])
        got[0] += r["inspected"]
        got[1] += r["mis_sorted"]
    series: dict[str, Sequence[float | None]] = {}
    for c in CATEGORIES:
        if any(k[1] == c for k in sums):
            series[c] = [
                ratio(sums[w, c][0] - sums[w, c][1], sums[w, c][0]) if (w, c) in sums else None
                for w in weeks
            ]
    return weeks, series


def build_tables(
    ctx: layout.Context, api: dict[str, Any], weekly: list[dict[str, Any]]
) -> dict[str, tables.Table]:
    """The page's tables by export name."""
    category = tables.Column("category", "col.category", "category")
    return {
        "categories": tables.Table(
            "categories",
            ctx.t("table.accuracy_categories"),
            [category, *_COUNTS],
            [{"category": c, **row} for c, row in api["by_category"].items()],
        ),
        "weeks": tables.Table(
            "weeks",
            ctx.t("table.accuracy"),
            [
                tables.Column("room", "col.room"),
                category,
                tables.Column("week", "acc.col.week", "date"),
                *_COUNTS,
            ],
            weekly,
        ),
    }


async def _load(
    request: Request, conn: Any, estate: str, start: str | None, end: str | None
) -> tuple[layout.Context, dict[str, Any], dict[str, Any], list[dict[str, Any]]] | Response:
    who = await common.visitor(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    tz = str(who.estate["timezone"])
    rules = common.period_rules(request)
    asked = resolve_checked(start, end, tz, rules=rules)
    ctx = layout.Context(
        request,
        common.locale_of(request),
        asked.period,
        estate,
        tz,
        committee=who.principal.has_role(Role.admin),
        rules=rules,
        notices=asked.notices,
    )
    p = asked.period
    api = await inspections.accuracy(conn, estate, p.start, p.end)
    weekly = weekly_rows(await repository.accuracy_weekly(conn, estate, p.start, p.end))
    return ctx, who.estate, api, weekly


@router.get("/dashboards/estates/{estate}/accuracy", include_in_schema=False)
async def accuracy_page(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """Sorting accuracy per category and per room × category × week."""
    loaded = await _load(request, conn, estate, start, end)
    if isinstance(loaded, Response):
        return loaded
    ctx, row, api, weekly = loaded
    assert ctx.period is not None
    settings = get_dashboard_settings(request)
    stale = await freshness.stale_estates(conn, [estate], settings.stale_minutes, datetime.now(UTC))
    ctx.badges = [freshness.badge(ctx.locale, s) for s in stale]
    chart = charts.Chart(
        "accuracy",
        ctx.t("chart.accuracy"),
        charts.weekly_shares(ctx.locale, *by_week(weekly), settings.target_accuracy),
        ctx.t("def.accuracy"),
        ctx.t("def.label"),
    )
    base = f"/dashboards/estates/{estate}/accuracy/export"
    none = "" if api["inspected"] else f'<p class="note" id="accuracy-none">{ctx.t("acc.none")}</p>'
    body = (
        f"{none}{definitions.footnotes(ctx, ('accuracy',))}"
        f"{charts.to_html(chart, f'{estate}-accuracy-{ctx.period.start}-{ctx.period.end}')}"
        + "".join(
            tables.to_html(tb, ctx.locale, ctx.href(f"{base}/{name}"))
            for name, tb in build_tables(ctx, api, weekly).items()
        )
    )
    return layout.page(ctx, f"{row['name']} · {ctx.t('acc.title')}", body, charts=True)


@router.get("/dashboards/estates/{estate}/accuracy/export/{table}", include_in_schema=False)
async def accuracy_export(
    request: Request,
    estate: EstatePath,
    table: str,
    conn: ConnDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    format: Annotated[common.ExportFormat, Query()] = "csv",
) -> Response:
    """One of the accuracy page's tables as CSV or Excel."""
    loaded = await _load(request, conn, estate, start, end)
    if isinstance(loaded, Response):
        return loaded
    ctx, _, api, weekly = loaded
    assert ctx.period is not None
    found = build_tables(ctx, api, weekly).get(table)
    if found is None:
        return common.error_page(request, "error.not_found", 404)
    return common.export(
        found,
        ctx.locale,
        format,
        f"{estate}-accuracy-{table}-{ctx.period.start}-{ctx.period.end}",
    )
