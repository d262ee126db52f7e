"""Whether an estate's data stopped coming in: the stale-data badge of every dashboard.

Bins report each event as it happens, so while an estate's refuse rooms are in use
minutes without any stored event mean a broker, ingester, network or bin problem;
otherwise silence is normal. In use means inside one of the estate's drop-off windows
(定时定点, `estates.drop_windows`, watched by every room without slots of its own) or
one of its watched rooms' watch slots (`watch_slots`, per day type, an end at or
before the start running past midnight, as the roster reads them:
`api.roster.rotation`). The badge says so once the silence inside the current span
reaches the threshold (FENLEI_STALE_MINUTES): a window that opened five minutes ago
after a quiet night is not stale yet, however old the last event is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.roster.rotation import day_type, slot_instants
from dashboards import i18n, repository
from dashboards.i18n import Locale

Window = tuple[time, time]
# A watch slot: (day type, start, end); an end at or before the start wraps past midnight.
Slot = tuple[str, time, time]


@dataclass(frozen=True, slots=True)
class Stale:
    """An estate whose data stopped: minutes since its newest event (None: no event yet)."""

    estate: str
    name: str
    minutes: int | None
    newest: datetime | None


def windows(drop_windows: Any) -> list[Window]:
    """[[\"07:00\", \"09:00\"], ...] as local [start, end) times; malformed or empty
    windows (which cover nothing, as `fenlei_windows` reads them) are left out."""
    found: list[Window] = []
    for pair in drop_windows or []:
        try:
            start, end = time.fromisoformat(str(pair[0])), time.fromisoformat(str(pair[1]))
        except (ValueError, IndexError, TypeError):
            continue
        if start < end:
            found.append((start, end))
    return found


def slots(watch_slots: Any) -> list[Slot]:
    """[[day_type, "HH:MM[:SS]", "HH:MM[:SS]"], ...] as slots; malformed ones left out."""
    found: list[Slot] = []
    for row in watch_slots or []:
        try:
            kind, start, end = str(row[0]), time.fromisoformat(row[1]), time.fromisoformat(row[2])
        except (ValueError, IndexError, TypeError):
            continue
        if kind in ("weekday", "weekend") and start != end:
            found.append((kind, start, end))
    return found


def spans(
    now: datetime, open_windows: list[Window], watch: list[Slot], timezone: str
) -> list[tuple[datetime, datetime]]:
    """The instants [start, end) the estate is in use around `now`: yesterday's and
    today's windows and slots (yesterday's: a slot past midnight may still run)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    found = []
    for day in (today - timedelta(days=1), today):
        found += [slot_instants(day, start, end, zone) for start, end in open_windows]
        found += [
            slot_instants(day, start, end, zone)
            for kind, start, end in watch
            if kind == day_type(day)
        ]
    return found


def stale_minutes(
    now: datetime,
    newest: datetime | None,
    open_windows: list[Window],
    timezone: str,
    threshold: timedelta,
    watch: list[Slot] | None = None,
) -> int | None:
    """The decision. Minutes since `newest` when `now` lies in a window or watch slot and
    the silence inside it (since the later of its start and `newest`) has lasted at
    least `threshold`; -1 when nothing was ever stored and it has been open that long;
    None otherwise (outside them all, or not quiet long enough)."""
    quiet = [
        opened if newest is None else max(newest, opened)
        for opened, closes in spans(now, open_windows, watch or [], timezone)
        if opened <= now < closes
    ]
    # Overlapping spans: the one open longest decides.
    if not quiet or now - min(quiet) < threshold:
        return None
    return -1 if newest is None else int((now - newest).total_seconds() // 60)


async def stale_estates(
    conn: Any, estates: list[str], threshold_minutes: int, now: datetime
) -> list[Stale]:
    """The estates among `estates` whose data is stale at `now`."""
    return decide(await repository.newest_events(conn, estates), threshold_minutes, now)


def decide(rows: list[dict[str, Any]], threshold_minutes: int, now: datetime) -> list[Stale]:
    """The stale estates among `repository.newest_events` rows, at `now`."""
    found = []
    for row in rows:
        minutes = stale_minutes(
            now,
            row["newest"],
            windows(row["drop_windows"]),
            str(row["timezone"]),
            timedelta(minutes=threshold_minutes),
            slots(row.get("watch_slots")),
        )
        if minutes is not None:
            newest = row["newest"] and row["newest"].astimezone(ZoneInfo(str(row["timezone"])))
            found.append(
                Stale(str(row["id"]), str(row["name"]), None if minutes < 0 else minutes, newest)
            )
    return found


def badge(locale: Locale, stale: Stale) -> str:
    """The badge's text (plain: the page escapes it)."""
    if stale.minutes is None:
        return i18n.t(locale, "stale.never", estate=stale.name)
    return i18n.t(
        locale,
        "stale.minutes",
        estate=stale.name,
        n=f"{stale.minutes:,}",
        at=i18n.moment(locale, stale.newest),
    )
