"""Stored watermarks (ingest/watermark.py) against the real database and broker.

Events are stored the way the writer stores them (an `events` row and its `event_keys`
row in one transaction), then `Watermarks` is called as the ingester's loop calls it.
What it publishes is checked against an independent model: the seqs the test stored,
walked up from 0 in Python (`model`), never against the SQL itself.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from deploy import services as launcher
from deploy.settings import ServicesSettings
from ingest import metrics, watermark
from ingest import service as ingest_service
from ingest.contract import events_topic, stored_topic
from ingest.settings import IngestSettings
from ingest.watermark import Watermarks
from simulators.broker import Broker, Login
from simulators.publisher import Publisher
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_seq import Recorder, event_id, model, store
from tests.fix_services import Services
from tests.fix_stream import canary, count, drop, last_summary, publish, sim_broker

pytestmark = pytest.mark.integration

ESTATE = "jjq"
BINS = {"r1": {"b1": "dry", "b2": "wet", "b3": "recyclable"}}
LONG_AGO = timedelta(hours=1)


@pytest.fixture
def keys(db_url: str) -> dict[str, int]:
    """The test bins: {bin id: bin_key}."""
    register(db_url, ESTATE, BINS)
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute("SELECT id, bin_key FROM bins ORDER BY id").fetchall())


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as c:
        yield c


def settings(db_url: str, timeout_s: float = 600.0) -> IngestSettings:
    return IngestSettings(database_url=db_url, seq_gap_timeout_s=timeout_s)


def topic(bin_id: str) -> str:
    return stored_topic(ESTATE, "r1", bin_id)


def db_mark(conn: psycopg.Connection, bin_key: int) -> tuple[int, str | None]:
    row = conn.execute(
        "SELECT seq, event_id FROM bin_watermarks WHERE bin_key = %s", (bin_key,)
    ).fetchone()
    conn.rollback()
    return (int(row[0]), row[1]) if row else (0, None)


def gaps(conn: psycopg.Connection, bin_key: int) -> list[tuple[int, int, int]]:
    rows = conn.execute(
        "SELECT from_seq, to_seq, filled_late FROM seq_gaps WHERE bin_key = %s ORDER BY 1",
        (bin_key,),
    ).fetchall()
    conn.rollback()
    return [(int(a), int(b), int(c)) for a, b, c in rows]


def sample(name: str, estate: str = ESTATE) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"estate": estate}) or 0.0


def tick_now(marks: Watermarks, conn: psycopg.Connection) -> None:
    """One tick that is not rate-limited away."""
    marks._next_tick = 0.0
    marks.tick(conn)


# -- advancing ---------------------------------------------------------------------------


def test_in_order_events_give_the_max_seq_and_zero_is_never_published(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    rec = Recorder()
    marks = Watermarks(settings(db_url), rec)
    k = keys["b1"]
    marks.after_commit(conn, set())  # nothing to do: no statement, no publish
    assert rec.sent == []
    stored: set[int] = set()
    for chunk in ([1, 2, 3], list(range(4, 30)), [30]):
        store(conn, k, chunk)
        stored |= set(chunk)
        marks.after_commit(conn, {k})
        assert rec.seqs(topic("b1"))[-1] == model(stored)
    last = rec.last(topic("b1"))
    assert last is not None and last["event_id"] == event_id(k, 30)
    at = datetime.fromisoformat(str(last["at"]))
    assert at.tzinfo is not None and abs(datetime.now(UTC) - at) < timedelta(minutes=1)
    assert db_mark(conn, k) == (30, event_id(k, 30))
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # A bin whose first stored seq is 2 has N = 0: nothing is published for it.
    store(conn, keys["b2"], [2, 3])
    marks.after_commit(conn, {keys["b2"]})
    assert rec.seqs(topic("b2")) == []
    # Committing nothing new for b1 publishes nothing again.
    marks.after_commit(conn, {k})
    assert rec.seqs(topic("b1")) == [3, 29, 30]


def test_reused_seq_under_another_event_id_counts_once(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    rec = Recorder()
    marks = Watermarks(settings(db_url), rec)
    k = keys["b1"]
    store(conn, k, [1, 2, 3])
    store(conn, k, [2, 3], tag="-again")  # a buggy device: same seqs, new event ids
    store(conn, k, [5])
    marks.after_commit(conn, {k})
    assert rec.seqs(topic("b1")) == [3]
    assert db_mark(conn, k) == (3, min(event_id(k, 3), event_id(k, 3, "-again")))


def test_a_bin_far_behind_is_caught_up_in_bounded_steps(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watermark, "SCAN_CAP", 7)
    rec = Recorder()
    marks = Watermarks(settings(db_url), rec)
    k = keys["b1"]
    seqs = [s for s in range(1, 101) if s != 64]
    store(conn, k, seqs)
    marks.after_commit(conn, {k})
    assert rec.seqs(topic("b1")) == [63] == [model(set(seqs))]


# -- gaps --------------------------------------------------------------------------------


def test_gap_is_recorded_lost_after_the_timeout_and_late_events_are_counted(
    db_url: str,
    keys: dict[str, int],
    conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeout = 1.5
    rec = Recorder()
    marks = Watermarks(settings(db_url, timeout), rec)
    k = keys["b1"]
    stored = set(range(1, 11)) | set(range(13, 21))
    lost_before = sample("fenlei_ingest_seq_lost_total")
    store(conn, k, sorted(stored))
    marks.after_commit(conn, {k})
    assert rec.seqs(topic("b1")) == [10]
    tick_now(marks, conn)  # the gap is young: nothing declared
    assert gaps(conn, k) == [] and rec.seqs(topic("b1")) == [10]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="ingest.watermark"):

        def probe() -> list[int]:
            marks.tick(conn)
            return rec.seqs(topic("b1"))

        wait_for(
            probe,
            lambda s: s[-1] == 20,
            timeout=timeout + 10,
            interval=0.05,
            what="the gap declared lost",
        )
    waited = time.monotonic() - started
    assert waited >= timeout - 0.3, f"declared lost after {waited:.2f} s only"
    assert gaps(conn, k) == [(11, 12, 0)]
    assert rec.seqs(topic("b1")) == [10, model(stored, {11, 12})] == [10, 20]
    assert sample("fenlei_ingest_seq_lost_total") - lost_before == 2
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    fields = {a: getattr(warned[0], a) for a in ("estate", "room", "bin", "from_seq", "to_seq")}
    assert fields == {"estate": ESTATE, "room": "r1", "bin": "b1", "from_seq": 11, "to_seq": 12}
    # Late: 11 arrives after the gap was recorded. Stored, counted, the watermark stays.
    late_before = sample("fenlei_ingest_seq_filled_late_total")
    store(conn, k, [11])
    marks.after_commit(conn, {k})
    assert gaps(conn, k) == [(11, 12, 1)]
    assert rec.seqs(topic("b1")) == [10, 20]
    store(conn, k, [12, 21])
    marks.after_commit(conn, {k})
    assert gaps(conn, k) == [(11, 12, 2)]
    assert rec.seqs(topic("b1")) == [10, 20, 21]
    assert sample("fenlei_ingest_seq_filled_late_total") - late_before == 2
    with psycopg.connect(db_url) as c:
        n = c.execute("SELECT count(*) FROM events WHERE bin_key = %s", (k,)).fetchone()
    assert n == (21,)


def test_gaps_in_a_row_each_expire_on_their_own_clock(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    """Three gaps that all opened an hour ago are all declared at the first tick, not
    one per timeout; the first-seq-missing gap of another bin too."""
    rec = Recorder()
    marks = Watermarks(settings(db_url, 60), rec)
    a, b = keys["b1"], keys["b2"]
    stored_a = {1, 2, 3, 5, 6, 9, 10, 14}
    store(conn, a, sorted(stored_a), received_ago=LONG_AGO)
    store(conn, b, [3, 4, 5], received_ago=LONG_AGO)
    marks.after_commit(conn, {a, b})
    assert rec.seqs(topic("b1")) == [3] and rec.seqs(topic("b2")) == []
    tick_now(marks, conn)
    assert gaps(conn, a) == [(4, 4, 0), (7, 8, 0), (11, 13, 0)]
    assert gaps(conn, b) == [(1, 2, 0)]
    lost_a = {4, 7, 8, 11, 12, 13}
    assert rec.seqs(topic("b1")) == [3, model(stored_a, lost_a)] == [3, 14]
    assert rec.seqs(topic("b2")) == [5]
    # A gap that opened just now waits for its own timeout.
    store(conn, a, [16])
    marks.after_commit(conn, {a})
    tick_now(marks, conn)
    assert gaps(conn, a)[-1] == (11, 13, 0) and rec.seqs(topic("b1")) == [3, 14]


def test_two_ingesters_expiring_the_same_gap_record_it_once(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    k = keys["b3"]
    store(conn, k, [1, 2, 7], received_ago=LONG_AGO)
    recs = [Recorder(), Recorder()]
    barrier = threading.Barrier(2)

    def run(rec: Recorder) -> None:
        marks = Watermarks(settings(db_url, 60), rec)
        with psycopg.connect(db_url) as c:
            marks.after_commit(c, {k})
            barrier.wait()
            for _ in range(20):
                tick_now(marks, c)

    threads = [threading.Thread(target=run, args=(r,)) for r in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert gaps(conn, k) == [(3, 6, 0)]
    assert db_mark(conn, k)[0] == 7
    assert max(s for r in recs for s in r.seqs(topic("b3"))) == 7


# -- concurrency -------------------------------------------------------------------------


def test_two_writers_committing_one_bin_concurrently_agree_with_the_model(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    """Two connections store interleaved seqs of the same bins and advance after each
    commit, as two ingesters of a share group do; the result is the model's."""
    rng = random.Random(12)
    n = 300
    ks = [keys["b1"], keys["b2"]]
    plan: dict[int, list[list[int]]] = {}
    for k in ks:
        seqs = list(range(1, n + 1))
        halves: list[list[int]] = [[], []]
        for s in seqs:
            halves[rng.randrange(2)].append(s)
        plan[k] = halves
    recs = [Recorder(), Recorder()]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        marks = Watermarks(settings(db_url), recs[i])
        local = random.Random(i)
        try:
            with psycopg.connect(db_url) as c:
                barrier.wait()
                mine = {k: list(plan[k][i]) for k in ks}
                while any(mine.values()):
                    touched = set()
                    for k in ks:
                        cut = local.randint(1, 6)
                        take, mine[k] = mine[k][:cut], mine[k][cut:]
                        if take:
                            store(c, k, take)
                            touched.add(k)
                    marks.after_commit(c, touched)
                assert not marks._failing and not marks._pending
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with psycopg.connect(db_url) as c:
        for k, bin_id in zip(ks, ("b1", "b2"), strict=True):
            stored = {
                int(r[0]) for r in c.execute("SELECT seq FROM event_keys WHERE bin_key = %s", (k,))
            }
            assert model(stored) == n
            assert db_mark(c, k) == (n, event_id(k, n))
            published = [s for r in recs for s in r.seqs(topic(bin_id))]
            assert max(published) == n
            # Each writer's own messages only ever move up.
            for r in recs:
                assert r.seqs(topic(bin_id)) == sorted(r.seqs(topic(bin_id)))


