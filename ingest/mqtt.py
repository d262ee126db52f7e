"""The MQTT side: a persistent-session subscriber whose callbacks only parse and enqueue."""

from __future__ import annotations

import logging
import queue
import threading
import time
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


def subscriptions(settings: IngestSettings) -> list[str]:
    """The topic filters, inside a shared-subscription group when one is set."""
    topics = [EVENTS_SUBSCRIPTION, STATUS_SUBSCRIPTION]
    if settings.share_group:
        return [f"$share/{settings.share_group}/{t}" for t in topics]
    return topics


class Subscriber:
    """Receives device messages into `inbox`; the writer acknowledges them after commit."""

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
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.fast_publish = self._on_fast_publish
        self.client = client
        # Backpressure: past this many parsed messages waiting for the writer, the
        # network thread waits (TCP then holds the broker back). Mosquitto was seen
        # sending far past our Receive Maximum while draining a backlog, so the bound
        # on memory has to be ours.
        self.max_pending = settings.receive_maximum
        self.room = threading.Event()
        # Set at shutdown: messages arriving after it stay unacknowledged, so the
        # broker redelivers them to the next session instead of us half-handling them.
        self.draining = False

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

    def ack(self, batch: list[Message]) -> None:
        """Acknowledge a committed batch, in arrival order.

        paho writes each PUBACK with its own send(); for thousands of acks a batch
        that is a large share of the CPU, so the QoS-1 acks go out as one write
        (``BufferedClient.ack_qos1``: the same bytes, in the same order).
        """
        self.client.ack_qos1([msg.mid for msg in batch if msg.qos == 1])
        for msg in batch:
            if msg.qos == 2:
                self.client.ack(msg.mid, 2)

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
        metrics.CONNECTED.set(1)
        log.info("connected (session present: %s)", flags.session_present)
        # retainHandling=1: retained statuses only when the subscription is new, not
        # on every reconnect of a resumed session.
        opts = SubscribeOptions(qos=1, retainHandling=1)
        client.subscribe([(t, opts) for t in subscriptions(self.settings)])

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

    def _wait_for_room(self) -> None:
        self.room.clear()
        while self.inbox.qsize() >= self.max_pending and not self.draining:
            # Timed: a set() between the size check and clear() must not be missed.
            self.room.wait(0.2)

    def _on_fast_publish(self, topic: str, payload: bytes, mid: int) -> None:
        self._receive(topic, payload, mid, 1)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        # Runs on the network thread: parse and hand on, never block or raise.
        if self.draining:
            return
        if self.inbox.qsize() >= self.max_pending:
            self._wait_for_room()
        try:
            if topic.endswith("/status"):
                item = Message(mid, qos, time.monotonic())
                outcome = parse_status_message(topic, payload)
                if isinstance(outcome, Rejection):
                    item.rejections.append(outcome)
                elif outcome is not None:  # None: an empty payload cleared a retained status
                    item.status = outcome
            else:
                parsed = parse_events(
                    topic, payload, datetime.now(UTC), self.settings.future_tolerance_s
                )
                item = Message(mid, qos, time.monotonic(), parsed.events, parsed.rejections)
            self.inbox.put(item)
        except Exception:
            log.exception("could not hand on message %s on %s", mid, topic)
