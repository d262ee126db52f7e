"""Store batches: COPY into staging, insert with dedupe, quarantine rejections, commit.

Only after the commit does the caller acknowledge the batch's messages, so a crash
at any point leaves the broker holding whatever was not durably stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql as pgsql

from ingest import metrics, sql
from ingest.batcher import Message
from ingest.contract import MAX_STORED_PAYLOAD_BYTES, BinAddress, Event, Rejection, check_registered

log = logging.getLogger(__name__)

STAGING_COLUMNS = (
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
)
STAGING_TYPES = (
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
)
REJECTED_COLUMNS = ("topic", "estate_id", "reason", "detail", "payload", "item_index")
# Registry lookups are cached; a full refresh this often picks up deleted bins and
# category changes (a newly registered bin is found at once: misses query the DB).
BIN_CACHE_REFRESH_S = 60.0


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

    @property
    def duplicates(self) -> int:
        return self.events_valid - self.stored


class BinCache:
    """(estate, room, bin) → bin_key and category, looked up in the registry on a miss."""

    def __init__(self) -> None:
        self._bins: dict[BinAddress, BinInfo] = {}
        self._loaded_at = 0.0

    def resolve(
        self, conn: psycopg.Connection, addresses: Iterable[BinAddress]
    ) -> dict[BinAddress, BinInfo]:
        if time.monotonic() - self._loaded_at > BIN_CACHE_REFRESH_S:
            self._bins.clear()
            self._loaded_at = time.monotonic()
        missing = [a for a in set(addresses) if a not in self._bins]
        if missing:
            rows = conn.execute(
                sql.load("find_bins"),
                {
                    "estates": [a.estate for a in missing],
                    "rooms": [a.room for a in missing],
                    "bins": [a.bin for a in missing],
                },
            ).fetchall()
            for estate, room, bin_id, bin_key, category in rows:
                self._bins[BinAddress(estate, room, bin_id)] = BinInfo(bin_key, category)
        return self._bins


def _event_row(event: Event, info: BinInfo) -> tuple[object, ...]:
    return (
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
    )


def _estate_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[2] if len(parts) > 2 and parts[0] == "fenlei" else None


class Writer:
    """Owns one database connection and stores batches through it."""

    def __init__(self, database_url: str, application_name: str = "fenlei-ingest") -> None:
        self._url = database_url
        self._app = application_name
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
            self._conn.commit()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def store(self, batch: Sequence[Message]) -> BatchResult:
        """Store one batch in one transaction; raises psycopg errors for the caller to retry."""
        conn = self.connect()
        rejections: list[Rejection] = []
        events: list[Event] = []
        statuses: list[tuple[BinAddress, dict[str, object]]] = []
        for msg in batch:
            rejections.extend(msg.rejections)
            events.extend(msg.events)
            if msg.status is not None:
                statuses.append((msg.status[0], dict(msg.status[1])))
        try:
            bins = self.bins.resolve(conn, [e.address for e in events])
            rows = []
            for event in events:
                info = bins.get(event.address)
                # The contract's rule: the bin is registered, and the event does not
                # name another category.
                refused = check_registered(event, None if info is None else info.category)
                if refused is not None:
                    rejections.append(refused)
                elif info is not None:
                    rows.append(_event_row(event, info))
            stored = 0
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
                    stored = conn.execute(sql.load("store_batch")).fetchone()[0]  # type: ignore[index]
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
        return BatchResult(len(batch), len(rows), stored, by_reason, len(statuses))

    def _quarantine(self, conn: psycopg.Connection, rejections: Sequence[Rejection]) -> None:
        stmt = pgsql.SQL("COPY rejected_messages ({}) FROM STDIN").format(
            pgsql.SQL(", ").join(map(pgsql.Identifier, REJECTED_COLUMNS))
        )
        with conn.cursor().copy(stmt) as copy:
            for r in rejections:
                copy.write_row(
                    (
                        r.topic,
                        _estate_of(r.topic),
                        str(r.reason),
                        r.detail,
                        r.payload[:MAX_STORED_PAYLOAD_BYTES],
                        r.index,
                    )
                )


def record(result: BatchResult, first_received: float) -> None:
    """Count a committed batch in the Prometheus metrics."""
    metrics.EVENTS_STORED.inc(result.stored)
    metrics.EVENTS_DUPLICATE.inc(result.duplicates)
    for reason, n in result.rejected.items():
        metrics.REJECTED.labels(reason=reason).inc(n)
    metrics.STATUS_UPDATES.inc(result.statuses)
    metrics.BATCH_MESSAGES.observe(result.messages)
    metrics.LAG_SECONDS.observe(time.monotonic() - first_received)
