"""Store batches: COPY into staging, insert with dedupe, quarantine rejections, commit.

Only after the commit does the caller acknowledge the batch's messages, so a crash
at any point leaves the broker holding whatever was not durably stored.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

import orjson
import psycopg
from psycopg import sql as pgsql

from ingest import metrics, quarantine, sql
from ingest.batcher import Message
from ingest.contract import (
    BinAddress,
    Event,
    Reason,
    Rejection,
    check_registered,
    encode_payload,
    event_to_json,
    events_topic,
    status_topic,
)

log = logging.getLogger(__name__)

STAGING_COLUMNS = (
    "ord",
    "ts",
    "bin_key",
    "event_id",
    "estate_id",
    "category",
    "kind",
    "weight_g",
    "fill_pct",
    "household",
    "alarm",
    "battery_pct",
    "seq",
)
ESTATE_OF_ROW = itemgetter(STAGING_COLUMNS.index("estate_id"))
STAGING_TYPES = (
    "int4",
    "timestamptz",
    "int4",
    "text",
    "text",
    "text",
    "text",
    "int4",
    "float4",
    "text",
    "text",
    "float4",
    "int8",
)
# Registry lookups are cached. Deletions and category changes are announced on this
# channel (migration 0013) and drop the bin at once; a full refresh this often is the
# backstop (a newly registered bin is found at once: misses query the DB).
BIN_CACHE_REFRESH_S = 60.0
BINS_CHANGED_CHANNEL = "fenlei_bins_changed"
# Quarantined rows kept per (topic, reason) when the caller does not say (the setting's
# default, FENLEI_REJECTED_CAP).
DEFAULT_REJECTED_CAP = 1_000
# The stored copy's fields shown beside a conflicting duplicate (find_conflicts.sql order).
STORED_FIELDS = ("ts", "kind", "weight_g", "fill_pct", "household", "alarm", "battery_pct", "seq")


@dataclass(frozen=True, slots=True)
class BinInfo:
    """A registered bin as the writer needs it. Local days and drop-off windows are
    the database's (`fenlei_add_drops`, deploy/sql/idempotent/): one definition."""

    bin_key: int
    category: str


@dataclass(slots=True)
class BatchResult:
    messages: int
    events_valid: int
    stored: int
    rejected: dict[str, int]
    statuses: int
    # Bins whose newly stored events carry a seq: their stored watermark may have moved.
    seq_bins: set[int] = field(default_factory=set)
    # Valid events whose key was stored before with other content (quarantined).
    conflicting: int = 0
    # Valid events of registered bins, by estate (stored, duplicate or conflicting).
    estates: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        """Valid events already stored as they are (redeliveries, resends)."""
        return self.events_valid - self.stored - self.conflicting

    def add(self, other: BatchResult) -> None:
        """Fold the result of another part of the same batch (after a split) into this one."""
        self.messages += other.messages
        self.events_valid += other.events_valid
        self.stored += other.stored
        for reason, n in other.rejected.items():
            self.rejected[reason] = self.rejected.get(reason, 0) + n
        self.statuses += other.statuses
        self.seq_bins |= other.seq_bins
        self.conflicting += other.conflicting
        for estate, n in other.estates.items():
            self.estates[estate] = self.estates.get(estate, 0) + n


class BinCache:
    """(estate, room, bin) → bin_key and category, looked up in the registry on a miss.

    An address the registry did not have is remembered as absent (``absent``), so a
    device flooding from an unregistered bin does not cost a lookup, a round trip, per
    batch. The registry announces no insertions, so the writer checks the absent
    addresses of a batch again inside the batch's own transaction, in the same round
    trip as the store statement (a pipeline), and does the batch again if one has
    appeared: a bin registered while running is still accepted at once.
    """

    def __init__(self) -> None:
        self._bins: dict[BinAddress, BinInfo] = {}
        self._absent: set[BinAddress] = set()
        self._loaded_at = 0.0

    def clear(self) -> None:
        """Forget every bin (a new connection may have missed announcements)."""
        self._bins.clear()
        self._absent.clear()
        self._loaded_at = time.monotonic()

    def forget(self, bin_key: int) -> None:
        """Drop one bin, deleted or changed in the registry."""
        for address in [a for a, info in self._bins.items() if info.bin_key == bin_key]:
            del self._bins[address]

    def resolve(
        self, conn: psycopg.Connection, addresses: Iterable[BinAddress]
    ) -> tuple[dict[BinAddress, BinInfo], list[BinAddress]]:
        """The cache after looking up the addresses it lacks, and those of `addresses`
        taken as absent without a lookup (the caller checks them again)."""
        if time.monotonic() - self._loaded_at > BIN_CACHE_REFRESH_S:
            self._bins.clear()
            self._absent.clear()
            self._loaded_at = time.monotonic()
        wanted = [a for a in set(addresses) if a not in self._bins]
        assumed = [a for a in wanted if a in self._absent]
        missing = [a for a in wanted if a not in self._absent]
        if missing:
            for estate, room, bin_id, bin_key, category in conn.execute(
                sql.load("find_bins"), find_bins_params(missing)
            ).fetchall():
                self._bins[BinAddress(estate, room, bin_id)] = BinInfo(bin_key, category)
            self._absent.update(a for a in missing if a not in self._bins)
        return self._bins, assumed


