"""`fenlei simulate`: register, backfill, optionally go live, and write the ground truth."""

from __future__ import annotations

import argparse
import hashlib
import logging
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from fenlei.errors import FenleiError
from simulators.crash import LocalLauncher
from simulators.delivery import FaultPlan
from simulators.devices import Fleet
from simulators.probe import StoreProbe
from simulators.runner import BrokerCrash, backfill
from simulators.settings import SimulatorSettings
from simulators.simulation import Simulation
from simulators.steps import (
    period,
    print_crash,
    print_stats,
    register,
    run_live,
    spec_from,
    truth_path,
)
from simulators.watermark import DEFAULT_BUFFER_LIMIT, DeviceOptions

log = logging.getLogger(__name__)

EXIT_NOT_EXACT = 4


def fault_plan(args: argparse.Namespace) -> FaultPlan:
    """The faults asked for on the command line."""
    return FaultPlan(
        duplicate=args.duplicates,
        out_of_order=args.out_of_order,
        offline=args.offline,
        malformed=args.malformed,
        clock_skew=args.clock_skew,
        silent=args.silent,
    )


def device_options(args: argparse.Namespace) -> DeviceOptions:
    """How the bins take part in the acknowledgement protocol."""
    limit = DEFAULT_BUFFER_LIMIT if args.device_buffer is None else args.device_buffer
    if limit < 1:
        raise FenleiError("--device-buffer must be at least 1")
    return DeviceOptions(resend=not args.no_resend, buffer_limit=limit)


def _refuse_crash(args: argparse.Namespace, settings: SimulatorSettings) -> None:
    """`--broker-crash` only where it can restart the broker and count the damage."""
    if args.estates > 1:
        raise FenleiError("--broker-crash runs with one estate, not in scale mode (--estates)")
    if args.dry_run:
        raise FenleiError("--broker-crash needs a broker; --dry-run has none")
    if args.no_wait or not settings.database_url:
        raise FenleiError(
            "--broker-crash counts what the ingester stored: it needs FENLEI_DATABASE_URL "
            "and no --no-wait"
        )


def run_simulate(args: argparse.Namespace, settings: SimulatorSettings) -> int:
    """One estate (or, with ``--estates N``, scale mode) as the arguments say."""
    plan = fault_plan(args)
    if args.broker_crash:
        _refuse_crash(args, settings)
    if args.estates > 1:
        from simulators.scale import run_scale

        return run_scale(args, plan, settings, device_options(args))
    spec = spec_from(args.households, args.estate)
    start, end = period(spec, args.days, args.end)
    sim = Simulation(spec, args.seed, start, end, plan)
    path = truth_path(args.truth, settings.home_dir, spec.id)
    with ExitStack() as stack:
        if args.events:
            sim.events_out = stack.enter_context(Path(args.events).open("wb"))
        return _run_one(args, settings, sim, path)


def _run_one(
    args: argparse.Namespace, settings: SimulatorSettings, sim: Simulation, path: Path
) -> int:
    if args.dry_run:
        digest = hashlib.sha256()
        for day in sim.days():
            for m in sim.day(day):
                digest.update(m.topic.encode() + b"\0" + m.payload + b"\0")
        sim.write_truth(path)
        print(f"messages  {sim.messages_sent}  sha256 {digest.hexdigest()}")
        print(f"truth     {path}")
        return 0
    broker = settings.broker(tls=args.tls)
    crash = None
    if args.broker_crash:
        # Refused before anything is registered or sent when it is not the launcher's.
        control = LocalLauncher.find(settings.home_dir, broker.url)
        crash = BrokerCrash(control, after_day=(len(sim.days()) - 1) // 2)
    # Each bin gets its own login from the API, as an installer would do; without
    # `--api` the bins share the simulator login (FENLEI_SIM_MQTT_USERNAME).
    logins = register(args.api, args.token or settings.token, [sim], issue_logins=True)
    db_url = None if args.no_wait else settings.database_url
    probe = StoreProbe(db_url, sim.estate.id) if db_url else None
    try:
        fleet_of = Fleet(broker, list(sim.devices.values()), logins, device_options(args))
        with fleet_of as fleet:
            stats = backfill(sim, fleet, probe, progress=not args.no_progress, crash=crash)
            if stats.crash is not None:
                sim.notes["broker_crash"] = stats.crash.as_json()
            sim.write_truth(path)
            print_stats(stats, path)
            if stats.crash is not None:
                print_crash(stats.crash)
            if args.live:
                run_live(sim, fleet, sim.end + timedelta(days=1), args.speed, path)
    finally:
        if probe:
            probe.close()
    # A crash that cost events (or stored some twice) fails the run, as a check does.
    return 0 if stats.crash is None or stats.confirmed else EXIT_NOT_EXACT
