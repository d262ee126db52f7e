"""The page shell every dashboard shares: header, navigation, period picker, language.

Server-rendered HTML from plain strings; every interpolated value goes through
`html.escape`, and every value embedded in a <script> through `script_json`. The one
inline script is allowed by its hash in the pages' Content-Security-Policy
(`CONTENT_SECURITY_POLICY`, sent by `fenlei.app`). Pages are gzipped here when the
browser accepts it (the app has no compression middleware).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse

from api.periods import FIRST_DAY, PeriodRules
from dashboards import i18n, session
from dashboards.i18n import Locale
from dashboards.period import Notice, Period, presets
from dashboards.static import PLOTLY_PATH
from dashboards.styles import CSS

# The rules of the blocks this module adds (the period's notices, the stale-data badge,
# the definitions' footnotes): page-specific, so kept here, not in the shared style sheet
# (dashboards/styles.py); the CSP allows inline styles.
LOCAL_CSS = (
    ".notices{margin:.5rem 0}.notice{background:#fef9c3;border:1px solid #facc15;"
    "padding:.35rem .6rem;margin:.25rem 0;border-radius:4px}"
    ".stale{background:#fee2e2;border:1px solid #f87171;color:#991b1b;padding:.35rem .6rem;"
    "margin:.25rem 0;border-radius:4px;font-weight:600}"
    "details.def{font-size:.8rem;color:#4b5563;margin-top:.25rem}"
    "details.def summary{cursor:pointer;color:#0f766e}"
    "p.def{font-size:.8rem;color:#4b5563;margin:.1rem 0 .4rem}"
    "abbr[title]{text-decoration:underline dotted;cursor:help}"
    # Sorting accuracy's box beside the three figures' cards, drawn as they are.
    ".acc-card{background:#fff;border-radius:8px;padding:12px 14px;"
    "border-left:6px solid #9ca3af}.acc-card.met{border-color:#16a34a}"
    ".acc-card.missed{border-color:#dc2626}.acc-card .label{color:#4b5563}"
    ".acc-card .value{font-size:30px;font-weight:600}"
    ".acc-card .meta{color:#6b7280;font-size:12px}"
    # A printed page outlives the minute its data was fresh or stale.
    "@media print{.stale{display:none}}"
)
# Bytes below which gzip costs more than it saves.
GZIP_MIN_BYTES = 1_024

# Sorting by header click (on the header's own column: `cellIndex`, not its place among
# every header of the page).
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click',
 () => {const i = th.cellIndex; const body = th.closest('table').tBodies[0];
  const dir = th.dataset.dir === 'asc' ? -1 : 1;
  th.dataset.dir = dir === 1 ? 'asc' : 'desc'; const text = !['int', 'kg', 'pct']
   .includes(th.dataset.kind);
  const key = r => r.cells[i].dataset.sort; [...body.rows].sort((a, b) => { const x = key(a),
   y = key(b); if (x === y) return 0; if (x === '') return 1; if (y === '') return -1;
   return dir * (text ? x.localeCompare(y) : Number(x) - Number(y)); })
  .forEach(r => body.appendChild(r)); }));
"""
# Buttons that print the page (the disclosure board's), without an inline handler.
PRINT_SCRIPT = """
document.querySelectorAll('[data-print]').forEach(b => b.addEventListener('click',
 () => window.print()));
"""
# Drawing every figure once plotly.js (a deferred script) has run, i.e. at
# DOMContentLoaded; `data-charts-ready` tells tests and the benchmark that the page is
# fully drawn. On a touch screen (a phone) the charts get no mode bar: building its
# buttons was a fifth of a phone's drawing time, its zoom/pan/PNG buttons are hover
# controls, and WeChat's browser does not save the PNG; dragging still zooms, a double
# tap resets.
DRAW_SCRIPT = """
document.addEventListener('DOMContentLoaded', () => {
const figures = [...document.querySelectorAll('script.figure')];
const bar = matchMedia('(pointer: coarse)').matches ? false : 'hover';
if (window.Plotly && document.documentElement.lang === 'zh-CN') {
 Plotly.register({moduleType: 'locale', name: 'zh-CN', dictionary: {
  'Download plot as a png': '下载为 PNG 图片', 'Zoom': '缩放', 'Pan': '平移',
  'Reset axes': '重置坐标轴', 'Autoscale': '自动缩放', 'Zoom in': '放大', 'Zoom out': '缩小'},
  format: {decimal: '.', thousands: ','}});
}
Promise.all(figures.map(s => { const f = JSON.parse(s.textContent);
 return Plotly.newPlot(document.getElementById(s.dataset.target), f.data, f.layout,
  {responsive: true, displaylogo: false, displayModeBar: bar,
   locale: document.documentElement.lang,
   modeBarButtonsToRemove: ['select2d', 'lasso2d'],
   toImageButtonOptions: {format: 'png', filename: s.dataset.filename, scale: 2}}); }))
 .then(() => { document.body.dataset.chartsReady = String(figures.length); });
});
"""
# The page's only inline script, the same on every page (no figures: nothing to draw).
PAGE_SCRIPT = SORT_SCRIPT + PRINT_SCRIPT + DRAW_SCRIPT


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# What the pages may load and run: their own script (by its hash) and files (plotly.js);
# styles inline too (plotly.js writes style attributes and a <style> element); images
# from data:/blob: URLs (plotly's PNG download); forms posting here only; never framed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'self' {_csp_hash(PAGE_SCRIPT)}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
# Characters that can end or change a <script> element's text (`</script>`, `<!--`
# followed by `<script>`), and the line separators old JavaScript parsers choke on.
# JSON allows each as a \u escape inside strings, and they occur nowhere else in JSON.
_SCRIPT_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def script_json(value: Any) -> str:
    """`value` as JSON to put inside a <script> element: it cannot close the element or
    change how the HTML parser reads it, and `JSON.parse` gives back the same value."""
    return orjson.dumps(value).decode().translate(_SCRIPT_ESCAPES)


