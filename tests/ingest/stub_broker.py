"""A minimal MQTT 5 server for tests: one scripted peer for the real ingester.

It speaks just enough MQTT 5 (spec section 3) for `python -m ingest`: CONNECT →
CONNACK (session present when the client id resumes a session it had), SUBSCRIBE →
SUBACK granting QoS 1, PINGREQ → PINGRESP, QoS-1 PUBLISH from the client → PUBACK.
The test sends QoS-1 PUBLISHes with packet ids of its choosing, drops connections,
and reads what the client sent: every PUBACK with its time and connection, every
PINGREQ, and how each connection ended. Unlike a real broker it enforces no Receive
Maximum and no keepalive: a test can flood the client and measure its pings.

A session (per client id) remembers what was sent and not acknowledged, so a test can
redeliver like a broker does on a resumed session (same packet ids, DUP set).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x80, 0x90, 0xC0, 0xD0, 0xE0


def vbi(n: int) -> bytes:
    """A variable byte integer (remaining and property lengths)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_vbi(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it)."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def read_utf8(data: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = struct.unpack_from("!H", data, pos)
    return data[pos + 2 : pos + 2 + n], pos + 2 + n


def publish_packet(topic: str, payload: bytes, mid: int, *, dup: bool = False) -> bytes:
    """A QoS-1 PUBLISH without properties."""
    raw = topic.encode()
    body = struct.pack("!H", len(raw)) + raw + struct.pack("!H", mid) + b"\x00" + payload
    return bytes([0x32 | dup << 3]) + vbi(len(body)) + body


