"""The ingest path is plain MQTT v5: the core ingest behaviour against a second broker
implementation, rumqttd (in the `iotcore` wheel), with a stock paho client publishing.

The second broker runs without authentication: device logins and topic ACLs are
Mosquitto's dynamic-security plugin, not part of the protocol. What is checked here is
what the ingester needs of MQTT itself: QoS 1 with acknowledgements after commit, a
persistent session (clean start false, session expiry) that queues while the ingester
is away, and shared subscriptions ($share/<group>/…).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from simulators.broker import Broker
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import last_summary
from tests.scaleout.streams import (
    Background,
    assert_exactly_once,
    canary,
    publish_all,
    stream,
    tally,
    wait_settled,
)

pytestmark = pytest.mark.integration


def test_a_stock_client_publishes_and_the_ingester_stores_each_event_once(
    db_url: str, second_broker: Broker, second_ingest: Callable[..., IngestProcess]
) -> None:
    register(db_url)
    proc = second_ingest().start()
    canary(db_url, second_broker)
    messages = stream("v5", 2_000)
    # Every message twice, as a device that lost its PUBACKs would send them again.
    acked = publish_all(second_broker, messages + messages) // 2
    wait_for(lambda: tally(db_url, "v5").rows, lambda r: r >= acked, 60, what="the stream")
    assert_exactly_once(db_url, "v5", acked)
    assert proc.stop() == 0
    assert "subscribed to" in proc.log()


def test_a_restarted_ingester_resumes_its_session_and_gets_what_was_queued(
    db_url: str, second_broker: Broker, second_ingest: Callable[..., IngestProcess]
) -> None:
    register(db_url)
    client_id = f"conformance-{uuid.uuid4().hex[:6]}"
    first = second_ingest(FENLEI_CLIENT_ID=client_id).start()
    canary(db_url, second_broker)
    assert first.stop() == 0
    # Published while no ingester is connected: only its persistent session holds them.
    acked = publish_all(second_broker, stream("away", 1_000))
    assert tally(db_url, "away").rows == 0
    again = second_ingest(FENLEI_CLIENT_ID=client_id).start()
    wait_for(lambda: tally(db_url, "away").rows, lambda r: r >= acked, 60, what="the backlog")
    assert_exactly_once(db_url, "away", acked)
    assert again.stop() == 0
    assert "session present: True" in again.log()


def test_two_ingesters_in_a_share_group_split_the_stream_exactly_once(
    db_url: str, second_broker: Broker, second_ingest: Callable[..., IngestProcess]
) -> None:
    register(db_url)
    group = {"FENLEI_SHARE_GROUP": f"conformance-{uuid.uuid4().hex[:6]}"}
    members = [second_ingest(**group).start() for _ in range(2)]
    for _ in members:
        canary(db_url, second_broker)
    acked = publish_all(second_broker, stream("shared", 4_000))
    wait_for(lambda: tally(db_url, "shared").rows, lambda r: r >= acked, 120, what="the stream")
    assert_exactly_once(db_url, "shared", acked)
    for proc in members:
        assert proc.stop() == 0
    # Both took part, and the broker split the stream rather than copying it to each
    # (the database would hide copies: they are duplicates).
    shares = [last_summary(proc)["messages"] for proc in members]
    assert min(shares) > 0 and sum(shares) >= acked and max(shares) < acked, shares
    assert all("$share/" in proc.log() for proc in members)


@pytest.mark.slow
def test_a_killed_member_returns_and_the_stream_is_stored_exactly_once(
    db_url: str, second_broker: Broker, second_ingest: Callable[..., IngestProcess]
) -> None:
    """rumqttd shares among connected members only (unlike Mosquitto, it does not go on
    queueing for a dead one), so what a SIGKILL strands is what was in flight; it too
    comes back exactly once with the member."""
    register(db_url)
    tag = uuid.uuid4().hex[:6]
    group = {"FENLEI_SHARE_GROUP": f"conformance-{tag}"}
    ids = [f"conformance-{tag}-{i}" for i in range(3)]
    members = [second_ingest(FENLEI_CLIENT_ID=cid, **group).start() for cid in ids]
    for _ in members:
        canary(db_url, second_broker)
    n = 9_000
    publisher = Background(second_broker, stream("killed", n), 1_500.0)
    wait_for(lambda: tally(db_url, "killed").rows, lambda r: r >= n // 6, 120, what="flow")
    members[2].kill()
    acked = publisher.join()
    alive = wait_settled(lambda: tally(db_url, "killed").keys, quiet_s=5.0)
    print(f"rumqttd: {acked - alive} of {acked} waited for the killed member")
    back = second_ingest(FENLEI_CLIENT_ID=ids[2], **group).start()
    wait_for(lambda: tally(db_url, "killed").keys, lambda k: k >= acked, 120, what="the rest")
    wait_settled(lambda: tally(db_url, "killed").rows, quiet_s=3.0)
    assert_exactly_once(db_url, "killed", acked)
    for proc in (members[0], members[1], back):
        assert proc.stop() == 0
