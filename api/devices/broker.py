"""The admin client: one MQTT v5 connection that sends dynamic-security commands.

It lives in the API process (started and stopped by the lifespan) and, briefly, in
`fenlei devices provision`. paho's network thread owns the socket; callers get a
`concurrent.futures.Future` per command, which async routes await without blocking
the event loop (`run`) and the CLI simply waits on (`run_sync`). Commands go at QoS 0:
the reply, matched by `correlationData`, is the acknowledgement, and QoS 1 would add
a ~40 ms Nagle/delayed-ACK stall per command on loopback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from api.devices.commands import Command, Reply, redact
from deploy.dynsec import CONTROL_RESPONSE_TOPIC, CONTROL_TOPIC
from fenlei.broker_url import BrokerAddress
from fenlei.errors import FenleiError

log = logging.getLogger(__name__)
KEEPALIVE_S = 30
# paho reconnects by itself between these bounds (seconds).
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
# How often a command waiting for the connection looks again (seconds).
READY_POLL_S = 0.05


class BrokerUnavailable(FenleiError):
    """A command could not be confirmed: not connected, connection lost, or no reply."""


class AdminClient:
    """`$CONTROL/dynamic-security/v1` over one long-lived, auto-reconnecting client."""

    def __init__(
        self,
        address: BrokerAddress,
        username: str,
        password: str,
        client_id: str = "fenlei-admin",
        ca_file: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(username, password)
        if address.tls:
            # Verifies the chain and the host name; the system CAs when no file is given.
            self._client.tls_set(ca_certs=ca_file)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.message_callback_add(CONTROL_RESPONSE_TOPIC, self._on_response)
        self._lock = threading.Lock()
        self._pending: dict[str, concurrent.futures.Future[Reply]] = {}
        self._ready = threading.Event()
        self._subscription: int | None = None
        self._stopping = False
        self._on_ready: list[Callable[[], None]] = []

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until `stop`."""
        self._client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and fail whatever still waits for a reply."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._ready.clear()
        self._fail_pending("the admin client stopped")

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until connected and subscribed to the replies (or `timeout_s` passes)."""
        return self._ready.wait(timeout_s)

    @property
    def ready(self) -> bool:
        """Connected and subscribed: commands sent now get their replies."""
        return self._ready.is_set()

    def when_ready(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on paho's thread) after every (re)connect: drain queues there."""
        self._on_ready.append(callback)

    # -- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            log.warning("the broker refused the admin client: %s", reason)
            return
        _, self._subscription = client.subscribe(CONTROL_RESPONSE_TOPIC, qos=0)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Any,
    ) -> None:
        if mid != self._subscription:
            return
        if any(r.is_failure for r in reasons):
            # The account lacks the grant on the reply topic: commands would go unanswered.
            log.warning("the broker refused the admin client's reply subscription: %s", reasons)
            return
        self._ready.set()
        log.info("admin client connected to %s:%d", self.address.host, self.address.port)
        for callback in self._on_ready:
            try:
                callback()
            except Exception:  # one failing listener must not stop the others
                log.exception("admin client ready callback failed")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._fail_pending("the connection to the broker was lost")
        if was_ready and not self._stopping:
            log.warning("admin client disconnected from the broker (%s); reconnecting", reason)

    def _on_response(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload).get("responses", [])
        except (ValueError, AttributeError):
            log.warning("unreadable dynamic-security reply (%d bytes)", len(msg.payload))
            return
        for reply in responses:
            with self._lock:
                future = self._pending.pop(str(reply.get("correlationData", "")), None)
            if future is not None and not future.done():
                future.set_result(reply)

    def _fail_pending(self, why: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BrokerUnavailable(why))

    # -- commands ------------------------------------------------------------------------

    def submit(self, commands: Sequence[Command]) -> list[concurrent.futures.Future[Reply]]:
        """Send `commands` in one message; one future per command, resolved by its reply.

        Raises BrokerUnavailable at once when not connected: `run` and `run_sync` wait
        for the connection first (within the same timeout).
        """
        if not self._ready.is_set():
            raise BrokerUnavailable(
                f"the admin client is not connected to {self.address.host}:{self.address.port}"
            )
        tagged = [{**c, "correlationData": uuid.uuid4().hex} for c in commands]
        futures: list[concurrent.futures.Future[Reply]] = []
        with self._lock:
            for command in tagged:
                future: concurrent.futures.Future[Reply] = concurrent.futures.Future()
                self._pending[command["correlationData"]] = future
                futures.append(future)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dynamic-security commands: %s", json.dumps(redact(tagged)))
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=0)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._forget(tagged)
            raise BrokerUnavailable(f"could not send to the broker ({mqtt.error_string(info.rc)})")
        return futures

    def _forget(self, tagged: Sequence[Command]) -> None:
        with self._lock:
            for command in tagged:
                self._pending.pop(command["correlationData"], None)

    def _timed_out(self, futures: Sequence[concurrent.futures.Future[Reply]]) -> BrokerUnavailable:
        with self._lock:
            for key, future in list(self._pending.items()):
                if future in futures:
                    del self._pending[key]
        return BrokerUnavailable(f"no reply from the broker within {self.timeout_s:g} s")

    def run_sync(self, commands: Sequence[Command]) -> list[Reply]:
        """Send and wait (blocking) for every reply; BrokerUnavailable after the timeout."""
        deadline = time.monotonic() + self.timeout_s
        # Just started or reconnecting: a command sent now would be refused outright.
        self._ready.wait(self.timeout_s)
        futures = self.submit(commands)
        left = max(0.0, deadline - time.monotonic())
        done, _ = concurrent.futures.wait(futures, timeout=left)
        if len(done) < len(futures):
            raise self._timed_out(futures)
        return [f.result() for f in futures]

    async def run(self, commands: Sequence[Command]) -> list[Reply]:
        """Send and await every reply without blocking the event loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        # Just started or reconnecting (an API's first request can beat the CONNACK):
        # wait for the connection within the same timeout rather than refuse at once.
        while not self._ready.is_set() and loop.time() < deadline:
            await asyncio.sleep(READY_POLL_S)
        futures = self.submit(commands)
        try:
            async with asyncio.timeout_at(deadline):
                return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))
        except TimeoutError:
            raise self._timed_out(futures) from None
