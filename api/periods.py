"""The days a period may span: one rule for the API's routes and the dashboards.

A period [from, to] of local days runs forwards, spans at most `max_days`, starts no
earlier than FIRST_DAY and ends no later than `future_days` after today. The bounds
are what keeps every date computation (the previous period, the day after `to`, a
month's end) far from the ends of the calendar, where Python and PostgreSQL overflow:
`to=9999-12-31` is a 422 here, not a 500 three calls deeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from api.errors import Invalid

# Dates a committee can mean (registry dates use the same range): far-off years are
# typos, and the figures' day arithmetic must never reach the end of the calendar.
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2199, 12, 31)
# Ten years of daily rows is still a small answer; anything longer is a mistake.
DEFAULT_MAX_DAYS = 3_660
# Rosters are planned ahead (next month's, a holiday season); figures end today. A
# year covers the first; the figures of days to come are simply empty.
DEFAULT_FUTURE_DAYS = 366


def utc_today() -> date:
    """Today in UTC; `future_days` (at least one) absorbs every time zone's offset."""
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class PeriodRules:
    """The bounds of a period (ApiSettings' FENLEI_MAX_PERIOD_DAYS and
    FENLEI_PERIOD_FUTURE_DAYS build the configured ones)."""

    max_days: int = DEFAULT_MAX_DAYS
    future_days: int = DEFAULT_FUTURE_DAYS

    def last_day(self, today: date | None = None) -> date:
        """The latest day a period may reach."""
        return min((today or utc_today()) + timedelta(days=self.future_days), LAST_DAY)

    def check_day(self, day: date, name: str, today: date | None = None) -> None:
        """Invalid unless `day` lies in [FIRST_DAY, last_day]."""
        last = self.last_day(today)
        if not FIRST_DAY <= day <= last:
            raise Invalid(
                f"{name!r} ({day}) is outside the days this API serves, {FIRST_DAY} to {last}",
                [_error(name, f"must lie between {FIRST_DAY} and {last}", day)],
            )

    def check(
        self, start: date, end: date, max_days: int | None = None, today: date | None = None
    ) -> None:
        """Invalid unless [start, end] runs forwards, within the served days, and spans
        at most `max_days` (default: the rules' own) days."""
        longest = min(max_days or self.max_days, self.max_days)
        self.check_day(start, "from", today)
        self.check_day(end, "to", today)
        if end < start:
            raise Invalid(
                f"'to' ({end}) is before 'from' ({start})",
                [_error("to", "must not be before 'from'", end)],
            )
        if (end - start).days + 1 > longest:
            raise Invalid(
                f"the period spans {(end - start).days + 1:,} days; at most {longest:,}",
                [_error("to", f"at most {longest:,} days after 'from'", end)],
            )

    def clamp(self, start: date, end: date, today: date | None = None) -> tuple[date, date]:
        """The nearest period these rules allow: each day moved into the served days,
        reversed days swapped, and a span too long cut to its last `max_days` days."""
        last = self.last_day(today)
        start, end = (min(max(d, FIRST_DAY), last) for d in (start, end))
        if end < start:
            start, end = end, start
        if (end - start).days + 1 > self.max_days:
            start = end - timedelta(days=self.max_days - 1)
        return start, end


def _error(name: str, message: str, value: date) -> dict[str, object]:
    return {"loc": ["query", name], "msg": message, "type": "period", "input": value.isoformat()}
