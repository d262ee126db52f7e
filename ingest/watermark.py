"""Stored watermarks: per bin, the highest seq N such that every seq 1..N is stored.

After each commit the ingester moves the watermarks of the bins it stored seqs for and
publishes each one that moved, retained at QoS 1, on the bin's ``stored`` topic as
``{"seq": N, "event_id": "<the event with seq N>", "at": "<RFC 3339 UTC>"}``. A device
keeps every event until the watermark covers its seq, and on each connect resends what
is above it.

Rules (the database is the truth: ``event_keys`` for what is stored, ``bin_watermarks``
and ``seq_gaps`` for the rest, deploy/sql/migrations/0014_seq_watermarks.sql):

- seqs start at 1; N = 0 (seq 1 never seen) is never published;
- a gap (seq N+1 missing while a higher seq is stored) is open at least since that next
  stored seq was received. Once open longer than ``seq_gap_timeout_s`` it is recorded as
  lost (``seq_gaps``: from_seq..to_seq, when), logged, counted, and N moves past it, so a
  device that cannot resend frees its buffer;
- an event of a recorded gap that arrives later is stored like any other; the gap keeps
  its range and counts it in ``filled_late`` (for gaps recorded in the last
  ``LATE_FILL_DAYS`` days);
- several ingesters may advance the same bin: each locks the bin's watermark row, then
  computes from ``event_keys`` in a statement of its own (so it sees every commit made
  before it got the lock). Their publishes travel on separate connections, so at each
  tick an ingester re-sends a bin whose database watermark moved past what it last
  sent (`_settle`): the retained copy is current again within a tick.

Every call runs its own transaction on the connection it is handed (idle on entry, idle
on return). A database error never escapes: the bins are kept and retried by `tick`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg

from ingest import metrics, sql
from ingest.contract import stored_topic
from ingest.settings import IngestSettings
from ingest.writer import first_line

log = logging.getLogger(__name__)

# Distinct seqs read per bin per advance statement; a bin further behind is advanced
# again in the same transaction (bounds each statement, not the catch-up).
SCAN_CAP = 10_000
# Bins per republish transaction: 10k bins are ten short transactions, not one long one.
PAGE_BINS = 1_000
# Bins whose gaps are declared lost per tick, and record-and-advance rounds per tick
# (a bin with many expired gaps in a row moves past up to this many at once).
DUE_BINS = 1_000
DUE_ROUNDS = 100
# Recorded gaps are watched for late events this long (a recount per commit of the bin).
LATE_FILL_DAYS = 7
# `tick` works at most this often, and at least ten times per gap timeout.
TICK_MAX_INTERVAL_S = 5.0
# A lock conflict between ingesters resolves on an immediate retry.
RETRY_AT_ONCE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
RETRIES = 5

Publish = Callable[[str, bytes], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Mark:
    """A bin's watermark as published."""

    bin_key: int
    topic: str
    seq: int
    event_id: str
    at: datetime

    def payload(self) -> bytes:
        """The message body: ``{"seq", "event_id", "at"}`` (``at`` in UTC, RFC 3339)."""
        at = self.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return orjson.dumps({"seq": self.seq, "event_id": self.event_id, "at": at})


def _mark(row: tuple[Any, ...]) -> Mark:
    bin_key, estate, room, bin_id, seq, event_id, at = row[:7]
    return Mark(int(bin_key), stored_topic(estate, room, bin_id), int(seq), str(event_id), at)


