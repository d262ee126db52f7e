"""The quarantine's cap, tally and retention: against the real database, and under a
garbage flood through the real broker and `python -m ingest`."""

from __future__ import annotations

import logging
import random
import socket
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from deploy.migrate import migrate
from ingest import quarantine
from ingest.contract import Reason, Rejection, events_topic
from ingest.settings import IngestSettings
from simulators.broker import Broker
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_scratch import migrate_before
from tests.fix_stream import TOPIC_DRY, canary, count, drop, publish

pytestmark = pytest.mark.integration

TOPIC_A = events_topic("jjq", "r1", "b-a")
TOPIC_B = events_topic("jjq", "r1", "b-b")


def rejection(topic: str, reason: Reason = Reason.bad_json, n: int = 0) -> Rejection:
    return Rejection(topic, reason, f"detail {n}", f"garbage {n}".encode())


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as c:
        yield c


def stored(conn: psycopg.Connection, cap: int, rejections: list[Rejection]) -> None:
    """One writer transaction: store, commit."""
    quarantine.store(conn, rejections, cap)
    conn.commit()


def rows(conn: psycopg.Connection) -> Counter[tuple[str, str]]:
    found = conn.execute("SELECT topic, reason FROM rejected_messages").fetchall()
    conn.commit()
    return Counter((t, r) for t, r in found)


def tally(conn: psycopg.Connection) -> dict[tuple[str, str], tuple[int, int, int]]:
    """{(key, reason): (seen, kept, dropped)}."""
    found = conn.execute("SELECT topic, reason, seen, kept, dropped FROM rejected_tally").fetchall()
    conn.commit()
    return {(t, r): (s, k, d) for t, r, s, k, d in found}


def test_store_keeps_the_first_cap_rows_per_topic_and_reason_and_counts_every_one(
    conn: psycopg.Connection,
) -> None:
    stored(
        conn,
        3,
        [rejection(TOPIC_A, n=i) for i in range(5)]
        + [rejection(TOPIC_A, Reason.bad_weight, i) for i in range(2)]
        + [rejection(TOPIC_B, n=0)],
    )
    stored(conn, 3, [rejection(TOPIC_A, n=5), rejection(TOPIC_B, n=1), rejection(TOPIC_B, n=2)])
    stored(conn, 3, [rejection(TOPIC_B, n=i) for i in range(3, 7)])

    assert rows(conn) == {
        (TOPIC_A, "bad_json"): 3,
        (TOPIC_A, "bad_weight"): 2,
        (TOPIC_B, "bad_json"): 3,
    }
    assert tally(conn) == {
        (TOPIC_A, "bad_json"): (6, 3, 3),
        (TOPIC_A, "bad_weight"): (2, 2, 0),
        (TOPIC_B, "bad_json"): (7, 3, 4),
    }
    # The first ones are kept, as they were sent.
    details = conn.execute(
        "SELECT detail, payload, estate_id FROM rejected_messages"
        " WHERE topic = %s AND reason = 'bad_json' ORDER BY id",
        (TOPIC_A,),
    ).fetchall()
    assert details == [(f"detail {i}", f"garbage {i}".encode(), "jjq") for i in range(3)]


def test_bad_topic_rejections_share_one_cap_whatever_their_topic(
    conn: psycopg.Connection,
) -> None:
    garbage = [rejection(f"fenlei/v1/X{i}/r/b/events", Reason.bad_topic, i) for i in range(10)]
    stored(conn, 4, garbage)
    assert sum(rows(conn).values()) == 4
    assert tally(conn) == {("*", "bad_topic"): (10, 4, 6)}
    # The database's key rule (it keeps `kept` for deletes) is the writer's.
    for topic, reason in [(TOPIC_A, "bad_json"), ("x/y", "bad_topic"), (TOPIC_A, "bad_topic")]:
        row = conn.execute("SELECT fenlei_rejected_key(%s, %s)", (topic, reason)).fetchone()
        assert row == (quarantine.tally_key(topic, reason),)
    conn.commit()


def test_a_rolled_back_batch_counts_nothing(conn: psycopg.Connection) -> None:
    quarantine.store(conn, [rejection(TOPIC_A, n=i) for i in range(3)], 10)
    conn.rollback()  # the writer retries the whole batch after this
    stored(conn, 10, [rejection(TOPIC_A, n=i) for i in range(3)])
    assert tally(conn) == {(TOPIC_A, "bad_json"): (3, 3, 0)}


def test_nul_characters_cannot_make_the_database_refuse_the_batch(
    conn: psycopg.Connection,
) -> None:
    stored(conn, 10, [Rejection("fenlei/v1/a\x00/r/b/events", Reason.bad_topic, "x\x00", b"\x00")])
    topic, detail, payload = conn.execute(
        "SELECT topic, detail, payload FROM rejected_messages"
    ).fetchone()  # type: ignore[misc]
    assert (topic, detail, payload) == ("fenlei/v1/a\ufffd/r/b/events", "x\ufffd", b"\x00")


