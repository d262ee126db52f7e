"""Scale mode: many estates side by side at a target aggregate rate, for benchmarks."""

from __future__ import annotations

import argparse
import heapq
import time
from contextlib import ExitStack

import orjson

from simulators.delivery import FaultPlan, Message
from simulators.devices import Fleet
from simulators.probe import StoreProbe
from simulators.runner import CATCH_UP_TIMEOUT_S, CHUNK_MESSAGES, POLL_INTERVAL_S
from simulators.settings import SimulatorSettings
from simulators.simulation import Simulation
from simulators.steps import period, register, spec_from, truth_path
from simulators.watermark import DeviceOptions


def run_scale(
    args: argparse.Namespace,
    plan: FaultPlan,
    settings: SimulatorSettings,
    options: DeviceOptions | None = None,
) -> int:
    """Backfill ``--estates`` estates, interleaved in time, at ``--rate`` events/s."""
    sims = []
    for i in range(args.estates):
        spec = spec_from(args.households, f"{args.estate}-{i + 1:03d}")
        start, end = period(spec, args.days, args.end)
        sims.append(Simulation(spec, args.seed + i, start, end, plan))
    register(args.api, args.token or settings.token, sims)
    # Scale mode shares the simulator login (fenlei-sim) for every bin: issuing a
    # thousand device logins would cost a broker command each (~10 ms) per run.
    broker = settings.broker(tls=args.tls)
    rate = args.rate
    started = time.monotonic()
    sent = 0
    with ExitStack() as stack:
        fleets = {
            s.estate.id: stack.enter_context(
                Fleet(broker, list(s.devices.values()), options=options)
            )
            for s in sims
        }
        connected = time.monotonic()
        for day in sims[0].days():
            batches = [s.day(day) for s in sims]
            merged: list[Message] = list(heapq.merge(*batches, key=lambda m: m.send_at))
            for m in merged:
                fleets[m.address.estate].publish(m)
                sent += 1
                if rate:
                    ahead = sent / rate - (time.monotonic() - connected)
                    if ahead > 0:
                        time.sleep(ahead)
                if sent % CHUNK_MESSAGES == 0:
                    for fleet in fleets.values():
                        fleet.flush()
        for fleet in fleets.values():
            fleet.flush()
        published_s = time.monotonic() - connected
    events = sum(s.truth.stored_events for s in sims)
    print(
        f"published {sent} messages ({events} events) from {len(sims)} estates in "
        f"{published_s:.1f} s: {sent / max(published_s, 1e-9):,.0f} messages/s"
        + (f" (target {rate:,.0f})" if rate else "")
    )
    db_url = None if args.no_wait else settings.database_url
    if db_url:
        _wait_stored(db_url, sims)
        total_s = time.monotonic() - started
        print(f"stored by the ingester after {total_s:.1f} s: {events / total_s:,.0f} events/s")
    path = truth_path(args.truth, settings.home_dir, f"{args.estate}-x{len(sims)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        orjson.dumps({"estates": [s.ground_truth() for s in sims]}, option=orjson.OPT_INDENT_2)
    )
    print(f"truth     {path}")
    return 0


def _wait_stored(db_url: str, sims: list[Simulation]) -> None:
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    for sim in sims:
        probe = StoreProbe(db_url, sim.estate.id)
        try:
            assert sim.first_ts is not None and sim.last_ts is not None
            while probe.stored(sim.first_ts, sim.last_ts) < sim.truth.stored_events:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"estate {sim.estate.id} not stored in time")
                time.sleep(POLL_INTERVAL_S)
        finally:
            probe.close()
