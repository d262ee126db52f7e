"""Golden packets through the fast MQTT path and through paho's own path.

``ingest.fastclient`` overrides paho internals, so paho is pinned exactly and these
tests hold it to paho's own behaviour: crafted MQTT 5 packets go, as real bytes over a
loopback TCP connection, into a stock paho ``Client`` and into a ``BufferedClient``
(driven only through paho's public ``connect``/``loop_read``/``loop_write``/``ack``),
and both must deliver the same messages and put the same bytes on the wire.

What the fast path hands on is what the subscriber uses: topic, payload, mid and QoS.
It drops the dup and retain flags on purpose (dedupe is by event id, and a retained
status is still just a status), so for packets it takes those two are not compared.
"""

from __future__ import annotations

import inspect
import logging
import queue
import select
import socket
import struct
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ingest import fastclient
from ingest.batcher import Message
from ingest.contract import Reason, events_topic, status_topic
from ingest.fastclient import PAHO_VERSION, RECV_CHUNK_BYTES, BufferedClient
from ingest.mqtt import Subscriber
from ingest.settings import IngestSettings

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
TOPIC = events_topic("jjq", "r1", "b-wet")
EVENT = orjson.dumps(
    {"event_id": "e-1", "ts": "2026-03-23T08:00:00Z", "kind": "drop", "weight_g": 420}
)

# -- MQTT 5 wire form, byte by byte (spec sections 1.5 and 3) ----------------------------


def vbi(n: int) -> bytes:
    """A variable byte integer (remaining lengths, property lengths)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(raw)) + raw


def publish(
    topic: str | bytes,
    payload: bytes,
    *,
    qos: int = 1,
    mid: int = 1,
    dup: bool = False,
    retain: bool = False,
    props: bytes = b"",
) -> bytes:
    """A PUBLISH packet; ``props`` are encoded properties without their length."""
    header = 0x30 | dup << 3 | qos << 1 | retain
    body = utf8(topic) + (struct.pack("!H", mid) if qos else b"") + vbi(len(props)) + props
    body += payload
    return bytes([header]) + vbi(len(body)) + body


def ack_packet(kind: int, mid: int) -> bytes:
    """PUBACK (0x40), PUBREC (0x50), PUBREL (0x62) or PUBCOMP (0x70), reason Success."""
    return struct.pack("!BBH", kind, 2, mid)


TOPIC_ALIAS = 0x23
CONTENT_TYPE = 0x03
USER_PROPERTY = 0x26
MESSAGE_EXPIRY = 0x02
PAYLOAD_FORMAT = 0x01


def alias(n: int) -> bytes:
    return bytes([TOPIC_ALIAS]) + struct.pack("!H", n)


SOME_PROPS = (
    bytes([PAYLOAD_FORMAT, 1])
    + bytes([MESSAGE_EXPIRY])
    + struct.pack("!I", 60)
    + bytes([CONTENT_TYPE])
    + utf8("application/json")
    + bytes([USER_PROPERTY])
    + utf8("fw")
    + utf8("2.4.1")
)

# -- a broker's end of a real connection -------------------------------------------------


class Peer:
    """The broker side of one loopback TCP connection: answers CONNECT, then is scripted."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sock: socket.socket | None = None

    def accept(self, client: mqtt.Client) -> None:
        client.connect("127.0.0.1", self.listener.getsockname()[1], keepalive=60)
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(5)
        assert self.read_packet()[0] == 0x10, "CONNECT first"
        self.send(bytes([0x20, 3, 0, 0, 0]))  # CONNACK: no session, Success, no properties
        pump(client, until=client.is_connected)
        assert client.is_connected()

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def read_exactly(self, n: int) -> bytes:
        assert self.sock is not None
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the client closed the connection"
            data += chunk
        return data

    def read_packet(self) -> bytes:
        head = self.read_exactly(1)
        length, shift, lenbytes = 0, 0, b""
        while True:
            byte = self.read_exactly(1)
            lenbytes += byte
            length |= (byte[0] & 0x7F) << shift
            shift += 7
            if not byte[0] & 0x80:
                break
        return head + lenbytes + self.read_exactly(length)

    def read_acks(self, count: int) -> bytes:
        """The next ``count`` packets, skipping SUBSCRIBE (the subscriber's on_connect)."""
        out = b""
        while count:
            packet = self.read_packet()
            if packet[0] & 0xF0 == 0x80:
                continue
            out += packet
            count -= 1
        return out

    def nothing_more(self) -> bool:
        assert self.sock is not None
        return not select.select([self.sock], [], [], 0.05)[0]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