def test_kept_follows_deletes_made_elsewhere_and_the_cap_has_room_again(
    conn: psycopg.Connection,
) -> None:
    stored(conn, 4, [rejection(TOPIC_A, n=i) for i in range(6)])
    # An operator (or `fenlei demo`) deletes rows directly.
    conn.execute(
        "DELETE FROM rejected_messages WHERE id IN (SELECT min(id) FROM rejected_messages)"
    )
    conn.commit()
    assert tally(conn) == {(TOPIC_A, "bad_json"): (6, 3, 2)}
    stored(conn, 4, [rejection(TOPIC_A, n=i) for i in range(6, 9)])
    assert rows(conn) == {(TOPIC_A, "bad_json"): 4}
    assert tally(conn) == {(TOPIC_A, "bad_json"): (9, 4, 4)}
    conn.execute("TRUNCATE rejected_messages")
    conn.commit()
    assert tally(conn) == {(TOPIC_A, "bad_json"): (9, 0, 4)}


def test_rows_marked_for_replay_leave_the_cap(conn: psycopg.Connection) -> None:
    stored(conn, 3, [rejection(TOPIC_A, n=i) for i in range(3)])
    conn.execute("UPDATE rejected_messages SET replaying_since = now()")
    conn.commit()
    assert tally(conn)[(TOPIC_A, "bad_json")][1] == 0
    # The rejections that replace them fit, though the marked rows are still there.
    stored(conn, 3, [rejection(TOPIC_A, n=i) for i in range(3, 6)])
    assert rows(conn) == {(TOPIC_A, "bad_json"): 6}
    conn.execute("DELETE FROM rejected_messages WHERE replaying_since IS NOT NULL")
    conn.commit()
    assert tally(conn) == {(TOPIC_A, "bad_json"): (6, 3, 0)}


def test_concurrent_ingesters_hold_the_cap_and_count_every_rejection(db_url: str) -> None:
    cap, writers, batches = 25, 4, 40
    topics = [events_topic("jjq", "r1", f"b-{i}") for i in range(6)]
    errors: list[BaseException] = []

    def ingester(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(db_url) as c:
                for _ in range(batches):
                    batch = [rejection(rng.choice(topics), n=i) for i in range(20)]
                    quarantine.store(c, batch, cap)
                    c.execute("SELECT pg_sleep(0.002)")  # hold the locks a while
                    c.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingester, args=(s,)) for s in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with psycopg.connect(db_url) as c:
        t = tally(c)
        r = rows(c)
    assert sum(seen for seen, _, _ in t.values()) == writers * batches * 20
    for key, (seen, kept, dropped) in t.items():
        assert r[key] == kept == min(seen, cap), key
        assert dropped == seen - kept, key


def test_the_pruner_deletes_rows_past_the_retention_and_keeps_the_tally(
    conn: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quarantine, "PRUNE_BATCH_ROWS", 2)  # several batches
    stored(conn, 100, [rejection(TOPIC_A, n=i) for i in range(10)])
    stored(conn, 100, [rejection(TOPIC_B, n=i) for i in range(3)])
    conn.execute(
        "UPDATE rejected_messages SET received_at = now() - interval '31 days'"
        " WHERE topic = %s AND detail < 'detail 7'",
        (TOPIC_A,),
    )
    conn.execute(
        "UPDATE rejected_messages SET received_at = now() - interval '29 days' WHERE topic = %s",
        (TOPIC_B,),
    )
    conn.commit()
    pruner = quarantine.Pruner(IngestSettings(database_url=db_url, rejected_retention_days=30))
    result = pruner.prune(conn)
    assert result == quarantine.PruneResult(7, True)
    assert rows(conn) == {(TOPIC_A, "bad_json"): 3, (TOPIC_B, "bad_json"): 3}
    assert tally(conn) == {(TOPIC_A, "bad_json"): (10, 3, 0), (TOPIC_B, "bad_json"): (3, 3, 0)}
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert pruner.prune(conn) == quarantine.PruneResult(0, True)