class Watermarks:
    """Advances, expires and publishes the bins' stored watermarks (one per ingester)."""

    def __init__(self, settings: IngestSettings, publish: Publish) -> None:
        """``publish(topic, payload)`` sends retained at QoS 1, thread-safe, never blocking."""
        self._publish = publish
        self._timeout_s = settings.seq_gap_timeout_s
        self._tick_interval_s = min(TICK_MAX_INTERVAL_S, settings.seq_gap_timeout_s / 10)
        self._next_tick = 0.0
        # Bins whose advance failed (database away): retried by the next call.
        self._pending: set[int] = set()
        self._republish_due = False
        self._failing = False
        # bin_key -> seq this ingester published since the last tick (see `_settle`).
        self._sent: dict[int, int] = {}

    # -- the three entry points -----------------------------------------------------------

    def after_commit(self, conn: psycopg.Connection, bin_keys: set[int]) -> None:
        """Advance the given bins (and any left over from a failed call); publish moves."""
        keys = sorted(self._pending | set(bin_keys))
        if not keys:
            return
        self._pending.update(keys)
        marks = self._attempt(conn, functools.partial(self._advance, conn, keys))
        if marks is not None:
            self._pending.difference_update(keys)
            self._send(marks.values())

    def tick(self, conn: psycopg.Connection) -> None:
        """Every main-loop turn; works every ``min(5 s, timeout / 10)``: declares lost the
        gaps open past the timeout, and retries what failed."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + self._tick_interval_s
        if self._republish_due:
            self.republish_all(conn)
        if self._pending:
            self.after_commit(conn, set())
        self._settle(conn)
        self._expire(conn)

    def republish_all(self, conn: psycopg.Connection) -> None:
        """Recompute every bin's watermark from the database and publish each N > 0, a page
        of bins per transaction (at start, and after each broker reconnect)."""
        self._republish_due = True
        after = 0
        while True:
            page = self._attempt(conn, functools.partial(self._republish_page, conn, after))
            if page is None:
                return  # retried whole by a later tick
            last, marks = page
            self._send(marks)
            if last is None:
                break
            after = last
        self._republish_due = False

    # -- transactions ---------------------------------------------------------------------

    def _advance(self, conn: psycopg.Connection, keys: list[int]) -> dict[int, Mark]:
        with conn.transaction():
            return self._lock_and_advance(conn, keys)

    def _republish_page(
        self, conn: psycopg.Connection, after: int
    ) -> tuple[int | None, list[Mark]]:
        with conn.transaction():
            keys = [
                r[0]
                for r in conn.execute(
                    sql.load("watermark_page"), {"after": after, "limit": PAGE_BINS}
                ).fetchall()
            ]
            if not keys:
                return None, []
            self._lock_and_advance(conn, keys)
            rows = conn.execute(sql.load("watermark_current"), {"keys": keys}).fetchall()
        return keys[-1], [_mark(r) for r in rows]

    def _settle(self, conn: psycopg.Connection) -> None:
        """Publish again the watermarks that moved past what this ingester last sent.

        Two ingesters' publishes of one bin travel on two connections, so the broker may
        get the older one last and keep it retained (safe, but the device then holds and
        resends events for nothing). The ingester whose publish is now behind the
        database sends the current one on its own connection, after its stale one: the
        retained copy is current again within a tick.
        """
        if not self._sent:
            return
        sent, self._sent = self._sent, {}
        rows = self._attempt(
            conn,
            functools.partial(self._current, conn, sorted(sent)),
        )
        if rows is None:
            self._sent = {**sent, **self._sent}  # try again next tick
            return
        self._send([m for m in rows if m.seq != sent[m.bin_key]])

    def _current(self, conn: psycopg.Connection, keys: list[int]) -> list[Mark]:
        with conn.transaction():
            rows = conn.execute(sql.load("watermark_current"), {"keys": keys}).fetchall()
        return [_mark(r) for r in rows]

    def _expire(self, conn: psycopg.Connection) -> None:
        found = self._attempt(conn, functools.partial(self._expire_once, conn))
        if found is None:
            return
        marks, gaps = found
        for _, estate, room, bin_id, from_seq, to_seq, opened_at in gaps:
            lost = to_seq - from_seq + 1
            metrics.SEQ_GAPS.labels(estate=estate).inc()
            metrics.SEQ_LOST.labels(estate=estate).inc(lost)
            log.warning(
                "%s/%s/%s: seq %d..%d (%d events) missing since %s, recorded as lost",
                estate,
                room,
                bin_id,
                from_seq,
                to_seq,
                lost,
                opened_at.astimezone(UTC).isoformat(timespec="seconds"),
                extra={
                    "component": "ingest",
                    "estate": estate,
                    "room": room,
                    "bin": bin_id,
                    "from_seq": from_seq,
                    "to_seq": to_seq,
                    "lost": lost,
                },
            )
        self._send(marks.values())

    def _expire_once(self, conn: psycopg.Connection) -> tuple[dict[int, Mark], list[Any]]:
        params = {"timeout_s": self._timeout_s}
        marks: dict[int, Mark] = {}
        gaps: list[Any] = []
        with conn.transaction():
            keys = [
                r[0]
                for r in conn.execute(
                    sql.load("watermark_due"), {**params, "limit": DUE_BINS}
                ).fetchall()
            ]
            if not keys:
                return marks, gaps
            # Fresh from event_keys first: a gap may have closed since it was noted.
            marks.update(self._advance_locked(conn, keys))
            for _ in range(DUE_ROUNDS):
                recorded = conn.execute(
                    sql.load("watermark_record_lost"), {**params, "keys": keys}
                ).fetchall()
                if not recorded:
                    break
                gaps += recorded
                marks.update(self._advance_locked(conn, sorted({r[0] for r in recorded})))
        return marks, gaps

    # -- statements inside a transaction --------------------------------------------------

    def _lock_and_advance(self, conn: psycopg.Connection, keys: list[int]) -> dict[int, Mark]:
        conn.execute(sql.load("watermark_ensure"), {"keys": keys})
        locked = conn.execute(
            sql.load("watermark_lock"), {"keys": keys, "late_days": LATE_FILL_DAYS}
        ).fetchall()
        marks = self._advance_locked(conn, [r[0] for r in locked])
        late = [r[0] for r in locked if r[1]]
        if late:
            self._count_late(conn, late)
        return marks

    def _advance_locked(self, conn: psycopg.Connection, keys: list[int]) -> dict[int, Mark]:
        marks: dict[int, Mark] = {}
        while keys:
            rows = conn.execute(
                sql.load("watermark_advance"), {"keys": keys, "cap": SCAN_CAP}
            ).fetchall()
            marks.update((r[0], _mark(r)) for r in rows if r[7])
            keys = sorted(r[0] for r in rows if r[8])
        return marks

    def _count_late(self, conn: psycopg.Connection, keys: list[int]) -> None:
        rows = conn.execute(
            sql.load("watermark_filled_late"), {"keys": keys, "late_days": LATE_FILL_DAYS}
        ).fetchall()
        for _, estate, room, bin_id, from_seq, to_seq, arrived in rows:
            # Counted before the commit: a rollback re-counts the same arrivals later,
            # which over-counts only by a retried transaction's worth.
            metrics.SEQ_FILLED_LATE.labels(estate=estate).inc(arrived)
            log.info(
                "%s/%s/%s: %d events of lost seq %d..%d arrived late (stored)",
                estate,
                room,
                bin_id,
                arrived,
                from_seq,
                to_seq,
                extra={
                    "component": "ingest",
                    "estate": estate,
                    "room": room,
                    "bin": bin_id,
                    "from_seq": from_seq,
                    "to_seq": to_seq,
                    "filled_late": arrived,
                },
            )

    # -- plumbing -------------------------------------------------------------------------

    def _attempt(self, conn: psycopg.Connection, work: Callable[[], T]) -> T | None:
        """``work()``, retried at once on a lock conflict; None when the database failed."""
        for _ in range(RETRIES):
            try:
                result = work()
            except RETRY_AT_ONCE:
                continue
            except psycopg.Error as exc:
                self._failed(conn, exc)
                return None
            if self._failing:
                log.warning("stored watermarks updating again")
                self._failing = False
            return result
        return None

    def _failed(self, conn: psycopg.Connection, exc: psycopg.Error) -> None:
        if not self._failing:
            log.warning(
                "stored watermarks not updated, retrying later: %s: %s",
                type(exc).__name__,
                first_line(exc),
            )
        self._failing = True
        # conn.transaction() rolled back already; a broken connection is the writer's to
        # replace (it reconnects on its next batch).
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()

    def _send(self, marks: Iterable[Mark]) -> None:
        n = 0
        for mark in marks:
            self._publish(mark.topic, mark.payload())
            self._sent[mark.bin_key] = mark.seq
            n += 1
        if n:
            metrics.WATERMARKS_PUBLISHED.inc(n)
