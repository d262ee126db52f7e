"""Figures from the replica under a steady ingest, and the fallbacks to the primary.

Events go through the real broker and the real ingester into the primary; the API under
test reads figures from the streaming replica. Its answers are checked against the same
API without a replica (the primary's answer) and against pandas over the events as
published (never the database).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.read_pool import ReplicaStatus
from deploy import services as launcher
from ingest.contract import events_topic
from simulators.broker import Broker
from simulators.publisher import Publisher
from tests.api.conftest import make_token
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import canary
from tests.replica.conftest import CHECK_S, MAX_LAG_S, Cluster

pytestmark = pytest.mark.integration

ZONE = "Asia/Shanghai"
START, END = date(2026, 3, 23), date(2026, 3, 27)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
BINS = {"b-dry": "dry", "b-wet": "wet"}
RATE_PER_S = 250.0


def make_events(prefix: str, n: int) -> list[dict[str, Any]]:
    """`n` drops spread over the period's days (UTC instants), on the dry and wet bins."""
    base = datetime(2026, 3, 22, 16, 0, tzinfo=UTC)  # local midnight of START
    span_s = int((END - START + timedelta(days=1)).total_seconds())
    return [
        {
            "bin": "b-wet" if i % 3 == 0 else "b-dry",
            "event_id": f"{prefix}-{i}",
            "ts": (base + timedelta(seconds=(i * 7_919) % span_s)).isoformat(),
            "kind": "drop",
            "weight_g": 50 + (i * 37) % 3_000,
        }
        for i in range(n)
    ]


