"""Steps every simulation run shares: its inputs, registration, the summary, live mode.

Used by `fenlei simulate` (one estate or scale mode) and by `fenlei demo`; they take
plain values, not parsed arguments, so any entry point can call them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fenlei.errors import FenleiError
from ingest.contract import BinAddress
from simulators.broker import Login
from simulators.crash import CrashReport
from simulators.devices import Fleet
from simulators.estate import EstateSpec
from simulators.runner import LiveClock, RunStats, live
from simulators.simulation import Simulation


def spec_from(households: int, estate_id: str) -> EstateSpec:
    """The Jiangjiaqiao-like spec with ``households`` households under ``estate_id``."""
    if households < 1:
        raise FenleiError("--households must be at least 1")
    base = EstateSpec()
    if households == base.households_total and estate_id == base.id:
        return base
    return base.scaled(households, estate_id)


def period(spec: EstateSpec, days: int, end: str | None) -> tuple[date, date]:
    """``days`` local days ending ``end`` (default: yesterday in the estate's zone)."""
    if days < 1:
        raise FenleiError("--days must be at least 1")
    if end:
        try:
            last = date.fromisoformat(end)
        except ValueError:
            raise FenleiError(f"--end {end!r} is not a date YYYY-MM-DD") from None
    else:
        last = datetime.now(ZoneInfo(spec.timezone)).date() - timedelta(days=1)
    return last - timedelta(days=days - 1), last


def truth_path(given: str | None, home: Path, estate_id: str) -> Path:
    """Where the ground truth goes: ``given``, else ``<home>/simulate/<estate>-truth.json``."""
    if given:
        return Path(given)
    return home / "simulate" / f"{estate_id}-truth.json"


def register(
    api_url: str | None,
    token: str | None,
    sims: Sequence[Simulation],
    issue_logins: bool = False,
) -> dict[BinAddress, Login] | None:
    """Register the simulated estates through the registry API (nothing without a URL).

    With ``issue_logins``, also get every bin its own MQTT credentials there, as an
    installer would, and return them; None when nothing was issued.
    """
    if not api_url:
        return None
    from simulators.registry_client import RegistryClient

    if not token:
        raise FenleiError("--api needs an admin token: --token or FENLEI_API_TOKEN")
    logins: dict[BinAddress, Login] = {}
    with RegistryClient(api_url, token) as client:
        for sim in sims:
            client.register(sim.estate)
            if issue_logins:
                logins.update(client.issue_logins(sim.estate))
    return logins if issue_logins else None


def print_stats(stats: RunStats, path: Path) -> None:
    """The one-line summary of a backfill and where its truth is."""
    state = "stored and checked" if stats.confirmed else "published"
    print(
        f"{state}: {stats.events_stored} events in {stats.messages} messages, "
        f"{stats.rejections} rejections announced, {stats.seconds:.1f} s "
        f"({stats.events_per_s:,.0f} events/s)"
    )
    print(f"truth     {path}")


def print_crash(report: CrashReport) -> None:
    """What the broker crash cost, counted per (bin, event_id) against the truth."""
    backlog = "unknown" if report.backlog is None else f"{report.backlog}"
    print(
        f"broker    killed (pid {report.pid}) after {report.after_day} with {backlog} events "
        f"not yet stored, back after {report.down_s:.1f} s; {report.resent_bins} bins resent "
        f"{report.resent_events} events above their watermark"
    )
    t = report.tally
    if t is None:
        return
    print(
        f"per (bin, event_id): {t.expected} expected, {len(t.lost)} lost, "
        f"{len(t.duplicated)} duplicated, {len(t.unexpected)} unexpected"
        + (
            f"; {report.forgotten} events forgotten by full device buffers"
            if report.forgotten
            else ""
        )
    )
    for bin_id, event_id in t.lost[:10]:
        print(f"  lost {bin_id} {event_id}")


def run_live(
    sim: Simulation,
    fleet: Fleet,
    first_day: date,
    speed: float,
    path: Path,
    stop: threading.Event | None = None,
) -> None:
    """Simulate from ``first_day`` 00:00 on at ``speed`` until Ctrl-C / SIGTERM / ``stop``.

    The truth file is rewritten at each new day, so it always covers the days done.
    """
    stop = stop or threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    origin = datetime.combine(first_day, datetime.min.time(), sim.tz)
    print(f"live from {first_day} at {speed:g}x (Ctrl-C stops)")

    def on_day(day: date) -> None:
        sim.write_truth(path, end=day - timedelta(days=1))

    try:
        live(sim, fleet, first_day, LiveClock(origin, speed), stop, on_day)
    except KeyboardInterrupt:
        stop.set()
    finally:
        signal.signal(signal.SIGTERM, previous)