def pump(
    client: mqtt.Client, until: Callable[[], bool] = lambda: False, timeout: float = 3.0
) -> list[MQTTErrorCode]:
    """Run the client's public read loop until nothing arrives for a moment (or ``until``).

    Returns the error codes loop_read gave; after an error paho has closed the socket.
    """
    errors = []
    for _ in range(int(timeout / 0.05)):
        sock = client.socket()
        if sock is None or until():
            break
        if not select.select([sock], [], [], 0.05)[0]:
            break
        rc = client.loop_read()
        if rc:
            errors.append(rc)
        if client.want_write():
            client.loop_write()
    return errors


# -- the two clients, recorded -----------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    path: str  # "fast" or "paho"
    topic: str | None  # None: paho could not decode it as UTF-8
    payload: bytes
    mid: int
    qos: int
    retain: bool | None = None  # not handed on by the fast path
    dup: bool | None = None

    def seen(self) -> tuple[str | None, bytes, int, int]:
        """What the subscriber takes from a message."""
        return self.topic, self.payload, self.mid, self.qos


@dataclass
class Run:
    client: mqtt.Client
    peer: Peer
    got: list[Delivery] = field(default_factory=list)
    errors: list[MQTTErrorCode] = field(default_factory=list)

    @property
    def buffered(self) -> BufferedClient:
        assert isinstance(self.client, BufferedClient)
        return self.client

    def feed(self, *chunks: bytes) -> None:
        """Send each chunk and let the client read it before the next one."""
        for chunk in chunks:
            self.peer.send(chunk)
            self.errors += pump(self.client)


def on_message(got: list[Delivery]) -> Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None]:
    def record(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        got.append(
            Delivery("paho", topic, bytes(msg.payload), msg.mid, msg.qos, msg.retain, msg.dup)
        )

    return record


def stock_client() -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)


def fast_client() -> BufferedClient:
    return BufferedClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)


# Starts a client of the given kind, connected to its own Peer.
Start = Callable[[Callable[[], mqtt.Client]], Run]


@pytest.fixture
def runs() -> Iterator[Start]:
    opened: list[Run] = []

    def start(make: Callable[[], mqtt.Client]) -> Run:
        client = make()
        peer = Peer()
        run = Run(client, peer)
        client.on_message = on_message(run.got)
        if isinstance(client, BufferedClient):
            client.fast_publish = lambda t, p, m: run.got.append(Delivery("fast", t, p, m, 1))
        peer.accept(client)
        opened.append(run)
        return run

    yield start
    for run in opened:
        if run.client.socket() is not None:
            run.client.disconnect()
        run.peer.close()


Feed = Callable[[Run], None]


def both(runs: Start, feed: Feed) -> tuple[Run, Run]:
    stock, fast = runs(stock_client), runs(fast_client)
    feed(stock)
    feed(fast)
    return stock, fast


def assert_same(stock: Run, fast: Run) -> None:
    assert [d.seen() for d in fast.got] == [d.seen() for d in stock.got]
    assert all(d.path == "paho" for d in stock.got)
    for f, s in zip(fast.got, stock.got, strict=True):
        if f.path == "paho":  # paho's path in both: every field, flags too
            assert f == s
    assert fast.errors == stock.errors


# -- the pin -------------------------------------------------------------------------------


