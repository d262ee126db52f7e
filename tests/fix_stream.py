"""Publishing streams through the real broker to the real ingester, and counting them."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable

import orjson
import psycopg
import pytest

from ingest.contract import events_topic
from simulators.broker import Broker, Login
from simulators.publisher import Publisher
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services

TOPIC_DRY = events_topic("jjq", "r1", "b-dry")
TOPIC_WET = events_topic("jjq", "r1", "b-wet")


def sim_broker(services: Services, *, tls: bool = False) -> Broker:
    """The test broker with the shared simulator login (`fenlei-sim`), if it has one;
    ``tls``: its mqtts listener, verified against the launcher's CA."""
    sim = services.sim
    login = Login(sim.username, sim.password) if sim else None
    if tls:
        assert services.mqtts_url, "these services have no TLS listener"
    url = services.mqtts_url if tls and services.mqtts_url else services.mqtt_url
    ca_file = str(services.ca_file) if services.ca_file else None
    return Broker(url, ca_file, login)


@pytest.fixture
def broker(services: Services) -> Broker:
    """Where test publishers connect, as the simulator account (publishes as any bin)."""
    return sim_broker(services)


def drop(
    event_id: str, ts: str = "2026-03-23T08:00:00+08:00", weight_g: int = 500, **extra: object
) -> dict[str, object]:
    return {"event_id": event_id, "ts": ts, "kind": "drop", "weight_g": weight_g, **extra}


def publish(broker: Broker, messages: list[tuple[str, object]], raw: bool = False) -> None:
    """Publish at QoS 1 and wait for every PUBACK; a refused publish fails the test."""
    with Publisher(broker, f"test-dev-{uuid.uuid4().hex[:8]}") as pub:
        for topic, body in messages:
            pub.publish(topic, body if raw else orjson.dumps(body))  # type: ignore[arg-type]
        pub.flush()
        pub.check_denied()


def count(db_url: str, where: str = "true", table: str = "events") -> int:
    """Rows of `table` (events unless told) matching `where`."""
    n = scalar(db_url, f"SELECT count(*) FROM {table} WHERE {where}")
    assert isinstance(n, int)
    return n


def wait_stored(db_url: str, n: int, timeout: float = 60.0) -> None:
    wait_for(lambda: count(db_url), lambda c: c >= n, timeout, what=f"{n} stored events")


def canary(db_url: str, broker: Broker) -> None:
    """Publish one event and wait until it is stored: the ingester is subscribed."""
    key = f"canary-{uuid.uuid4().hex[:8]}"

    def probe() -> int:
        # Republished until stored: before the ingester's first subscribe, the broker
        # has no session to queue it in. Redeliveries are deduplicated.
        publish(broker, [(TOPIC_DRY, drop(key))])
        return count(db_url, f"event_id = '{key}'")

    wait_for(probe, lambda c: c == 1, 60, interval=0.5, what="the canary event")


@pytest.fixture
def running(
    db_url: str, broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> IngestProcess:
    register(db_url)
    proc = ingest_factory().start()
    canary(db_url, broker)
    return proc


def events_payloads(prefix: str, n: int) -> list[bytes]:
    base = 1_774_224_000  # 2026-03-23T00:00:00Z
    return [
        orjson.dumps(
            {
                "event_id": f"{prefix}-{i}",
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i)),
                "kind": "drop",
                "weight_g": 100 + i % 900,
            }
        )
        for i in range(n)
    ]


def assert_exactly_once(db_url: str, prefix: str, n: int) -> None:
    with psycopg.connect(db_url) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_id LIKE %s",
            (f"{prefix}-%",),
        ).fetchone()  # type: ignore[misc]
    assert (total, distinct) == (n, n), f"lost {n - distinct}, duplicated {total - distinct}"


def publish_in_background(
    broker: Broker, payloads: list[bytes], rate_per_s: float | None = None
) -> threading.Thread:
    def run() -> None:
        with Publisher(broker, f"chaos-dev-{uuid.uuid4().hex[:8]}") as pub:
            start = time.monotonic()
            for i, body in enumerate(payloads):
                pub.publish(TOPIC_DRY, body)
                if rate_per_s:
                    ahead = i / rate_per_s - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            pub.flush(timeout=300)
            pub.check_denied()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def last_summary(proc: IngestProcess) -> dict[str, int]:
    """The counts in the ingester's last summary line."""
    line = [ln for ln in proc.log().splitlines() if "ingest totals" in ln][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
