"""Definitions (口径): how each figure is computed, beside it and on one page.

Each figure's definition is one label (`def.*` in `dashboards.labels_overview`, zh-CN
and English), shown as a footnote under its card or chart and listed, all of them, on
`/dashboards/definitions`. They say in a sentence what docs/definitions.md (the
project's definitions, the API's and exports' too) says at length, so the page needs no
file outside the package: an installed (non-editable) fenlei serves it the same.
tests/dashboards/test_definitions.py checks the labels and that document name the same
figures.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ConnDep
from dashboards import common, i18n, layout, session
from dashboards.settings import get_dashboard_settings

router = APIRouter()
PATH = "/dashboards/definitions"

# (anchor, name label, definition label), in the order the overview shows them.
ENTRIES: tuple[tuple[str, str, str], ...] = (
    ("coverage", "figure.coverage", "def.coverage"),
    ("participation_rate", "figure.participation_rate", "def.participation_rate"),
    ("daily_participation", "chart.daily_participation", "def.daily_participation"),
    ("wet_share", "figure.wet_share", "def.wet_share"),
    ("in_window_share", "figure.in_window_share", "def.in_window_share"),
    ("accuracy", "figure.accuracy", "def.accuracy"),
    ("kg", "chart.daily_kg", "def.kg"),
    ("buildings", "chart.buildings", "def.buildings"),
    ("rejected", "chart.rejected", "def.rejected"),
    ("change", "change", "def.change"),
    ("stale", "definitions.badge", "def.stale"),
)
_BY_ANCHOR = {anchor: (name, key) for anchor, name, key in ENTRIES}


def text(locale: i18n.Locale, anchor: str, stale_minutes: int = 30) -> str:
    """The definition of one entry in `locale` (plain text)."""
    return i18n.t(locale, _BY_ANCHOR[anchor][1], n=stale_minutes)


def footnote(ctx: layout.Context, anchor: str) -> str:
    """A card's definition, folded (<details>: no script) and linked to the page."""
    href = f"{PATH}#def-{anchor}"
    hint = f"def.hint.{anchor}"
    summary = ctx.t(hint) if hint in i18n.CATALOGUES[ctx.locale] else ctx.t("def.label")
    return (
        f'<details class="def" data-def="{escape(anchor)}"><summary>{escape(summary)}'
        f"</summary>{escape(text(ctx.locale, anchor))} "
        f'{escape(ctx.t("def.change"))} <a href="{escape(href)}">'
        f"{ctx.t('definitions.link')}</a></details>"
    )


def footnotes(ctx: layout.Context, anchors: tuple[str, ...]) -> str:
    """The definitions of a table's figures, one folded list under it."""
    items = "".join(
        f'<li data-def="{escape(a)}"><strong>{escape(ctx.t(_BY_ANCHOR[a][0]))}</strong>: '
        f"{escape(text(ctx.locale, a))}</li>"
        for a in anchors
    )
    return (
        f'<details class="def" id="definitions-notes"><summary>{ctx.t("def.label")}</summary>'
        f'<ul>{items}</ul><a href="{PATH}">{ctx.t("definitions.link")}</a></details>'
    )


def link(ctx: layout.Context) -> str:
    """The link to every definition, under the figures."""
    return (
        f'<p class="def" id="definitions-link"><a href="{PATH}">{ctx.t("definitions.link")}</a></p>'
    )


@router.get(PATH, include_in_schema=False)
async def definitions_page(request: Request, conn: ConnDep) -> Response:
    """Every figure's definition in the visitor's language, the other's name beside it.
    Open to anyone: definitions are no secret, and a public board's reader may ask."""
    locale = common.locale_of(request)
    other: i18n.Locale = "en" if locale == "zh" else "zh"
    signed_in = await session.current(request, conn, session.DASHBOARDS) is not None
    ctx = layout.Context(request, locale)
    minutes = get_dashboard_settings(request).stale_minutes
    items = "".join(
        f'<section class="definition" id="def-{anchor}"><h2>{escape(ctx.t(name))} '
        f'<span class="note" lang="{i18n.HTML_LANG[other]}">'
        f"({escape(i18n.t(other, name))})</span></h2>"
        f"<p>{escape(text(locale, anchor, minutes))}</p></section>"
        for anchor, name, _ in ENTRIES
    )
    body = (
        f'<p id="definitions-intro">{escape(ctx.t("definitions.intro"))}</p>{items}'
        f'<p class="note" id="definitions-source">{escape(ctx.t("definitions.source"))}</p>'
    )
    return layout.page(ctx, ctx.t("definitions.title"), body, signed_in=signed_in)
