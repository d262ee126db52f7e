"""Ingest throughput: `fenlei ingest` against a bare subscriber and a naive ingester.

    make bench-ingest            # or: python -m bench.ingest [--events 300000]
    python -m bench.ingest --events 30000 --results /tmp/ingest.md   # a quick check

Each contender drains the same backlog of N QoS-1 messages (one ~200-byte event
each) that fast publishers queued at the broker while the contender's persistent
session was disconnected, so publishers and consumer never share the 2 cores. All
three run in one invocation against the same Mosquitto and TimescaleDB (a scratch
database `fenlei_bench`, dropped afterwards). Writes bench/results/ingest.md, keeping
its hand-written "## Notes" section, and says which MQTT path `fenlei ingest` took.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy.migrate import migrate
from ingest.contract import events_topic
from ingest.fastclient import PAHO_INSTALLED, describe_mqtt_path
from simulators.publisher import Publisher

RESULTS = Path(__file__).parent / "results" / "ingest.md"
BENCH_DB = "fenlei_bench"
ESTATE = "bench"
ROOMS = 10
BINS_PER_ROOM = 10
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
PUBLISHERS = 4
# In (d) one message in this many is garbage (bad JSON or an unknown bin).
GARBAGE_EVERY = 10
# c/a: issue #10 holds `fenlei ingest` to what its fast MQTT path reached (1.38 at 300k).
GOALS = {"c/a": 1.31, "c/b": 8.0, "rss_mb": 200.0}
NOTES_HEADING = "## Notes"


def scratch_database(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    params = conninfo_to_dict(url)
    params["dbname"] = BENCH_DB
    bench_url = make_conninfo(**params)  # type: ignore[arg-type]
    migrate(bench_url)
    with psycopg.connect(bench_url) as conn:
        conn.execute(
            "INSERT INTO estates (id, name, households_total) VALUES (%s, 'bench', 5000)", (ESTATE,)
        )
        for r in range(ROOMS):
            conn.execute("INSERT INTO rooms (estate_id, id) VALUES (%s, %s)", (ESTATE, f"r{r}"))
            for b in range(BINS_PER_ROOM):
                conn.execute(
                    "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, %s, %s, %s)",
                    (ESTATE, f"r{r}", f"b{b}", CATEGORIES[b % 5]),
                )
    return bench_url


def messages(run: str, n: int) -> list[tuple[str, bytes]]:
    """N single-event drop messages of about 200 bytes, spread over the bins."""
    start = datetime(2026, 3, 23, tzinfo=UTC)
    out = []
    for i in range(n):
        r, b = (i // BINS_PER_ROOM) % ROOMS, i % BINS_PER_ROOM
        body = orjson.dumps(
            {
                "event_id": f"{run}-{i:08d}",
                "ts": (start + timedelta(seconds=i)).isoformat(),
                "kind": "drop",
                "weight_g": 200 + i % 3000,
                "household": f"h-{i % 1200:05d}",
                "fill_pct": round((i % 1000) / 10, 1),
                "battery_pct": 88.5,
                "firmware": "jjq-2.4.1",
            }
        )
        out.append((events_topic(ESTATE, f"r{r}", f"b{b}"), body))
    return out


def with_garbage(msgs: list[tuple[str, bytes]], every: int) -> list[tuple[str, bytes]]:
    """Every `every`-th message replaced by one the contract rejects (bad JSON, unknown bin)."""
    out = list(msgs)
    for i in range(every - 1, len(out), every):
        topic, body = out[i]
        out[i] = (topic, body[:-7]) if i % 2 else (events_topic(ESTATE, "r0", "nope"), body)
    return out


def publish_backlog(mqtt_url: str, msgs: list[tuple[str, bytes]]) -> float:
    """Publish with several connections at once; returns messages/s."""
    chunks = [msgs[i::PUBLISHERS] for i in range(PUBLISHERS)]

    def send(chunk: list[tuple[str, bytes]]) -> None:
        with Publisher(mqtt_url, f"bench-pub-{uuid.uuid4().hex[:6]}") as pub:
            for topic, body in chunk:
                pub.publish(topic, body)
            pub.flush(timeout=600)

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(msgs) / (time.perf_counter() - started)


def drop_session(mqtt_url: str, client_id: str) -> None:
    """End a contender's persistent broker session, or it keeps queueing for a week."""
    parts = urlsplit(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, clean_start=True)
    client.loop_start()
    client.disconnect()  # session expiry 0 (the default): gone with the connection
    client.loop_stop()