def test_paho_is_pinned_to_the_release_the_fast_path_was_written_for() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    paho = [d for d in deps if d.startswith("paho-mqtt")]
    assert paho == [f"paho-mqtt=={PAHO_VERSION}"]
    assert version("paho-mqtt") == PAHO_VERSION
    assert fastclient.fast_path_supported()
    assert PAHO_VERSION in fastclient.describe_mqtt_path()


def test_the_paho_internals_the_fast_path_uses_exist() -> None:
    client = stock_client()
    for name in ("_sock", "_manual_ack", "_protocol", "_in_packet", "_msgtime_mutex"):
        assert hasattr(client, name), name
    # The keepalive's clock: the bulk path sets it as paho's reads do.
    assert hasattr(client, "_last_bytes_received")
    assert mqtt.time_func is time.monotonic
    assert {"command", "packet"} <= set(client._in_packet)
    for name in ("_sock_recv", "_packet_read", "_loop_rc_handle", "_handle_publish"):
        assert callable(getattr(mqtt.Client, name)), name
    queue_params = list(inspect.signature(mqtt.Client._packet_queue).parameters)
    assert queue_params[:5] == ["self", "command", "packet", "mid", "qos"]
    assert list(inspect.signature(mqtt.Client._sock_recv).parameters) == ["self", "bufsize"]


# -- deliveries ----------------------------------------------------------------------------

SIMPLE = [
    publish(TOPIC, EVENT, mid=1),
    publish(TOPIC, EVENT, mid=2, dup=True),
    publish(TOPIC, EVENT, mid=3, retain=True),
    publish(TOPIC, EVENT, mid=65535, dup=True, retain=True),
    publish(TOPIC, b"", mid=4),  # an empty payload
    publish(status_topic("jjq", "r1", "b-wet"), b'{"online": true}', mid=5, retain=True),
    publish("fenlei/v1/\u5c0f\u533a/r1/b/events", EVENT, mid=6),  # a non-ASCII topic
]


def test_simple_qos1_packets_take_the_fast_path_and_match_paho(runs: Start) -> None:
    stock, fast = both(runs, lambda run: run.feed(*SIMPLE))
    assert_same(stock, fast)
    assert [d.path for d in fast.got] == ["fast"] * len(SIMPLE)
    assert [d.mid for d in fast.got] == [1, 2, 3, 65535, 4, 5, 6]
    assert [(d.retain, d.dup) for d in stock.got][:4] == [
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    ]


OTHERS = [
    publish(TOPIC, EVENT, mid=10, props=SOME_PROPS),
    publish(TOPIC, EVENT, mid=11, props=alias(1)),  # sets topic alias 1
    publish(b"", EVENT, mid=12, props=alias(1)),  # uses it: paho does not resolve aliases
    publish(TOPIC, EVENT, qos=0),
    publish(b"fenlei/v1/\xff/r/b/events", EVENT, mid=13),  # not UTF-8
]


def test_everything_else_takes_paho_s_own_path(runs: Start) -> None:
    stock, fast = both(runs, lambda run: run.feed(*OTHERS))
    assert_same(stock, fast)
    assert len(fast.got) == len(OTHERS)
    assert all(d.path == "paho" for d in fast.got)
    assert fast.got[2].topic == ""
    assert fast.got[4].topic is None


def test_many_packets_in_one_read(runs: Start) -> None:
    everything = SIMPLE + OTHERS
    blob = b"".join(everything[i % len(everything)] for i in range(60))
    assert len(blob) < RECV_CHUNK_BYTES
    stock, fast = both(runs, lambda run: run.feed(blob))
    assert_same(stock, fast)
    assert len(fast.got) == 60
    assert {d.path for d in fast.got} == {"fast", "paho"}


