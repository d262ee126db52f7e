"""A small synchronous MQTT v5 client for checking what the broker allows.

Each call waits for the broker's answer and returns its reason code (MQTT 5: 0 is
success, 0x87 "Not authorized"), so a test can assert on exactly what came back.
"""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

NOT_AUTHORIZED = 0x87
# Long enough for a loaded 2-core machine, short enough for a failing test to end soon.
ANSWER_TIMEOUT_S = 5.0
# A week, as the ingester asks for: the session outlives a broker restart.
SESSION_EXPIRY_S = 7 * 24 * 3600


class Probe:
    """One MQTT v5 connection; `connect` returns the CONNACK reason code (None: none came)."""

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        *,
        ca_file: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host, self.port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._connack: queue.Queue[int] = queue.Queue()
        self._acks: dict[int, int] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, rc: Any, _props: Any) -> None:
        self._connack.put(int(rc.value))

    def _ack(self, mid: int, code: int) -> None:
        with self._acked:
            self._acks[mid] = code
            self._acked.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _props: Any) -> None:
        self._ack(mid, int(rc.value))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[Any], _props: Any) -> None:
        self._ack(mid, int(rcs[0].value))

    def _wait_ack(self, mid: int) -> int:
        with self._acked:
            if not self._acked.wait_for(lambda: mid in self._acks, ANSWER_TIMEOUT_S):
                raise TimeoutError(f"no acknowledgement for message {mid}")
            return self._acks.pop(mid)

    def connect(self, *, clean_start: bool = True) -> int | None:
        """CONNECT and wait for CONNACK; on refusal the client stops (no retry storm)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0 if clean_start else SESSION_EXPIRY_S
        self.client.connect(self.host, self.port, clean_start=clean_start, properties=props)
        self.client.loop_start()
        try:
            code: int | None = self._connack.get(timeout=ANSWER_TIMEOUT_S)
        except queue.Empty:
            code = None
        if code != 0:
            self.close()
        return code

    def publish(self, topic: str, payload: bytes | str = b"{}", qos: int = 1) -> int:
        """The PUBACK reason code (QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos)
        return self._wait_ack(info.mid)

    def subscribe(self, topic: str, qos: int = 1) -> int:
        """The SUBACK reason code: the granted QoS, or >= 0x80 when refused."""
        _, mid = self.client.subscribe(topic, qos=qos)
        assert mid is not None
        return self._wait_ack(mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def tls_refused(port: int, ca_file: str, host: str = "127.0.0.1") -> type[BaseException] | None:
    """The exception a TLS client trusting only `ca_file` meets on `port` (None: none)."""
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with (
            socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except (ssl.SSLError, OSError) as exc:
        return type(exc)
