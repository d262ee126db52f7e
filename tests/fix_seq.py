"""Seq helpers for the watermark tests: the independent model, a recording publish
callback, and events stored the way the writer stores them (events + event_keys)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import psycopg


def model(stored: Iterable[int], lost: Iterable[int] = ()) -> int:
    """The watermark by definition: walk up from 0 while seq N+1 is stored or lost."""
    have = set(stored) | set(lost)
    n = 0
    while n + 1 in have:
        n += 1
    return n


def missing_ranges(stored: Iterable[int]) -> list[tuple[int, int]]:
    """The runs of seqs missing below the highest stored one, as (from, to)."""
    have = set(stored)
    ranges: list[tuple[int, int]] = []
    for s in range(1, max(have, default=0)):
        if s in have:
            continue
        if ranges and ranges[-1][1] == s - 1:
            ranges[-1] = (ranges[-1][0], s)
        else:
            ranges.append((s, s))
    return ranges


@dataclass
class Recorder:
    """A publish callback that keeps every (topic, payload) and the last per topic."""

    sent: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.sent.append((topic, orjson.loads(payload)))

    def seqs(self, topic: str) -> list[int]:
        return [int(p["seq"]) for t, p in self.sent if t == topic]  # type: ignore[call-overload]

    def last(self, topic: str) -> dict[str, object] | None:
        mine = [p for t, p in self.sent if t == topic]
        return mine[-1] if mine else None


def event_id(bin_key: int, seq: int, tag: str = "") -> str:
    return f"ev-{bin_key}-{seq}{tag}"


def store(
    conn: psycopg.Connection,
    bin_key: int,
    seqs: list[int],
    received_ago: timedelta | None = None,
    tag: str = "",
) -> None:
    """Store events with these seqs for the bin and commit (received `received_ago`)."""
    received = datetime.now(UTC) - (received_ago or timedelta(0))
    base = datetime(2026, 3, 23, tzinfo=UTC)
    rows = [
        (base + timedelta(seconds=s), bin_key, event_id(bin_key, s, tag), s, received) for s in seqs
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind,"
            " weight_g, seq, received_at)"
            " SELECT %s, %s, %s, b.estate_id, b.category, 'drop', 100, %s, %s"
            " FROM bins b WHERE b.bin_key = %s",
            [(ts, k, e, s, r, k) for ts, k, e, s, r in rows],
        )
        cur.executemany(
            "INSERT INTO event_keys (bin_key, event_id, ts, seq) VALUES (%s, %s, %s, %s)",
            [(k, e, ts, s) for ts, k, e, s, _ in rows],
        )
