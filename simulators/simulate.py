"""`fenlei simulate`: register, backfill, optionally go live, and write the ground truth."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import threading
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fenlei.env import fenlei_home
from fenlei.errors import FenleiError
from simulators.delivery import FaultPlan
from simulators.devices import Fleet
from simulators.estate import EstateSpec
from simulators.probe import StoreProbe
from simulators.runner import LiveClock, RunStats, backfill, live
from simulators.simulation import Simulation

log = logging.getLogger(__name__)


def spec_from(args: argparse.Namespace, estate_id: str) -> EstateSpec:
    if args.households < 1:
        raise FenleiError("--households must be at least 1")
    base = EstateSpec()
    if args.households == base.households_total and estate_id == base.id:
        return base
    return base.scaled(args.households, estate_id)


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


def truth_path(args: argparse.Namespace, estate_id: str) -> Path:
    if args.truth:
        return Path(args.truth)
    return fenlei_home() / "simulate" / f"{estate_id}-truth.json"


def run_simulate(args: argparse.Namespace) -> int:
    plan = FaultPlan(
        duplicate=args.duplicates,
        out_of_order=args.out_of_order,
        offline=args.offline,
        malformed=args.malformed,
        clock_skew=args.clock_skew,
        silent=args.silent,
    )
    if args.estates > 1:
        from simulators.scale import run_scale

        return run_scale(args, plan)
    spec = spec_from(args, args.estate)
    start, end = period(spec, args.days, args.end)
    sim = Simulation(spec, args.seed, start, end, plan)
    path = truth_path(args, spec.id)
    with ExitStack() as stack:
        if args.events:
            sim.events_out = stack.enter_context(Path(args.events).open("wb"))
        return _run_one(args, sim, path)


def _run_one(args: argparse.Namespace, sim: Simulation, path: Path) -> int:
    spec, end = sim.estate.spec, sim.end
    if args.dry_run:
        digest = hashlib.sha256()
        for day in sim.days():
            for m in sim.day(day):
                digest.update(m.topic.encode() + b"\0" + m.payload + b"\0")
        sim.write_truth(path)
        print(f"messages  {sim.messages_sent}  sha256 {digest.hexdigest()}")
        print(f"truth     {path}")
        return 0
    register(args, [sim])
    mqtt_url = os.environ.get("FENLEI_MQTT_URL", "mqtt://127.0.0.1:1883")
    db_url = None if args.no_wait else os.environ.get("FENLEI_DATABASE_URL")
    probe = StoreProbe(db_url, spec.id) if db_url else None
    try:
        with Fleet(mqtt_url, list(sim.devices.values())) as fleet:
            stats = backfill(sim, fleet, probe, progress=not args.no_progress)
            sim.write_truth(path)
            print_stats(stats, path)
            if args.live:
                run_live(sim, fleet, end + timedelta(days=1), args.speed, path)
    finally:
        if probe:
            probe.close()
    return 0


def register(args: argparse.Namespace, sims: list[Simulation]) -> None:
    if not args.api:
        return
    from simulators.registry_client import RegistryClient

    token = args.token or os.environ.get("FENLEI_API_TOKEN")
    if not token:
        raise FenleiError("--api needs an admin token: --token or FENLEI_API_TOKEN")
    with RegistryClient(args.api, token) as client:
        for sim in sims:
            client.register(sim.estate)


def print_stats(stats: RunStats, path: Path) -> None:
    state = "stored and checked" if stats.confirmed else "published"
    print(
        f"{state}: {stats.events_stored} events in {stats.messages} messages, "
        f"{stats.rejections} rejections announced, {stats.seconds:.1f} s "
        f"({stats.events_per_s:,.0f} events/s)"
    )
    print(f"truth     {path}")


def run_live(
    sim: Simulation,
    fleet: Fleet,
    first_day: date,
    speed: float,
    path: Path,
    stop: threading.Event | None = None,
) -> None:
    """Simulate from ``first_day`` 00:00 on at ``speed`` until Ctrl-C / SIGTERM / ``stop``."""
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
