"""Disclosure board (公示): building groups ranked and their star families.

Made for printing and posting in stairwells, and for its read-only public link, so
nothing on it identifies a family without its consent, and boards of many periods
cannot be put together into a family's diary (the rules: docs/privacy.md):

- a star family is shown by its display name only when it consented
  (`publish_consent`), otherwise by its public code, never by its household id; the
  code changes with the period (`pseudonym`), so codes of two boards never match;
- a period shorter than `disclosure_min_period_days` (7) lists no households at all,
  only the groups' figures, and says so;
- a group where fewer households took part than `disclosure_min_group` is left out
  (with its star families): the count is of the households the board is about;
- households are placed where the registry's history puts them on the period's last
  day, so a later move leaves a past board as it was.

The committee (an admin of the estate) exports every household's code for a period
(`/disclosure/codes?from=&to=`) to hand each its notice slip, and makes the estate's
public link (`dashboards/public_board.py`). The public page shows whole months that
have ended only: nobody without a sign-in can ask for overlapping or short periods.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth.tokens import Role
from api.deps import ConnDep, EstatePath
from api.metrics import repository as metrics
from api.metrics import service
from dashboards import (
    common,
    definitions,
    freshness,
    i18n,
    layout,
    public_board,
    repository,
    tables,
)
from dashboards.i18n import Locale
from dashboards.period import Period, resolve, resolve_checked, today
from dashboards.pseudonym import lists_households, pseudonym, visible_groups
from dashboards.settings import DashboardSettings, get_dashboard_settings

router = APIRouter()
router.include_router(public_board.router)

# How far back the public link goes, in months.
PUBLIC_MONTHS = 120

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


@dataclass(frozen=True, slots=True)
class Rules:
    """The board's privacy rules, from the settings (`rules`)."""

    key: bytes  # of the public codes
    min_group: int  # households that took part, for a group to be shown
    stars: int  # star families per group
    min_period_days: int  # for any household to be listed


def pseudonym_key(settings: DashboardSettings) -> bytes:
    """The key of the households' public codes (FENLEI_PSEUDONYM_KEY)."""
    return settings.pseudonym_key()


def rules(settings: DashboardSettings) -> Rules:
    """The board's rules as configured."""
    return Rules(
        key=pseudonym_key(settings),
        min_group=settings.disclosure_min_group,
        stars=settings.disclosure_stars,
        min_period_days=settings.disclosure_min_period_days,
    )


@dataclass(frozen=True, slots=True)
class Board:
    """What a board shows of a period."""

    groups: list[dict[str, Any]]  # ranked, the visible ones only
    stars: list[dict[str, Any]]  # empty when the period is too short
    hidden: int  # groups left out: too few households took part
    lists_households: bool  # False: the period is shorter than the minimum


def public_name(rules: Rules, estate: str, period: Period, household: dict[str, Any]) -> str:
    """How the board of `period` names a household: its display name if it consented
    to that (and has one), its code for this period otherwise."""
    name = household.get("display_name")
    if household.get("publish_consent") and name:
        return str(name)
    return pseudonym(rules.key, estate, period.start, period.end, household["household"])


def board(
    estate: str,
    period: Period,
    buildings: list[dict[str, Any]],
    activity: list[dict[str, Any]],
    rules: Rules,
    none_label: str,
) -> Board:
    """The board of `period` from the groups' figures and the active households. Pure."""
    took_part = {
        (b["building"], g["building_group"]): int(g["households_active"])
        for b in buildings
        for g in b["groups"]
    }
    shown = visible_groups(took_part, rules.min_group)
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
    listed = lists_households(period.days, rules.min_period_days)
    by_group: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    for h in activity if listed else []:
        key = (h["building"], h["building_group"])
        if key in shown:
            by_group[key].append(
                {
                    "building": h["building"],
                    "building_group": h["building_group"] or none_label,
                    "household": public_name(rules, estate, period, h),
                    "active_days": h["active_days"],
                    "drops": h["drops"],
                }
            )
    stars: list[dict[str, Any]] = []
    for key in sorted(by_group, key=lambda k: (k[0], k[1] or "")):
        ranked = sorted(
            by_group[key], key=lambda r: (-r["active_days"], -r["drops"], r["household"])
        )
        stars += ranked[: rules.stars]
    for row in stars:
        del row["drops"]
    return Board(
        [{"rank": i, **g} for i, g in enumerate(groups, start=1)],
        stars,
        len(took_part) - len(shown),
        listed,
    )


