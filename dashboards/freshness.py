"""Whether an estate's data stopped coming in: the stale-data badge of every dashboard.

Bins report each event as it happens, so inside an estate's drop-off windows (定时定点,
`estates.drop_windows`, the hours residents bring their waste and volunteers stand
watch) minutes without any stored event mean a broker, ingester, network or bin
problem; outside them silence is normal. The badge says so once the silence inside the
current window reaches the threshold (FENLEI_STALE_MINUTES): a window that opened five
minutes ago after a quiet night is not stale yet, however old the last event is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dashboards import i18n, repository
from dashboards.i18n import Locale

Window = tuple[time, time]


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


def stale_minutes(
    now: datetime,
    newest: datetime | None,
    open_windows: list[Window],
    timezone: str,
    threshold: timedelta,
) -> int | None:
    """The decision. Minutes since `newest` when `now` lies in one of the windows and the
    silence inside that window (since the later of its opening and `newest`) has lasted
    at least `threshold`; -1 when nothing was ever stored and the window has been open
    that long; None otherwise (outside the windows, or not quiet long enough)."""
    local = now.astimezone(ZoneInfo(timezone))
    for start, end in open_windows:
        if start <= local.time().replace(tzinfo=None) < end:
            opened = datetime.combine(local.date(), start, ZoneInfo(timezone))
            quiet_since = opened if newest is None else max(newest, opened)
            if now - quiet_since < threshold:
                return None
            return -1 if newest is None else int((now - newest).total_seconds() // 60)
    return None


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
