"""A paho client that reads the socket in large chunks and skips paho's per-message work.

This is the one module that uses paho's private internals, and it does so against one
paho release only: ``PAHO_VERSION``, which ``pyproject.toml`` pins exactly and
``tests/ingest/test_fastclient.py`` feeds crafted packets through, comparing what this
client and a stock paho client deliver and send. With any other paho the client falls
back to paho's own (public, slower) behaviour and logs a warning, so an upgrade costs
speed, never correctness; the benchmark's results file says which path it measured.

What the fast path changes, and why (profiled with py-spy; the network thread is the
limit of ingest throughput):

- Reads: paho 2.x reads every packet with three or more recv() calls (command byte,
  each length byte, body) and goes back to select() after each packet. This client
  serves paho's small reads from one large recv() and drains what is buffered before
  paho selects again (data left in the buffer would not wake select()).
- QoS-1 PUBLISH without properties, MQTT 5, manual acks: paho builds a Properties
  object, an MQTTMessage and a debug log record for each one, about a third of the
  network thread. Such packets go straight to ``fast_publish(topic, payload, mid)``.
  Everything else (QoS 0/2, properties such as a topic alias, MQTT 3, malformed or
  non-UTF-8 topics) takes paho's own path. ``fast_publish`` is called without paho's
  callback locks and bypasses ``message_callback_add`` filters; it must not raise.
- PUBACKs: paho writes each with its own send() and wakes its loop once per ack;
  ``ack_qos1`` queues a whole batch's PUBACKs as one write of the same bytes.

Two hooks for the subscriber's bounded backpressure (``ingest.mqtt``):

- ``before_read`` is called at the start of every read pass. paho's loop runs its
  keepalive check after each pass, so time spent blocked inside one pass is time the
  broker hears nothing from us.
- ``reconnect_after_queued`` ends the connection once what is already queued (PUBACKs)
  is written and lets paho's loop reconnect, resuming the session: the broker then
  redelivers what was left unacknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from itertools import repeat
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import DISCONNECT, PUBACK, time_func
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

log = logging.getLogger(__name__)

# The paho-mqtt release whose internals this module overrides; pinned in pyproject.toml.
PAHO_VERSION = "2.2.0"
PAHO_INSTALLED = version("paho-mqtt")
# One recv() takes up to this much (about 1,000 small events).
RECV_CHUNK_BYTES = 256 * 1024
# Packets handled per loop_read before paho gets to write (acks, pings) again,
# once the buffer is empty.
PACKETS_PER_READ = 1_000
# In a pass that lasts (a drained backlog keeps the buffer full), queued writes and
# paho's keepalive are served this often (seconds).
SERVICE_EVERY_S = 0.25

# MQTT 5 PUBACK, reason Success, no properties: type 0x40, remaining length 2, the mid.
# Byte for byte what paho's ack(mid, 1) queues (_send_command_with_mid).
_PUBACK = struct.Struct("!BBH")
_PUBACK_TYPE = 0x40
# MQTT 5 DISCONNECT, reason Normal (the broker keeps the session), no properties:
# byte for byte what paho's disconnect() queues without arguments (_send_disconnect).
_DISCONNECT = bytes([0xE0, 0x00])
# Without the fast path: how long to wait for queued PUBACKs to be written before
# shutting the socket down.
FLUSH_WAIT_S = 2.0


def fast_path_supported() -> bool:
    """True when the installed paho is the release the fast path was written against."""
    return PAHO_INSTALLED == PAHO_VERSION


def describe_mqtt_path() -> str:
    """Which MQTT path `fenlei ingest` takes with the installed paho, for logs and reports."""
    if fast_path_supported():
        return (
            f"fenlei fast path (buffered reads, direct QoS-1 PUBLISH, batched PUBACKs) "
            f"on paho-mqtt {PAHO_INSTALLED}"
        )
    return f"paho-mqtt {PAHO_INSTALLED}'s own path (the fast path needs paho-mqtt {PAHO_VERSION})"


class BufferedClient(mqtt.Client):
    """paho's Client with buffered socket reads, a direct QoS-1 path and batched PUBACKs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = fast_path_supported()
        if not self.fast:
            log.warning("MQTT fast path off: %s", describe_mqtt_path())
        self._rbuf = b""
        self._rpos = 0
        self._rbuf_sock: object | None = None
        # (topic, payload, mid) of a QoS-1 PUBLISH with no properties; must not block.
        self.fast_publish: Callable[[str, bytes, int], None] | None = None
        # Called on the network thread at the start of every read pass; must be cheap.
        self.before_read: Callable[[], None] | None = None

    def ack_qos1(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS-1 messages, in this order, as one write.

        The bytes are those ``ack(mid, 1)`` would send for each mid; like ``ack``, this
        sends nothing unless the client was made with ``manual_ack=True``.
        """
        if not mids or not self._manual_ack:
            return
        if not self.fast:
            for mid in mids:
                self.ack(mid, 1)
            return
        blob = b"".join(map(_PUBACK.pack, repeat(_PUBACK_TYPE), repeat(2), mids))
        self._packet_queue(PUBACK, blob, 0, 0)

    def reconnect_after_queued(self) -> None:
        """End this connection after the packets queued so far, then reconnect.

        From any thread. The fast path queues a DISCONNECT (reason Normal: the session
        stays) behind them without paho's ``disconnect()`` state change, so paho's loop
        takes it as a connection closed by the other side and reconnects with its
        usual backoff (``reconnect_delay_set``). Without the fast path: waits up to
        ``FLUSH_WAIT_S`` for the queue to be written, then shuts the socket down.
        """
        if self.fast:
            self._packet_queue(DISCONNECT, _DISCONNECT, 0, 0)
            return
        sock = self.socket()
        deadline = time.monotonic() + FLUSH_WAIT_S
        while self.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        # An SSL socket is a socket.socket too; OSError: already gone, paho reconnects.
        if self.socket() is sock and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- overrides of paho internals (PAHO_VERSION only) ---------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.fast:
            return super()._sock_recv(bufsize)
        if self._sock is not self._rbuf_sock:  # a new connection: forget the old bytes
            self._rbuf, self._rpos, self._rbuf_sock = b"", 0, self._sock
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(RECV_CHUNK_BYTES)
            if not data:  # EOF: paho reads b"" as a lost connection
                return data
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start : self._rpos]

    def _buffered(self) -> bool:
        return self._rbuf_sock is self._sock and self._rpos < len(self._rbuf)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        hook = self.before_read
        if hook is not None:
            hook()
        if not self.fast:
            return super().loop_read(max_packets)
        handled = 0
        check_at = PACKETS_PER_READ
        service_at = time.monotonic() + SERVICE_EVERY_S
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            taken = self._take_publishes(PACKETS_PER_READ)
            if taken:
                handled += taken
            else:
                rc = self._packet_read()
                if rc > 0:
                    return self._loop_rc_handle(rc)
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
                handled += 1
            if handled >= PACKETS_PER_READ:
                if not self._buffered():
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
                # A backlog keeps the buffer full, so this pass may last: write the
                # queued PUBACKs and run the keepalive now and then, as paho's loop
                # would between passes (both public; the network thread owns the
                # socket). Returning instead would leave buffered bytes that no
                # select() wakes for.
                if handled >= check_at and time.monotonic() >= service_at:
                    check_at = handled + PACKETS_PER_READ
                    service_at = time.monotonic() + SERVICE_EVERY_S
                    if self.want_write():
                        rc = self.loop_write()
                        if rc or self._sock is None:
                            return rc
                    rc = self.loop_misc()
                    if rc or self._sock is None:
                        return rc

    def _take_publishes(self, limit: int) -> int:
        """Hand on the simple QoS-1 PUBLISH packets complete at the head of the read
        buffer (at most ``limit``), straight from its bytes; returns how many.

        The packets and the checks are those of ``_handle_publish`` below, without
        paho's per-packet reads of the command byte, each length byte and the body
        (three or more calls, a dict of state, a bytearray copy: about a quarter of
        the network thread per message). It stops at the first packet that is not
        one (another type, QoS 0/2, properties, a non-UTF-8 topic, a malformed or
        incomplete one): paho reads that one as usual, from where this left off.
        """
        handler = self.fast_publish
        if (
            handler is None
            or not self.fast
            or not self._manual_ack
            or self._protocol != MQTTProtocolVersion.MQTTv5
            or self._in_packet["command"] != 0  # paho is in the middle of a packet
            or self._rbuf_sock is not self._sock
        ):
            return 0
        buf = self._rbuf
        pos = self._rpos
        size = len(buf)
        taken = 0
        while taken < limit and pos < size:
            if buf[pos] & 0xF6 != 0x32:  # PUBLISH with QoS 1 (any DUP and RETAIN)
                break
            # The remaining length: a variable byte integer of at most 4 bytes.
            at, length, shift = pos + 1, 0, 0
            while at < size and shift < 28:
                byte = buf[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break  # incomplete, or too long: paho's reading decides
            end = at + length
            if length < 5 or end > size:
                break
            # Topic length (2), topic, packet id (2), properties length (1 when 0).
            topic_end = at + 2 + ((buf[at] << 8) | buf[at + 1])
            if topic_end + 3 > end or buf[topic_end + 2] != 0:
                break
            try:
                topic = buf[at + 2 : topic_end].decode("utf-8")
            except UnicodeDecodeError:
                break
            mid = (buf[topic_end] << 8) | buf[topic_end + 1]
            pos = self._rpos = end
            handler(topic, buf[topic_end + 3 : end], mid)
            taken += 1
        if taken:
            with self._msgtime_mutex:
                self._last_bytes_received = time_func()
        return taken

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.fast_publish
        if (
            handler is not None
            and self.fast
            and self._manual_ack
            and (self._in_packet["command"] & 0x06) == 0x02  # QoS 1
            and self._protocol == MQTTProtocolVersion.MQTTv5
        ):
            packet = self._in_packet["packet"]
            # Topic length (2), topic, packet id (2), properties length (1 when 0).
            if len(packet) >= 5:
                end = 2 + ((packet[0] << 8) | packet[1])  # after the topic name
                # The properties' length is a variable byte integer: 0 is the byte 0.
                if len(packet) >= end + 3 and packet[end + 2] == 0:
                    try:
                        topic = bytes(packet[2:end]).decode("utf-8")
                    except UnicodeDecodeError:
                        return super()._handle_publish()
                    mid = (packet[end] << 8) | packet[end + 1]
                    handler(topic, bytes(packet[end + 3 :]), mid)
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
        # Anything the checks above do not prove simple, malformed packets included
        # (paho turns those into a protocol error and drops the connection).
        return super()._handle_publish()
