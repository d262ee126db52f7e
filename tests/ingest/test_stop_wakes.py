"""SIGTERM ends the writer's wait for the inbox, however the signal lands.

CPython's SimpleQueue.get(timeout=...) recomputes the time left after a signal's handler
has run, and passes a negative remainder on as "block forever". An ingester whose
handler stops the intake (draining) then waits for a message that never comes: in CI a
SIGTERM'd ingester hung in `collect` until it was killed. These tests provoke exactly
that: a handler that outlasts the wait's timeout.
"""

from __future__ import annotations

import faulthandler
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ingest.batcher import WAKE, Message, collect
from ingest.service import Ingester, install_signal_handlers
from ingest.settings import IngestSettings

ROUNDS = 40


@pytest.fixture
def ingester() -> Ingester:
    # Nothing connects: only the inbox and request_stop are used.
    return Ingester(IngestSettings(database_url="postgresql://nobody@127.0.0.1:1/none"))


@pytest.fixture
def slow_handler() -> Iterator[Callable[[Callable[[], None]], None]]:
    """Installs a SIGUSR2 handler that spins 20 ms (longer than every wait below)
    before calling the given stop function, and restores the old one afterwards."""
    old = signal.getsignal(signal.SIGUSR2)

    def install(stop: Callable[[], None]) -> None:
        def handler(signum: int, frame: object) -> None:
            until = time.monotonic() + 0.02
            while time.monotonic() < until:
                pass
            stop()

        signal.signal(signal.SIGUSR2, handler)

    yield install
    signal.signal(signal.SIGUSR2, old)


def _signal_soon(delay_s: float) -> threading.Thread:
    # From another thread, so the signal may land while the main thread waits.
    def send() -> None:
        time.sleep(delay_s)
        os.kill(os.getpid(), signal.SIGUSR2)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t


def _collect_until_empty(inbox: queue.SimpleQueue[Message], idle_s: float) -> float:
    """Collect as the writer's loop does until a batch comes back empty; its duration.

    A watchdog thread fails the test if the main thread is stuck (it cannot interrupt
    a C-level wait, so it ends the process's wait by putting WAKE; the test then fails
    on the duration).
    """
    started = time.monotonic()
    stuck = threading.Timer(5.0, inbox.put, args=(WAKE,))
    stuck.daemon = True
    stuck.start()
    try:
        while collect(inbox, 100, 1000, 0.004, idle_timeout_s=idle_s):
            pass
    finally:
        stuck.cancel()
    return time.monotonic() - started


@pytest.mark.parametrize("idle_s", [0.003, 0.2])
def test_request_stop_from_a_slow_signal_handler_ends_the_wait(
    ingester: Ingester, slow_handler: Callable[[Callable[[], None]], None], idle_s: float
) -> None:
    slow_handler(ingester.request_stop)
    for i in range(ROUNDS):
        # Messages keep coming until the signal (the wait is inside collect's
        # batch-filling loop or its first wait, by turns), then none: draining.
        for _ in range(i % 3):
            ingester.inbox.put(Message(1, 1, time.monotonic()))
        sender = _signal_soon(0.001 * (i % 7))
        took = _collect_until_empty(ingester.inbox, idle_s)
        sender.join()
        assert took < 2.0, f"round {i}: the writer waited {took:.1f} s after SIGTERM"
        assert ingester.stopping.is_set()
        ingester.stopping.clear()
        while not ingester.inbox.empty():  # a WAKE left by a handler after the loop
            ingester.inbox.get_nowait()


def test_the_wait_can_hang_without_the_wake(
    slow_handler: Callable[[Callable[[], None]], None],
) -> None:
    """The control: the same signals with a handler that does not put WAKE hang the
    wait (the watchdog's WAKE ends it after 5 s), so the test above can fail."""
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    slow_handler(lambda: None)
    for i in range(ROUNDS):
        sender = _signal_soon(0.001 * (i % 7))
        took = _collect_until_empty(inbox, 0.003)
        sender.join()
        if took >= 4.0:
            return
    pytest.skip(f"no hang in {ROUNDS} rounds: this interpreter's SimpleQueue is not affected")


def test_wake_ends_a_batch_and_is_left_out() -> None:
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    inbox.put(WAKE)
    assert collect(inbox, 5, 1000, 1.0) == []
    first, second = Message(1, 1, time.monotonic()), Message(2, 1, time.monotonic())
    for m in (first, WAKE, second):
        inbox.put(m)
    assert collect(inbox, 5, 1000, 5.0) == [first]
    assert collect(inbox, 5, 1000, 0.01) == [second]


def test_every_handled_signal_wakes_the_writer(
    ingester: Ingester, capfd: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM, SIGINT and SIGUSR1 (the stack dump) each put WAKE: any of them may
    have made the writer's wait endless. SIGUSR1 still dumps every thread's stack."""
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    old = {s: signal.getsignal(s) for s in signals}
    try:
        install_signal_handlers(ingester)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert ingester.inbox.get(timeout=2.0) is WAKE
        assert "most recent call first" in capfd.readouterr().err
        assert not ingester.stopping.is_set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            os.kill(os.getpid(), sig)
            assert ingester.inbox.get(timeout=2.0) is WAKE
            assert ingester.stopping.is_set()
            ingester.stopping.clear()
    finally:
        faulthandler.unregister(signal.SIGUSR1)
        for sig, handler in old.items():
            signal.signal(sig, handler)
