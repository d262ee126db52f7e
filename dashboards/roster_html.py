"""What the committee's roster screens share: who may use them, the page context, a
month, messages, and the volunteer picker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.auth import caller
from api.errors import Invalid
from api.roster import service as roster
from dashboards import common, i18n, layout
from dashboards.i18n import Locale

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(slots=True)
class Committee:
    """The estate's committee member on one of its screens."""

    ctx: layout.Context
    who: common.Visitor

    @property
    def estate(self) -> dict[str, Any]:
        assert self.who.estate is not None
        return self.who.estate


def _ctx(request: Request, who: common.Visitor, estate: str) -> layout.Context:
    tz = str(who.estate["timezone"]) if who.estate else "Asia/Shanghai"
    return layout.Context(
        request, common.locale_of(request), estate=estate, timezone=tz, committee=True
    )


async def committee(request: Request, conn: Any, estate: str) -> Committee | Response:
    """For a GET: the estate's admin and the page context, or the response instead."""
    who = await common.committee(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    return Committee(_ctx(request, who, estate), who)


async def committee_form(request: Request, conn: Any, estate: str) -> Committee | Response:
    """For a form's POST: as `committee`, and the form is this session's (CSRF); the
    audit records of what it changes name the signed-in token."""
    found = await committee(request, conn, estate)
    if not isinstance(found, Committee):
        return found
    refusal = await common.refused(request)
    if refusal is not None:
        return refusal
    caller.note(found.who.principal)
    return found


def month_name(locale: Locale, first: date) -> str:
    """'2026年4月' / 'April 2026'."""
    if locale == "zh":
        return f"{first.year}年{first.month}月"
    return f"{_EN_MONTHS[first.month - 1]} {first.year}"


def month_of(value: str | None, today: date) -> tuple[date, date] | None:
    """[first, last] of a YYYY-MM month (today's month when absent); None when malformed."""
    if value is None:
        value = f"{today:%Y-%m}"
    if len(value) != 7 or value[4] != "-":
        return None
    try:
        return roster.month_bounds(value)
    except Invalid:
        return None


def roster_path(estate: str, first: date | None = None) -> str:
    """The month's roster page."""
    path = f"/dashboards/estates/{estate}/roster"
    return f"{path}?month={first:%Y-%m}" if first else path


def messages(ctx: layout.Context, errors: Sequence[str], done: str | None = None) -> str:
    """Errors (red, announced) and a success note, already in the page's language."""
    out = "".join(
        f'<p class="error" role="alert" data-test="error">{escape(e)}</p>' for e in errors
    )
    if done:
        out += f'<p class="note" role="status" id="done">{escape(done)}</p>'
    return out


def volunteer_select(
    ctx: layout.Context, name: str, people: Sequence[dict[str, Any]], chosen: str, field_id: str
) -> str:
    """A picker of the estate's active volunteers ('王阿姨 · #3'), `chosen` selected."""
    options = [f'<option value="">{ctx.t("shift.choose")}</option>']
    for v in people:
        value = str(v["id"])
        mark = " selected" if value == chosen else ""
        options.append(
            f'<option value="{value}"{mark}>{escape(str(v["name"]))} · #{value}</option>'
        )
    return f'<select name="{name}" id="{field_id}">{"".join(options)}</select>'


def clock_of(value: Any) -> str:
    """'18:00' of a time."""
    return f"{value:%H:%M}"


def day_label(locale: Locale, day: date) -> str:
    """'2026年4月6日 周一' / 'Mon 6 Apr 2026'."""
    if locale == "zh":
        return f"{i18n.day(locale, day)} 周{'一二三四五六日'[day.weekday()]}"
    return f"{day:%a} {i18n.day(locale, day)}"
