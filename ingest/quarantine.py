"""The quarantine: rejected messages kept for operators, capped, counted and pruned.

Every rejection is counted in ``rejected_tally`` (and, by the writer, in the Prometheus
metrics); at most ``cap`` rows per cap key and reason are kept in ``rejected_messages``,
so a flood of garbage from one bin costs ``cap`` rows, not one row per message. The cap
key is the topic, which names the bin (devices may publish on their own topics only);
bad_topic rejections, whose topic names no bin, share the key ``*``. Of a key's
rejections the first ``cap`` are kept: the start of a problem shows what went wrong, and
the tally's ``last_at`` and ``dropped`` show that it goes on. ``Pruner`` deletes rows
older than the retention, which makes room again. The tally's ``kept`` follows every
change to the rows by trigger (migration 0015), whoever makes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import psycopg

from ingest import sql
from ingest.contract import MAX_STORED_PAYLOAD_BYTES, Reason, Rejection
from ingest.settings import IngestSettings

__all__ = ["Deferred", "PruneResult", "Pruner", "store", "tally_key"]

log = logging.getLogger(__name__)

# rejected_messages columns the ingester writes; id, received_at and replaying_since
# take their defaults.
COLUMNS = ("topic", "estate_id", "reason", "detail", "payload", "item_index")
_COPY = f"COPY rejected_messages ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("text", "text", "text", "text", "bytea", "int4")
# The cap key of rejections whose topic names no bin.
ANY_TOPIC = "*"

# The first prune soon after start (not in the first seconds, when a restarted ingester
# catches up on what queued for it), then hourly: retention is counted in days.
FIRST_PRUNE_AFTER_S = 60.0
PRUNE_EVERY_S = 3600.0
# After a database error, try again this much later (pruning can wait; batches cannot).
PRUNE_RETRY_S = 300.0
# Rows per delete: each batch is its own short transaction.
PRUNE_BATCH_ROWS = 5_000
# Time one tick may spend deleting before it hands back to the main loop; a backlog is
# worked off over the next ticks, between batches of events.
PRUNE_TICK_BUDGET_S = 0.5


class Deferred(Protocol):
    """A rejection whose record (detail, re-encoded payload) is made only if it is kept.

    Counting needs the topic and reason alone; past a key's cap the record is never
    written, so a flood of one kind of garbage need not pay for building each one.
    """

    @property
    def topic(self) -> str: ...

    @property
    def reason(self) -> Reason: ...

    def rejection(self) -> Rejection:
        """The full record, as the contract words it."""
        ...


def tally_key(topic: str, reason: str) -> str:
    """The cap key of a rejection: its topic, or ``*`` for bad_topic.

    The same rule as the database's ``fenlei_rejected_key`` (migration 0015), which
    keeps ``kept`` for the rows; the two must agree, or the cap counts the wrong rows.
    """
    return ANY_TOPIC if reason == Reason.bad_topic else topic


def _estate_of(topic: str) -> str | None:
    parts = topic.split("/")
    return _text(parts[2]) if len(parts) > 2 and parts[0] == "fenlei" else None


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; a topic or detail quoting one must not make the
    # database refuse the whole batch.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def store(conn: psycopg.Connection, rejections: Sequence[Rejection | Deferred], cap: int) -> None:
    """Quarantine ``rejections`` inside the caller's open transaction (no commit).

    Each is counted in the tally; the first ones of each (cap key, reason) are written
    while that key has fewer than ``cap`` rows kept, the rest are counted as dropped.
    Two statements for any number of rejections: a tally upsert that locks the keys in
    order and returns their kept counts, then one COPY of the rows that fit (none once
    a flooding key is full). Raises psycopg errors for the caller's retry.
    """
    if not rejections:
        return
    groups: dict[tuple[str, str], list[Rejection | Deferred]] = {}
    for r in rejections:
        reason = str(r.reason)
        groups.setdefault((_text(tally_key(r.topic, reason)), reason), []).append(r)
    keys = list(groups)
    rows = conn.execute(
        sql.load("quarantine_count"),
        {
            "cap": cap,
            "topics": [k[0] for k in keys],
            "reasons": [k[1] for k in keys],
            "estates": [None if k[0] == ANY_TOPIC else _estate_of(k[0]) for k in keys],
            "counts": [len(groups[k]) for k in keys],
        },
    ).fetchall()
    kept_before = {(topic, reason): int(kept) for topic, reason, kept in rows}
    chosen = [r for k in keys for r in groups[k][: max(cap - kept_before.get(k, 0), 0)]]
    if not chosen:
        return
    with conn.cursor().copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for item in chosen:
            r = item if isinstance(item, Rejection) else item.rejection()
            copy.write_row(
                (
                    _text(r.topic),
                    _estate_of(r.topic),
                    str(r.reason),
                    _text(r.detail),
                    r.payload[:MAX_STORED_PAYLOAD_BYTES],
                    r.index,
                )
            )


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted: int
    finished: bool  # False: the time budget ran out with old rows left


class Pruner:
    """Deletes quarantined rows older than ``rejected_retention_days``, now and then.

    ``tick`` is called on every main-loop iteration with the writer's idle connection;
    it does nothing until the next prune is due (``FIRST_PRUNE_AFTER_S`` after start,
    then every ``PRUNE_EVERY_S``), then deletes in batches of ``PRUNE_BATCH_ROWS``,
    each committed on its own, for at most ``PRUNE_TICK_BUDGET_S``.
    """

    def __init__(
        self, settings: IngestSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.retention_days = settings.rejected_retention_days
        self._clock = clock
        self._due = clock() + FIRST_PRUNE_AFTER_S
        self._pass_deleted = 0

    def tick(self, conn: psycopg.Connection) -> None:
        """Prune if due; never raises for a database error (logged, retried later)."""
        now = self._clock()
        if now < self._due:
            return
        try:
            result = self.prune(conn, PRUNE_TICK_BUDGET_S)
        except psycopg.Error as exc:
            if not conn.closed and not conn.broken:
                conn.rollback()
            log.warning(
                "quarantine pruning failed, retrying in %.0f s: %s",
                PRUNE_RETRY_S,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            self._due = now + PRUNE_RETRY_S
            return
        self._pass_deleted += result.deleted
        if not result.finished:
            self._due = now  # more next tick, after the next batch of events
            return
        if self._pass_deleted:
            log.info(
                "quarantine: deleted %d rejected messages older than %d days",
                self._pass_deleted,
                self.retention_days,
                extra={"component": "ingest", "pruned": self._pass_deleted},
            )
        self._pass_deleted = 0
        self._due = now + PRUNE_EVERY_S

    def prune(self, conn: psycopg.Connection, budget_s: float | None = None) -> PruneResult:
        """Delete rows past the retention in committed batches; ``budget_s`` bounds the time."""
        started = self._clock()
        deleted = 0
        while True:
            try:
                cur = conn.execute(
                    sql.load("quarantine_prune"),
                    {"days": self.retention_days, "limit": PRUNE_BATCH_ROWS},
                )
                n = cur.rowcount
                conn.commit()
            except BaseException:
                if not conn.closed and not conn.broken:
                    conn.rollback()
                raise
            deleted += n
            if n < PRUNE_BATCH_ROWS:
                return PruneResult(deleted, True)
            if budget_s is not None and self._clock() - started >= budget_s:
                return PruneResult(deleted, False)
