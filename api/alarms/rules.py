"""The decisions of the derived alarms, as pure functions of what was read.

No I/O: the evaluator reads the rows, these say what they mean, and the tests check
them on hand-made inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A weight sensor that reports the same weight this many drops in a row is stuck: real
# households' bags differ by grams.
STUCK_RUN = 10
# Silent room: the same window had identified drops on at least USUAL_DAYS of the last
# HISTORY_DAYS days of the same type (weekday / weekend).
HISTORY_DAYS = 4
USUAL_DAYS = 3
# A window is judged from its end for this long; a room silent in a window of last
# week is news to nobody.
SILENT_GRACE = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Window:
    """One drop-off window on one local day, as instants."""

    day: date
    start: datetime
    end: datetime
    # Which of the estate's windows (0 = the first of the day).
    index: int = 0


def parse_windows(raw: object) -> list[tuple[time, time]]:
    """estates.drop_windows ([["07:00","09:00"], ...]) as times; malformed entries are
    skipped (the registry validates them; the evaluator must not stop on one)."""
    out: list[tuple[time, time]] = []
    if not isinstance(raw, list):
        return out
    for item in raw:
        try:
            start, end = (time.fromisoformat(str(x)) for x in item)
        except (TypeError, ValueError):
            continue
        if start < end:
            out.append((start, end))
    return out


def windows_on(day: date, windows: Sequence[tuple[time, time]], zone: ZoneInfo) -> list[Window]:
    """The day's windows as instants in the estate's zone."""
    return [
        Window(day, datetime.combine(day, s, zone), datetime.combine(day, e, zone), i)
        for i, (s, e) in enumerate(windows)
    ]


def in_window(now: datetime, windows: Sequence[tuple[time, time]], zone: ZoneInfo) -> bool:
    """Whether `now` falls in one of the estate's drop-off windows (local time)."""
    local = now.astimezone(zone)
    return any(s <= local.time() < e for s, e in windows)


def offline_minutes(
    now: datetime,
    windows: Sequence[tuple[time, time]],
    zone: ZoneInfo,
    normal: int,
    during_window: int,
) -> int:
    """How long a bin may be silent before it counts as offline at `now`."""
    return during_window if in_window(now, windows, zone) else normal


def is_offline(
    now: datetime, online: bool | None, last_message: datetime | None, minutes: int
) -> bool:
    """Offline: its status says so (the MQTT last will), or nothing came for `minutes`.
    A bin that never sent anything is not installed yet, not offline."""
    if online is False:
        return True
    if last_message is None:
        return False
    return now - last_message >= timedelta(minutes=minutes)


def weekend(day: date) -> bool:
    """The day type the usual pattern is compared within (Saturday and Sunday)."""
    return day.weekday() >= 5


def same_type_days(day: date, n: int = HISTORY_DAYS) -> list[date]:
    """The `n` days before `day` of its type (weekday or weekend), newest first."""
    out: list[date] = []
    d = day
    while len(out) < n:
        d -= timedelta(days=1)
        if weekend(d) == weekend(day):
            out.append(d)
    return out


def last_ended_window(
    now: datetime, windows: Sequence[tuple[time, time]], zone: ZoneInfo
) -> Window | None:
    """The latest window that ended at or before `now`, if it ended within SILENT_GRACE."""
    today = now.astimezone(zone).date()
    ended = [
        w
        for day in (today - timedelta(days=1), today)
        for w in windows_on(day, windows, zone)
        if w.end <= now
    ]
    if not ended:
        return None
    latest = max(ended, key=lambda w: w.end)
    return latest if now - latest.end <= SILENT_GRACE else None


def silent_room(drops_now: int, drops_before: Sequence[int], usual: int = USUAL_DAYS) -> bool:
    """No identified drop in the window, though the same window had some on at least
    `usual` of the earlier same-type days: what a broken card reader looks like."""
    return drops_now == 0 and sum(1 for n in drops_before if n > 0) >= usual


def stuck_weights(newest_first: Sequence[int | None], run: int = STUCK_RUN) -> bool:
    """The last `run` drops of a bin all weighed exactly the same."""
    last = list(newest_first[:run])
    return len(last) == run and last[0] is not None and all(w == last[0] for w in last)


def fill_out_of_range(fill_pct: float | None, low: float = 0.0, high: float = 100.0) -> bool:
    """A fill level no bin can have (the contract refuses them; the quarantine counts
    them per bin, and a stored one would be just as wrong)."""
    return fill_pct is not None and not (low <= fill_pct <= high)