async def _board(
    conn: Any, estate: str, period: Period, rules: Rules, locale: Locale
) -> tuple[Board, dict[str, tables.Table]]:
    """The board of `period` and its two tables."""
    p = period
    buildings = service.buildings(
        estate, await metrics.building_rows(conn, estate, p.start, p.end), p.start, p.end
    )
    activity = await repository.household_activity(conn, estate, p.start, p.end)
    found = board(
        estate, p, buildings["buildings"], activity, rules, i18n.t(locale, "disclosure.none")
    )
    return found, {
        "groups": tables.Table(
            "groups", i18n.t(locale, "table.groups"), GROUP_COLUMNS, found.groups
        ),
        "stars": tables.Table("stars", i18n.t(locale, "table.stars"), STAR_COLUMNS, found.stars),
    }


def _notes(ctx: layout.Context, found: Board, rules: Rules) -> str:
    """What the board says of itself: who is shown how, and what is left out and why."""
    short = ""
    if not found.lists_households:
        short = (
            f'<p class="note" id="short-period">'
            f"{ctx.t('disclosure.short_period', n=rules.min_period_days)}</p>"
        )
    return (
        f"<p>{ctx.t('disclosure.intro')}</p>"
        f'<p id="code-hint">{ctx.t("disclosure.code_hint")}</p>'
        f'<p class="note" id="hidden-groups">'
        f"{ctx.t('disclosure.hidden', n=rules.min_group, m=found.hidden)}</p>{short}"
    )


