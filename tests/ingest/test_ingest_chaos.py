"""No loss under failure: SIGKILL, a database outage, a burst while the ingester is down."""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections.abc import Callable

import orjson
import psycopg
import pytest

from deploy import services as launcher
from deploy.settings import ServicesSettings
from ingest.contract import events_topic
from simulators.publisher import Publisher
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.ingest.test_ingest_service import canary, count

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOPIC = events_topic("jjq", "r1", "b-dry")


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
    mqtt_url: str, payloads: list[bytes], rate_per_s: float | None = None
) -> threading.Thread:
    def run() -> None:
        with Publisher(mqtt_url, f"chaos-dev-{uuid.uuid4().hex[:8]}") as pub:
            start = time.monotonic()
            for i, body in enumerate(payloads):
                pub.publish(TOPIC, body)
                if rate_per_s:
                    ahead = i / rate_per_s - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            pub.flush(timeout=300)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def ready(
    db_url: str, mqtt_url: str, ingest_factory: Callable[..., IngestProcess]
) -> IngestProcess:
    register(db_url)
    proc = ingest_factory().start()
    canary(db_url, mqtt_url)
    return proc


def test_sigkill_while_messages_are_queued_loses_and_duplicates_nothing(
    ready: IngestProcess, db_url: str, mqtt_url: str
) -> None:
    n = 20_000
    sender = publish_in_background(mqtt_url, events_payloads("kill", n))
    wait_for(
        lambda: count(db_url, "event_id LIKE 'kill-%'"),
        lambda c: c >= 3_000,
        what="part of the stream stored",
    )
    ready.kill()
    stored_at_kill = count(db_url, "event_id LIKE 'kill-%'")
    time.sleep(1.0)  # the stream keeps arriving at the broker meanwhile
    ready.start()
    sender.join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'kill-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream after the restart",
    )
    time.sleep(1.0)  # let any redelivery land, to be sure it is not stored twice
    assert stored_at_kill < n, "the kill happened mid-stream"
    assert_exactly_once(db_url, "kill", n)


def test_database_outage_of_20_s_loses_nothing(
    services: Services, ready: IngestProcess, db_url: str, mqtt_url: str
) -> None:
    if not isinstance(services.launcher_settings, ServicesSettings):
        pytest.skip("needs the project's own launcher to stop and start PostgreSQL")
    n = 8_000
    sender = publish_in_background(mqtt_url, events_payloads("outage", n), rate_per_s=250)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'outage-%'"),
        lambda c: c >= 500,
        what="the stream flowing",
    )
    launcher.stop_postgres(services.launcher_settings)
    time.sleep(20)
    launcher.up(services.launcher_settings)
    sender.join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'outage-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream after the database returned",
    )
    assert_exactly_once(db_url, "outage", n)
    assert "database unavailable" in ready.log()
    assert "database back" in ready.log()
    assert ready.proc is not None and ready.proc.poll() is None, "the ingester kept running"


def test_burst_of_50k_while_the_ingester_is_down_is_not_dropped_by_the_broker(
    ready: IngestProcess, db_url: str, mqtt_url: str
) -> None:
    assert ready.stop(signal.SIGTERM) == 0
    n = 50_000
    publish_in_background(mqtt_url, events_payloads("burst", n)).join(300)
    ready.start()
    wait_for(
        lambda: count(db_url, "event_id LIKE 'burst-%'"),
        lambda c: c >= n,
        timeout=240,
        what="the whole burst",
    )
    assert_exactly_once(db_url, "burst", n)
    # Every message was acknowledged: a restart gets no redelivery of the burst.
    assert ready.stop(signal.SIGTERM) == 0
    ready.start()
    canary(db_url, mqtt_url)
    assert ready.stop(signal.SIGTERM) == 0
    last = [ln for ln in ready.log().splitlines() if "ingest totals" in ln][-1]
    received = int(re.search(r"messages=(\d+)", last).group(1))  # type: ignore[union-attr]
    assert received < 100, f"the burst came again: {last}"  # only the canary's copies


def test_sigterm_mid_stream_flushes_and_exits_cleanly(
    ready: IngestProcess, db_url: str, mqtt_url: str
) -> None:
    n = 15_000
    sender = publish_in_background(mqtt_url, events_payloads("term", n))
    wait_for(
        lambda: count(db_url, "event_id LIKE 'term-%'"),
        lambda c: c >= 2_000,
        what="part of the stream stored",
    )
    assert ready.stop(signal.SIGTERM) == 0
    ready.start()
    sender.join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'term-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream",
    )
    assert_exactly_once(db_url, "term", n)
    assert scalar(db_url, "SELECT count(*) FROM rejected_messages") == 0