def test_an_advance_waits_for_the_other_ingesters_lock_and_sees_its_commits(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    """The race the lock is for, made deterministic: ingester B is mid-advance on the bin
    (holds its row) while A's after_commit arrives; events committed while A waits must
    be in A's answer (so A locks first, then reads event_keys in a later statement)."""
    k = keys["b1"]
    store(conn, k, [1, 2])
    rec = Recorder()
    Watermarks(settings(db_url), rec).after_commit(conn, {k})
    assert rec.seqs(topic("b1")) == [2]
    with psycopg.connect(db_url) as other:
        other.execute("SELECT FROM bin_watermarks WHERE bin_key = %s FOR UPDATE", (k,))
        store(conn, k, [3])
        a = Watermarks(settings(db_url), rec)

        def advance() -> None:
            with psycopg.connect(db_url) as c:
                a.after_commit(c, {k})

        thread = threading.Thread(target=advance)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "A did not wait for the bin's lock"
        store(conn, k, [4, 5])  # committed while A waits
        other.commit()
    thread.join(10)
    assert rec.seqs(topic("b1")) == [2, 5]
    assert db_mark(conn, k) == (5, event_id(k, 5))


def test_an_ingester_whose_publish_fell_behind_sends_the_current_one_at_its_next_tick(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    """A publishes 3, B then 5: on two connections the broker may keep A's 3 (arrived
    last). At its next tick A sees the database at 5 and sends 5 on its own connection,
    after its 3; B, whose 5 is current, sends nothing more."""
    k = keys["b1"]
    rec_a, rec_b = Recorder(), Recorder()
    a, b = Watermarks(settings(db_url), rec_a), Watermarks(settings(db_url), rec_b)
    store(conn, k, [1, 2, 3])
    a.after_commit(conn, {k})
    store(conn, k, [4, 5])
    b.after_commit(conn, {k})
    assert (rec_a.seqs(topic("b1")), rec_b.seqs(topic("b1"))) == ([3], [5])
    tick_now(a, conn)
    tick_now(b, conn)
    assert (rec_a.seqs(topic("b1")), rec_b.seqs(topic("b1"))) == ([3, 5], [5])
    tick_now(a, conn)  # settled: nothing more
    assert rec_a.seqs(topic("b1")) == [3, 5]


def test_a_database_error_is_kept_and_retried_by_tick(
    db_url: str, keys: dict[str, int], conn: psycopg.Connection
) -> None:
    rec = Recorder()
    marks = Watermarks(settings(db_url), rec)
    k = keys["b1"]
    store(conn, k, [1, 2])
    broken = psycopg.connect(db_url)
    broken.close()
    marks.after_commit(broken, {k})  # never raises: the database is "away"
    assert rec.sent == [] and marks._pending == {k}
    tick_now(marks, conn)
    assert rec.seqs(topic("b1")) == [2] and not marks._pending


# -- the broker: republish from the database ---------------------------------------------


class Retained:
    """A stock paho subscriber collecting the retained messages of the stored topics."""

    def __init__(self, services: Services) -> None:
        self.got: dict[str, bytes] = {}
        # Everything received, in order (retained first, then live publishes).
        self.log: list[tuple[str, bytes]] = []
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"wm-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if services.sim:
            client.username_pw_set(services.sim.username, services.sim.password)
        client.on_message = lambda c, u, m: self._got(m.topic, bytes(m.payload))
        self.client = client
        host, port = services.mqtt_host_port
        client.connect(host, port)
        client.loop_start()
        client.subscribe("fenlei/v1/+/+/+/stored", qos=1)

    def _got(self, topic: str, payload: bytes) -> None:
        self.got[topic] = payload
        self.log.append((topic, payload))

    def snapshot(self) -> list[tuple[str, bytes]]:
        """What arrived so far. A copy made in one step (list() of a dict's items runs
        in C, under the GIL): iterating `got` itself while paho's thread adds to it
        raises "dictionary changed size during iteration"."""
        return list(self.got.items())

    def seqs(self, topic: str) -> list[int]:
        """The seqs received on `topic`, in order (cleared copies left out)."""
        return [int(orjson.loads(p)["seq"]) for t, p in self.log if t == topic and p]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ingest_publisher(services: Services) -> Publisher:
    login = services.ingest
    broker = sim_broker(services).as_login(Login(login.username, login.password) if login else None)
    pub = Publisher(broker, f"wm-ingest-{uuid.uuid4().hex[:8]}")
    pub.connect()
    return pub


def test_republish_all_recomputes_from_the_database_for_thousands_of_bins(
    services: Services, db_url: str, conn: psycopg.Connection
) -> None:
    """As after a crash between the events' commit and the watermark's: 3,000 bins hold
    stored seqs (some with a gap), no watermark row; a fresh ingester's republish_all
    computes and publishes them all, page by page; the broker's retained copies equal
    the model. A reconnect to a broker that lost them publishes them again."""
    n_bins = 3_000
    rooms = {f"r{i}": {f"b{j}": "dry" for j in range(100)} for i in range(n_bins // 100)}
    register(db_url, ESTATE, rooms)
    rng = random.Random(7)
    want: dict[str, int] = {}
    mine: set[str] = set()
    with conn.cursor() as cur:
        bins = cur.execute("SELECT bin_key, room_id, id FROM bins ORDER BY bin_key").fetchall()
    conn.rollback()
    batch: list[tuple[int, int]] = []
    for k, room, bin_id in bins:
        top = rng.randint(1, 8)
        seqs = [s for s in range(1, top + 1) if rng.random() > 0.15]
        batch += [(k, s) for s in seqs]
        mine.add(stored_topic(ESTATE, room, bin_id))
        if model(set(seqs)):
            want[stored_topic(ESTATE, room, bin_id)] = model(set(seqs))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g, seq)"
            " SELECT '2026-03-23'::timestamptz + s * interval '1 s', k, 'ev-' || k || '-' || s,"
            " 'jjq', 'dry', 'drop', 100, s FROM unnest(%s::int[], %s::bigint[]) AS x(k, s)",
            ([k for k, _ in batch], [s for _, s in batch]),
        )
        cur.execute(
            "INSERT INTO event_keys (bin_key, event_id, ts, seq) SELECT bin_key, event_id, ts,"
            " seq FROM events WHERE seq IS NOT NULL"
        )
    pub = ingest_publisher(services)
    try:

        def send(t: str, p: bytes) -> None:
            pub.publish(t, p, qos=1, retain=True)

        marks = Watermarks(settings(db_url), send)
        started = time.monotonic()
        marks.republish_all(conn)
        took = time.monotonic() - started
        pub.flush()
        pub.check_denied()
        seen = Retained(services)
        try:
            got = wait_for(
                lambda: {t: orjson.loads(p)["seq"] for t, p in seen.snapshot() if p and t in mine},
                lambda g: len(g) >= len(want),
                timeout=60,
                what="the retained watermarks",
            )
        finally:
            seen.close()
        assert got == want
        assert took < 30, f"republish_all of {n_bins} bins took {took:.1f} s"
        # The broker loses them (as a broker restored without its retained store would):
        for t in want:
            pub.publish(t, b"", qos=1, retain=True)
        pub.flush()
        marks.republish_all(conn)  # what the ingester does on reconnect
        pub.flush()
        seen = Retained(services)
        try:
            again = wait_for(
                lambda: {t: orjson.loads(p)["seq"] for t, p in seen.snapshot() if p and t in mine},
                lambda g: len(g) >= len(want),
                timeout=60,
                what="the watermarks republished",
            )
        finally:
            seen.close()
        assert again == want
    finally:
        for t in want:
            pub.publish(t, b"", qos=1, retain=True)  # leave the broker clean
        pub.flush()
        pub.close()


# -- the real ingester (`python -m ingest`) ----------------------------------------------

WIRED = hasattr(ingest_service, "Watermarks")
needs_wiring = pytest.mark.skipif(
    not WIRED, reason="ingest/service.py does not run Watermarks yet (the lead wires it)"
)
TOPIC_WET = events_topic("jjq", "r1", "b-wet")
STORED_WET = stored_topic("jjq", "r1", "b-wet")


def seq_drop(seq: int, tag: str = "wm") -> dict[str, object]:
    return drop(f"{tag}-{seq}", seq=seq)


def db_watermark(db_url: str, address: tuple[str, str, str]) -> tuple[int, str | None]:
    with psycopg.connect(db_url) as c:
        row = c.execute(
            "SELECT w.seq, w.event_id FROM bin_watermarks w JOIN bins b USING (bin_key)"
            " WHERE b.estate_id = %s AND b.room_id = %s AND b.id = %s",
            address,
        ).fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def clear_retained(services: Services, topics: list[str]) -> None:
    pub = ingest_publisher(services)
    try:
        for t in topics:
            pub.publish(t, b"", qos=1, retain=True)
        pub.flush()
    finally:
        pub.close()


def retained_now(services: Services, topic_: str, timeout: float = 30) -> dict[str, object]:
    """The broker's retained copy of `topic_`, read by a fresh subscriber."""
    seen = Retained(services)
    try:
        wait_for(lambda: seen.got.get(topic_), bool, timeout=timeout, what=f"retained {topic_}")
        return dict(orjson.loads(seen.got[topic_]))
    finally:
        seen.close()


@needs_wiring
@pytest.mark.slow
def test_ingester_publishes_records_gaps_and_recomputes_after_a_restart(
    services: Services,
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    register(db_url)
    # The session's broker outlives each test's database: no earlier test's copy.
    clear_retained(services, [STORED_WET])
    proc = ingest_factory(FENLEI_SEQ_GAP_TIMEOUT_S="2").start()
    canary(db_url, broker)
    watch = Retained(services)
    try:
        sent = [*range(1, 11), *range(13, 21)]
        publish(broker, [(TOPIC_WET, seq_drop(s)) for s in sent])
        wait_for(
            lambda: watch.seqs(STORED_WET),
            lambda s: bool(s) and s[-1] == 20,
            timeout=60,
            what="the watermark past the lost gap",
        )
        seqs = watch.seqs(STORED_WET)
        assert 10 in seqs and seqs == sorted(seqs), seqs
        assert model(sent, {11, 12}) == 20
        assert wait_for(
            lambda: scalar(db_url, "SELECT array_agg(from_seq || '-' || to_seq) FROM seq_gaps"),
            lambda v: v is not None,
            what="the gap recorded",
        ) == ["11-12"]
        assert "11..12" in proc.log() and "recorded as lost" in proc.log()
        publish(broker, [(TOPIC_WET, seq_drop(11))])  # late
        wait_for(
            lambda: scalar(db_url, "SELECT filled_late FROM seq_gaps"),
            lambda n: n == 1,
            what="the late event counted",
        )
        assert count(db_url, "seq = 11") == 1
        assert watch.seqs(STORED_WET)[-1] == 20
    finally:
        watch.close()
    # Restart: the broker loses its copy meanwhile; the new process republishes the
    # database's watermark at start.
    proc.kill()
    clear_retained(services, [STORED_WET])
    proc.start()
    got = retained_now(services, STORED_WET)
    assert (got["seq"], got["event_id"]) == db_watermark(db_url, ("jjq", "r1", "b-wet"))
    assert got["seq"] == 20 and got["event_id"] == "wm-20"
    proc.stop()


@needs_wiring
@pytest.mark.slow
def test_ingester_republishes_after_the_broker_restarts(
    services: Services,
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    """A broker that comes back without the retained watermark gets it again when the
    ingester reconnects (nothing moved meanwhile, so only the reconnect can send it)."""
    settings_ = services.launcher_settings
    if not isinstance(settings_, ServicesSettings):
        pytest.skip("needs the project's own launcher to restart Mosquitto")
    register(db_url)
    # The session's broker outlives each test's database: no earlier test's copy.
    clear_retained(services, [STORED_WET])
    proc = ingest_factory().start()
    canary(db_url, broker)
    publish(broker, [(TOPIC_WET, seq_drop(s, "rc")) for s in range(1, 6)])
    wait_for(
        lambda: retained_now(services, STORED_WET)["seq"],
        lambda n: n == 5,
        what="the watermark after the commit",
    )
    clear_retained(services, [STORED_WET])
    state = launcher.read_state(settings_)
    assert state is not None
    launcher.stop_mosquitto(settings_, state)  # saves its store: without the copy
    launcher.up(settings_)
    got = retained_now(services, STORED_WET, timeout=60)
    assert (
        (got["seq"], got["event_id"]) == (5, "rc-5") == db_watermark(db_url, ("jjq", "r1", "b-wet"))
    )
    proc.stop()


@needs_wiring
@pytest.mark.slow
def test_two_ingesters_in_a_share_group_converge_on_the_model(
    services: Services,
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    """Each bin's events are split between two ingesters, which commit and advance the
    same bins concurrently; the retained watermark of every bin ends at its last seq."""
    register(db_url)
    clear_retained(services, [stored_topic("jjq", "r1", b) for b in ("b-dry", "b-wet")])
    env = {"FENLEI_SHARE_GROUP": "wm-test", "FENLEI_SEQ_GAP_TIMEOUT_S": "30"}
    procs = [ingest_factory(**env).start(), ingest_factory(**env).start()]
    canary(db_url, broker)
    canary(db_url, broker)
    n = 400
    bins = ("b-dry", "b-wet")
    messages: list[tuple[str, object]] = [
        (events_topic("jjq", "r1", b), drop(f"sh-{b}-{s}", seq=s))
        for s in range(1, n + 1)
        for b in bins
    ]
    publish(broker, messages)
    for b in bins:
        topic_ = stored_topic("jjq", "r1", b)

        def probe(t: str = topic_) -> object:
            try:
                return retained_now(services, t, timeout=5)["seq"]
            except AssertionError:
                return None

        wait_for(probe, lambda v: v == n, timeout=60, interval=0.5, what=f"{b} at {n}")
        assert db_watermark(db_url, ("jjq", "r1", b)) == (n, f"sh-{b}-{n}")
    assert count(db_url, "true", "seq_gaps") == 0
    for p in procs:
        p.stop()
    # Both took part (their last summary lines count messages).
    assert all(last_summary(p)["messages"] > 0 for p in procs)
    clear_retained(services, [stored_topic("jjq", "r1", b) for b in bins])