def test_the_pruner_runs_soon_after_start_then_hourly_and_logs_only_deletions(
    conn: psycopg.Connection,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(quarantine, "PRUNE_BATCH_ROWS", 2)
    monkeypatch.setattr(quarantine, "PRUNE_TICK_BUDGET_S", 0.0)  # one batch per tick
    now = [1_000.0]
    pruner = quarantine.Pruner(
        IngestSettings(database_url=db_url, rejected_retention_days=1), clock=lambda: now[0]
    )
    stored(conn, 100, [rejection(TOPIC_A, n=i) for i in range(5)])
    conn.execute("UPDATE rejected_messages SET received_at = now() - interval '2 days'")
    conn.commit()
    caplog.set_level(logging.INFO, logger="ingest.quarantine")

    def ticks(n: int) -> int:
        for _ in range(n):
            pruner.tick(conn)
        return sum(rows(conn).values())

    assert ticks(3) == 5  # not yet: just started
    now[0] += quarantine.FIRST_PRUNE_AFTER_S
    assert ticks(1) == 3  # one batch, then back to the main loop
    assert caplog.messages == []  # the pass is not over
    assert ticks(2) == 0
    assert caplog.messages == ["quarantine: deleted 5 rejected messages older than 1 days"]
    stored(conn, 100, [rejection(TOPIC_A, n=9)])
    conn.execute("UPDATE rejected_messages SET received_at = now() - interval '2 days'")
    conn.commit()
    now[0] += quarantine.PRUNE_EVERY_S - 1
    assert ticks(3) == 1  # not due before the hour is up
    now[0] += 1
    caplog.clear()
    assert ticks(1) == 0
    assert len(caplog.messages) == 1
    now[0] += quarantine.PRUNE_EVERY_S
    caplog.clear()
    assert ticks(1) == 0
    assert caplog.messages == []  # nothing deleted, nothing said


def test_an_upgraded_quarantine_is_tallied_and_its_cap_counts_the_old_rows(
    scratch_db: str, tmp_path: Path
) -> None:
    migrate_before(scratch_db, "0015", tmp_path)
    with psycopg.connect(scratch_db) as c:  # what the uncapped ingester left
        c.execute(
            "INSERT INTO rejected_messages (received_at, topic, estate_id, reason, detail, payload)"
            " SELECT now() - i * interval '1 minute', %s, 'jjq', 'bad_json', 'x', '\\x00'"
            " FROM generate_series(1, 80) i",
            (TOPIC_A,),
        )
    assert "0015" in migrate(scratch_db)
    with psycopg.connect(scratch_db) as c:
        assert tally(c) == {(TOPIC_A, "bad_json"): (80, 80, 0)}
        spans = c.execute(
            "SELECT (first_at, last_at) = (SELECT min(received_at), max(received_at)"
            " FROM rejected_messages) FROM rejected_tally"
        ).fetchall()
        c.commit()
        assert spans == [(True,)]
        stored(c, 50, [rejection(TOPIC_A, n=i) for i in range(5)])  # over the cap already
        assert rows(c) == {(TOPIC_A, "bad_json"): 80}
        assert tally(c) == {(TOPIC_A, "bad_json"): (85, 80, 5)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    values: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@pytest.mark.slow
def test_the_retention_cap_holds_under_a_garbage_flood(
    db_url: str, broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> None:
    register(db_url)
    cap, garbage, valid_every = 50, 20_000, 40
    port = _free_port()
    ingest_factory(FENLEI_REJECTED_CAP=str(cap), FENLEI_METRICS_PORT=str(port)).start()
    canary(db_url, broker)
    messages: list[tuple[str, object]] = []
    valid_ids = []
    for i in range(garbage):
        messages.append((TOPIC_DRY, b"{not json %d" % i))
        if i % valid_every == 0:
            valid_ids.append(f"flood-{i}")
            messages.append((TOPIC_DRY, orjson.dumps(drop(valid_ids[-1], weight_g=100 + i % 50))))
    publish(broker, messages, raw=True)

    def seen() -> int:
        with psycopg.connect(db_url) as c:
            row = c.execute(
                "SELECT seen FROM rejected_tally WHERE topic = %s AND reason = 'bad_json'",
                (TOPIC_DRY,),
            ).fetchone()
        return int(row[0]) if row else 0

    wait_for(seen, lambda n: n >= garbage, timeout=120, what="every garbage message counted")
    wait_for(
        lambda: count(db_url, "event_id LIKE 'flood-%'"),
        lambda n: n >= len(valid_ids),
        what="the valid events between the garbage",
    )
    with psycopg.connect(db_url) as c:
        assert tally(c) == {(TOPIC_DRY, "bad_json"): (garbage, cap, garbage - cap)}
        assert rows(c) == {(TOPIC_DRY, "bad_json"): cap}
        per_event: dict[str, int] = dict(
            c.execute(
                "SELECT event_id, count(*) FROM events WHERE event_id LIKE 'flood-%'"
                " GROUP BY event_id"
            ).fetchall()
        )
    assert per_event == dict.fromkeys(valid_ids, 1)
    metric = 'fenlei_ingest_rejected_total{reason="bad_json"}'
    m = wait_for(lambda: _scrape(port), lambda v: v.get(metric, 0) >= garbage, what="metrics")
    assert m[metric] == garbage
