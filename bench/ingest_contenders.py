"""The two baselines the ingest benchmark compares `fenlei ingest` against.

bare:  a paho subscriber that only counts messages (paho acknowledges each one
       itself) — the ceiling for one Python MQTT client.
naive: one INSERT (autocommit) per message, acknowledged by paho after it — what a
       first ingester looks like.

Run as `python -m bench.ingest_contenders MODE --prepare` once to create the broker
session, then without --prepare to drain N queued messages; prints JSON. The broker
and login come from FENLEI_MQTT_URL (mqtts:// with FENLEI_MQTT_CA_FILE) and
FENLEI_INGEST_MQTT_USERNAME / _PASSWORD, as for `fenlei ingest`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.contract import EVENTS_SUBSCRIPTION
from ingest.payload import parse_events
from ingest.settings import IngestSettings

NAIVE_INSERT = """
INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,
                    fill_pct, household, battery_pct)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (bin_key, event_id, ts) DO NOTHING
"""


def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report
    # the forking benchmark process's size.
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bare", "naive"])
    ap.add_argument("--database-url")
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument("--prepare", action="store_true")
    args = ap.parse_args()

    bins: dict[tuple[str, str, str], tuple[int, str]] = {}
    conn = None
    if args.mode == "naive":
        conn = psycopg.connect(args.database_url, autocommit=True)
        for e, r, b, key, cat in conn.execute(
            "SELECT estate_id, room_id, id, bin_key, category FROM bins"
        ):
            bins[(e, r, b)] = (key, cat)

    done = threading.Event()
    subscribed = threading.Event()
    state: dict[str, Any] = {"n": 0, "first": None, "last": None}

    def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        c.subscribe(EVENTS_SUBSCRIPTION, qos=1)

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, rcs: Any, p: Any) -> None:
        subscribed.set()

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        if state["first"] is None:
            state["first"] = now
        if conn is not None:
            parsed = parse_events(msg.topic, bytes(msg.payload), datetime.now(UTC))
            for ev in parsed.events:
                a = ev.address
                key, cat = bins[(a.estate, a.room, a.bin)]
                conn.execute(
                    NAIVE_INSERT,
                    (
                        ev.ts,
                        key,
                        ev.event_id,
                        a.estate,
                        cat,
                        ev.kind,
                        ev.weight_g,
                        ev.fill_pct,
                        ev.household,
                        ev.battery_pct,
                    ),
                )
        state["n"] += 1
        state["last"] = time.perf_counter()
        if args.expect and state["n"] >= args.expect:
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5
    )
    # The same settings `fenlei ingest` reads (URL, CA, login), so both log in alike.
    settings = IngestSettings(database_url=args.database_url or "unused")
    if settings.mqtt_username:
        password = settings.mqtt_password
        client.username_pw_set(
            settings.mqtt_username, password.get_secret_value() if password else None
        )
    if settings.mqtt_tls:
        client.tls_set(ca_certs=settings.mqtt_ca_file)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    host, port = settings.mqtt_host_port
    client.connect(host, port, clean_start=False, properties=props)
    client.loop_start()
    if args.prepare:
        subscribed.wait(30)
        client.disconnect()
        client.loop_stop()
        return 0
    done.wait(3600)
    client.disconnect()
    client.loop_stop()
    elapsed = (state["last"] or 0) - (state["first"] or 0)
    json.dump(
        {
            "messages": state["n"],
            "seconds": elapsed,
            "rate": state["n"] / elapsed if elapsed else 0.0,
            "peak_rss_mb": _peak_rss_mb(),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