def find_bins_params(addresses: Sequence[BinAddress]) -> dict[str, list[str]]:
    return {
        "estates": [a.estate for a in addresses],
        "rooms": [a.room for a in addresses],
        "bins": [a.bin for a in addresses],
    }


class _RegistryGrew(Exception):
    """A bin the cache took as absent is registered now: the batch is done again."""


class _Unregistered:
    """An event of a bin the registry does not know (``unknown_bin``), quarantined as
    ``check_registered`` words it; the record (its detail and re-encoded payload, most
    of a rejection's cost) is built only if the cap keeps it (``quarantine.Deferred``).
    """

    __slots__ = ("event", "topic")
    reason = Reason.unknown_bin

    def __init__(self, event: Event, topic: str) -> None:
        self.event = event
        self.topic = topic

    def rejection(self) -> Rejection:
        refused = check_registered(self.event, None)
        assert refused is not None  # an unregistered bin is always refused
        return refused


def _event_row(ord_: int, event: Event, info: BinInfo) -> tuple[object, ...]:
    return (
        ord_,
        event.ts,
        info.bin_key,
        event.event_id,
        event.address.estate,
        info.category,
        event.kind,
        event.weight_g,
        event.fill_pct,
        event.household,
        event.alarm,
        event.battery_pct,
        event.seq,
    )


def _conflict(event: Event, stored: Sequence[object]) -> Rejection:
    """The quarantine record of a copy that differs from the stored event of its key."""
    kept = {k: v for k, v in zip(STORED_FIELDS, stored, strict=True) if v is not None}
    kept["ts"] = stored[0].isoformat()  # type: ignore[attr-defined]
    address = event.address
    return Rejection(
        topic=events_topic(address.estate, address.room, address.bin),
        reason=Reason.conflicting_duplicate,
        detail=(
            f"event {event.event_id!r} of this bin is already stored with other content;"
            f" the first stored copy counts, this one does not. Stored: "
            f"{orjson.dumps(kept).decode()[:1500]}"
        ),
        payload=encode_payload(event_to_json(event)),
    )


