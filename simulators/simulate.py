"""`fenlei simulate`: register, backfill, optionally go live, and write the ground truth."""

from __future__ import annotations

import argparse
import hashlib
import logging
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from simulators.delivery import FaultPlan
from simulators.devices import Fleet
from simulators.probe import StoreProbe
from simulators.runner import backfill
from simulators.settings import SimulatorSettings
from simulators.simulation import Simulation
from simulators.steps import period, print_stats, register, run_live, spec_from, truth_path

log = logging.getLogger(__name__)


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


def run_simulate(args: argparse.Namespace, settings: SimulatorSettings) -> int:
    """One estate (or, with ``--estates N``, scale mode) as the arguments say."""
    plan = fault_plan(args)
    if args.estates > 1:
        from simulators.scale import run_scale

        return run_scale(args, plan, settings)
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
    # Each bin gets its own login from the API, as an installer would do; without
    # `--api` the bins share the simulator login (FENLEI_SIM_MQTT_USERNAME).
    logins = register(args.api, args.token or settings.token, [sim], issue_logins=True)
    broker = settings.broker(tls=args.tls)
    db_url = None if args.no_wait else settings.database_url
    probe = StoreProbe(db_url, sim.estate.id) if db_url else None
    try:
        with Fleet(broker, list(sim.devices.values()), logins) as fleet:
            stats = backfill(sim, fleet, probe, progress=not args.no_progress)
            sim.write_truth(path)
            print_stats(stats, path)
            if args.live:
                run_live(sim, fleet, sim.end + timedelta(days=1), args.speed, path)
    finally:
        if probe:
            probe.close()
    return 0
