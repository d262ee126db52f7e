"""The writer against registry changes it has not heard of yet (the real database)."""

from __future__ import annotations

import threading
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


def test_the_key_check_catches_a_deletion_the_cache_missed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(db_url, estate="keep", rooms={"r1": {"b-wet": "wet"}})
    register(db_url, estate="gone", rooms={"r1": {"b-wet": "wet"}})
    writer = Writer(db_url)
    try:
        # The announcement is lost (say, a listening connection that just broke): only
        # the key check on event_keys stands between the cache and a stored event.
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


def _bin_key(db_url: str, estate: str) -> int:
    key = scalar(db_url, "SELECT bin_key FROM bins WHERE estate_id = %s", (estate,))
    assert isinstance(key, int)
    return key


def race(db_url: str, first: str, second: str, key: int) -> BaseException | None:
    """Run `first` in an open transaction, then `second` from another connection; commit
    the first once the second has waited 0.5 s. What the second raised (None: nothing)."""
    outcome: list[BaseException | None] = []
    with psycopg.connect(db_url) as holder:
        holder.execute(first, (key,))

        def run() -> None:
            try:
                with psycopg.connect(db_url) as other:
                    other.execute(second, (key,))
                outcome.append(None)
            except psycopg.Error as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=run)
        waiter.start()
        time.sleep(0.5)
        assert not outcome, "the second statement did not wait for the first's commit"
        holder.commit()
        waiter.join(10)
    assert len(outcome) == 1
    return outcome[0]


INSERT_KEY = "INSERT INTO event_keys (bin_key, event_id, ts) VALUES (%s, 'r-1', now())"
DELETE_BIN = "DELETE FROM bins WHERE bin_key = %s"


def test_a_delete_racing_an_uncommitted_key_waits_and_is_refused(db_url: str) -> None:
    register(db_url, estate="race", rooms={"r1": {"b-wet": "wet"}})
    key = _bin_key(db_url, "race")
    assert isinstance(race(db_url, INSERT_KEY, DELETE_BIN, key), psycopg.errors.ForeignKeyViolation)
    assert scalar(db_url, "SELECT count(*) FROM bins WHERE bin_key = %s", (key,)) == 1


def test_a_key_racing_an_uncommitted_delete_waits_and_is_refused(db_url: str) -> None:
    register(db_url, estate="race2", rooms={"r1": {"b-wet": "wet"}})
    key = _bin_key(db_url, "race2")
    assert isinstance(race(db_url, DELETE_BIN, INSERT_KEY, key), psycopg.errors.ForeignKeyViolation)
    assert scalar(db_url, "SELECT count(*) FROM event_keys") == 0
