"""One bin's connection and its side of the acknowledgement protocol.

On every connect the bin subscribes to its own stored topic, reads the retained
watermark and resends what it still holds above it (docs/acknowledgement.md). The
network thread only records; the resending is done by the fleet's `Resender`, since
a publish may wait for room among the unacknowledged messages.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from ingest.contract import BinAddress, events_topic, status_topic, stored_topic
from simulators.publisher import Publisher
from simulators.watermark import DeviceOptions, EventBuffer, parse_watermark

log = logging.getLogger(__name__)

# Resent events go out in arrays of at most this many (as an offline buffer does).
RESEND_CHUNK = 200


@dataclass(frozen=True)
class Resend:
    """One resend after a connect: which connection, above which watermark, what."""

    connection: int
    watermark: int
    seqs: tuple[int, ...]


@dataclass
class BinLink:
    """A bin's publisher, the events it keeps, and the watermark it last read."""

    address: BinAddress
    pub: Publisher
    options: DeviceOptions
    schedule: Callable[[BinLink, int], None]
    # The retained status payload the bin announces again on every reconnect.
    status: Callable[[], bytes] | None = None
    buffer: EventBuffer | None = None
    resends: list[Resend] = field(default_factory=list)
    # The connection whose retained watermark has been read (or found absent).
    _read_on: int = 0
    _read: threading.Condition = field(default_factory=threading.Condition)
    _connected_at: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.events_topic = events_topic(self.address.estate, self.address.room, self.address.bin)
        self.stored_topic = stored_topic(self.address.estate, self.address.room, self.address.bin)
        self.status_topic = status_topic(self.address.estate, self.address.room, self.address.bin)
        self.pub.on_connected = self._on_connected
        if self.options.resend:
            self.buffer = EventBuffer(self.options.buffer_limit)
            self.pub.on_message = self._on_message
            self.pub.on_subscribed = self._on_subscribed

    def keep(self, seq: int, event_id: str, wire: bytes) -> None:
        """Keep an event just published until a watermark covers it."""
        if self.buffer is not None:
            self.buffer.add(seq, event_id, wire)

    # -- the network thread ------------------------------------------------------------

    def _on_connected(self, connection: int) -> None:
        self._connected_at[connection] = time.monotonic()
        if self.buffer is not None:
            self.pub.subscribe(self.stored_topic, qos=1)
        self.schedule(self, connection)

    def _on_subscribed(self, reasons: list[ReasonCode]) -> None:
        if any(r.is_failure for r in reasons):
            # Not allowed to read it: every reconnect resends all that is held.
            log.warning("bin %s may not read %s: %s", self.address.bin, self.stored_topic, reasons)

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != self.stored_topic or self.buffer is None:
            return
        mark = parse_watermark(bytes(msg.payload))
        if mark is None:
            log.warning(
                "bin %s: not a watermark on %s: %r", self.address.bin, msg.topic, msg.payload[:200]
            )
        else:
            self.buffer.cover(mark)
        if msg.retain:
            # Retained: sent on subscribing, i.e. the watermark of this connection.
            with self._read:
                self._read_on = self.pub.connections
                self._read.notify_all()

    # -- the resend thread ---------------------------------------------------------------

    def reconnected(self, connection: int) -> Resend | None:
        """What a bin does once connected: after a reconnect it announces its status
        again (a crashed broker may have lost it), and it resends what it holds."""
        if connection > 1 and self.status is not None:
            self.pub.publish(self.status_topic, self.status(), retain=True)
        if self.buffer is None:
            return None  # a legacy device: nothing kept, nothing resent
        return self.resend(connection)

    def resend(self, connection: int) -> Resend | None:
        """After ``connection``'s watermark is read (or the wait is over), resend
        everything held above it, unchanged; None when there was nothing to send."""
        assert self.buffer is not None
        if not len(self.buffer):
            return None
        deadline = (
            self._connected_at.get(connection, time.monotonic()) + self.options.watermark_wait_s
        )
        with self._read:
            while self._read_on < connection:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._read.wait(left)
        if self.pub.connections > connection:
            return None  # lost again meanwhile: the next connection resends
        held = self.buffer.above()
        if not held:
            return None
        for i in range(0, len(held), RESEND_CHUNK):
            chunk = held[i : i + RESEND_CHUNK]
            self.pub.publish(self.events_topic, b"[" + b",".join(w for _, w in chunk) + b"]")
        done = Resend(connection, self.buffer.watermark, tuple(s for s, _ in held))
        self.resends.append(done)
        log.info(
            "bin %s resent %d events above watermark %d after reconnect %d",
            self.address.bin,
            len(held),
            done.watermark,
            connection,
        )
        return done


class Resender:
    """The fleet's thread that resends for bins that (re)connected, one after another."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[tuple[BinLink, int] | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fenlei-resend", daemon=True)
        self._thread.start()

    def schedule(self, link: BinLink, connection: int) -> None:
        with self._idle:
            self._pending += 1
        self._tasks.put((link, connection))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every scheduled resend is published (not yet acknowledged)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        self._tasks.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            link, connection = task
            try:
                link.reconnected(connection)
            except Exception as exc:  # kept for the fleet's flush to raise
                log.exception("resend for bin %s failed", link.address.bin)
                self.error = self.error or exc
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
