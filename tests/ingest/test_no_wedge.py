"""Acknowledgements stay on their connection, and the network thread never wedges.

The real ingester (`python -m ingest`) talks to a scripted MQTT 5 server
(`stub_broker`) that records every PUBACK and checks, as it reads it, that the event
it acknowledges is committed (a query straight to the database); the ingester reaches
the database through a proxy the test cuts (`db_proxy`). The slow test does the same
against the real Mosquitto with a stock paho publisher.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest import fastclient
from ingest.batcher import Message
from ingest.fastclient import BufferedClient
from ingest.mqtt import Subscriber, wait_budget_s
from ingest.settings import IngestSettings
from simulators.broker import Broker
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import (
    TOPIC_DRY,
    assert_exactly_once,
    canary,
    count,
    events_payloads,
    publish_in_background,
)
from tests.ingest.db_proxy import TcpProxy
from tests.ingest.stub_broker import Connection, Puback, StubBroker
from tests.ingest.test_fastclient import Peer, pump, stock_client

KEEPALIVE_S = 4


class AckAudit:
    """Checks each PUBACK as the stub reads it: the packet id was sent on that
    connection, and the event it names is already committed."""

    def __init__(self, db_url: str) -> None:
        self.db = psycopg.connect(db_url, autocommit=True)
        self.lock = threading.Lock()
        self.violations: list[str] = []

    def __call__(self, acks: list[Puback]) -> None:
        ids = {}
        for ack in acks:
            if ack.sent is None:
                self.violations.append(
                    f"connection {ack.conn} acknowledged packet id {ack.mid}, never sent on it"
                )
            else:
                ids[ack.mid] = orjson.loads(ack.sent[1])["event_id"]
        if not ids:
            return
        with self.lock:
            rows = self.db.execute(
                "SELECT event_id FROM events WHERE event_id = ANY(%s)", (list(ids.values()),)
            ).fetchall()
        stored = {r[0] for r in rows}
        for mid, event_id in ids.items():
            if event_id not in stored:
                self.violations.append(
                    f"packet id {mid} ({event_id}) acknowledged before it was committed"
                )

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def audit(db_url: str) -> Iterator[AckAudit]:
    register(db_url)
    checker = AckAudit(db_url)
    yield checker
    checker.close()


@pytest.fixture
def stub(request: pytest.FixtureRequest) -> Iterator[StubBroker]:
    """The stub server; with the `audit` fixture in the test, every PUBACK is audited."""
    checker = request.getfixturevalue("audit") if "audit" in request.fixturenames else None
    server = StubBroker(on_pubacks=checker)
    yield server
    server.close()


@pytest.fixture
def proxy(services: Services) -> Iterator[TcpProxy]:
    tcp = TcpProxy.to_database(services.database_url)
    yield tcp
    tcp.close()


def start_ingester(
    ingest_factory: Callable[..., IngestProcess],
    proxy: TcpProxy,
    db_url: str,
    mqtt_url: str,
    **env: str,
) -> IngestProcess:
    return ingest_factory(
        FENLEI_MQTT_URL=mqtt_url,
        FENLEI_DATABASE_URL=proxy.dsn(db_url),
        FENLEI_KEEPALIVE_S=str(KEEPALIVE_S),
        FENLEI_RETRY_MIN_S="0.2",
        FENLEI_RETRY_MAX_S="1",
        **env,
    ).start()


def send(conn: Connection, prefix: str, mids: range, start: int = 0) -> None:
    """Events `prefix-<start+i>` with the packet ids `mids`, in one go."""
    payloads = events_payloads(prefix, start + len(mids))[start:]
    for mid, body in zip(mids, payloads, strict=True):
        conn.publish(TOPIC_DRY, body, mid)


def wait_acked(conn: Connection, mids: set[int], timeout: float = 60.0) -> None:
    wait_for(
        lambda: mids - set(conn.acked_mids()),
        lambda missing: not missing,
        timeout,
        what=f"PUBACKs on connection {conn.number}",
    )


def wait_in_log(proc: IngestProcess, text: str, timeout: float = 30.0) -> None:
    wait_for(proc.log, lambda log: text in log, timeout, what=f"{text!r} in the ingester log")


def largest_gap(times: list[float], start: float, end: float) -> float:
    marks = [start, *(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(marks))


@pytest.mark.integration
def test_acks_follow_commits_and_never_cross_connections(
    stub: StubBroker,
    audit: AckAudit,
    proxy: TcpProxy,
    db_url: str,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    proc = start_ingester(ingest_factory, proxy, db_url, stub.url)
    first = stub.connection(1)
    assert first.subscribed.wait(30)
    assert not first.session_present

    # (a) With the database up: each PUBACK only after its commit (the audit checks).
    send(first, "a", range(1, 21))
    wait_acked(first, set(range(1, 21)))

    # The database goes away while 30 messages are in the ingester's hands.
    proxy.cut()
    send(first, "b", range(101, 131))
    wait_in_log(proc, "database unavailable")
    time.sleep(0.5)
    assert not set(first.acked_mids()) & set(range(101, 131)), "acked without a commit"

    # (b) The connection drops; the session resumes on a new one.
    first.drop()
    second = stub.connection(2)
    assert second.session_present, "the ingester resumes its session (clean start 0)"
    assert second.subscribed.wait(30)
    # Packet ids 101..110 now name other messages; b-* come again under new ids;
    # 111..130 were sent on the old connection only.
    send(second, "c", range(101, 111))
    send(second, "b", range(201, 231))
    time.sleep(1.0)  # all of it read while the database is still away
    proxy.restore()

    wait_acked(second, set(range(101, 111)) | set(range(201, 231)))
    wait_for(lambda: count(db_url, "event_id LIKE 'c-%'"), lambda n: n == 10, what="c-* stored")
    time.sleep(1.0)  # room for a stray acknowledgement of the old connection
    assert audit.violations == []
    assert not set(second.acked_mids()) & set(range(111, 131))
    assert_exactly_once(db_url, "a", 20)
    assert_exactly_once(db_url, "b", 30)
    assert_exactly_once(db_url, "c", 10)
    assert proc.proc is not None and proc.proc.poll() is None


@pytest.mark.integration
def test_the_network_thread_keeps_the_keepalive_while_the_database_is_away(
    stub: StubBroker,
    audit: AckAudit,
    proxy: TcpProxy,
    db_url: str,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    # A small inbox (40), a batch of 20: the stub floods far past Receive Maximum,
    # as Mosquitto was seen doing while draining a backlog.
    proc = start_ingester(
        ingest_factory,
        proxy,
        db_url,
        stub.url,
        FENLEI_BATCH_MAX_MESSAGES="20",
        FENLEI_RECEIVE_MAXIMUM="40",
    )
    first = stub.connection(1)
    assert first.subscribed.wait(30)
    assert first.keepalive == KEEPALIVE_S
    send(first, "warm", range(1, 11))
    wait_acked(first, set(range(1, 11)))

    proxy.cut()
    n = 300
    watch_from = time.monotonic()
    send(first, "k", range(1000, 1000 + n))
    time.sleep(2.5 * KEEPALIVE_S)
    watch_to = time.monotonic()
    # (c) Pings kept coming: the broker would have dropped a client silent for 1.5×.
    gap = largest_gap(first.pingreqs, watch_from, watch_to)
    assert gap < 1.5 * KEEPALIVE_S, f"no PINGREQ for {gap:.1f} s"
    assert not first.closed.is_set(), f"connection ended: {first.ended_by}"
    assert len(stub.connections) == 1
    assert "inbox full" in proc.log()

    # The writer catches up, the ingester reconnects itself, the session redelivers.
    proxy.restore()
    assert first.wait_closed(60), "the ingester reconnects once the writer caught up"
    assert first.ended_by == "client DISCONNECT"
    second = stub.connection(2)
    assert second.session_present
    redelivered = second.resend_inflight()
    assert redelivered, "the overflow left messages unacknowledged"
    wait_acked(second, set(redelivered))
    wait_for(lambda: count(db_url, "event_id LIKE 'k-%'"), lambda c: c == n, what="k-* stored")
    assert audit.violations == []
    assert_exactly_once(db_url, "k", n)
    assert "writer caught up" in proc.log()
    assert "keepalive" not in proc.log().lower()
    assert proc.proc is not None and proc.proc.poll() is None


# -- the Subscriber in this process, against the stub --------------------------------------


@pytest.fixture
def subscriber(stub: StubBroker) -> Iterator[tuple[Subscriber, queue.SimpleQueue[Message]]]:
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    settings = IngestSettings(
        database_url="postgresql://unused",
        mqtt_url=stub.url,
        metrics_port=0,
        keepalive_s=KEEPALIVE_S,
        client_id="no-wedge-test",
    )
    sub = Subscriber(settings, inbox)
    sub.start()
    yield sub, inbox
    sub.stop()


def take(inbox: queue.SimpleQueue[Message], n: int) -> list[Message]:
    return [inbox.get(timeout=10) for _ in range(n)]


def test_messages_carry_their_connection_and_stale_ones_are_never_acked(
    stub: StubBroker, subscriber: tuple[Subscriber, queue.SimpleQueue[Message]]
) -> None:
    sub, inbox = subscriber
    connects: list[int] = []
    sub.add_connect_listener(lambda: connects.append(sub.connection))
    first = stub.connection(1)
    assert first.subscribed.wait(10)
    send(first, "s", range(1, 4))
    old = take(inbox, 3)
    assert [(m.mid, m.conn) for m in old] == [(1, 1), (2, 1), (3, 1)]
    assert sub.current(old) is old

    first.drop()
    second = stub.connection(2)
    assert second.subscribed.wait(10)
    assert second.session_present and sub.connection == 2
    assert connects[-1] == 2  # called on paho's thread, after the connection count moved
    assert sub.current(old) == [] and sub.stale_dropped == 3
    sub.ack(old)  # stale: must not reach the new connection
    send(second, "t", range(2, 3))  # packet id 2 again, another message
    new = take(inbox, 1)
    assert new[0].conn == 2 and sub.current(old + new) == new
    sub.ack(old + new)
    wait_acked(second, {2})
    time.sleep(0.3)
    assert second.acked_mids() == [2]

    # A session the broker lost: nothing will redeliver the old messages, so they are
    # kept for storing, but still never acknowledged.
    stub.sessions.clear()
    second.drop()
    third = stub.connection(3)
    assert third.subscribed.wait(10)
    assert not third.session_present and sub.connection == 3 and connects[-1] == 3
    assert sub.current(new) == new
    sub.ack(new)
    send(third, "u", range(7, 8))
    sub.ack(take(inbox, 1))
    wait_acked(third, {7})
    assert third.acked_mids() == [7]


def test_publish_goes_out_while_connected_and_is_dropped_otherwise(
    stub: StubBroker, subscriber: tuple[Subscriber, queue.SimpleQueue[Message]]
) -> None:
    sub, _ = subscriber
    first = stub.connection(1)
    assert first.subscribed.wait(10)
    sub.publish("fenlei/v1/jjq/r1/b-dry/stored", b'{"seq": 1}')
    wait_for(lambda: list(first.publishes_in), lambda got: len(got) == 1, 10, what="publish")
    assert first.publishes_in == [("fenlei/v1/jjq/r1/b-dry/stored", b'{"seq": 1}')]
    stub.close()  # and nobody to reconnect to
    wait_for(lambda: sub.client.is_connected(), lambda up: not up, 10, what="disconnect")
    wait_for(lambda: sub._live, lambda live: not live, 10, what="not live")
    sub.publish("fenlei/v1/jjq/r1/b-dry/stored", b'{"seq": 2}')
    assert sub.publish_dropped == 1


def test_the_wait_for_room_is_bounded_by_the_keepalive() -> None:
    assert wait_budget_s(4) == 1.0
    assert wait_budget_s(30) == 5.0
    assert all(wait_budget_s(k) <= k / 2 for k in range(2, 600))


# -- the fast path's reconnect, against paho's own bytes -----------------------------------


def test_reconnect_after_queued_sends_paho_s_disconnect_after_the_queue() -> None:
    stock_peer = Peer()
    stock = stock_client()
    stock_peer.accept(stock)
    stock.disconnect()
    pump(stock)
    paho_disconnect = stock_peer.read_packet()
    stock_peer.close()

    peer = Peer()
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    peer.accept(client)
    client.ack_qos1([5, 6])
    client.reconnect_after_queued()
    pump(client)
    assert peer.read_acks(3) == bytes.fromhex("4002000540020006") + paho_disconnect
    assert paho_disconnect == fastclient._DISCONNECT
    # paho took it as a closed connection, not a wanted disconnect: it may reconnect.
    assert client.socket() is None
    assert client.is_connected(), "state unchanged: loop_forever reconnects"
    peer.close()


def test_without_the_fast_path_the_reconnect_shuts_the_socket_after_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastclient, "PAHO_INSTALLED", "2.3.0")
    peer = Peer()
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    assert not client.fast
    peer.accept(client)
    client.ack_qos1([5, 6])
    client.reconnect_after_queued()
    assert peer.read_acks(2) == bytes.fromhex("4002000540020006")
    assert peer.sock is not None and peer.sock.recv(1) == b"", "then the connection ends"
    pump(client)
    assert client.socket() is None and client.is_connected() is False
    peer.close()


# -- the real broker ------------------------------------------------------------------------


def broker_log(services: Services) -> str | None:
    if services.home is None:
        return None
    path = Path(services.home) / "mosquitto" / "mosquitto.log"
    return path.read_text(errors="replace") if path.exists() else None


@pytest.mark.integration
@pytest.mark.slow
def test_database_down_for_longer_than_the_keepalive_loses_nothing(
    services: Services,
    proxy: TcpProxy,
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    register(db_url)
    proc = start_ingester(ingest_factory, proxy, db_url, services.mqtt_url)
    canary(db_url, broker)
    n = 4_000
    sender = publish_in_background(broker, events_payloads("cut", n), rate_per_s=200)
    wait_for(lambda: count(db_url, "event_id LIKE 'cut-%'"), lambda c: c >= 500, what="flowing")
    proxy.cut()
    time.sleep(18)  # 4.5 keepalives
    proxy.restore()
    sender.join(300)
    assert not sender.is_alive(), "every publish acknowledged by the broker"
    wait_for(
        lambda: count(db_url, "event_id LIKE 'cut-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream after the database returned",
    )
    time.sleep(1.0)  # a redelivery would land now
    assert_exactly_once(db_url, "cut", n)
    log = proc.log()
    assert "database unavailable" in log and "database back" in log
    assert "keepalive" not in log.lower()
    assert "disconnected from broker" not in log
    # One connection, plus one per reconnect the ingester chose after an overflow.
    assert log.count("connected (session present") == 1 + log.count("writer caught up")
    mosquitto = broker_log(services)
    if mosquitto is not None:
        lines = [ln for ln in mosquitto.splitlines() if proc.client_id in ln]
        assert not [ln for ln in lines if re.search(r"exceeded timeout|timed out", ln)]
    assert proc.proc is not None and proc.proc.poll() is None, "the ingester kept running"
