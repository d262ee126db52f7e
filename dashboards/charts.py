"""Plotly figures built in Python as plain figure dicts, drawn by the local plotly.js.

Plain dicts in plotly's JSON schema, not `plotly.graph_objects`: graph_objects validate
every property on assignment, which cost ~0.5 s for the overview's six year-long charts;
the dicts cost about a millisecond and produce the same JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from dashboards import i18n, layout
from dashboards.i18n import Locale

Figure = dict[str, Any]
# Muted colours that print legibly; one per category, the same on every page.
CATEGORY_COLOURS = {
    "dry": "#6b7280",
    "wet": "#65a30d",
    "recyclable": "#2563eb",
    "hazardous": "#dc2626",
    "construction": "#b45309",
}
ACCENT = "#0f766e"
GRID = "#e5e7eb"
# d3 time formats of day axes: '3月1日' / 'Mar 1'; hover labels carry the year.
DATE_TICKS: dict[Locale, str] = {"zh": "%-m月%-d日", "en": "%b %-d"}
# A period that spans years: every tick carries its year, or 'Jan 3' after 'Dec 28'
# reads as the same year's January.
DATE_TICKS_YEARS: dict[Locale, str] = {"zh": "%Y年%-m月%-d日", "en": "%b %-d, %Y"}
DATE_HOVER: dict[Locale, str] = {"zh": "%Y年%-m月%-d日", "en": "%-d %b %Y"}
# Days beyond which daily kg are drawn as stacked areas, not bars: a year of bars is
# 5 x 365 SVG paths (a quarter of the overview's drawing time) and thinner than a pixel
# pair each; areas are 5 paths and read the same at that scale.
AREA_AFTER_DAYS = 92
_FONT = "system-ui, 'PingFang SC', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True, slots=True)
class Chart:
    """A figure with its element id (`chart-<name>`), title and its definition (口径;
    '' for none), shown beside the title as `hint` (a few words) whose tooltip is the
    whole definition: no line of its own, so the page below keeps its place."""

    name: str
    title: str
    figure: Figure
    note: str = ""
    hint: str = "ⓘ"


def tick_format(locale: Locale, days: Sequence[Any]) -> str:
    """The day axis' tick format: with the year when `days` fall in more than one year."""
    years = {d.year for d in days}
    return (DATE_TICKS_YEARS if len(years) > 1 else DATE_TICKS)[locale]


def _layout(
    locale: Locale,
    y_title: str,
    percent: bool = False,
    barmode: str | None = None,
    dates: bool = True,
    days: Sequence[Any] = (),
) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": {"family": _FONT, "size": 12},
        "height": 300,
        "margin": {"l": 56, "r": 16, "t": 16, "b": 40},
        "plot_bgcolor": "white",
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "x unified",
        "separators": ".,",
        "yaxis": {
            "title": {"text": y_title},
            "gridcolor": GRID,
            "rangemode": "tozero",
            "tickformat": ".0%" if percent else ",",
        },
        "xaxis": {"gridcolor": "#f3f4f6"},
    }
    if barmode:
        layout["barmode"] = barmode
    if dates:
        layout["xaxis"].update(
            type="date", tickformat=tick_format(locale, days), hoverformat=DATE_HOVER[locale]
        )
    return layout


def _dates(days: Sequence[Any]) -> list[str]:
    return [d.isoformat() for d in days]


def stacked_kg(locale: Locale, days: Sequence[Any], kg: dict[str, Sequence[float]]) -> Figure:
    """Daily kilograms per category, stacked: bars, or areas over long periods."""
    x = _dates(days)
    if len(x) > AREA_AFTER_DAYS:
        data = [
            {
                "type": "scatter",
                "mode": "lines",
                "stackgroup": "kg",
                "x": x,
                "y": list(values),
                "name": i18n.t(locale, f"cat.{c}"),
                "line": {"color": CATEGORY_COLOURS[c], "width": 0.5},
                "fillcolor": CATEGORY_COLOURS[c],
                "hovertemplate": "%{y:,.1f} kg",
            }
            for c, values in kg.items()
        ]
        return {"data": data, "layout": _layout(locale, i18n.t(locale, "axis.kg"), days=days)}
    data = [
        {
            "type": "bar",
            "x": x,
            "y": list(values),
            "name": i18n.t(locale, f"cat.{c}"),
            "marker": {"color": CATEGORY_COLOURS[c]},
            "hovertemplate": "%{y:,.1f} kg",
        }
        for c, values in kg.items()
    ]
    return {
        "data": data,
        "layout": _layout(locale, i18n.t(locale, "axis.kg"), barmode="stack", days=days),
    }