def count_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]


def reset(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE events, daily_category, household_days, rejected_messages")


def stored_span(url: str) -> tuple[int, int, float]:
    """(rows, distinct event ids, seconds between the first and last commit)."""
    with psycopg.connect(url) as conn:
        n, distinct, span = conn.execute(
            "SELECT count(*), count(DISTINCT event_id),"
            " extract(epoch FROM max(received_at) - min(received_at)) FROM events"
        ).fetchone()  # type: ignore[misc]
    return int(n), int(distinct), float(span or 0)


def contender(
    mode: str,
    mqtt_url: str,
    db_url: str,
    n: int,
    msgs: list[tuple[str, bytes]],
    pub_rates: list[float],
) -> dict[str, float]:
    cid = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    base = [
        sys.executable,
        "-m",
        "bench.ingest_contenders",
        mode,
        "--mqtt-url",
        mqtt_url,
        "--database-url",
        db_url,
        "--client-id",
        cid,
    ]
    subprocess.run([*base, "--prepare"], check=True)
    pub_rates.append(publish_backlog(mqtt_url, msgs))
    try:
        out = subprocess.run(
            [*base, "--expect", str(n)], check=True, capture_output=True, text=True
        )
    finally:
        drop_session(mqtt_url, cid)
    result: dict[str, float] = json.loads(out.stdout)
    if mode == "naive":
        rows, distinct, _ = stored_span(db_url)
        result.update(stored=rows, distinct=distinct)
    return result


def fenlei_ingest(
    mqtt_url: str,
    db_url: str,
    n: int,
    msgs: list[tuple[str, bytes]],
    pub_rates: list[float],
    expect_stored: int | None = None,
) -> dict[str, float]:
    cid = f"bench-fenlei-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(
        FENLEI_DATABASE_URL=db_url,
        FENLEI_MQTT_URL=mqtt_url,
        FENLEI_METRICS_PORT="0",
        FENLEI_CLIENT_ID=cid,
        FENLEI_HOME="/nonexistent",
    )
    warm = messages("warmup", 1)
    proc = subprocess.Popen([sys.executable, "-m", "ingest"], env=env)
    while count_events(db_url) < 1:  # subscribed once: the session now exists
        publish_backlog(mqtt_url, warm)
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    reset(db_url)
    pub_rates.append(publish_backlog(mqtt_url, msgs))
    proc = subprocess.Popen([sys.executable, "-m", "ingest"], env=env)
    try:
        while count_events(db_url) < (expect_stored or n):
            time.sleep(0.2)
        with open(f"/proc/{proc.pid}/status") as fh:
            hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        drop_session(mqtt_url, cid)
    rows, distinct, span = stored_span(db_url)
    with psycopg.connect(db_url) as conn:
        rejected = conn.execute("SELECT count(*) FROM rejected_messages").fetchone()[0]  # type: ignore[index]
    return {
        "rejected": int(rejected),
        "messages": n,
        "seconds": span,
        "rate": rows / span if span else 0.0,
        "stored": rows,
        "distinct": distinct,
        "peak_rss_mb": hwm / 1024,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument(
        "--naive-events",
        type=int,
        default=None,
        help="messages for the naive baseline (default: same as --events)",
    )
    ap.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="where to write the results (default: bench/results/ingest.md)",
    )
    args = ap.parse_args()
    from fenlei.env import load_services_env

    load_services_env()
    base_url = os.environ.get("FENLEI_DATABASE_URL")
    mqtt_url = os.environ.get("FENLEI_MQTT_URL")
    if not base_url or not mqtt_url:
        raise SystemExit("run `fenlei services up` first (or set FENLEI_DATABASE_URL/MQTT_URL)")
    n, n_naive = args.events, args.naive_events or args.events
    db_url = scratch_database(base_url)
    pub_rates: list[float] = []
    try:
        print(f"(a) bare subscriber draining {n} messages…", flush=True)
        a = contender("bare", mqtt_url, db_url, n, messages("a", n), pub_rates)
        print(f"    {a['rate']:,.0f} msg/s", flush=True)
        print(f"(b) naive ingester draining {n_naive} messages…", flush=True)
        reset(db_url)
        b = contender("naive", mqtt_url, db_url, n_naive, messages("b", n_naive), pub_rates)
        print(f"    {b['rate']:,.0f} events/s", flush=True)
        print(f"(c) fenlei ingest draining {n} messages…", flush=True)
        reset(db_url)
        c = fenlei_ingest(mqtt_url, db_url, n, messages("c", n), pub_rates)
        print(f"    {c['rate']:,.0f} events/s", flush=True)
        print(f"(d) fenlei ingest, every {GARBAGE_EVERY}th message garbage…", flush=True)
        reset(db_url)
        dirty = with_garbage(messages("d", n), GARBAGE_EVERY)
        d = fenlei_ingest(
            mqtt_url, db_url, n, dirty, pub_rates, expect_stored=n - n // GARBAGE_EVERY
        )
        print(f"    {d['rate']:,.0f} valid events/s", flush=True)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    write_results(args.results, n, n_naive, a, b, c, d, pub_rates)
    print(args.results.read_text())
    return 0


