"""The ingester's main loop: batch, store with retry, acknowledge, report."""

from __future__ import annotations

import faulthandler
import logging
import queue
import signal
import threading
import time
from types import FrameType

import psycopg
from prometheus_client import start_http_server

from ingest import metrics
from ingest.batcher import WAKE, Message, collect
from ingest.estates import EstateSeries
from ingest.mqtt import Subscriber
from ingest.quarantine import Pruner
from ingest.settings import IngestSettings
from ingest.watermark import Watermarks
from ingest.writer import BatchResult, Writer, first_line, record, refused

log = logging.getLogger(__name__)
summary = logging.getLogger("fenlei.summary")

# Lock conflicts between concurrent ingesters resolve on an immediate retry.
RETRY_AT_ONCE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
# Errors that are nobody's message's fault but may pass: a statement or lock timeout,
# memory or connection slots short. Tried a bounded number of times, then the batch is
# split as if the database refused it.
TRANSIENT = (
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.OutOfMemory,
    psycopg.errors.TooManyConnections,
    psycopg.errors.ConfigurationLimitExceeded,
)
# A full disk is not a message's fault either, and splitting cannot help: held like an
# outage (nothing acknowledged) until space returns.
# disk_full; read_only_sql_transaction: a replica (a failed-over primary, or a
# multi-host URL without target_session_attrs=read-write) cannot store anything, and
# splitting the batch would only quarantine it there too: wait, acknowledge nothing.
OUTAGE_STATES = {"53100", "25006"}
# Seconds a stopping ingester keeps storing the messages already in hand (SIGTERM): a
# supervisor's grace is 30 s (Kubernetes' default), so the exit must come well before.
STOP_DRAIN_S = 10.0


def is_outage(exc: BaseException, conn_broken: bool) -> bool:
    """Whether `exc` means the database is away (retry forever, acknowledge nothing)."""
    if isinstance(exc, psycopg.InterfaceError) or conn_broken:
        return True
    if getattr(exc, "sqlstate", None) in OUTAGE_STATES:
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        # No SQLSTATE: the client lost or could not open the connection. Class 08 is
        # connection exceptions; 57P0x the server shutting down or starting.
        return state is None or state.startswith("08") or state.startswith("57P")
    return False