def share_line(
    locale: Locale,
    days: Sequence[Any],
    values: Sequence[float | None],
    name: str,
    target: float | None = None,
) -> Figure:
    """A ratio per day as a line, with the target as a dashed line."""
    layout = _layout(locale, i18n.t(locale, "axis.share"), percent=True, days=days)
    layout["showlegend"] = False
    if target is not None:
        layout["shapes"] = [_target_line(target, "y")]
        layout["annotations"] = [
            {
                "xref": "paper",
                "x": 1,
                "y": target,
                "xanchor": "right",
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"{i18n.t(locale, 'target')} {i18n.percent(target, 0)}",
            }
        ]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": _dates(days),
            "y": list(values),
            "name": name,
            "line": {"color": ACCENT, "width": 2},
            "connectgaps": False,
            "hovertemplate": "%{y:.2%}",
        }
    ]
    return {"data": data, "layout": layout}


def ranked_bars(
    locale: Locale,
    labels: Sequence[str],
    values: Sequence[float | None],
    target: float | None = None,
) -> Figure:
    """Horizontal bars of a ratio, best at the top."""
    pairs = sorted(zip(labels, values, strict=True), key=lambda p: -1 if p[1] is None else p[1])
    layout = _layout(locale, "", dates=False)
    layout.update(
        height=max(220, 24 * len(pairs) + 60),
        hovermode="closest",
        showlegend=False,
        xaxis={"tickformat": ".0%", "range": [0, 1], "gridcolor": GRID},
        yaxis={"type": "category"},
    )
    if target is not None:
        layout["shapes"] = [_target_line(target, "x")]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": [p[0] for p in pairs][::-1],
            "x": [p[1] for p in pairs][::-1],
            "marker": {"color": ACCENT},
            "hovertemplate": "%{x:.2%}<extra></extra>",
        }
    ]
    return {"data": data, "layout": layout}


def weekly_shares(
    locale: Locale,
    weeks: Sequence[Any],
    series: dict[str, Sequence[float | None]],
    target: float | None = None,
) -> Figure:
    """A ratio per week and category (sorting accuracy), one line each, weeks as dates."""
    layout = _layout(locale, i18n.t(locale, "axis.share"), percent=True, days=weeks)
    if target is not None:
        layout["shapes"] = [_target_line(target, "y")]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": _dates(weeks),
            "y": list(values),
            "name": i18n.t(locale, f"cat.{c}"),
            "line": {"color": CATEGORY_COLOURS.get(c, ACCENT), "width": 2},
            "connectgaps": False,
            "hovertemplate": "%{y:.2%}",
        }
        for c, values in series.items()
    ]
    return {"data": data, "layout": layout}


def counts_by_reason(
    locale: Locale, rows: Sequence[dict[str, Any]], days: Sequence[Any] | None = None
) -> Figure:
    """Rejected messages per day, stacked by reason; `days`: the period's (for its axis'
    year), else the rows' own."""
    reasons = sorted({r["reason"] for r in rows})
    data = [
        {
            "type": "bar",
            "name": i18n.code(locale, "reason", reason),
            "x": _dates([r["day"] for r in rows if r["reason"] == reason]),
            "y": [r["count"] for r in rows if r["reason"] == reason],
        }
        for reason in reasons
    ]
    return {
        "data": data,
        "layout": _layout(
            locale,
            i18n.t(locale, "axis.messages"),
            barmode="stack",
            days=[r["day"] for r in rows] if days is None else days,
        ),
    }


def to_html(chart: Chart, filename: str) -> str:
    """A titled chart box: a div plotly draws into and its figure as inline JSON (a data
    block, not a script: `script_json` keeps any name in it from breaking the page)."""
    payload = layout.script_json(chart.figure)
    note = (
        f' <abbr class="def" data-def="{chart.name}" title="{escape(chart.note)}">'
        f"{escape(chart.hint)}</abbr>"
        if chart.note
        else ""
    )
    return (
        f'<section class="chart"><h2>{escape(chart.title)}{note}</h2>'
        f'<div class="plot" id="chart-{chart.name}"></div>'
        f'<script type="application/json" class="figure" data-target="chart-{chart.name}"'
        f' data-filename="{escape(filename)}">{payload}</script></section>'
    )


def _target_line(target: float, axis: str) -> dict[str, Any]:
    """A target as a dashed line across the plot, at `target` on the `axis` ("y": a
    horizontal line, "x": a vertical one)."""
    across = "x" if axis == "y" else "y"
    return {
        "type": "line",
        f"{across}ref": "paper",
        f"{across}0": 0,
        f"{across}1": 1,
        f"{axis}0": target,
        f"{axis}1": target,
        "line": {"dash": "dash", "color": "#9ca3af"},
    }