def write_results(
    path: Path,
    n: int,
    n_naive: int,
    a: dict[str, float],
    b: dict[str, float],
    c: dict[str, float],
    d: dict[str, float],
    pub_rates: list[float],
) -> None:
    ca, cb = c["rate"] / a["rate"], c["rate"] / b["rate"]
    lost, dup = n - c["distinct"], c["stored"] - c["distinct"]

    def ok(good: bool) -> str:
        return "met" if good else "NOT met"

    lines = [
        "# Ingest benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}; "
        "command: `make bench-ingest` (`python -m bench.ingest`).",
        "",
        "Each contender drains a backlog of QoS-1 messages (one ~200-byte drop event each) "
        "queued at the local Mosquitto for its persistent session by "
        f"{PUBLISHERS} publishers (mean {sum(pub_rates) / len(pub_rates):,.0f} msg/s); "
        "rate = messages or stored events per second from first to last.",
        "",
        f"MQTT path measured in (c) and (d): {describe_mqtt_path()}. "
        f"(a) and (b) use paho-mqtt {PAHO_INSTALLED}'s stock client.",
        "",
        "| contender | messages | events/s | peak RSS MB |",
        "| --- | ---: | ---: | ---: |",
        f"| (a) bare paho subscriber (ceiling) | {n:,} | {a['rate']:,.0f} | "
        f"{a['peak_rss_mb']:.0f} |",
        f"| (b) naive: one INSERT per message (baseline) | {n_naive:,} | {b['rate']:,.0f} | "
        f"{b['peak_rss_mb']:.0f} |",
        f"| (c) `fenlei ingest` | {n:,} | {c['rate']:,.0f} | {c['peak_rss_mb']:.0f} |",
        f"| (d) `fenlei ingest`, every {GARBAGE_EVERY}th message garbage (valid events/s) "
        f"| {n:,} | {d['rate']:,.0f} | {d['peak_rss_mb']:.0f} |",
        "",
        f"Machine load average at the end: {os.getloadavg()[0]:.1f} (2 cores; other work "
        "shares the machine, so compare the ratios, which come from one run).",
        "",
        "| goal | measured | |",
        "| --- | ---: | --- |",
        f"| c/a >= {GOALS['c/a']} | {ca:.2f} | {ok(ca >= GOALS['c/a'])} |",
        f"| c/b >= {GOALS['c/b']} | {cb:.1f} | {ok(cb >= GOALS['c/b'])} |",
        f"| 0 lost | {lost} | {ok(lost == 0)} |",
        f"| 0 duplicated | {dup} | {ok(dup == 0)} |",
        f"| ingester peak RSS < {GOALS['rss_mb']:.0f} MB | {c['peak_rss_mb']:.0f} | "
        f"{ok(c['peak_rss_mb'] < GOALS['rss_mb'])} |",
        f"| garbage does not slow valid traffic: d/c | {d['rate'] / c['rate']:.2f} | "
        f"{d['rejected']:,} of {n // GARBAGE_EVERY:,} garbage messages quarantined |",
        "",
    ]
    # Keep the explanation written by hand under the tables of the last run.
    old = path.read_text() if path.exists() else ""
    notes = old[old.find(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    path.write_text("\n".join(lines) + notes)


if __name__ == "__main__":
    raise SystemExit(main())