async def _load(
    request: Request, conn: Any, estate: str, start: str | None, end: str | None
) -> tuple[layout.Context, dict[str, Any], Board, dict[str, tables.Table], bool] | Response:
    who = await common.visitor(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    tz = str(who.estate["timezone"])
    period_rules = common.period_rules(request)
    asked = resolve_checked(start, end, tz, rules=period_rules)
    ctx = layout.Context(
        request,
        common.locale_of(request),
        asked.period,
        estate,
        tz,
        rules=period_rules,
        notices=asked.notices,
    )
    assert ctx.period is not None
    settings = get_dashboard_settings(request)
    found, shown = await _board(conn, estate, ctx.period, rules(settings), ctx.locale)
    return ctx, who.estate, found, shown, who.principal.has_role(Role.admin)


def _export_links(ctx: layout.Context, href: str) -> str:
    return (
        f'<a class="export" data-format="csv" href="{escape(ctx.href(href, format="csv"))}">'
        f"{ctx.t('export.csv')}</a> "
        f'<a class="export" data-format="xlsx" href="{escape(ctx.href(href, format="xlsx"))}">'
        f"{ctx.t('export.xlsx')}</a>"
    )


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
    ctx, row, found, shown, committee = loaded
    minutes = get_dashboard_settings(request).stale_minutes
    # On screen only: a printed board outlives the minute its data was fresh or not.
    ctx.badges = [
        freshness.badge(ctx.locale, s)
        for s in await freshness.stale_estates(conn, [estate], minutes, datetime.now(UTC))
    ]
    base = f"/dashboards/estates/{estate}/disclosure/export"
    codes = ""
    if committee:  # links only (no household id on this page), and never printed
        if found.lists_households:  # a short period's codes appear on no board
            codes = (
                f'<p class="noprint exports" id="codes-export">{ctx.t("disclosure.codes")} '
                f"{_export_links(ctx, f'/dashboards/estates/{estate}/disclosure/codes')}</p>"
            )
        codes += await public_board.committee_section(ctx, conn, estate)
    body = (
        f"{_notes(ctx, found, rules(get_dashboard_settings(request)))}"
        f'<p class="noprint"><button type="button" data-print>'
        f"{ctx.t('disclosure.print')}</button></p>{codes}"
        + "".join(
            tables.to_html(tb, ctx.locale, ctx.href(f"{base}/{name}")) for name, tb in shown.items()
        )
        + definitions.footnotes(ctx, ("participation_rate", "wet_share"))
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
    ctx, _, _, shown, _ = loaded
    assert ctx.period is not None
    if table not in shown:
        return common.error_page(request, "error.not_found", 404)
    return common.export(
        shown[table],
        ctx.locale,
        format,
        f"{estate}-disclosure-{table}-{ctx.period.start}-{ctx.period.end}",
    )


@router.get("/dashboards/estates/{estate}/disclosure/codes", include_in_schema=False)
async def household_codes(
    request: Request,
    estate: EstatePath,
    conn: ConnDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    format: Annotated[common.ExportFormat, Query()] = "csv",
) -> Response:
    """Every household's public code on the board of a period, for the committee's
    notice slips (admin).

    One row per household: its id (the card's token), display name, code for the
    period (the board's, same default period), and where it belongs today (the
    estate's local day: where the slip goes), as CSV or Excel, formula-safe.
    """
    who = await common.committee(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    assert who.estate is not None
    tz = str(who.estate["timezone"])
    period, day = resolve(start, end, tz, rules=common.period_rules(request)), today(tz)
    key = pseudonym_key(get_dashboard_settings(request))
    rows = [
        {**h, "code": pseudonym(key, estate, period.start, period.end, h["household"])}
        for h in await repository.household_cards(conn, estate, day)
    ]
    locale = common.locale_of(request)
    table = tables.Table("codes", i18n.t(locale, "table.codes"), CODE_COLUMNS, rows)
    return common.export(
        table, locale, format, f"{estate}-household-codes-{period.start}-{period.end}"
    )


# -- the public link -----------------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Shown to anyone holding the link: never kept by a cache (a turned-off link shows nothing
# at once), never in a search engine, never sent on in a Referer (it holds the token).
PUBLIC_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


def month_of(first: date) -> Period:
    """The calendar month starting on `first`."""
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, following - timedelta(days=1))


def last_ended_month(day: date) -> Period:
    """The latest calendar month that ended before `day`."""
    return month_of((day.replace(day=1) - timedelta(days=1)).replace(day=1))


def public_month(value: str | None, day: date) -> Period | None:
    """The month `?month=YYYY-MM` names when it is one the public link shows (ended
    before `day`, at most PUBLIC_MONTHS back); the last ended one when not given."""
    latest = last_ended_month(day)
    if value is None:
        return latest
    found = MONTH.fullmatch(value)
    if found is None or int(found[1]) < 1 or not 1 <= int(found[2]) <= 12:
        return None
    first = date(int(found[1]), int(found[2]), 1)
    back = (latest.start.year - first.year) * 12 + latest.start.month - first.month
    return month_of(first) if 0 <= back < PUBLIC_MONTHS else None


def _public_response(ctx: layout.Context, title: str, body: str, status_code: int) -> Response:
    page = layout.page(ctx, title, body, signed_in=False, status_code=status_code)
    page.headers.update(PUBLIC_HEADERS)
    return page


@router.get(f"{public_board.PATH}/{{token}}", include_in_schema=False)
async def public_board_page(
    request: Request,
    token: str,
    conn: ConnDep,
    month: Annotated[str | None, Query()] = None,
) -> Response:
    """The board of a whole month that has ended, for anyone holding the estate's public
    link: no sign-in, no household id, no export, no other period."""
    locale = common.locale_of(request)
    estate = await public_board.estate_of(conn, token)
    if estate is None:
        ctx = layout.Context(request, locale)
        body = f'<p class="error">{ctx.t("public.not_found")}</p>'
        return _public_response(ctx, ctx.t("error.title"), body, 404)
    tz = str(estate["timezone"])
    now = today(tz)
    period = public_month(month, now)
    ctx = layout.Context(request, locale, timezone=tz)
    if period is None:
        body = f'<p class="error">{ctx.t("public.bad_month", n=PUBLIC_MONTHS)}</p>'
        return _public_response(ctx, ctx.t("error.title"), body, 400)
    board_rules = rules(get_dashboard_settings(request))
    found, shown = await _board(conn, str(estate["id"]), period, board_rules, locale)
    here = f"{public_board.PATH}/{token}"
    months = []
    before = month_of((period.start - timedelta(days=1)).replace(day=1))
    after = month_of(period.end + timedelta(days=1))
    for name, label, other in (
        ("previous", "public.previous", before),
        ("next", "public.next", after),
    ):
        if public_month(f"{other.start:%Y-%m}", now) is not None:
            href = escape(f"{here}?month={other.start:%Y-%m}")
            months.append(f'<a id="month-{name}" href="{href}">{ctx.t(label)}</a>')
    body = (
        f'<p id="public-period"><strong>{i18n.day(locale, period.start)} – '
        f"{i18n.day(locale, period.end)}</strong> {' · '.join(months)}</p>"
        f"{_notes(ctx, found, board_rules)}"
        + "".join(tables.to_html(tb, locale) for tb in shown.values())
    )
    return _public_response(ctx, f"{estate['name']} · {ctx.t('disclosure.title')}", body, 200)
