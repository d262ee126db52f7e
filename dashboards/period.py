"""The period picker's rules: [from, to] from the query, defaults, the previous period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.routes.metrics import MAX_PERIOD_DAYS

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


def resolve(start: str | None, end: str | None, timezone: str = "Asia/Shanghai") -> Period:
    """The period the query asks for; the last DEFAULT_DAYS days up to today otherwise.

    Reversed days are swapped and a period longer than the API allows is cut to its
    last MAX_PERIOD_DAYS days, so a hand-edited URL still shows a page.
    """
    to = _parse(end) or today(timezone)
    frm = _parse(start) or to - timedelta(days=DEFAULT_DAYS - 1)
    if frm > to:
        frm, to = to, frm
    if (to - frm).days >= MAX_PERIOD_DAYS:
        frm = to - timedelta(days=MAX_PERIOD_DAYS - 1)
    return Period(frm, to)


def presets(timezone: str) -> dict[str, Period]:
    """The picker's shortcuts: label key → period ending today."""
    now = today(timezone)
    return {
        "period.last7": Period(now - timedelta(days=6), now),
        "period.last30": Period(now - timedelta(days=DEFAULT_DAYS - 1), now),
        "period.year": Period(date(now.year, 1, 1), now),
    }