@dataclass(slots=True)
class Context:
    """What every page knows: the request, locale, period, estate and kept query values."""

    request: Request
    locale: Locale
    period: Period | None = None
    estate: str | None = None
    timezone: str = "Asia/Shanghai"
    keep: list[tuple[str, str]] = field(default_factory=list)
    # The zone of the footer's time when the page is not one estate's (the district's).
    clock: str | None = None
    # The visitor is the estate's committee (an admin of it): the header links its screens.
    committee: bool = False
    # The bounds of a period (the picker's min/max); None: the API's defaults.
    rules: PeriodRules | None = None
    # What was changed to the period the query asked for (shown above the page's body).
    notices: tuple[Notice, ...] = ()
    # Stale-data badges (plain text, one per estate whose data stopped coming in).
    badges: list[str] = field(default_factory=list)

    def t(self, key: str, **values: object) -> str:
        """A label in this page's locale."""
        return i18n.t(self.locale, key, **values)

    def href(self, path: str, period: Period | None = None, **extra: str) -> str:
        """A dashboards URL carrying the period and kept query values."""
        params: list[tuple[str, str]] = list(self.keep)
        chosen = period or self.period
        if chosen is not None:
            params += list(chosen.query().items())
        params += list(extra.items())
        return f"{path}?{urlencode(params)}" if params else path


def _picker(ctx: Context) -> str:
    if ctx.period is None:
        return ""
    path = ctx.request.url.path
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in ctx.keep
    )
    shortcuts = " ".join(
        f'<a class="preset" href="{escape(ctx.href(path, p))}">{ctx.t(k)}</a>'
        for k, p in presets(ctx.timezone).items()
    )
    # The days the API serves (api/periods.py): the browser's date picker offers no
    # other, and a typed one outside them is refused before the page is asked.
    bounds = f'min="{FIRST_DAY.isoformat()}" max="{(ctx.rules or PeriodRules()).last_day()}"'
    return (
        f'<form class="picker" method="get" action="{escape(path)}">{hidden}'
        f"<strong>{ctx.t('period')}</strong>"
        f'<label>{ctx.t("period.from")} <input type="date" name="from" {bounds} '
        f'value="{ctx.period.start.isoformat()}"></label>'
        f'<label>{ctx.t("period.to")} <input type="date" name="to" {bounds} '
        f'value="{ctx.period.end.isoformat()}"></label>'
        f'<button type="submit" id="period-apply">{ctx.t("period.apply")}</button>'
        f'{shortcuts}<span class="note" id="period-label">'
        f"{i18n.day(ctx.locale, ctx.period.start)} – {i18n.day(ctx.locale, ctx.period.end)}"
        f"</span></form>"
    )


