"""A paho client that reads the socket in large chunks.

paho 2.x reads every packet with three or more recv() calls (command byte, each
length byte, body) and goes back to select() after each packet: for a stream of
small QoS-1 messages those syscalls are most of the network thread's time. This
client serves paho's small reads from one large recv() and drains what is buffered
before paho selects again (data left in the buffer would not wake select()).

It also takes a fast path for the common QoS-1 PUBLISH without properties: paho
builds a Properties object, an MQTTMessage and a debug log record for each one,
which profiled at about a third of the network thread. With `fast_publish` set,
such packets go straight to it as (topic, payload, mid); everything else (QoS 0/2,
properties, MQTT 3) takes paho's own path. It overrides private methods; paho is
pinned below 3 and every ingest test goes through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

# One recv() takes up to this much (about 1,000 small events).
RECV_CHUNK_BYTES = 256 * 1024
# Packets handled per loop_read before paho gets to write (acks, pings) again,
# once the buffer is empty.
PACKETS_PER_READ = 1_000


class BufferedClient(mqtt.Client):
    """paho's Client with buffered socket reads; behaviour is otherwise unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rbuf_sock: object | None = None
        # (topic, payload, mid) of a QoS-1 PUBLISH with no properties; must not block.
        self.fast_publish: Callable[[str, bytes, int], None] | None = None

    def _sock_recv(self, bufsize: int) -> bytes:
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
        handled = 0
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            handled += 1
            if handled >= PACKETS_PER_READ and not self._buffered():
                return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.fast_publish
        command = self._in_packet["command"]
        if (
            handler is not None
            and self._manual_ack
            and (command & 0x06) == 0x02  # QoS 1
            and self._protocol == MQTTProtocolVersion.MQTTv5
        ):
            packet = self._in_packet["packet"]
            end = 2 + ((packet[0] << 8) | packet[1])  # after the topic name
            # Then the 2-byte packet id and the properties' length: 0 means none.
            if len(packet) >= end + 3 and packet[end + 2] == 0:
                try:
                    topic = bytes(packet[2:end]).decode("utf-8")
                except UnicodeDecodeError:
                    return super()._handle_publish()
                mid = (packet[end] << 8) | packet[end + 1]
                handler(topic, bytes(packet[end + 3 :]), mid)
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._handle_publish()
