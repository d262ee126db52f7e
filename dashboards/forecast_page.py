"""The fill forecast page (#16): per room "清运 before HH:MM" for the property company,
soonest first, and per bin its expected full time (`api.forecast.service`, the API's
numbers). Read-only: no form, no script; fits a 390 px phone (the room list is a stack
of cards, the bins' table scrolls inside its own box)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import ConnDep
from api.forecast import model, service
from dashboards import common, i18n, layout
from dashboards.i18n import Locale

router = APIRouter()

# Small page styles (the shared sheet, dashboards/styles.py, is not this page's).
PAGE_CSS = """
.fc-rooms{list-style:none;padding:0;margin:0 0 14px;display:grid;gap:8px;
grid-template-columns:repeat(auto-fit,minmax(min(260px,100%),1fr))}
.fc-room{background:#fff;border-radius:8px;padding:10px 14px;border-left:6px solid #9ca3af;
min-width:0}.fc-room.due{border-color:#d97706}.fc-room.now{border-color:#dc2626}
.fc-room .name{font-weight:600}.fc-room .when{font-size:22px;font-weight:600}
.fc-room .meta{color:#6b7280;font-size:12px}
"""


def _when(locale: Locale, ts: datetime, zone: str, now: datetime) -> str:
    """HH:MM in the estate's zone, with the day when it is not today's."""
    tz = ZoneInfo(zone)
    local = ts.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"{local:%H:%M}"
    day = f"{local.month}月{local.day}日" if locale == "zh" else f"{local.day} {local:%b}"
    return f"{day} {local:%H:%M}"


def _room_card(ctx: layout.Context, room: dict[str, Any], body: dict[str, Any]) -> str:
    zone, now = body["timezone"], body["generated_at"]
    name = room["room_name"] or room["room"]
    at = room["collect_before"]
    if at is None and room["bins_no_data"] == room["bins"]:
        cls, when = "", ctx.t("forecast.confidence.none")
    elif at is None:
        cls, when = "", ctx.t("forecast.not_due", hours=body["horizon_hours"])
    elif at <= now:
        cls, when = "now", ctx.t("forecast.full_now")
    else:
        cls, when = "due", ctx.t("forecast.before", time=_when(ctx.locale, at, zone, now))
    meta = ""
    if room["first_bin"] is not None:
        category = i18n.code(ctx.locale, "cat", room["first_category"])
        meta = ctx.t("forecast.first", bin=room["first_bin"], category=category)
    return (
        f'<li class="fc-room {cls}" data-room="{escape(room["room"])}">'
        f'<div class="name">{escape(name)}</div><div class="when">{escape(when)}</div>'
        f'<div class="meta">{escape(meta)}</div></li>'
    )


def _bins_table(ctx: layout.Context, body: dict[str, Any]) -> str:
    zone, now = body["timezone"], body["generated_at"]
    heads = ("room", "bin", "category", "fill", "rate", "full_at", "basis", "confidence")
    head = "".join(f"<th>{ctx.t('forecast.col.' + h)}</th>" for h in heads)
    rows = []
    for b in sorted(body["bins"], key=lambda b: (b["full_at"] is None, b["full_at"] or now)):
        full = b["full_at"]
        if full is None:
            full_text = ctx.t("forecast.not_due", hours=body["horizon_hours"])
        elif full <= now:
            full_text = ctx.t("forecast.full_now")
        else:
            full_text = _when(ctx.locale, full, zone, now)
        fill = "–" if b["fill_pct"] is None else f"{b['fill_pct']:.1f}%"
        cells = (
            escape(b["room_name"] or b["room"]),
            escape(b["bin"]),
            escape(i18n.code(ctx.locale, "cat", b["category"])),
            f'<td class="num">{fill}',
            f'<td class="num">{i18n.number(b["rate_pct_per_hour"], 2)}',
            escape(full_text),
            f'<td class="num">{i18n.number(b["basis_days"], 1)}',
            escape(ctx.t("forecast.confidence." + b["confidence"])),
        )
        tds = "".join(c + "</td>" if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
        rows.append(f'<tr data-bin="{escape(b["bin"])}">{tds}</tr>')
    return (
        f'<div class="table"><h2>{ctx.t("forecast.bins")}</h2><div class="scroll">'
        f'<table id="forecast-bins"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></div>"
    )


@router.get("/dashboards/estates/{estate}/forecast", include_in_schema=False)
async def forecast_page(request: Request, conn: ConnDep, estate: str) -> Response:
    """Per room the time to collect before, and per bin when it is full."""
    who = await common.visitor(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    body = await service.estate_forecast(conn, estate)
    if body is None:
        return common.error_page(request, "error.not_found", 404)
    ctx = layout.Context(
        request, common.locale_of(request), estate=estate, timezone=body["timezone"]
    )
    rooms = service.rooms(body)["rooms"]
    intro = ctx.t(
        "forecast.intro",
        days=model.LOOKBACK_DAYS,
        threshold=i18n.number(body["threshold_pct"]),
        zone=body["timezone"],
        hours=body["horizon_hours"],
    )
    if not body["bins"]:
        content = f'<p class="note">{ctx.t("forecast.none")}</p>'
    else:
        cards = "".join(_room_card(ctx, r, body) for r in rooms)
        content = (
            f'<h2>{ctx.t("forecast.rooms")}</h2><ol class="fc-rooms" id="forecast-rooms">'
            f"{cards}</ol>{_bins_table(ctx, body)}"
        )
    html = f'<style>{PAGE_CSS}</style><p class="note">{escape(intro)}</p>{content}'
    return layout.page(ctx, ctx.t("forecast.title"), html)
