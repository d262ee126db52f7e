"""The MQTT side: a persistent-session subscriber whose callbacks only parse and enqueue.

Two rules keep acknowledgements exactly where they belong:

- A packet id means something on one connection only. Every message is tagged with
  the connection that delivered it (`Subscriber.connection`, counted per CONNACK) and
  is acknowledged on that connection or never: the broker redelivers it on the next.
- The network thread never blocks for long. With the inbox full it waits for the
  writer at most `wait_budget_s` per read pass (paho sends its keepalive between
  passes); past that, messages are left unacknowledged, and once the writer has caught
  up the subscriber reconnects so the resumed session redelivers them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest import metrics
from ingest.batcher import Message
from ingest.contract import EVENTS_SUBSCRIPTION, STATUS_SUBSCRIPTION, Rejection
from ingest.fastclient import BufferedClient, describe_mqtt_path
from ingest.payload import parse_events, parse_status_message
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)

RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30

# CONNACK reasons that mean the login itself is wrong (MQTT 5 §3.2.2.2).
LOGIN_REFUSALS = {0x86, 0x87, 0x8C}

# The longest the network thread waits for room in the inbox while the writer takes
# nothing (a writer that takes batches resets it: slow is not stuck). paho
# checks the keepalive between passes and the broker drops a client it has not heard
# from for 1.5 keepalives, so a quarter of it leaves room for the pass's own work and
# paho's 1 s select timeout; the cap keeps the pause short with a long keepalive.
MAX_WAIT_FOR_ROOM_S = 5.0
# After an overflow, the inbox size at which the writer has caught up: the subscriber
# then reconnects, and what is still queued (older than the new connection) is
# dropped and redelivered, so a low mark wastes little.
LOW_WATER_FRACTION = 0.25


def wait_budget_s(keepalive_s: float) -> float:
    """How long the network thread may wait for the writer per read pass."""
    return min(keepalive_s / 4, MAX_WAIT_FOR_ROOM_S)


def subscriptions(settings: IngestSettings) -> list[str]:
    """The topic filters, inside a shared-subscription group when one is set."""
    topics = [EVENTS_SUBSCRIPTION, STATUS_SUBSCRIPTION]
    if settings.share_group:
        return [f"$share/{settings.share_group}/{t}" for t in topics]
    return topics


class Subscriber:
    """Receives device messages into `inbox`; the writer acknowledges them after commit.

    Thread use: paho's network thread runs the callbacks and `_receive`; the writer
    calls `current`, `ack` and `publish`. Connection state changes under `_lock`, which
    `ack` holds while it queues, so an acknowledgement is queued either before paho
    notices a lost connection (and is then sent on it or discarded with its queue) or
    not at all; never on the next connection. The per-message path takes no lock.
    """

    def __init__(self, settings: IngestSettings, inbox: queue.SimpleQueue[Message]) -> None:
        self.settings = settings
        self.inbox = inbox
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
            # Acknowledge only after the batch is committed: at-least-once end to end.
            manual_ack=True,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password
            client.username_pw_set(
                settings.mqtt_username, password.get_secret_value() if password else None
            )
        if settings.mqtt_tls:
            # Verifies the chain and the host name (paho's defaults: CERT_REQUIRED, and
            # the system's CAs when no file is given).
            client.tls_set(ca_certs=settings.mqtt_ca_file)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.fast_publish = self._on_fast_publish
        client.before_read = self._new_read_pass
        self.client = client
        # Backpressure: past this many parsed messages waiting for the writer, the
        # network thread waits (TCP then holds the broker back), but only briefly
        # (`wait_budget_s`). Mosquitto was seen sending far past our Receive Maximum
        # while draining a backlog, so the bound on memory has to be ours.
        self.max_pending = settings.receive_maximum
        self.low_water = max(1, int(self.max_pending * LOW_WATER_FRACTION))
        self.wait_budget_s = wait_budget_s(settings.keepalive_s)
        self._wait_left = self.wait_budget_s
        # Set by the writer after it takes a batch from the inbox.
        self.room = threading.Event()
        # Set at shutdown: messages arriving after it stay unacknowledged, so the
        # broker redelivers them to the next session instead of us half-handling them.
        self.draining = False
        self._lock = threading.Lock()
        self._conn = 0  # connections so far (successful CONNACKs)
        self._live = False  # between a successful CONNACK and the loss of that connection
        # The first connection of the broker session the current one continues: older
        # messages were lost with their session, so no redelivery will replace them.
        self._session_start = 0
        # The inbox stayed full past the budget on this connection: new messages are
        # left unacknowledged until a reconnect has the broker redeliver them.
        self._overflowed = False
        self._reconnect_asked = False
        self._listeners: list[Callable[[], None]] = []
        # Plain counters (read by tests and the summary): a metric's lock per message
        # would cost the network thread.
        self.stale_dropped = 0  # older-connection messages `current` left out
        self.overflow_dropped = 0  # messages left unacknowledged because the inbox was full
        self._dropped_before = 0  # overflow_dropped when the current overflow began
        self.publish_dropped = 0  # `publish` calls while not connected

    @property
    def connection(self) -> int:
        """The current broker connection: incremented on every successful CONNACK,
        before any message of that connection is handed on (`Message.conn`)."""
        return self._conn

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` on paho's thread after every successful connect; it must not
        block (set a flag, say). An exception in it is logged, not raised."""
        self._listeners.append(callback)

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start the loop."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        host, port = self.settings.mqtt_host_port
        # clean_start=False: a restarted ingester resumes its session and gets what
        # the broker queued meanwhile (paho's default wipes it on every new process).
        log.info("MQTT path: %s", describe_mqtt_path())
        log.info(
            "connecting to %s as %s (client id %s)",
            self.settings.mqtt_url,  # never carries a login (settings refuse one)
            self.settings.mqtt_username or "an anonymous client",
            self.settings.client_id,
        )
        self.client.connect_async(
            host, port, keepalive=self.settings.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def current(self, batch: list[Message]) -> list[Message]:
        """The messages of `batch` worth storing: without the stale ones of an earlier
        connection of this broker session, which the broker redelivers anyway.

        Older messages whose session was lost (the broker answered "no session") are
        kept: nothing will replace them. Being stale, they are never acknowledged.
        """
        if not batch:
            return batch
        with self._lock:
            conn, session_start = self._conn, self._session_start
        # Arrival order: the connections only grow, so both ends current means all are.
        if batch[0].conn == conn:
            return batch
        kept = [m for m in batch if m.conn == conn or m.conn < session_start]
        stale = len(batch) - len(kept)
        if stale:
            self.stale_dropped += stale
            log.debug(
                "left out %d messages of an earlier connection (the broker redelivers them)",
                stale,
            )
        return kept

    def ack(self, batch: list[Message]) -> None:
        """Acknowledge a committed batch, in arrival order: the messages of the current
        connection only (a packet id of another connection names another message).

        paho writes each PUBACK with its own send(); for thousands of acks a batch
        that is a large share of the CPU, so the QoS-1 acks go out as one write
        (``BufferedClient.ack_qos1``: the same bytes, in the same order).
        """
        with self._lock:
            if not self._live:
                return  # all stale already: the next connection redelivers them
            conn = self._conn
            self.client.ack_qos1([m.mid for m in batch if m.qos == 1 and m.conn == conn])
            for msg in batch:
                if msg.qos == 2 and msg.conn == conn:
                    self.client.ack(msg.mid, 2)
            caught_up = (
                self._overflowed
                and not self._reconnect_asked
                and self.inbox.qsize() <= self.low_water
            )
            if caught_up:
                self._reconnect_asked = True
                if self.client.fast:
                    # Behind the PUBACKs just queued, and before paho can notice any
                    # loss of this connection (we hold the lock on_disconnect needs).
                    self.client.reconnect_after_queued()
        if caught_up:
            log.warning(
                "writer caught up (%d messages waiting): reconnecting so the broker "
                "redelivers the %d left unacknowledged",
                self.inbox.qsize(),
                self.overflow_dropped - self._dropped_before,
            )
            if not self.client.fast:
                self.client.reconnect_after_queued()  # waits for the queue: not under the lock

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = True) -> None:
        """Publish from any thread without blocking; dropped while not connected
        (counted in `publish_dropped`), since paho would otherwise queue it for ever."""
        if not self._live:
            self.publish_dropped += 1
            return
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("could not publish to %s: %s", topic, mqtt.error_string(info.rc))

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        # Before paho opens a new socket: whatever was not yet acknowledged stays so.
        with self._lock:
            self._live = False

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            metrics.CONNECT_REFUSED.labels(reason=str(reason)).inc()
            hint = ""
            if reason.value in LOGIN_REFUSALS:
                hint = (
                    "; check FENLEI_INGEST_MQTT_USERNAME / FENLEI_INGEST_MQTT_PASSWORD "
                    "(and that the broker knows the account: `fenlei devices sync`)"
                )
            # Kept retrying with backoff: a broker restored from a stale account file
            # lets the ingester in once it is synced, without a restart.
            log.error(
                "broker refused the connection as %s (client id %s): %s (0x%02X)%s",
                self.settings.mqtt_username or "an anonymous client",
                self.settings.client_id,
                reason,
                reason.value,
                hint,
            )
            return
        # Runs before paho reads the connection's first PUBLISH.
        with self._lock:
            self._conn += 1
            if not flags.session_present:
                self._session_start = self._conn
            self._live = True
            self._overflowed = False
            self._reconnect_asked = False
            self._wait_left = self.wait_budget_s
        metrics.CONNECTED.set(1)
        log.info("connected (session present: %s)", flags.session_present)
        if self.settings.leave_group:
            # Queued and in-flight messages stay in the session and keep coming.
            client.unsubscribe(subscriptions(self.settings))
            log.warning(
                "leaving: unsubscribed from %s; stop this member once it receives nothing",
                ", ".join(subscriptions(self.settings)),
            )
        else:
            # retainHandling=1: retained statuses only when the subscription is new, not
            # on every reconnect of a resumed session.
            opts = SubscribeOptions(qos=1, retainHandling=1)
            client.subscribe([(t, opts) for t in subscriptions(self.settings)])
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                # An exception here would end paho's network thread.
                log.exception("connect listener %r failed", listener)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("broker refused the subscription: %s", ", ".join(failed))
        else:
            log.info("subscribed to %s", ", ".join(subscriptions(self.settings)))

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        with self._lock:
            self._live = False
        metrics.CONNECTED.set(0)
        if reason.is_failure:
            log.warning("disconnected from broker: %s; reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # paho's own path: QoS 0/2, or packets with properties.
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            # Brokers refuse such topics, but paho decodes lazily and an exception here
            # would stop the network thread. Quarantined as a bad topic, then acknowledged.
            topic = "(topic is not UTF-8)"
        self._receive(topic, cast(bytes, msg.payload), msg.mid, msg.qos)

    def _new_read_pass(self) -> None:
        # paho has just run its keepalive check: a fresh wait budget.
        self._wait_left = self.wait_budget_s

    def _make_room(self) -> bool:
        """Wait for the writer to take from the full inbox, within this pass's budget.

        False: no room in time (the connection is then marked overflowed) or shutting
        down; the caller leaves the message unacknowledged.
        """
        room, inbox, limit = self.room, self.inbox, self.max_pending
        while True:
            room.clear()  # before the check: a set() after it ends the wait below
            if inbox.qsize() < limit:
                return True
            if self.draining:
                return False
            left = self._wait_left
            if left <= 0:
                break
            started = time.monotonic()
            # In slices: the writer's set() only shortens the wait. A set() means the
            # writer took a batch: it is slow, not stuck, so the budget starts over
            # (it bounds a wait without progress, not a long drain).
            if room.wait(min(left, 0.05)):
                self._wait_left = self.wait_budget_s
            else:
                self._wait_left = left - (time.monotonic() - started)
        self._overflowed = True
        self._dropped_before = self.overflow_dropped
        log.warning(
            "inbox full (%d messages) after waiting %.1f s for the writer: leaving new "
            "messages unacknowledged until it catches up, then reconnecting for them",
            inbox.qsize(),
            self.wait_budget_s,
        )
        return False

    def _on_fast_publish(self, topic: str, payload: bytes, mid: int) -> None:
        self._receive(topic, payload, mid, 1)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        # Runs on the network thread: parse and hand on, never block long or raise.
        if self.draining:
            return
        if self._overflowed or (self.inbox.qsize() >= self.max_pending and not self._make_room()):
            # Unacknowledged: the broker redelivers it after the reconnect (QoS 0 is lost).
            self.overflow_dropped += 1
            return
        conn = self._conn
        try:
            if topic.endswith("/status"):
                item = Message(mid, qos, time.monotonic(), None, None, None, conn)
                outcome = parse_status_message(topic, payload)
                if isinstance(outcome, Rejection):
                    item.rejections.append(outcome)
                elif outcome is not None:  # None: an empty payload cleared a retained status
                    item.status = outcome
            else:
                parsed = parse_events(
                    topic, payload, datetime.now(UTC), self.settings.future_tolerance_s
                )
                item = Message(
                    mid, qos, time.monotonic(), parsed.events, parsed.rejections, None, conn
                )
            self.inbox.put(item)
        except Exception:
            log.exception("could not hand on message %s on %s", mid, topic)