def _header(ctx: Context, signed_in: bool) -> str:
    other: Locale = "en" if ctx.locale == "zh" else "zh"
    here = ctx.request.url.path + (f"?{ctx.request.url.query}" if ctx.request.url.query else "")
    switch = f"/dashboards/lang/{other}?{urlencode({'next': here})}"
    nav = ""
    if signed_in:
        nav = f'<a href="/dashboards/">{ctx.t("nav.estates")}</a>'
        if ctx.estate:
            base = f"/dashboards/estates/{ctx.estate}"
            nav += (
                f'<a href="{escape(ctx.href(base))}">{ctx.t("nav.overview")}</a>'
                f'<a href="{escape(ctx.href(base + "/disclosure"))}">'
                f"{ctx.t('nav.disclosure')}</a>"
                f'<a href="{escape(base)}/forecast">{ctx.t("forecast.nav")}</a>'
            )
            if ctx.committee:
                nav += (
                    f'<a href="{escape(base)}/volunteers">{ctx.t("nav.volunteers")}</a>'
                    f'<a href="{escape(base)}/roster">{ctx.t("nav.roster")}</a>'
                )
        nav += f'<a href="{escape(ctx.href("/dashboards/district"))}">{ctx.t("nav.district")}</a>'
    signout = ""
    if signed_in:
        csrf = session.form_token(ctx.request, session.DASHBOARDS)
        signout = (
            f'<form method="post" action="/dashboards/signout">'
            f'<input type="hidden" name="{session.CSRF_FIELD}" value="{escape(csrf)}">'
            f'<button type="submit" id="signout">{ctx.t("signout")}</button></form>'
        )
    return (
        f'<header><span class="brand">{ctx.t("app")}</span><nav>{nav}</nav>'
        f'<span class="right"><a id="lang-switch" href="{escape(switch)}">'
        f"{ctx.t('lang.switch')}</a>{signout}</span></header>"
    )


def notices(ctx: Context) -> str:
    """What was changed to the asked period, and the stale-data badges; '' when none."""
    said = "".join(
        f'<p class="notice" role="status" data-notice="{escape(n.key)}">'
        f"{escape(ctx.t(n.key, **n.values) if n.values else ctx.t(n.key))}</p>"
        for n in ctx.notices
    )
    said += "".join(f'<p class="stale" role="alert">{escape(b)}</p>' for b in ctx.badges)
    return f'<div class="notices" id="notices">{said}</div>' if said else ""


def generated_at(zone: str | None) -> str:
    """The footer's time, in `zone` and saying which ('2026-12-01 23:05 (Asia/Shanghai)');
    UTC, labelled so, when the page has no one zone."""
    name = zone or "UTC"
    local = datetime.now(UTC).astimezone(ZoneInfo(name))
    return f"{local:%Y-%m-%d %H:%M} ({name})"


def page(
    ctx: Context,
    title: str,
    body: str,
    charts: bool = False,
    signed_in: bool = True,
    status_code: int = 200,
) -> HTMLResponse:
    """A complete HTML page; plotly.js only when there are charts.

    The footer's time is in `ctx.clock`, else the estate's zone when the page is an
    estate's (`ctx.timezone`, the zone its tables use), else UTC; labelled with its zone.
    """
    # plotly.js deferred from the head: fetched and compiled off the main thread while
    # the body (tables of a year's days) is still being parsed, run before drawing.
    plotly = f'<script defer src="{PLOTLY_PATH}"></script>' if charts else ""
    scripts = f"<script>{PAGE_SCRIPT}</script>"
    stamp = generated_at(ctx.clock or (ctx.timezone if ctx.estate is not None else None))
    html = (
        f'<!doctype html><html lang="{i18n.HTML_LANG[ctx.locale]}"><head>'
        f'<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f'<link rel="icon" href="data:,"><title>{escape(title)} · fenlei</title>'
        f"<style>{CSS}</style><style>{LOCAL_CSS}</style>{plotly}</head><body>"
        f"{_header(ctx, signed_in)}<main>"
        f"<h1>{escape(title)}</h1>{_picker(ctx)}{notices(ctx)}{body}"
        f'<p class="note" id="generated">{ctx.t("updated")} {escape(stamp)}</p></main>'
        f"{scripts}</body></html>"
    )
    return compressed(ctx.request, html, status_code)


def compressed(request: Request, html: str, status_code: int = 200) -> HTMLResponse:
    """An HTML response, gzipped when accepted and worth it."""
    data = html.encode()
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if len(data) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        data = gzip.compress(data, compresslevel=5)
    return HTMLResponse(data, status_code=status_code, headers=headers)
