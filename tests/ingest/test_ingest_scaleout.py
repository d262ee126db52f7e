"""Several ingesters sharing one stream, and what an operator sees of them."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable

import pytest

from simulators.broker import Broker
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import (
    TOPIC_DRY,
    assert_exactly_once,
    canary,
    count,
    drop,
    events_payloads,
    last_summary,
    publish,
    publish_in_background,
)

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_ingesters_in_a_share_group_split_the_stream_exactly_once(
    db_url: str, broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> None:
    register(db_url)
    group = {"FENLEI_SHARE_GROUP": "fenlei-test"}
    first, second = ingest_factory(**group).start(), ingest_factory(**group).start()
    canary(db_url, broker)
    canary(db_url, broker)
    n = 10_000
    publish_in_background(broker, events_payloads("share", n)).join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'share-%'"),
        lambda c: c >= n,
        timeout=120,
        what="the shared stream",
    )
    assert_exactly_once(db_url, "share", n)
    first.stop()
    second.stop()
    # Both took part: each logged a non-zero share in its final summary line.
    shares = [last_summary(proc)["messages"] for proc in (first, second)]
    assert min(shares) > 0 and sum(shares) >= n, shares


def test_metrics_endpoint_counts_stored_duplicates_and_rejections(
    db_url: str, broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> None:
    register(db_url)
    port = _free_port()
    ingest_factory(FENLEI_METRICS_PORT=str(port)).start()
    canary(db_url, broker)
    publish(broker, [(TOPIC_DRY, drop("m-1")), (TOPIC_DRY, drop("m-1"))])
    publish(broker, [(TOPIC_DRY, b"42")], raw=True)

    def scrape() -> dict[str, float]:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        values: dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    rejected = 'fenlei_ingest_rejected_total{reason="not_object"}'
    m = wait_for(scrape, lambda v: v.get(rejected, 0) >= 1, what="the rejection counted")
    assert m[rejected] == 1
    assert m["fenlei_ingest_events_stored_total"] == 2  # the canary and m-1
    # Every other event message was a redelivery: m-1's second copy (and the canary's,
    # republished until seen). Retained statuses other tests left on the broker arrive
    # too, and count as status updates.
    received = m["fenlei_ingest_messages_received_total"]
    statuses = m["fenlei_ingest_status_updates_total"]
    rejected_all = sum(v for k, v in m.items() if k.startswith("fenlei_ingest_rejected_total"))
    assert m["fenlei_ingest_events_duplicate_total"] == received - statuses - rejected_all - 2
    assert m["fenlei_ingest_events_duplicate_total"] >= 1
    assert m["fenlei_ingest_broker_connected"] == 1
    assert m["fenlei_ingest_degraded"] == 0
