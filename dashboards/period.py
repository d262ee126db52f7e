"""The period picker's rules: [from, to] from the query, defaults, the previous period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.periods import PeriodRules

# Days shown when the query names no period: a month is what committees review.
DEFAULT_DAYS = 30


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


def today(timezone: str) -> date:
    """Today in a time zone."""
    return datetime.now(ZoneInfo(timezone)).date()


def _parse(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def resolve(
    start: str | None,
    end: str | None,
    timezone: str = "Asia/Shanghai",
    rules: PeriodRules | None = None,
) -> Period:
    """The period the query asks for; the last DEFAULT_DAYS days up to today otherwise.

    A hand-edited URL still shows a page: days outside the ones the API serves
    (`api.periods`: from 1990 to a year ahead) are moved inside, reversed days are
    swapped and a period longer than the API allows is cut to its last days. So the
    page's own date arithmetic (the previous period, a day after `to`) never runs off
    the calendar, whatever the query says.
    """
    rules = rules or PeriodRules()
    asked = _parse(end) or today(timezone)
    # The default start counts back from a `to` already in range.
    to = rules.clamp(asked, asked)[1]
    frm = _parse(start) or to - timedelta(days=DEFAULT_DAYS - 1)
    return Period(*rules.clamp(frm, to))


def presets(timezone: str) -> dict[str, Period]:
    """The picker's shortcuts: label key → period ending today."""
    now = today(timezone)
    return {
        "period.last7": Period(now - timedelta(days=6), now),
        "period.last30": Period(now - timedelta(days=DEFAULT_DAYS - 1), now),
        "period.year": Period(date(now.year, 1, 1), now),
    }
