"""Run a simulation against a broker: backfill as fast as it goes, or live at a speed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tqdm import tqdm

from simulators.crash import BrokerControl, CrashReport, tally
from simulators.delivery import Message
from simulators.devices import Fleet
from simulators.probe import StoreProbe
from simulators.simulation import Simulation

log = logging.getLogger(__name__)

# Messages published between waits for PUBACKs (and progress polls of the database).
CHUNK_MESSAGES = 5_000
# The backfill stays at most this many events ahead of what the ingester has stored,
# so the broker's queue for the ingester stays small.
MAX_AHEAD_EVENTS = 50_000
POLL_INTERVAL_S = 0.2
# The ingester must have stored everything within this long after the last PUBACK.
CATCH_UP_TIMEOUT_S = 600.0
# Live mode publishes the messages that are due, then sleeps at most this long.
LIVE_TICK_S = 0.2
# After a broker crash some events may never come (legacy bins do not resend): the
# run stops waiting once the stored count has not moved for this long.
STALL_S = 30.0
# The bins reconnect to the restarted broker and resend within this long.
RECONNECT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class BrokerCrash:
    """Kill the broker once the day ``after_day`` (an index into ``sim.days()``) is
    published and acknowledged, restart it, and carry on."""

    control: BrokerControl
    after_day: int


@dataclass(frozen=True)
class RunStats:
    """What a run sent and, when a database probe was given, how fast it was stored."""

    messages: int
    events_stored: int  # events the ground truth expects stored
    rejections: int  # rejections the faults announced
    seconds: float
    confirmed: bool  # the database shows everything stored and quarantined
    crash: CrashReport | None = None

    @property
    def events_per_s(self) -> float:
        return self.events_stored / self.seconds if self.seconds > 0 else 0.0


def backfill(
    sim: Simulation,
    fleet: Fleet,
    probe: StoreProbe | None = None,
    progress: bool = True,
    crash: BrokerCrash | None = None,
) -> RunStats:
    """Publish every day of ``sim`` as fast as the broker (and ingester) take it.

    With a ``probe`` the progress bar counts stored events and the run ends only when
    the ingester has stored all of them and quarantined every announced rejection.
    With a ``crash`` the broker is killed and restarted on the way; the run then ends
    when the stored count stops moving, and its report counts the stored copies per
    (bin, event_id) against the ground truth.
    """
    started = time.monotonic()
    days = sim.days()
    bar = tqdm(
        total=None,
        unit="ev",
        desc=f"backfill {sim.estate.id}",
        disable=not progress,
        dynamic_ncols=True,
    )
    shown = 0
    since_flush = 0
    report: CrashReport | None = None
    stall = STALL_S if crash is not None else None
    for i, day in enumerate(days):
        bar.set_postfix_str(f"{day} ({i + 1}/{len(days)} days)", refresh=False)
        for message in sim.day(day):
            fleet.publish(message)
            since_flush += 1
            if since_flush >= CHUNK_MESSAGES:
                fleet.flush()
                since_flush = 0
                # Before a crash nothing waits for the ingester: what it has not
                # taken yet is the backlog the crash puts at risk.
                if crash is None or report is not None:
                    shown = _advance(bar, shown, sim, probe, MAX_AHEAD_EVENTS, stall)
        if crash is not None and i == crash.after_day:
            report = crash_broker(sim, fleet, crash.control, probe, str(day))
            since_flush = 0
    fleet.flush()
    bar.total = sim.truth.stored_events
    confirmed = False
    announced = sum(sim.report.rejections.values())
    if probe is not None:
        shown = _advance(bar, shown, sim, probe, 0, stall)
        if report is None:
            confirmed = _wait_rejections(probe, announced)
        else:
            # Malformed payloads are no device's events: one the crash lost is never
            # resent; a resent skewed event is refused again. So no exact count here.
            _wait_rejections(probe, announced, STALL_S)
            report.rejections = probe.rejected()
            assert sim.first_ts is not None and sim.last_ts is not None
            report.tally = tally(sim.truth.keys, probe.keys(sim.first_ts, sim.last_ts))
            confirmed = report.tally.exact
    else:
        bar.update(sim.truth.stored_events - shown)
    bar.close()
    if report is not None:
        resends = fleet.resends()
        report.resent_events = sum(len(r.seqs) for _, r in resends)
        report.resent_bins = len({a for a, _ in resends})
        report.forgotten = sum(
            link.buffer.forgotten for link in fleet.links.values() if link.buffer is not None
        )
    return RunStats(
        sim.messages_sent,
        sim.truth.stored_events,
        announced,
        time.monotonic() - started,
        confirmed,
        report,
    )


def crash_broker(
    sim: Simulation,
    fleet: Fleet,
    control: BrokerControl,
    probe: StoreProbe | None,
    after_day: str,
) -> CrashReport:
    """SIGKILL the broker right after every publish so far is acknowledged (so what
    the ingester has not taken yet is queued there, unsaved for up to the autosave
    interval), start it again, and wait for the bins to reconnect and resend."""
    fleet.flush()
    backlog = None
    if probe is not None and sim.first_ts is not None and sim.last_ts is not None:
        backlog = max(sim.truth.stored_events - probe.stored(sim.first_ts, sim.last_ts), 0)
    down = time.monotonic()
    pid = control.kill()
    log.warning(
        "broker (pid %d) killed after %s, %s events not yet stored", pid, after_day, backlog
    )
    control.restart()
    down_s = time.monotonic() - down
    fleet.wait_reconnected(2, RECONNECT_TIMEOUT_S)
    return CrashReport(pid=pid, after_day=after_day, backlog=backlog, down_s=down_s)


def _advance(
    bar: tqdm[object],
    shown: int,
    sim: Simulation,
    probe: StoreProbe | None,
    ahead: int,
    stall: float | None = None,
) -> int:
    """Update the bar; with a probe, wait until at most ``ahead`` events are unstored
    (or, given ``stall``, until the stored count has not moved for that long)."""
    expected = sim.truth.stored_events
    if probe is None or sim.first_ts is None or sim.last_ts is None:
        bar.update(expected - shown)
        return expected
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    moved = time.monotonic()
    while True:
        stored = min(probe.stored(sim.first_ts, sim.last_ts), expected)
        bar.update(stored - shown)
        if stored != shown:
            moved = time.monotonic()
        shown = stored
        if stored >= expected - ahead:
            return shown
        if stall is not None and time.monotonic() - moved > stall:
            return shown
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the ingester stored {stored} of {expected} events "
                f"within {CATCH_UP_TIMEOUT_S:.0f} s: is it running?"
            )
        time.sleep(POLL_INTERVAL_S)


def _wait_rejections(probe: StoreProbe, expected: int, timeout: float = CATCH_UP_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while probe.rejected() < expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL_S)
    return True


class LiveClock:
    """Simulated time running ``speed`` times faster than the wall clock from ``origin``,
    but never ahead of the wall clock: a device cannot report the future."""

    def __init__(self, origin: datetime, speed: float) -> None:
        self.origin = origin
        self.speed = speed
        self.wall0 = time.monotonic()

    def now(self) -> datetime:
        simulated = self.origin + timedelta(seconds=(time.monotonic() - self.wall0) * self.speed)
        return min(simulated, datetime.now(UTC))


def live(
    sim: Simulation,
    fleet: Fleet,
    first_day: date,
    clock: LiveClock,
    stop: threading.Event,
    on_day: Callable[[date], None] | None = None,
) -> int:
    """Publish day after day from ``first_day`` as the clock reaches each message.

    Returns the number of messages published once ``stop`` is set.
    """
    published = 0
    day = first_day
    pending: list[Message] = []
    while not stop.is_set():
        if not pending:
            pending = sim.day(day)
            log.info("live: %s, %d messages", day, len(pending))
            day += timedelta(days=1)
            if on_day is not None:
                on_day(day)
        now = clock.now()
        due = 0
        while due < len(pending) and pending[due].send_at <= now:
            fleet.publish(pending[due])
            due += 1
        published += due
        del pending[:due]
        if pending:
            wait = (pending[0].send_at - now).total_seconds() / clock.speed
            stop.wait(min(max(wait, 0.0), LIVE_TICK_S))
    fleet.flush(30.0)
    return published