@dataclass
class Session:
    """What a broker keeps for a client id between connections."""

    client_id: str
    # Sent and not yet acknowledged, by packet id: (topic, payload).
    inflight: dict[int, tuple[str, bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class Puback:
    conn: int  # the connection's number (1 for the first accepted)
    mid: int
    at: float  # time.monotonic() when read
    # What this connection last sent with that packet id (None: nothing).
    sent: tuple[str, bytes] | None


class Connection:
    """One accepted client connection, served by its own reader thread."""

    def __init__(self, broker: StubBroker, sock: socket.socket, number: int) -> None:
        self.broker = broker
        self.sock = sock
        self.number = number
        self.client_id = ""
        self.keepalive = 0
        self.clean_start = True
        self.session_present = False
        self.session: Session | None = None
        self.connected = threading.Event()  # CONNACK sent
        self.subscribed = threading.Event()
        self.closed = threading.Event()
        self.ended_by: str | None = None  # "client DISCONNECT", "client closed", "test", …
        self.pingreqs: list[float] = []
        self.pubacks: list[Puback] = []
        self.publishes_in: list[tuple[str, bytes]] = []  # PUBLISHes from the client
        # Last message sent with each packet id on this connection.
        self.sent: dict[int, tuple[str, bytes]] = {}
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- what a test does ------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, mid: int, *, dup: bool = False) -> None:
        """Send a QoS-1 PUBLISH with this packet id (kept in the session until acked)."""
        assert self.session is not None, "not connected yet"
        with self.broker.lock:
            self.sent[mid] = (topic, payload)
            self.session.inflight[mid] = (topic, payload)
        self._send(publish_packet(topic, payload, mid, dup=dup))

    def resend_inflight(self) -> list[int]:
        """Redeliver the session's unacknowledged messages with their packet ids and
        DUP set, as a broker must on a resumed session (MQTT 5 §4.4); their ids."""
        assert self.session is not None
        with self.broker.lock:
            pending = sorted(self.session.inflight.items())
        for mid, (topic, payload) in pending:
            self.publish(topic, payload, mid, dup=True)
        return [mid for mid, _ in pending]

    def drop(self) -> None:
        """Close the connection abruptly, as a broker restart or a network cut would."""
        self._end("test")

    def wait_closed(self, timeout: float) -> bool:
        return self.closed.wait(timeout)

    def acked_mids(self) -> list[int]:
        with self.broker.lock:
            return [p.mid for p in self.pubacks]

    # -- serving ---------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self._end("send failed")

    def _end(self, why: str) -> None:
        with self.broker.lock:
            if self.ended_by is None:
                self.ended_by = why
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.closed.set()

    def _serve(self) -> None:
        buf = b""
        while not self.closed.is_set():
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self._end("client closed")
                return
            buf += chunk
            packets = []
            while True:
                packet, buf = _split(buf)
                if packet is None:
                    break
                packets.append(packet)
            acks = []
            for head, body in packets:
                if head & 0xF0 == PUBACK:
                    acks.append(struct.unpack_from("!H", body)[0])
                else:
                    self._handle(head, body)
            if acks:
                self._acked(acks)

    def _acked(self, mids: list[int]) -> None:
        now = time.monotonic()
        with self.broker.lock:
            got = [Puback(self.number, m, now, self.sent.get(m)) for m in mids]
            self.pubacks += got
            assert self.session is not None
            for m in mids:
                self.session.inflight.pop(m, None)
        listener = self.broker.on_pubacks
        if listener is not None:
            listener(got)

    def _handle(self, head: int, body: bytes) -> None:
        kind = head & 0xF0
        if kind == CONNECT:
            self._connect(body)
        elif kind == SUBSCRIBE:
            mid = struct.unpack_from("!H", body)[0]
            props_len, pos = read_vbi(body, 2)
            pos += props_len
            granted = b""
            while pos < len(body):
                _, pos = read_utf8(body, pos)
                pos += 1  # subscription options
                granted += b"\x01"  # granted QoS 1
            rest = struct.pack("!H", mid) + b"\x00" + granted
            self._send(bytes([SUBACK]) + vbi(len(rest)) + rest)
            self.subscribed.set()
        elif kind == PINGREQ:
            with self.broker.lock:
                self.pingreqs.append(time.monotonic())
            self._send(bytes([PINGRESP, 0]))
        elif kind == PUBLISH:
            qos = (head >> 1) & 3
            topic, pos = read_utf8(body, 0)
            mid = 0
            if qos:
                mid = struct.unpack_from("!H", body, pos)[0]
                pos += 2
            props_len, pos = read_vbi(body, pos)
            with self.broker.lock:
                self.publishes_in.append((topic.decode(), body[pos + props_len :]))
            if qos == 1:
                self._send(bytes([PUBACK, 2]) + struct.pack("!H", mid))
        elif kind == DISCONNECT:
            self._end("client DISCONNECT")

    def _connect(self, body: bytes) -> None:
        name, pos = read_utf8(body, 0)
        assert name == b"MQTT" and body[pos] == 5, "MQTT 5 only"
        flags = body[pos + 1]
        (self.keepalive,) = struct.unpack_from("!H", body, pos + 2)
        props_len, pos = read_vbi(body, pos + 4)
        client_id, _ = read_utf8(body, pos + props_len)
        self.client_id = client_id.decode()
        self.clean_start = bool(flags & 0x02)
        self.session, self.session_present = self.broker._session_for(
            self.client_id, self.clean_start
        )
        self._send(bytes([CONNACK, 3, int(self.session_present), 0, 0]))
        self.connected.set()


def _split(buf: bytes) -> tuple[tuple[int, bytes] | None, bytes]:
    """The first complete packet in `buf` as (first byte, body), and the rest."""
    if len(buf) < 2:
        return None, buf
    length, shift, pos = 0, 0, 1
    while True:
        if pos >= len(buf):
            return None, buf
        byte = buf[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if len(buf) < pos + length:
        return None, buf
    return (buf[0], buf[pos : pos + length]), buf[pos + length :]


class StubBroker:
    """Listens on 127.0.0.1 (a free port); each accepted client gets a `Connection`.

    ``on_pubacks`` is called on the connection's reader thread with every batch of
    PUBACKs read in one recv(), before the next bytes are read: a check there sees
    the world as it was when the client sent them.
    """

    def __init__(self, on_pubacks: Callable[[list[Puback]], None] | None = None) -> None:
        self.on_pubacks = on_pubacks
        self.lock = threading.RLock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[Connection] = []
        self.sessions: dict[str, Session] = {}
        self._new_connection = threading.Condition(self.lock)
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def connection(self, number: int, timeout: float = 30.0) -> Connection:
        """The `number`-th connection (1-based) once it is connected (CONNACK sent)."""
        deadline = time.monotonic() + timeout
        with self._new_connection:
            while len(self.connections) < number:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no connection {number} within {timeout} s (have {len(self.connections)})"
                    )
                self._new_connection.wait(left)
            conn = self.connections[number - 1]
        assert conn.connected.wait(max(0.1, deadline - time.monotonic())), "no CONNECT"
        return conn

    def pubacks(self) -> list[Puback]:
        with self.lock:
            return [p for c in self.connections for p in c.pubacks]

    def close(self) -> None:
        self._stopped = True
        self.listener.close()
        with self.lock:
            conns = list(self.connections)
        for conn in conns:
            conn.drop()

    def _session_for(self, client_id: str, clean_start: bool) -> tuple[Session, bool]:
        with self.lock:
            old = None if clean_start else self.sessions.get(client_id)
            if old is not None:
                return old, True
            self.sessions[client_id] = Session(client_id)
            return self.sessions[client_id], False

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._new_connection:
                conn = Connection(self, sock, len(self.connections) + 1)
                self.connections.append(conn)
                self._new_connection.notify_all()
