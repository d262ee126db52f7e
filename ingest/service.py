"""The ingester's main loop: batch, store with retry, acknowledge, report."""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from types import FrameType

import psycopg
from prometheus_client import start_http_server

from ingest import metrics
from ingest.batcher import Message, collect
from ingest.mqtt import Subscriber
from ingest.settings import IngestSettings
from ingest.writer import BatchResult, Writer, record

log = logging.getLogger(__name__)
summary = logging.getLogger("fenlei.summary")

# Lock conflicts between concurrent ingesters resolve on an immediate retry.
RETRY_AT_ONCE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class Ingester:
    """MQTT → TimescaleDB, acknowledging each batch only after it is committed."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.subscriber = Subscriber(settings, self.inbox)
        self.writer = Writer(settings.database_url)
        self.stopping = threading.Event()
        self.totals = {"messages": 0, "stored": 0, "duplicates": 0, "rejected": 0}

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.subscriber.draining = True
        self.stopping.set()

    def run(self) -> None:
        s = self.settings
        if s.metrics_port:
            start_http_server(s.metrics_port, s.metrics_host, registry=metrics.REGISTRY)
        self.subscriber.start()
        next_summary = time.monotonic() + s.summary_interval_s
        try:
            while True:
                batch = collect(
                    self.inbox, s.batch_max_messages, s.batch_max_events, s.batch_max_age_ms / 1000
                )
                self.subscriber.room.set()  # the batch left the inbox
                if batch:
                    # Counted per batch: a counter's lock per message is measurable
                    # on the network thread.
                    metrics.RECEIVED.inc(len(batch))
                    result = self._store(batch)
                    if result is None:  # asked to stop while the database is away
                        break
                    self.subscriber.ack(batch)
                    record(result, batch[0].received)
                    self._count(result)
                elif self.stopping.is_set():
                    break
                if time.monotonic() >= next_summary:
                    self._summary()
                    next_summary = time.monotonic() + s.summary_interval_s
        finally:
            # PUBACKs queued above go out before the DISCONNECT packet.
            self.subscriber.stop()
            self.writer.close()
            self._summary()

    def _store(self, batch: list[Message]) -> BatchResult | None:
        delay = self.settings.retry_min_s
        down_since: float | None = None
        while True:
            started = time.monotonic()
            try:
                result = self.writer.store(batch)
            except RETRY_AT_ONCE:
                continue
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if down_since is None:
                    down_since = started
                    metrics.DEGRADED.set(1)
                    log.warning(
                        "database unavailable, holding %d messages unacknowledged: %s",
                        len(batch),
                        str(exc).strip().splitlines()[0] if str(exc) else exc,
                    )
                self.writer.close()
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
            if down_since is not None:
                metrics.DEGRADED.set(0)
                log.warning("database back after %.1f s", time.monotonic() - down_since)
            return result

    def _count(self, result: BatchResult) -> None:
        t = self.totals
        t["messages"] += result.messages
        t["stored"] += result.stored
        t["duplicates"] += result.duplicates
        t["rejected"] += sum(result.rejected.values())

    def _summary(self) -> None:
        t = self.totals
        summary.info(
            "ingest totals: messages=%d stored=%d duplicates=%d rejected=%d",
            t["messages"],
            t["stored"],
            t["duplicates"],
            t["rejected"],
            extra={"component": "ingest", **t},
        )


def install_signal_handlers(ingester: Ingester) -> None:
    signal.signal(signal.SIGTERM, ingester.request_stop)
    signal.signal(signal.SIGINT, ingester.request_stop)
