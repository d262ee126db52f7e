"""Live mode: simulated time runs fast but never reports the future."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from simulators.delivery import Message
from simulators.estate import EstateSpec
from simulators.runner import LiveClock, live
from simulators.simulation import Simulation


class RecordingFleet:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def publish(self, message: Message) -> None:
        self.sent.append(message)

    def flush(self, timeout: float = 0.0) -> None:
        pass


def test_live_publishes_what_is_due_and_nothing_from_the_future() -> None:
    now = datetime.now(UTC)
    spec = EstateSpec().scaled(30, "live")
    yesterday = now.date() - timedelta(days=1)  # fully in the past in any time zone
    sim = Simulation(spec, 1, yesterday, yesterday)
    stop = threading.Event()
    fleet = RecordingFleet()
    origin = datetime.combine(yesterday, datetime.min.time(), sim.tz)
    clock = LiveClock(origin, speed=1e9)  # catches up with the wall clock at once
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    published = live(sim, fleet, yesterday, clock, stop)  # type: ignore[arg-type]
    timer.cancel()
    assert published == len(fleet.sent) > 0
    assert max(m.send_at for m in fleet.sent) <= datetime.now(UTC)
    assert min(m.send_at for m in fleet.sent) >= origin - timedelta(seconds=1)
    assert LiveClock(origin, 1e9).now() <= datetime.now(UTC)
