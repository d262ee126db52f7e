"""Exactly once on the device's own key, and no batch that can wedge the ingester.

Real broker, database and `python -m ingest`; what is checked is computed here from
what was published (pandas over the first copy of each key), not by the product.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pandas as pd
import psycopg
import pytest

from ingest.contract import events_topic
from simulators.broker import Broker
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import TOPIC_WET, canary, count, drop, publish

pytestmark = pytest.mark.integration
BASE = datetime(2026, 4, 10, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai: shifts cross the day


def rejected(db_url: str, reason: str, like: str = "%") -> list[tuple[str, str, bytes]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT topic, detail, payload FROM rejected_messages"
            " WHERE reason = %s AND convert_from(payload, 'UTF8') LIKE %s ORDER BY id",
            (reason, like),
        ).fetchall()
    return [(t, d, bytes(p)) for t, d, p in rows]


def per_key(db_url: str, prefix: str) -> dict[str, list[datetime]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT event_id, ts FROM events WHERE event_id LIKE %s ORDER BY ts",
            (f"{prefix}-%",),
        ).fetchall()
    out: dict[str, list[datetime]] = {}
    for event_id, ts in rows:
        out.setdefault(event_id, []).append(ts)
    return out


def wet_days(db_url: str) -> pd.DataFrame:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT day, drops, weight_g FROM daily_category"
            " WHERE estate_id = 'jjq' AND category = 'wet' ORDER BY day"
        ).fetchall()
    return pd.DataFrame(rows, columns=["day", "drops", "weight_g"]).set_index("day")


def test_a_resend_with_a_corrected_clock_is_stored_once(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    n = 300
    first = [
        drop(f"clock-{i}", (BASE + timedelta(minutes=i)).isoformat(), 100 + i) for i in range(n)
    ]
    messages: list[tuple[str, object]] = [(TOPIC_WET, e) for e in first]
    publish(broker, messages)
    wait_for(lambda: count(db_url, "event_id LIKE 'clock-%'"), lambda c: c == n, what="first")
    # The device's clock was corrected by an hour, and it resends its whole buffer;
    # the first 50 also come again exactly as they were (a plain redelivery).
    resent = [
        {**e, "ts": (BASE + timedelta(minutes=i, hours=1)).isoformat()} for i, e in enumerate(first)
    ]
    again: list[tuple[str, object]] = [(TOPIC_WET, e) for e in resent + first[:50]]
    publish(broker, again)
    # Two copies of one new key inside one message: the first of them is kept.
    pair = [drop("clock-pair", BASE.isoformat(), 700), drop("clock-pair", BASE.isoformat(), 900)]
    publish(broker, [(TOPIC_WET, pair)])
    wait_for(
        lambda: len(rejected(db_url, "conflicting_duplicate")),
        lambda c: c == n + 1,
        what="every resent copy quarantined as a conflicting duplicate",
    )
    canary(db_url, broker)  # everything published before it has been handled

    stored = per_key(db_url, "clock")
    assert len(stored) == n + 1 and all(len(ts) == 1 for ts in stored.values())
    assert all(stored[str(e["event_id"])][0] == datetime.fromisoformat(str(e["ts"])) for e in first)
    assert scalar(db_url, "SELECT weight_g FROM events WHERE event_id = 'clock-pair'") == 700
    # Both versions are visible: the resent one is the payload, the stored one in detail.
    _, detail, payload = rejected(db_url, "conflicting_duplicate", '%"clock-7"%')[0]
    assert orjson.loads(payload)["ts"] == resent[7]["ts"]
    assert datetime.fromisoformat(str(first[7]["ts"])).isoformat() in detail
    assert not rejected(db_url, "conflicting_duplicate", f'%"clock-%"%"ts":"{first[3]["ts"]}"%')

    # The figures are pandas over the first copy of each key, in the estate's days.
    frame = pd.DataFrame(first + pair[:1])
    frame["day"] = pd.to_datetime(frame["ts"]).dt.tz_convert("Asia/Shanghai").dt.date
    expected = frame.groupby("day").agg(drops=("event_id", "size"), weight_g=("weight_g", "sum"))
    pd.testing.assert_frame_equal(wet_days(db_url), expected, check_dtype=False)


def install_poison(db_url: str, errcode: str = "P0001") -> None:
    """A row the database refuses: a trigger raises `errcode` for event ids starting
    with `poison-`, as a broken extension or constraint would."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " RAISE EXCEPTION 'refused by the test trigger: %', NEW.event_id"
            f" USING ERRCODE = '{errcode}'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_poison BEFORE INSERT ON event_keys FOR EACH ROW"
            " WHEN (NEW.event_id LIKE 'poison-%') EXECUTE FUNCTION test_poison()"
        )