class Writer:
    """Owns one database connection and stores batches through it."""

    def __init__(
        self,
        database_url: str,
        application_name: str = "fenlei-ingest",
        rejected_cap: int = DEFAULT_REJECTED_CAP,
    ) -> None:
        self._url = database_url
        self._app = application_name
        self._rejected_cap = rejected_cap
        self._conn: psycopg.Connection | None = None
        self.bins = BinCache()

    def connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self._url,
                application_name=self._app,
                connect_timeout=5,
            )
            self._conn.execute(sql.load("create_staging"))
            self._conn.execute(f"LISTEN {BINS_CHANGED_CHANNEL}")
            self._conn.commit()
            # Announcements made while we were not listening are lost: start afresh.
            self.bins.clear()
        return self._conn

    def _hear_registry(self, conn: psycopg.Connection) -> None:
        """Apply the bin deletions and changes announced since the last batch."""
        for notify in conn.notifies(timeout=0):
            if notify.channel == BINS_CHANGED_CHANNEL and notify.payload.isdigit():
                self.bins.forget(int(notify.payload))

    @property
    def broken(self) -> bool:
        """Whether the connection was lost (an error then means an outage)."""
        return self._conn is not None and (self._conn.closed or self._conn.broken)

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def store(self, batch: Sequence[Message]) -> BatchResult:
        """Store one batch in one transaction; raises psycopg errors for the caller.

        A bin deleted since it was cached makes the database refuse the batch (the
        check on event_keys, migration 0013): the cache is emptied and the batch tried once more,
        so its events are quarantined as unknown_bin instead of failing again.
        """
        try:
            return self._store_once(batch)
        except psycopg.errors.ForeignKeyViolation:
            log.info("a bin of this batch left the registry; reloading the bin cache")
            self.bins.clear()
            return self._store_once(batch)
        except _RegistryGrew:
            log.info("a bin of this batch was registered meanwhile; reloading the bin cache")
            self.bins.clear()
            return self._store_once(batch)

    def quarantine_only(self, rejections: Sequence[Rejection]) -> None:
        """Quarantine `rejections` in a transaction of their own (poison messages)."""
        conn = self.connect()
        try:
            with conn.transaction():
                self._quarantine(conn, rejections)
            conn.commit()
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.rollback()
            raise

    def _store_once(self, batch: Sequence[Message]) -> BatchResult:
        conn = self.connect()
        rejections: list[Rejection | quarantine.Deferred] = []
        events: list[Event] = []
        statuses: list[tuple[BinAddress, dict[str, object]]] = []
        for msg in batch:
            rejections.extend(msg.rejections)
            events.extend(msg.events)
            if msg.status is not None:
                statuses.append((msg.status[0], dict(msg.status[1])))
        try:
            self._hear_registry(conn)
            bins, assumed = self.bins.resolve(conn, [e.address for e in events])
            rows = []
            staged: list[Event] = []  # staged[ord] is the event of staging row `ord`
            unknown_topics: dict[BinAddress, str] = {}
            for event in events:
                info = bins.get(event.address)
                # The contract's rule (check_registered): the bin is registered, and
                # the event does not name another category.
                if info is None:
                    address = event.address
                    topic = unknown_topics.get(address)
                    if topic is None:
                        topic = unknown_topics[address] = events_topic(
                            address.estate, address.room, address.bin
                        )
                    rejections.append(_Unregistered(event, topic))
                    continue
                refused = check_registered(event, info.category)
                if refused is not None:
                    rejections.append(refused)
                else:
                    rows.append(_event_row(len(staged), event, info))
                    staged.append(event)
            stored = 0
            seq_bins: set[int] = set()
            conflicting = 0
            with conn.transaction():
                if rows:
                    with conn.cursor().copy(
                        pgsql.SQL("COPY ingest_staging ({}) FROM STDIN (FORMAT BINARY)").format(
                            pgsql.SQL(", ").join(map(pgsql.Identifier, STAGING_COLUMNS))
                        )
                    ) as copy:
                        copy.set_types(STAGING_TYPES)
                        for row in rows:
                            copy.write_row(row)
                    if assumed:
                        # One round trip for both: the store and the absent bins' check.
                        with conn.pipeline():
                            store = conn.execute(sql.load("store_batch"))
                            check = conn.execute(sql.load("find_bins"), find_bins_params(assumed))
                            stored, keys = store.fetchone()  # type: ignore[misc]
                            if check.fetchall():
                                raise _RegistryGrew
                    else:
                        stored, keys = conn.execute(sql.load("store_batch")).fetchone()  # type: ignore[misc]
                    seq_bins = set(keys or ())
                    if stored < len(rows):
                        # Some keys were stored before: tell identical copies (plain
                        # duplicates) from copies with other content.
                        for ord_, *kept in conn.execute(sql.load("find_conflicts")):
                            rejections.append(_conflict(staged[ord_], kept))
                            conflicting += 1
                if assumed and not rows:
                    check_alone = conn.execute(sql.load("find_bins"), find_bins_params(assumed))
                    if check_alone.fetchall():
                        raise _RegistryGrew
                if rejections:
                    self._quarantine(conn, rejections)
                for address, status in statuses:
                    conn.execute(
                        sql.load("update_status"),
                        {
                            "online": status["online"],
                            "battery_pct": status["battery_pct"],
                            "estate": address.estate,
                            "room": address.room,
                            "bin": address.bin,
                        },
                    )
            conn.commit()
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.rollback()
            raise
        by_reason: dict[str, int] = {}
        for r in rejections:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + 1
        return BatchResult(
            len(batch),
            len(rows),
            stored,
            by_reason,
            len(statuses),
            seq_bins,
            conflicting,
            # Counted in C (Counter over the rows' estate column), once per batch.
            dict(Counter(map(ESTATE_OF_ROW, rows))),
        )

    def _quarantine(
        self, conn: psycopg.Connection, rejections: Sequence[Rejection | quarantine.Deferred]
    ) -> None:
        quarantine.store(conn, rejections, self._rejected_cap)


def record(result: BatchResult, first_received: float) -> None:
    """Count a committed batch in the Prometheus metrics."""
    metrics.EVENTS_STORED.inc(result.stored)
    metrics.EVENTS_DUPLICATE.inc(result.duplicates)
    for reason, n in result.rejected.items():
        metrics.REJECTED.labels(reason=reason).inc(n)
    for estate, n in result.estates.items():
        metrics.ESTATE_EVENTS.labels(estate=estate).inc(n)
    metrics.STATUS_UPDATES.inc(result.statuses)
    metrics.BATCH_MESSAGES.observe(result.messages)
    metrics.LAG_SECONDS.observe(time.monotonic() - first_received)


def first_line(exc: BaseException) -> str:
    """An error's first line for a log or a quarantine detail (its type when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def refused(msg: Message, error: psycopg.Error) -> list[Rejection]:
    """The quarantine records of a message the database refused to store, with why.

    Its events (and its status) are kept re-encoded, so `fenlei rejected replay` can
    store them once the cause is fixed; rejections it already carried stay as they are.
    """
    detail = f"the database refused it ({error.sqlstate or 'no SQLSTATE'}): {first_line(error)}"
    detail = detail[:1000]
    out = list(msg.rejections)
    for event in msg.events:
        a = event.address
        out.append(
            Rejection(
                topic=events_topic(a.estate, a.room, a.bin),
                reason=Reason.database_refused,
                detail=detail,
                payload=encode_payload(event_to_json(event)),
            )
        )
    if msg.status is not None:
        address, status = msg.status
        out.append(
            Rejection(
                topic=status_topic(address.estate, address.room, address.bin),
                reason=Reason.database_refused,
                detail=detail,
                payload=orjson.dumps(
                    {k: v.isoformat() if isinstance(v, datetime) else v for k, v in status.items()}
                ),
            )
        )
    return out