class Ingester:
    """MQTT → TimescaleDB, acknowledging each batch only after it is committed."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.subscriber = Subscriber(settings, self.inbox)
        self.writer = Writer(settings.database_url, rejected_cap=settings.rejected_cap)
        self.watermarks = Watermarks(settings, self.subscriber.publish)
        self.pruner = Pruner(settings)
        self.estate_series = EstateSeries()
        # Set by the network thread on every (re)connect: the broker may have lost the
        # retained watermarks (a crash before its autosave), so they are sent again.
        self.reconnected = threading.Event()
        self.subscriber.add_connect_listener(self.reconnected.set)
        self.stopping = threading.Event()
        self._network_counts: dict[str, int] = {}
        self._idle_retry_at = 0.0
        self.totals = {"messages": 0, "stored": 0, "duplicates": 0, "rejected": 0}

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.subscriber.draining = True
        self.stopping.set()
        self.wake()

    def wake(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """End the writer's wait for the inbox: any signal may have made it endless
        (batcher.WAKE), so every signal the process handles calls this."""
        self.inbox.put(WAKE)

    def run(self) -> None:
        s = self.settings
        if s.metrics_port:
            start_http_server(s.metrics_port, s.metrics_host, registry=metrics.REGISTRY)
        self.subscriber.start()
        next_summary = time.monotonic() + s.summary_interval_s
        stop_by: float | None = None
        try:
            while True:
                if stop_by is None and self.stopping.is_set():
                    # Nothing new is taken in (draining); what is in hand gets this long,
                    # then the rest stays unacknowledged and the broker redelivers it.
                    stop_by = time.monotonic() + STOP_DRAIN_S
                    log.info("stopping: %d message(s) in hand", self.inbox.qsize())
                elif stop_by is not None and time.monotonic() > stop_by:
                    log.warning(
                        "stopping with %d message(s) still in hand after %.0f s: left "
                        "unacknowledged, for the broker to deliver again",
                        self.inbox.qsize(),
                        STOP_DRAIN_S,
                    )
                    break
                batch = collect(
                    self.inbox,
                    s.batch_max_messages,
                    s.batch_max_events,
                    s.batch_max_age_ms / 1000,
                    max_total=s.batch_max_total,
                )
                self.subscriber.room.set()  # the batch left the inbox
                if batch:
                    # Counted per batch: a counter's lock per message is measurable
                    # on the network thread.
                    metrics.RECEIVED.inc(len(batch))
                    # Delivered on a connection that has since been lost: their packet
                    # ids mean nothing now, and the broker delivers them again.
                    batch = self.subscriber.current(batch)
                if batch:
                    result = self._store(batch)
                    if result is None:  # asked to stop while the database is away
                        break
                    self.subscriber.ack(batch)
                    record(result, batch[0].received)
                    self._count(result)
                    self._after_commit(result)
                elif self.stopping.is_set():
                    break
                self._housekeeping()
                if time.monotonic() >= next_summary:
                    self._summary()
                    next_summary = time.monotonic() + s.summary_interval_s
        finally:
            # PUBACKs queued above go out before the DISCONNECT packet.
            self.subscriber.stop()
            self.writer.close()
            self._summary()

    def _store(self, batch: list[Message]) -> BatchResult | None:
        """Store `batch`, whatever it takes; None only when asked to stop meanwhile.

        A lost database is waited for (forever, with backoff); a transient error is
        tried `transient_retries` times; anything else the database refuses splits the
        batch until the offending messages are found: those are quarantined as
        database_refused, the rest is stored, and all of it can be acknowledged.
        """
        outcome = self._attempt(batch)
        if outcome is None or isinstance(outcome, BatchResult):
            return outcome
        if len(batch) == 1:
            return self._refuse(batch[0], outcome)
        middle = len(batch) // 2
        result = self._store(batch[:middle])
        if result is None:
            return None
        rest = self._store(batch[middle:])
        if rest is None:
            return None
        result.add(rest)
        return result

    def _attempt(self, batch: list[Message]) -> BatchResult | psycopg.Error | None:
        """One batch in one transaction: its result, the refusal to split on, or None."""
        delay = self.settings.retry_min_s
        down_since: float | None = None
        transient_tries = 0
        while True:
            started = time.monotonic()
            try:
                result = self.writer.store(batch)
            except RETRY_AT_ONCE:
                continue
            except psycopg.Error as exc:
                if not is_outage(exc, self.writer.broken):
                    if isinstance(exc, TRANSIENT):
                        transient_tries += 1
                        if transient_tries < self.settings.transient_retries:
                            log.warning(
                                "transient database error (try %d of %d): %s",
                                transient_tries,
                                self.settings.transient_retries,
                                first_line(exc),
                            )
                            if self.stopping.wait(delay):
                                return None
                            delay = min(delay * 2, self.settings.retry_max_s)
                            continue
                    self._back(down_since)
                    return exc
                if down_since is None:
                    down_since = started
                    metrics.DEGRADED.set(1)
                    log.warning(
                        "database unavailable, holding %d messages unacknowledged: %s",
                        len(batch),
                        first_line(exc),
                    )
                self.writer.close()
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
            self._back(down_since)
            return result

    def _after_commit(self, result: BatchResult) -> None:
        """Move and publish the stored watermarks of the bins this batch touched."""
        if result.seq_bins:
            conn = self._idle_connection()
            if conn is not None:
                self.watermarks.after_commit(conn, result.seq_bins)

    def _housekeeping(self) -> None:
        """Watermark republishing and gap expiry, quarantine retention: each rate-limits
        itself and never raises for a database error (it retries on a later turn)."""
        self._copy_network_counts()
        conn = self._idle_connection()
        if conn is None:
            return
        if self.reconnected.is_set():
            self.reconnected.clear()
            self.watermarks.republish_all(conn)
        self.watermarks.tick(conn)
        self.pruner.tick(conn)
        self.estate_series.tick(conn)

    def _copy_network_counts(self) -> None:
        sub = self.subscriber
        for counter, now, attr in (
            (metrics.STALE, sub.stale_dropped, "stale"),
            (metrics.OVERFLOW_UNACKED, sub.overflow_dropped, "overflow"),
        ):
            seen = self._network_counts.get(attr, 0)
            if now > seen:
                counter.inc(now - seen)
                self._network_counts[attr] = now

    def _idle_connection(self) -> psycopg.Connection | None:
        """The writer's connection between batches, or None while the database is away
        (then not tried again for `retry_max_s`: the next batch waits for it and reports)."""
        if time.monotonic() < self._idle_retry_at:
            return None
        try:
            return self.writer.connect()
        except psycopg.Error:
            self._idle_retry_at = time.monotonic() + self.settings.retry_max_s
            return None

    def _back(self, down_since: float | None) -> None:
        if down_since is not None:
            metrics.DEGRADED.set(0)
            log.warning("database back after %.1f s", time.monotonic() - down_since)

    def _refuse(self, msg: Message, error: psycopg.Error) -> BatchResult | None:
        """Quarantine one message the database refuses, with the database's error."""
        rejections = refused(msg, error)
        log.warning(
            "the database refused a message (%s); quarantined: %s",
            rejections[0].topic if rejections else "?",
            first_line(error),
        )
        delay = self.settings.retry_min_s
        while True:
            try:
                self.writer.quarantine_only(rejections)
                break
            except psycopg.Error as exc:
                if not is_outage(exc, self.writer.broken):
                    # Not even its quarantine record is accepted: acknowledged and
                    # dropped, loudly, rather than wedging every bin behind it.
                    log.error(
                        "could not quarantine a refused message on %s either (%s); dropped",
                        rejections[0].topic if rejections else "?",
                        first_line(exc),
                    )
                    metrics.DROPPED.inc()
                    break
                self.writer.close()
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, self.settings.retry_max_s)
        by_reason: dict[str, int] = {}
        for r in rejections:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + 1
        return BatchResult(1, 0, 0, by_reason, 0)

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
    # An operator's (and the tests') view of a stuck process: every thread's stack on
    # stderr, without stopping it. faulthandler writes it from C, so it comes even when
    # the main thread is stuck in C; chained, the wake-up handler runs after it.
    signal.signal(signal.SIGUSR1, ingester.wake)
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)