def test_every_split_of_a_run_of_packets_matches_paho(runs: Start) -> None:
    # The bulk path stops at an incomplete packet and paho's reading finishes it: cut
    # a mixed run of packets at every offset in the first ones, fed in two reads.
    everything = [*SIMPLE[:3], OTHERS[0], *SIMPLE[3:5], OTHERS[3], *SIMPLE[5:]]
    blob = b"".join(everything)
    for cut in range(1, 120, 7):

        def feed(run: Run, cut: int = cut) -> None:
            run.feed(blob[:cut], blob[cut:])

        stock, fast = both(runs, feed)
        assert_same(stock, fast)
        assert len(fast.got) == len(everything)


def test_a_packet_split_across_reads(runs: Start) -> None:
    packet = publish(TOPIC, EVENT, mid=21)
    # Byte by byte through the fixed header and topic, then the rest in two pieces.
    pieces = [packet[i : i + 1] for i in range(12)] + [packet[12:40], packet[40:]]

    def feed(run: Run) -> None:
        run.feed(*pieces[:-1])
        assert run.got == [], "nothing is delivered before the packet is complete"
        run.feed(pieces[-1], publish(TOPIC, EVENT, mid=22))

    stock, fast = both(runs, feed)
    assert_same(stock, fast)
    assert [(d.path, d.mid) for d in fast.got] == [("fast", 21), ("fast", 22)]


def test_a_packet_larger_than_one_buffered_read(runs: Start) -> None:
    # Past 2 MiB the remaining length takes all 4 bytes, and the body several buffered reads.
    big = b"[" + b",".join([EVENT] * 28_000) + b"]"
    assert len(vbi(len(big) + 10)) == 4 and len(big) > 8 * RECV_CHUNK_BYTES
    packets = [publish(TOPIC, EVENT, mid=30), publish(TOPIC, big, mid=31), publish(TOPIC, b"x")]

    def feed(run: Run) -> None:
        blob = b"".join(packets)
        run.feed(blob[:1000], blob[1000:300_000], blob[300_000:])

    stock, fast = both(runs, feed)
    assert_same(stock, fast)
    assert [d.payload for d in fast.got] == [EVENT, big, b"x"]


@pytest.mark.parametrize(
    "packet",
    [
        b"\x32\x00",  # QoS 1 PUBLISH with no body at all
        b"\x32\x01\x00",  # half a topic length
        b"\x32\x04\x00\x10ab",  # a topic longer than the packet
        b"\x32\x05\x00\x01ab\x00",  # no room for the packet id and properties
        b"\x32\x07\x00\x01a\x00\x28\x05\x23",  # 5 bytes of properties announced, 1 sent
        b"\x36\x07\x00\x01a\x00\x01\x00x",  # QoS 3 does not exist
    ],
    ids=["empty", "half-length", "short-topic", "short", "bad-properties", "qos3"],
)
def test_malformed_packets_drop_the_connection_in_both(runs: Start, packet: bytes) -> None:
    stock, fast = both(runs, lambda run: run.feed(packet))
    assert_same(stock, fast)
    assert fast.errors, "a malformed packet is a protocol error"
    assert fast.client.socket() is None


# -- what goes back on the wire ------------------------------------------------------------


def test_qos2_flow_is_paho_s_in_both(runs: Start) -> None:
    wires = []
    for run in both(runs, lambda run: None):
        run.feed(publish(TOPIC, EVENT, qos=2, mid=50))
        pubrec = run.peer.read_acks(1)
        assert run.got == []  # delivered on PUBREL
        run.feed(ack_packet(0x62, 50))
        run.client.ack(50, 2)
        wires.append((pubrec, run.peer.read_acks(1), run.got))
    assert wires[0] == wires[1]
    assert wires[0][:2] == (ack_packet(0x50, 50), ack_packet(0x70, 50))


MIDS = [1, 2, 255, 256, 4097, 65535, 3]


