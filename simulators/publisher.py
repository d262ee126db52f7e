"""An MQTT publisher that waits for every PUBACK (mosquitto_pub -l does not)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

CONNECT_TIMEOUT_S = 15.0
# paho keeps at most this many QoS>0 messages unacknowledged; more are queued locally.
MAX_INFLIGHT = 1_000
# Published but not yet acknowledged, at most (a bound below 65,535 message ids).
MAX_UNACKED = 20_000


class Publisher:
    """One device connection (MQTT v5) publishing at QoS 1.

    `flush()` returns once the broker has acknowledged everything published so far.
    """

    def __init__(
        self,
        mqtt_url: str,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        parts = urlsplit(mqtt_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 1883
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        if username:
            client.username_pw_set(username, password)
        if will:
            client.will_set(will[0], will[1], qos=1, retain=True)
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._unacked = 0
        self._all_acked = threading.Condition(self._lock)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self.client = client

    def __enter__(self) -> Publisher:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        self.client.connect(self._host, self._port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            raise TimeoutError(f"no CONNACK from {self._host}:{self._port}")

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        props: object,
    ) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: object
    ) -> None:
        with self._lock:
            self._unacked -= 1
            if self._unacked == 0 or self._unacked == MAX_UNACKED - 1:
                self._all_acked.notify_all()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        with self._lock:
            # paho's message ids are 16-bit: with ~65k messages queued a new id would
            # collide with a queued one ("Message queue full"), so wait for room.
            while self._unacked >= MAX_UNACKED:
                self._all_acked.wait(1.0)
            self._unacked += 1
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            with self._lock:
                self._unacked -= 1
            raise RuntimeError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")

    def flush(self, timeout: float = 120.0) -> None:
        """Block until every message published so far has its PUBACK."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._unacked > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._unacked} messages still unacknowledged")
                self._all_acked.wait(left)

    def close(self, *, with_will: bool = False) -> None:
        """Disconnect; ``with_will`` asks the broker to publish the last will anyway,
        as when a device dies (MQTT v5 reason 0x04, "Disconnect with Will Message")."""
        if with_will:
            self.client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
            )
        else:
            self.client.disconnect()
        self.client.loop_stop()
