"""A stream over two bins, published with a stock client; its exactly-once count; and
ending a broker session a test left behind."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from simulators.broker import Broker
from simulators.publisher import Publisher
from tests.fix_data import wait_for
from tests.fix_stream import TOPIC_DRY, TOPIC_WET, drop

# The same event ids on both bins: two events each, so the count per (bin, event_id)
# (not per event id) is what says "exactly once".
TOPICS = (TOPIC_DRY, TOPIC_WET)
BASE_TS = 1_774_224_000  # 2026-03-23T00:00:00Z


def stream(prefix: str, n: int) -> list[tuple[str, bytes]]:
    """`n` single-event messages, alternating between the two bins."""
    out = []
    for i in range(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE_TS + i // len(TOPICS)))
        body = drop(f"{prefix}-{i // len(TOPICS)}", ts=ts, weight_g=100 + i % 900)
        out.append((TOPICS[i % len(TOPICS)], orjson.dumps(body)))
    return out


def publish_all(broker: Broker, messages: list[tuple[str, bytes]], rate_per_s: float = 0) -> int:
    """Publish at QoS 1 with a stock paho client and return how many the broker
    acknowledged: all of them, or this raises (a refused or unacknowledged publish)."""
    with Publisher(broker, f"scaleout-pub-{uuid.uuid4().hex[:8]}") as pub:
        start = time.monotonic()
        for i, (topic, body) in enumerate(messages):
            pub.publish(topic, body)
            if rate_per_s:
                ahead = i / rate_per_s - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        pub.flush(timeout=300)
        pub.check_denied()
    return len(messages)


class Background:
    """`publish_all` on a thread; `join` returns its acknowledged count or raises its error."""

    def __init__(self, broker: Broker, messages: list[tuple[str, bytes]], rate: float) -> None:
        self.acked: int | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.acked = publish_all(broker, messages, rate)
            except BaseException as exc:  # handed to join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 300.0) -> int:
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.acked is not None, "the publisher did not finish in time"
        return self.acked


@dataclass(frozen=True)
class Tally:
    """Rows of a stream in the events table, against what the publisher had acknowledged."""

    rows: int
    keys: int  # distinct (bin, event_id)
    most_per_key: int

    def lost(self, acked: int) -> int:
        return acked - self.keys

    def duplicated(self) -> int:
        return self.rows - self.keys


def tally(db_url: str, prefix: str) -> Tally:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(n), 0), count(*), coalesce(max(n), 0) FROM ("
            " SELECT count(*) AS n FROM events WHERE event_id LIKE %s"
            " GROUP BY bin_key, event_id) per_key",
            (f"{prefix}-%",),
        ).fetchone()
    assert row is not None
    return Tally(int(row[0]), int(row[1]), int(row[2]))


def assert_exactly_once(db_url: str, prefix: str, acked: int) -> None:
    t = tally(db_url, prefix)
    assert (t.lost(acked), t.duplicated(), t.most_per_key) == (0, 0, 1), (
        f"{acked} acknowledged: lost {t.lost(acked)}, duplicated {t.duplicated()} "
        f"(most rows for one (bin, event_id): {t.most_per_key})"
    )


def wait_settled(probe: Callable[[], int], quiet_s: float = 3.0, timeout: float = 120.0) -> int:
    """Poll `probe` until its value has not changed for `quiet_s`; return the value."""
    deadline = time.monotonic() + timeout
    last, since = probe(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() > deadline:
            raise AssertionError(f"still changing after {timeout:g} s (last {last})")
        time.sleep(0.25)
        now = probe()
        if now != last:
            last, since = now, time.monotonic()
    return last


def canary(db_url: str, broker: Broker) -> None:
    """Publish one event until it is stored: the ingesters are subscribed (before the
    first subscribe the broker has no session to queue it in)."""
    key = f"canary-{uuid.uuid4().hex[:8]}"

    def probe() -> int:
        publish_all(broker, [(TOPIC_DRY, orjson.dumps(drop(key)))])
        return int(_stored(db_url, key))

    wait_for(probe, lambda c: c == 1, 60, interval=0.5, what="the canary event")


def _stored(db_url: str, event_id: str) -> bool:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events WHERE event_id = %s", (event_id,)
        ).fetchone()
    return bool(row and row[0])


def end_session(broker: Broker, client_id: str, login: tuple[str, str] | None = None) -> None:
    """Connect as `client_id` with a clean start and leave: the broker forgets the
    session, which would otherwise go on queueing its share of every later stream."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if login:
        client.username_pw_set(*login)
    if broker.tls:
        client.tls_set(ca_certs=broker.ca_file)
    host, port = broker.host_port
    client.connect(host, port, clean_start=True)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()  # session expiry 0 (the default): gone with the connection
    client.loop_stop()
