"""An MQTT publisher that waits for every PUBACK (mosquitto_pub -l does not)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from fenlei.errors import FenleiError
from simulators.broker import Broker

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
# A lost connection is retried after 1 s, doubling up to this: a restarted broker is
# found again within seconds.
RECONNECT_MAX_DELAY_S = 4
# paho keeps at most this many QoS>0 messages unacknowledged; more are queued locally.
MAX_INFLIGHT = 1_000
# Published but not yet acknowledged, at most (a bound below 65,535 message ids).
MAX_UNACKED = 20_000


class BrokerRefused(FenleiError):
    """The broker refused the CONNECT (bad login, client id not allowed, …)."""


class PublishDenied(FenleiError):
    """The broker answered a publish with a failure reason (not authorized for the topic)."""


class Publisher:
    """One device connection (MQTT v5) publishing at QoS 1.

    `flush()` returns once the broker has acknowledged everything published so far.
    A lost connection is retried for ever; what was not acknowledged is sent again
    after the reconnect. The ``on_connected`` / ``on_message`` / ``on_subscribed`` hooks
    (None: unused) run on the client's network thread and must not block.
    """

    def __init__(
        self,
        broker: Broker | str,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.broker = broker if isinstance(broker, Broker) else Broker(broker)
        self.client_id = client_id
        self._host, self._port = self.broker.host_port
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, RECONNECT_MAX_DELAY_S)
        login = self.broker.login
        if login is not None:
            client.username_pw_set(login.username, login.password)
        if self.broker.tls:
            # Verifies the chain and the host name, as a device must.
            client.tls_set(ca_certs=self.broker.ca_file)
        if will:
            client.will_set(will[0], will[1], qos=1, retain=True)
        self._connected = threading.Event()
        # Set with the reason when the broker refused the CONNECT: paho would retry
        # for ever, so the client stops and `connect`/`flush` raise instead.
        self.refused: ReasonCode | None = None
        # PUBACKs with a failure reason, by message id (e.g. 0x87 for another bin's topic).
        self.denied: dict[int, ReasonCode] = {}
        self._lock = threading.Lock()
        self._unacked = 0
        self._all_acked = threading.Condition(self._lock)
        # Accepted connections so far (1 after `connect`, +1 per reconnect).
        self.connections = 0
        self._connection_change = threading.Condition()
        self.on_connected: Callable[[int], None] | None = None  # with `connections`
        self.on_message: Callable[[mqtt.MQTTMessage], None] | None = None
        self.on_subscribed: Callable[[list[ReasonCode]], None] | None = None
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
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
            self.client.loop_stop()
            raise TimeoutError(f"no CONNACK from {self._host}:{self._port}")
        if self.refused is not None:
            self.client.loop_stop()
            raise self._refusal()

    def _who(self) -> str:
        login = self.broker.login
        who = f"as {login.username}" if login else "anonymously"
        return f"{who} with client id {self.client_id} at {self._host}:{self._port}"

    def _refusal(self) -> BrokerRefused:
        reason = self.refused
        assert reason is not None
        return BrokerRefused(
            f"the broker refused the connection {self._who()}: {reason} (0x{reason.value:02X})"
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        props: object,
    ) -> None:
        if reason.is_failure:
            self.refused = reason
            # Stops paho's reconnect loop: a refused login stays refused.
            client.disconnect()
            with self._lock:
                self._all_acked.notify_all()
        else:
            # The hook first: whoever waits for this connection finds its work begun.
            self._hook(self.on_connected, self.connections + 1)
            with self._connection_change:
                self.connections += 1
                self._connection_change.notify_all()
        self._connected.set()

    def _hook(self, hook: Callable[[Any], None] | None, arg: object) -> None:
        # An exception would end paho's network thread, and with it the connection.
        if hook is None:
            return
        try:
            hook(arg)
        except Exception:
            log.exception("a connection hook of %s failed", self.client_id)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._hook(self.on_message, msg)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        props: object,
    ) -> None:
        self._hook(self.on_subscribed, reasons)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe (from any thread, the network thread's hooks included)."""
        self.client.subscribe(topic, qos=qos)

    def wait_connections(self, n: int, timeout: float) -> bool:
        """Wait until the broker has accepted ``n`` connections of this client."""
        deadline = time.monotonic() + timeout
        with self._connection_change:
            while self.connections < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.refused is not None:
                    return False
                self._connection_change.wait(min(left, 0.5))
        return True

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: object
    ) -> None:
        with self._lock:
            if reason.is_failure:
                self.denied[mid] = reason
            self._unacked -= 1
            if self._unacked == 0 or self._unacked == MAX_UNACKED - 1:
                self._all_acked.notify_all()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue one message; returns its message id (the key of `denied`)."""
        if self.refused is not None:
            raise self._refusal()
        with self._lock:
            # paho's message ids are 16-bit: with ~65k messages queued a new id would
            # collide with a queued one ("Message queue full"), so wait for room.
            while self._unacked >= MAX_UNACKED:
                self._all_acked.wait(1.0)
            self._unacked += 1
        try:
            info = self.client.publish(topic, payload, qos=qos, retain=retain)
        except BaseException:
            # Not queued (a Ctrl-C landing here included): a flush must not wait for it.
            with self._lock:
                self._unacked -= 1
            raise
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            with self._lock:
                self._unacked -= 1
            raise RuntimeError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        return info.mid

    def flush(self, timeout: float = 120.0) -> None:
        """Block until every message published so far has its PUBACK."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._unacked > 0:
                if self.refused is not None:
                    raise self._refusal()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._unacked} messages still unacknowledged")
                self._all_acked.wait(left)

    def check_denied(self) -> None:
        """Raise `PublishDenied` if the broker refused any publish so far."""
        with self._lock:
            denied = sorted(self.denied.items())
        if denied:
            mid, reason = denied[0]
            raise PublishDenied(
                f"the broker refused {len(denied)} publishes {self._who()}, "
                f"the first (message {mid}) with {reason} (0x{reason.value:02X})"
            )

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
