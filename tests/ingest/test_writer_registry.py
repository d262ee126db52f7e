"""The writer against registry changes it has not heard of yet (the real database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import psycopg
import pytest

from ingest.batcher import Message
from ingest.contract import events_topic
from ingest.payload import parse_events
from ingest.writer import Writer
from tests.fix_data import register, scalar

pytestmark = pytest.mark.integration
NOW = datetime(2026, 4, 10, 12, tzinfo=UTC)


def message(estate: str, bin_id: str, event_id: str) -> Message:
    body = {"event_id": event_id, "ts": "2026-04-10T08:00:00+08:00", "kind": "drop", "weight_g": 5}
    parsed = parse_events(events_topic(estate, "r1", bin_id), orjson.dumps(body), NOW)
    return Message(1, 1, time.monotonic(), parsed.events, parsed.rejections)


def test_the_foreign_key_catches_a_deletion_the_cache_missed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(db_url, estate="keep", rooms={"r1": {"b-wet": "wet"}})
    register(db_url, estate="gone", rooms={"r1": {"b-wet": "wet"}})
    writer = Writer(db_url)
    try:
        # The announcement is lost (say, a listening connection that just broke): only
        # the foreign key on event_keys stands between the cache and a stored event.
        monkeypatch.setattr(writer, "_hear_registry", lambda conn: None)
        writer.store([message("keep", "b-wet", "warm-1"), message("gone", "b-wet", "warm-g")])
        with psycopg.connect(db_url) as conn:
            conn.execute("DELETE FROM event_keys WHERE event_id = 'warm-g'")
            conn.execute("DELETE FROM events WHERE event_id = 'warm-g'")
            conn.execute("DELETE FROM daily_category WHERE estate_id = 'gone'")
            conn.execute("DELETE FROM estates WHERE id = 'gone'")
        result = writer.store(
            [message("keep", "b-wet", "next-1"), message("gone", "b-wet", "lost")]
        )
    finally:
        writer.close()
    assert result.stored == 1 and result.rejected == {"unknown_bin": 1}
    assert scalar(db_url, "SELECT count(*) FROM events WHERE event_id = 'lost'") == 0
    assert scalar(db_url, "SELECT count(*) FROM events WHERE event_id = 'next-1'") == 1


def test_a_bin_with_events_cannot_be_deleted_under_the_ingester(db_url: str) -> None:
    register(db_url, estate="used", rooms={"r1": {"b-wet": "wet"}})
    writer = Writer(db_url)
    try:
        assert writer.store([message("used", "b-wet", "u-1")]).stored == 1
    finally:
        writer.close()
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM bins WHERE estate_id = 'used'")
