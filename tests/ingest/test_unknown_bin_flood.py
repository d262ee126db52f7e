"""A flood of events from an unregistered bin: every one counted, the first `cap` kept
as the contract words them, and no record built for the ones past the cap."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import psycopg
import pytest

from ingest import writer as writer_module
from ingest.batcher import Message
from ingest.contract import Event, Rejection, events_topic
from ingest.payload import parse_events
from ingest.writer import Writer
from tests.fix_data import register

pytestmark = pytest.mark.integration
NOW = datetime(2026, 4, 10, 12, tzinfo=UTC)
CAP = 5


def message(bin_id: str, event_id: str, weight_g: int) -> Message:
    body = {
        "event_id": event_id,
        "ts": "2026-04-10T08:00:00+08:00",
        "kind": "drop",
        "weight_g": weight_g,
    }
    parsed = parse_events(events_topic("flood", "r1", bin_id), orjson.dumps(body), NOW)
    assert parsed.events and not parsed.rejections
    return Message(1, 1, time.monotonic(), parsed.events, parsed.rejections)


def test_unknown_bin_flood_keeps_the_first_cap_and_counts_all(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(db_url, estate="flood", rooms={"r1": {"b-wet": "wet"}})
    built: list[Event] = []
    real = writer_module.check_registered  # type: ignore[attr-defined]

    def counting(event: Event, registered: str | None) -> Rejection | None:
        if registered is None:
            built.append(event)
        return real(event, registered)

    monkeypatch.setattr(writer_module, "check_registered", counting)
    flood = [message("b-nope", f"n-{i}", 100 + i) for i in range(3 * CAP)]
    valid = [message("b-wet", f"v-{i}", 10 + i) for i in range(4)]
    writer = Writer(db_url, rejected_cap=CAP)
    try:
        # Two batches: the second finds the key's cap already full.
        first = writer.store(flood[: CAP - 2] + valid[:2])
        second = writer.store(flood[CAP - 2 :] + valid[2:])
    finally:
        writer.close()
    assert first.stored == 2 and second.stored == 2
    assert first.rejected == {"unknown_bin": CAP - 2}
    assert second.rejected == {"unknown_bin": 2 * CAP + 2}
    topic = events_topic("flood", "r1", "b-nope")
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT reason, detail, payload FROM rejected_messages WHERE topic = %s ORDER BY id",
            (topic,),
        ).fetchall()
        seen, kept, dropped = conn.execute(
            "SELECT seen, kept, dropped FROM rejected_tally WHERE topic = %s AND reason = %s",
            (topic, "unknown_bin"),
        ).fetchone()  # type: ignore[misc]
    # The first CAP, in arrival order, each as the device sent it (re-encoded).
    assert [orjson.loads(p)["event_id"] for _, _, p in rows] == [f"n-{i}" for i in range(CAP)]
    assert [orjson.loads(p)["weight_g"] for _, _, p in rows] == [100 + i for i in range(CAP)]
    assert all(r == "unknown_bin" and "flood/r1/b-nope is not registered" in d for r, d, _ in rows)
    assert (seen, kept, dropped) == (3 * CAP, CAP, 2 * CAP)
    # Records were built for the kept rows only.
    assert [e.event_id for e in built] == [f"n-{i}" for i in range(CAP)]


def test_a_bin_registered_after_a_miss_is_stored_by_the_same_writer(db_url: str) -> None:
    # The miss is remembered (no lookup per batch for a flooding unregistered bin),
    # but checked again inside each batch's transaction: registering the bin takes
    # effect on the very next batch, with events of other bins in it or alone.
    register(db_url, estate="flood", rooms={"r1": {"b-wet": "wet"}})
    writer = Writer(db_url, rejected_cap=CAP)
    try:
        assert writer.store([message("b-late", "l-0", 100)]).rejected == {"unknown_bin": 1}
        assert writer.store(
            [message("b-late", "l-1", 101), message("b-wet", "w-1", 5)]
        ).rejected == {"unknown_bin": 1}
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "INSERT INTO bins (estate_id, room_id, id, category)"
                " VALUES ('flood', 'r1', 'b-late', 'dry')"
            )
        mixed = writer.store([message("b-late", "l-2", 102), message("b-wet", "w-2", 6)])
        alone = writer.store([message("b-late", "l-3", 103)])
    finally:
        writer.close()
    assert (mixed.stored, mixed.rejected) == (2, {})
    assert (alone.stored, alone.rejected) == (1, {})
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT event_id FROM events WHERE event_id LIKE 'l-%' ORDER BY event_id"
        ).fetchall()
    assert [r[0] for r in stored] == ["l-2", "l-3"]