def publish_steadily(broker: Broker, events: list[dict[str, Any]]) -> threading.Thread:
    """Publish at RATE_PER_S, one message per event, in a thread (QoS 1, all acked)."""

    def run() -> None:
        with Publisher(broker, f"replica-dev-{uuid.uuid4().hex[:8]}") as pub:
            start = time.monotonic()
            for i, e in enumerate(events):
                body = {k: v for k, v in e.items() if k != "bin"}
                pub.publish(events_topic("jjq", "r1", e["bin"]), orjson.dumps(body))
                ahead = i / RATE_PER_S - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            pub.flush(timeout=120)
            pub.check_denied()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def expected_days(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """pandas over the published events: per local day, drops and kg per category."""
    df = pd.DataFrame(events)
    df["category"] = df["bin"].map(BINS)
    df["day"] = pd.to_datetime(df["ts"], utc=True).dt.tz_convert(ZONE).dt.date
    out: dict[str, dict[str, Any]] = {}
    for i in range((END - START).days + 1):
        day = START + timedelta(days=i)
        rows = df[df["day"] == day]
        kg = {
            c: int(rows.loc[rows["category"] == c, "weight_g"].sum()) / 1000 for c in BINS.values()
        }
        out[day.isoformat()] = {"drops": len(rows), "kg": kg}
    return out


def stored(url: str) -> int:
    n = scalar(url, "SELECT count(*) FROM events WHERE kind = 'drop'")
    assert isinstance(n, int)
    return n


def daily(client: TestClient, viewer: dict[str, str]) -> dict[str, Any]:
    r = client.get("/api/v1/estates/jjq/daily", params=PERIOD, headers=viewer)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def metrics(client: TestClient, viewer: dict[str, str]) -> dict[str, Any]:
    r = client.get("/api/v1/estates/jjq/metrics", params=PERIOD, headers=viewer)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def replica_health(client: TestClient) -> dict[str, Any]:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["replica"]
    return body


def reads_of(client: TestClient) -> Any:
    return client.app.state.reads  # type: ignore[attr-defined]


def served_by_replica(client: TestClient, call: Callable[[], Any]) -> Any:
    """`call()`'s answer, asserting the replica (not the primary) served it."""
    counts = reads_of(client).counts
    before = (counts.replica, counts.primary, counts.fallbacks)
    result = call()
    after = (counts.replica, counts.primary, counts.fallbacks)
    assert after[0] > before[0] and after[1:] == before[1:], (before, after)
    return result


def served_by_primary(client: TestClient, call: Callable[[], Any]) -> Any:
    counts = reads_of(client).counts
    before_replica, before_primary = counts.replica, counts.primary
    result = call()
    assert counts.replica == before_replica and counts.primary > before_primary
    return result


def wait_reads_on_replica(client: TestClient, timeout: float = 30.0) -> dict[str, Any]:
    return wait_for(
        lambda: replica_health(client),
        lambda h: h["reads_on_replica"],
        timeout,
        interval=CHECK_S,
        what="reads on the replica",
    )


def assert_days_equal(got: dict[str, Any], want: dict[str, dict[str, Any]]) -> None:
    assert [d["day"] for d in got["days"]] == list(want)
    for d in got["days"]:
        w = want[d["day"]]
        assert d["drops"] == w["drops"], d["day"]
        for category, kg in w["kg"].items():
            assert d["kg"][category] == pytest.approx(kg, abs=1e-9), (d["day"], category)


@pytest.fixture
def ingesting(
    db_url: str, broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> IngestProcess:
    """The estate registered and the ingester subscribed (its canary is a drop on
    2026-03-23 at 08:00 local: counted in the expected figures too)."""
    register(db_url, rooms={"r1": BINS})
    proc = ingest_factory().start()
    canary(db_url, broker)
    return proc


CANARY = {"bin": "b-dry", "ts": "2026-03-23T08:00:00+08:00", "weight_g": 500}


def test_replica_figures_equal_the_primary_and_pandas_under_steady_ingest(
    ingesting: IngestProcess,
    db_url: str,
    cluster: Cluster,
    broker: Broker,
    read_client: TestClient,
    primary_client: TestClient,
) -> None:
    viewer = make_token(db_url, Role.viewer, ["jjq"])
    wait_reads_on_replica(read_client)
    events = make_events("steady", 2_500)
    thread = publish_steadily(broker, events)
    # While the ingest runs (~10 s): figures keep answering, never ahead of the primary,
    # and mostly from the replica (it keeps within the bound of a steady ingest).
    counts = reads_of(read_client).counts
    replica_before, answers = counts.replica, 0
    while thread.is_alive():
        got = sum(d["drops"] for d in daily(read_client, viewer)["days"])
        assert got <= stored(db_url)
        answers += 1
        time.sleep(0.3)
    thread.join()
    assert answers >= 5
    assert counts.replica - replica_before >= answers // 2, (counts, answers)
    total = len(events) + 1  # and the canary
    wait_for(lambda: stored(db_url), lambda n: n == total, 120, what=f"{total} drops stored")
    health = replica_health(read_client)
    assert health["max_lag_s"] == MAX_LAG_S
    # After the lag bound: the replica has all of it, and reads are on it.
    time.sleep(MAX_LAG_S)
    assert stored(cluster.read_url) == total
    wait_reads_on_replica(read_client)
    from_replica = served_by_replica(read_client, lambda: daily(read_client, viewer))
    from_primary = daily(primary_client, viewer)
    assert from_replica == from_primary
    want = expected_days([*events, {**CANARY, "event_id": "canary", "kind": "drop"}])
    assert_days_equal(from_replica, want)
    assert served_by_replica(read_client, lambda: metrics(read_client, viewer)) == metrics(
        primary_client, viewer
    )
    for path in ("/api/v1/estates/jjq/buildings/metrics", "/api/v1/metrics"):

        def get(client: TestClient, path: str = path) -> Any:
            r = client.get(path, params=PERIOD, headers=viewer)
            assert r.status_code == 200, r.text
            return r.json()

        assert served_by_replica(read_client, lambda: get(read_client)) == get(primary_client)
    assert sum(w["drops"] for w in want.values()) == total


def test_lag_over_the_bound_reads_the_primary(
    ingesting: IngestProcess,
    db_url: str,
    cluster: Cluster,
    broker: Broker,
    read_client: TestClient,
    primary_client: TestClient,
) -> None:
    viewer = make_token(db_url, Role.viewer, ["jjq"])
    wait_reads_on_replica(read_client)
    with psycopg.connect(cluster.read_url, autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            events = make_events("paused", 1_000)
            publish_steadily(broker, events).join()
            total = len(events) + 1
            wait_for(lambda: stored(db_url), lambda n: n == total, 120, what="drops stored")
            health = wait_for(
                lambda: replica_health(read_client),
                lambda h: not h["reads_on_replica"],
                MAX_LAG_S + 20,
                interval=CHECK_S,
                what="reads off the replica",
            )
            assert health["lag_s"] > MAX_LAG_S, health
            assert health["detail"] == f"lag over {MAX_LAG_S:g} s"
            # The replica lacks the new drops; the figures have them: from the primary.
            assert stored(cluster.read_url) < total
            got = served_by_primary(read_client, lambda: daily(read_client, viewer))
            assert sum(d["drops"] for d in got["days"]) == total
            assert got == daily(primary_client, viewer)
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
    health = wait_reads_on_replica(read_client)
    assert health["lag_s"] <= MAX_LAG_S
    got = served_by_replica(read_client, lambda: daily(read_client, viewer))
    assert sum(d["drops"] for d in got["days"]) == total


def test_stopped_replica_figures_answer_from_the_primary(
    ingesting: IngestProcess,
    db_url: str,
    cluster: Cluster,
    read_client: TestClient,
    primary_client: TestClient,
) -> None:
    viewer = make_token(db_url, Role.viewer, ["jjq"])
    wait_reads_on_replica(read_client)
    want = daily(primary_client, viewer)
    assert served_by_replica(read_client, lambda: daily(read_client, viewer)) == want
    assert launcher.stop_replica(cluster.settings)
    try:
        # Before the sampler notices (here: it is stopped and its last word was "use
        # the replica"), a read fails on the replica and is retried on the primary.
        reads = reads_of(read_client)
        read_client.portal.call(reads.stop)  # type: ignore[union-attr]
        reads.set_status(ReplicaStatus(True, True, 0.0, None, reads.clock()))
        fallbacks = reads.counts.fallbacks
        assert daily(read_client, viewer) == want
        assert reads.counts.fallbacks == fallbacks + 1
        assert not reads.status.use
        read_client.portal.call(reads.start)  # type: ignore[union-attr]
        for _ in range(5):
            assert served_by_primary(read_client, lambda: daily(read_client, viewer)) == want
            time.sleep(CHECK_S)
        health = replica_health(read_client)
        assert not health["reads_on_replica"] and health["detail"], health
        assert read_client.get("/readyz").json()["status"] == "ok"
    finally:
        cluster.ensure_replica()
    wait_reads_on_replica(read_client)
    assert served_by_replica(read_client, lambda: daily(read_client, viewer)) == want