def test_batched_pubacks_are_the_bytes_paho_s_ack_sends(runs: Start) -> None:
    stock, fast = runs(stock_client), runs(fast_client)
    for mid in MIDS:
        stock.client.ack(mid, 1)
    fast.buffered.ack_qos1(MIDS)
    expected = stock.peer.read_acks(len(MIDS))
    assert fast.peer.read_acks(len(MIDS)) == expected
    assert expected == b"".join(ack_packet(0x40, mid) for mid in MIDS)
    assert stock.peer.nothing_more() and fast.peer.nothing_more()


def test_batched_pubacks_send_nothing_without_manual_acks(runs: Start) -> None:
    # Like paho's ack(): with automatic acks paho has already acknowledged.
    auto = runs(lambda: BufferedClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5))
    auto.buffered.ack_qos1(MIDS)
    assert auto.peer.nothing_more()


def test_another_paho_release_gets_paho_s_own_path(
    runs: Start, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fastclient, "PAHO_INSTALLED", "2.3.0")
    assert not fastclient.fast_path_supported()
    assert "2.3.0's own path" in fastclient.describe_mqtt_path()
    with caplog.at_level(logging.WARNING, logger="ingest.fastclient"):
        stock, fast = both(runs, lambda run: run.feed(*SIMPLE, *OTHERS))
    assert "fast path off" in caplog.text
    assert [d.path for d in fast.got] == ["paho"] * len(SIMPLE + OTHERS)
    assert fast.got == stock.got
    fast.buffered.ack_qos1(MIDS)
    assert fast.peer.read_acks(len(MIDS)) == b"".join(ack_packet(0x40, m) for m in MIDS)


# -- the subscriber on both paths ----------------------------------------------------------


@pytest.fixture
def subscriber() -> Iterator[tuple[Subscriber, Peer]]:
    settings = IngestSettings(database_url="postgresql://unused", metrics_port=0)
    sub = Subscriber(settings, queue.SimpleQueue())
    peer = Peer()
    peer.accept(sub.client)
    yield sub, peer
    if sub.client.socket() is not None:
        sub.client.disconnect()
    peer.close()


def drain(inbox: queue.SimpleQueue[Message]) -> list[Message]:
    out = []
    while not inbox.empty():
        out.append(inbox.get_nowait())
    return out


def test_the_subscriber_gets_the_same_message_from_either_path(
    subscriber: tuple[Subscriber, Peer],
) -> None:
    sub, peer = subscriber
    status = status_topic("jjq", "r1", "b-wet")
    peer.send(
        publish(TOPIC, EVENT, mid=1)  # fast
        + publish(TOPIC, EVENT, mid=2, props=SOME_PROPS)  # paho
        + publish(TOPIC, EVENT, qos=0)  # paho
        + publish(status, b'{"online": false}', mid=3, retain=True)  # fast
        + publish(status, b'{"online": false}', mid=4, props=SOME_PROPS)  # paho
        + publish(status, b"offline", mid=5)  # refused
        + publish(status, b"", mid=6)  # a cleared retained status
        + publish(b"fenlei/v1/\xff/r/b/events", EVENT, mid=7)  # not UTF-8
    )
    assert pump(sub.client) == []
    got = drain(sub.inbox)
    assert [(m.mid, m.qos) for m in got] == [(1, 1), (2, 1), (0, 0), *[(i, 1) for i in range(3, 8)]]
    assert got[0].events == got[1].events == got[2].events
    assert len(got[0].events) == 1 and not got[0].rejections
    assert got[3].status == got[4].status
    assert got[3].status is not None and got[3].status[1]["online"] is False
    assert [r.reason for r in got[5].rejections] == [Reason.bad_type]
    assert got[6].status is None and not got[6].rejections and not got[6].events
    # A topic paho cannot decode is quarantined (and so acknowledged), not a crash.
    assert [r.reason for r in got[7].rejections] == [Reason.bad_topic]

    sub.ack(got)
    acks = [ack_packet(0x40, mid) for mid in (1, 2, 3, 4, 5, 6, 7)]
    assert peer.read_acks(len(acks)) == b"".join(acks)
    assert peer.nothing_more()