@pytest.fixture
def poison_trigger(db_url: str) -> Iterator[object]:
    """`install_poison` for the test, removed afterwards (truncation keeps triggers)."""
    yield from _poisoned(db_url, "P0001")


@pytest.fixture
def transient_poison(db_url: str) -> Iterator[object]:
    """The same trigger, raising lock_not_available: an error that might pass, but
    never does for these rows."""
    yield from _poisoned(db_url, "55P03")


def _poisoned(db_url: str, errcode: str) -> Iterator[object]:
    install_poison(db_url, errcode)
    try:
        yield None
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS test_poison ON event_keys")
            conn.execute("DROP FUNCTION IF EXISTS test_poison()")


def test_a_message_the_database_refuses_is_quarantined_and_the_rest_stored(
    running: IngestProcess, db_url: str, broker: Broker, poison_trigger: object
) -> None:
    messages: list[tuple[str, object]] = []
    for i in range(200):
        messages.append((TOPIC_WET, drop(f"good-{i}", weight_g=10 + i)))
        if i in (17, 150):
            messages.append((TOPIC_WET, drop(f"poison-{i}")))
    publish(broker, messages)
    wait_for(lambda: count(db_url, "event_id LIKE 'good-%'"), lambda c: c == 200, what="good")
    wait_for(lambda: len(rejected(db_url, "database_refused")), lambda c: c == 2, what="poison")
    canary(db_url, broker)
    assert running.proc is not None and running.proc.poll() is None, "the ingester stayed up"
    refused = rejected(db_url, "database_refused")
    assert {orjson.loads(p)["event_id"] for _, _, p in refused} == {"poison-17", "poison-150"}
    assert all("refused by the test trigger" in d for _, d, _ in refused)
    assert count(db_url, "event_id LIKE 'poison-%'") == 0
    assert scalar(db_url, "SELECT sum(drops) FROM daily_category WHERE category = 'wet'") == 200


def test_a_transient_error_that_never_passes_is_tried_then_split_out(
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
    transient_poison: object,
) -> None:
    register(db_url)
    proc = ingest_factory(FENLEI_TRANSIENT_RETRIES="3", FENLEI_RETRY_MIN_S="0.05").start()
    canary(db_url, broker)
    ids = [f"good-{i}" for i in range(50)] + ["poison-1"]
    messages: list[tuple[str, object]] = [(TOPIC_WET, drop(i)) for i in ids]
    publish(broker, messages)
    wait_for(lambda: len(rejected(db_url, "database_refused")), lambda c: c == 1, what="split")
    wait_for(lambda: count(db_url, "event_id LIKE 'good-%'"), lambda c: c == 50, what="good")
    assert "transient database error (try 2 of 3)" in proc.log()
    assert "55P03" in rejected(db_url, "database_refused")[0][1]
    assert proc.proc is not None and proc.proc.poll() is None


def test_a_bin_deleted_after_it_was_cached_is_refused_not_fatal(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    register(db_url, estate="gone", rooms={"r1": {"b-wet": "wet"}})
    gone = events_topic("gone", "r1", "b-wet")
    # A category mismatch is refused after the bin was looked up: now it is cached.
    publish(broker, [(gone, drop("gone-0", category="dry"))])
    wait_for(lambda: len(rejected(db_url, "category_mismatch")), lambda c: c == 1, what="cached")
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM estates WHERE id = 'gone'")
    publish(broker, [(gone, drop("gone-1")), (TOPIC_WET, drop("after-gone"))])
    wait_for(lambda: count(db_url, "event_id = 'after-gone'"), lambda c: c == 1, what="next")
    wait_for(lambda: len(rejected(db_url, "unknown_bin")), lambda c: c == 1, what="unknown_bin")
    assert count(db_url, "event_id LIKE 'gone-%'") == 0
    assert count(db_url, "estate_id = 'gone'", table="daily_category") == 0
    assert running.proc is not None and running.proc.poll() is None, "the ingester stayed up"
