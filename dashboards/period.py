"""The period picker's rules: [from, to] from the query, defaults, the previous period.

A hand-edited URL still shows a page, but never a silently different one: every change
`resolve_checked` makes to what the query asked (a date it cannot read, days reversed,
days outside the ones the API serves, a span too long) comes back as a `Notice` the
page shows in its language (labels in `dashboards.labels_overview`, keys `date.*`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.periods import FIRST_DAY, PeriodRules

# Days shown when the query names no period: a month is what committees review.
DEFAULT_DAYS = 30
# A value quoted back in a notice is cut here: the notice is for a typo, not an essay.
QUOTED_CHARS = 40


@dataclass(frozen=True, slots=True)
class Period:
    """Local days [start, end], both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def query(self) -> dict[str, str]:
        """As query parameters."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def spans_years(self) -> bool:
        """Whether its days fall in more than one calendar year (axes then show years)."""
        return self.start.year != self.end.year


@dataclass(frozen=True, slots=True)
class Notice:
    """One change made to the period the query asked for: a label key (`date.*`) and
    its values (plain text; the page escapes them)."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The period shown and what was changed to get it (empty: exactly as asked)."""

    period: Period
    notices: tuple[Notice, ...] = ()


def today(timezone: str) -> date:
    """Today in a time zone."""
    return datetime.now(ZoneInfo(timezone)).date()


def _quoted(value: str) -> str:
    value = value.strip()
    return value if len(value) <= QUOTED_CHARS else value[:QUOTED_CHARS] + "…"


def _parse(value: str | None, name: str, notices: list[Notice]) -> date | None:
    """The date in `value`; None when absent, or unreadable (then a notice says so)."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        notices.append(
            Notice(f"date.unreadable_{name}", {"value": _quoted(value), "n": str(DEFAULT_DAYS)})
        )
        return None


def _into_range(
    day: date, name: str, rules: PeriodRules, last: date, notices: list[Notice]
) -> date:
    if day < FIRST_DAY:
        notices.append(
            Notice(f"date.too_early_{name}", {"value": day.isoformat(), "day": str(FIRST_DAY)})
        )
        return FIRST_DAY
    if day > last:
        notices.append(
            Notice(f"date.too_late_{name}", {"value": day.isoformat(), "day": str(last)})
        )
        return last
    return day


def resolve_checked(
    start: str | None,
    end: str | None,
    timezone: str = "Asia/Shanghai",
    rules: PeriodRules | None = None,
    now: date | None = None,
) -> Resolved:
    """The period the query asks for (the last DEFAULT_DAYS days up to today by default),
    moved inside the API's rules (`api.periods`), with a notice for every change.

    So the page's own date arithmetic (the previous period, a day after `to`) never runs
    off the calendar whatever the query says, and the visitor is told when the period
    shown is not the one typed.
    """
    rules = rules or PeriodRules()
    notices: list[Notice] = []
    last = rules.last_day(now)
    asked_end = _parse(end, "to", notices)
    to = _into_range(asked_end or now or today(timezone), "to", rules, last, notices)
    asked_start = _parse(start, "from", notices)
    if asked_start is None:
        # The default start counts back from a `to` already in range.
        frm = max(to - timedelta(days=DEFAULT_DAYS - 1), FIRST_DAY)
    else:
        frm = _into_range(asked_start, "from", rules, last, notices)
    if to < frm:
        frm, to = to, frm
        notices.append(Notice("date.swapped", {"start": str(frm), "end": str(to)}))
    if (to - frm).days + 1 > rules.max_days:
        frm = to - timedelta(days=rules.max_days - 1)
        notices.append(Notice("date.too_long", {"n": f"{rules.max_days:,}", "start": str(frm)}))
    return Resolved(Period(frm, to), tuple(notices))


def resolve(
    start: str | None,
    end: str | None,
    timezone: str = "Asia/Shanghai",
    rules: PeriodRules | None = None,
) -> Period:
    """The period of `resolve_checked`, without its notices (exports, whose file names
    carry the period they hold)."""
    return resolve_checked(start, end, timezone, rules).period


def presets(timezone: str) -> dict[str, Period]:
    """The picker's shortcuts: label key → period ending today."""
    now = today(timezone)
    return {
        "period.last7": Period(now - timedelta(days=6), now),
        "period.last30": Period(now - timedelta(days=DEFAULT_DAYS - 1), now),
        "period.year": Period(date(now.year, 1, 1), now),
    }
