"""Ingest throughput: `fenlei ingest` against a bare subscriber, a naive ingester and
the broker's own C client, with garbage, over TLS, without authentication, and split
over two ingesters.

    make bench-ingest            # or: python -m bench.ingest [--events 300000]
    python -m bench.ingest --quick   # 30,000 messages, results to /tmp: a quick check
    python -m bench.ingest --only cde --events 50000   # some contenders (results to /tmp)

Each contender drains the same backlog of N QoS-1 messages (one ~200-byte event
each) that fast publishers queued at the broker while the contender's persistent
session was disconnected, so publishers and consumer never share the 2 cores; the
drain starts after a CHECKPOINT and just after the broker's autosave (`settle`). All
run in one invocation against the same TimescaleDB (a scratch database
`fenlei_bench`, dropped afterwards) and the local Mosquitto, which refuses anonymous
clients: the consumers log in as `fenlei-ingest`, the publishers as `fenlei-sim`
(FENLEI_INGEST_MQTT_* / FENLEI_SIM_MQTT_* from services.env). The contenders:
(a) a bare paho subscriber, (b) a naive ingester (one INSERT per message),
(c) `fenlei ingest`, (d) the same with every 10th message garbage (alternately bad
JSON and an unknown bin), (e) `mosquitto_sub -c -q 1 -C N` with the same login (its
password in an options file, never on a command line): the broker's side of the
limit, (f) `fenlei ingest` over the mqtts listener, (g) from a throwaway second
Mosquitto with the same settings but `allow_anonymous true` and no plugin (the figure
without authentication), (h) two `fenlei ingest` processes on one shared subscription.
Besides rates, the CPU time per message of the ingester processes and of their
database connections (/proc/<pid>/stat), steadier than rates on a shared machine, and
the machine's load (/proc/loadavg) while each ran. Writes bench/results/ingest.md,
keeping its hand-written "## Notes" section, and says which MQTT path `fenlei ingest`
took.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.worktree import describe_checkout, worktree
from deploy.migrate import migrate
from deploy.services import BROKER_STORE, broker_saved_at
from deploy.settings import ServicesSettings
from ingest.contract import EVENTS_SUBSCRIPTION, events_topic
from ingest.fastclient import PAHO_INSTALLED, describe_mqtt_path
from ingest.settings import IngestSettings
from simulators.broker import Broker, Login
from simulators.publisher import Publisher

RESULTS = Path(__file__).parent / "results" / "ingest.md"
BASELINE_RESULTS = Path(__file__).parent / "results" / "ingest-baseline.md"
QUICK_EVENTS = 30_000
QUICK_RESULTS = Path(tempfile.gettempdir()) / "fenlei-bench-ingest-quick.md"
BENCH_DB = "fenlei_bench"
ESTATE = "bench"
ROOMS = 10
BINS_PER_ROOM = 10
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
PUBLISHERS = 4
# (h): ingesters splitting one stream on a shared subscription.
SHARED_PROCESSES = 2
# In (d) one message in this many is garbage (bad JSON or an unknown bin).
GARBAGE_EVERY = 10
# c/a: issue #10 holds `fenlei ingest` to what its fast MQTT path reached (1.38 at 300k).
GOALS = {
    "c/a": 1.31,
    "c/b": 8.0,
    "rss_mb": 200.0,
    "auth": 0.95,
    "tls": 0.95,
    # Issue #17: garbage must not slow valid traffic; towards the C client's rate.
    "d/c": 0.95,
    "c/e": 0.8,
}
NOTES_HEADING = "## Notes"
# The throwaway anonymous broker: started for (f), gone after it.
ANON_START_TIMEOUT_S = 15.0
# How long settle() waits for the broker's next autosave (autosave_interval is 5 s).
AUTOSAVE_WAIT_S = 12.0
# Lines of the local broker's config that (f) replaces: its security, listeners, files.
ANON_DROPPED = {
    "per_listener_settings",
    "allow_anonymous",
    "plugin",
    "plugin_opt_config_file",
    "listener",
    "cafile",
    "certfile",
    "keyfile",
    "tls_version",
    "persistence_location",
    "pid_file",
    "log_dest",
}


@dataclass(frozen=True)
class Target:
    """A broker the contenders drain: publishers fill the backlog at ``publish``,
    the consumer connects to ``consume_url`` with ``login`` (the ingest account)."""

    name: str
    publish: Broker
    consume_url: str
    ca_file: str | None = None
    login: Login | None = None
    # When the broker last saved its store (an mtime), if known: drains start just
    # after a save.
    saved_at: Callable[[], float | None] | None = None

    def consumer_env(self) -> dict[str, str]:
        """FENLEI_* variables of a consumer process (the login never on a command line)."""
        env = {"FENLEI_MQTT_URL": self.consume_url}
        if self.ca_file:
            env["FENLEI_MQTT_CA_FILE"] = self.ca_file
        if self.login:
            env["FENLEI_INGEST_MQTT_USERNAME"] = self.login.username
            env["FENLEI_INGEST_MQTT_PASSWORD"] = self.login.password
        return env


def _login(user_var: str, password_var: str) -> Login | None:
    user = os.environ.get(user_var)
    return Login(user, os.environ.get(password_var, "")) if user else None


def local_target() -> Target:
    """The broker of services.env with fenlei's own logins."""
    mqtt_url = os.environ["FENLEI_MQTT_URL"]
    ca_file = os.environ.get("FENLEI_MQTT_CA_FILE") or None
    sim = _login("FENLEI_SIM_MQTT_USERNAME", "FENLEI_SIM_MQTT_PASSWORD")
    return Target(
        "local",
        Broker(mqtt_url, ca_file, sim),
        mqtt_url,
        ca_file,
        _login("FENLEI_INGEST_MQTT_USERNAME", "FENLEI_INGEST_MQTT_PASSWORD"),
        partial(broker_saved_at, ServicesSettings()),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def anonymous_broker(config: Path) -> Iterator[Target | None]:
    """A second Mosquitto with ``config``'s settings but no authentication, on a free
    loopback port in a temporary directory; None when there is no config to copy."""
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not config.is_file() or not Path(mosquitto).exists():
        yield None
        return
    work = Path(tempfile.mkdtemp(prefix="fenlei-bench-anon-", dir="/tmp"))
    try:
        if os.geteuid() == 0:  # mosquitto drops to its own user and must write here
            pw = pwd.getpwnam("mosquitto")
            work.chmod(0o755)
            os.chown(work, pw.pw_uid, pw.pw_gid)
        port = _free_port()
        kept = [
            line
            for line in config.read_text().splitlines()
            if line.strip() and not line.startswith("#") and line.split()[0] not in ANON_DROPPED
        ]
        conf = work / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    "allow_anonymous true",
                    f"listener {port} 127.0.0.1",
                    f"persistence_location {work}/",
                    "log_dest stderr",
                    *kept,
                    "",
                ]
            )
        )
        log = (work / "mosquitto.log").open("wb")
        proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + ANON_START_TIMEOUT_S
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(
                            f"the anonymous broker did not start: {work / 'mosquitto.log'}"
                        ) from None
                    time.sleep(0.1)
            url = f"mqtt://127.0.0.1:{port}"
            store = work / BROKER_STORE

            def saved_at() -> float | None:
                return store.stat().st_mtime if store.exists() else None

            yield Target("anonymous", Broker(url), url, saved_at=saved_at)
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def settle(db_url: str, target: Target) -> list[str]:
    """Start a drain from the same state as every other: what was not done, as notes.

    Two background writers run on timers, and whichever drain they land in is slower
    by their cost: PostgreSQL's checkpoints (every `checkpoint_timeout`, and after one
    each page's first change writes a full page image to the WAL) and Mosquitto's
    autosave (every `autosave_interval`, 5 s: it writes its whole store, the queued
    backlog included, while serving no one). So a checkpoint is made now, which puts
    the next timed one minutes away, and the drain starts right after an autosave, so
    each drain meets the next ones at the same points. (Without this, d/c scattered
    from 0.78 to 0.98 between rounds on a quiet machine.)
    """
    notes = []
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) household_months")
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        notes.append("no CHECKPOINT (needs superuser or pg_checkpoint)")
    before = target.saved_at() if target.saved_at else None
    if target.saved_at and before is not None:
        deadline = time.monotonic() + AUTOSAVE_WAIT_S
        while target.saved_at() == before:
            if time.monotonic() > deadline:
                notes.append(f"no broker autosave within {AUTOSAVE_WAIT_S:g} s")
                break
            time.sleep(0.01)
    else:
        notes.append("broker store not found: drain not aligned with its autosave")
    return notes


def _settle_noted(db_url: str, target: Target) -> None:
    for note in settle(db_url, target):
        print(f"    settle: {note}", flush=True)


def scratch_database(url: str, dbname: str = BENCH_DB) -> str:
    """A fresh migrated database `dbname` with the bench estate's 100 bins."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {dbname}")
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
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
    for k, i in enumerate(range(every - 1, len(out), every)):
        topic, body = out[i]
        # Alternately (k, not i: every i here has the same parity when `every` is even).
        out[i] = (topic, body[:-7]) if k % 2 else (events_topic(ESTATE, "r0", "nope"), body)
    return out


def publish_backlog(broker: Broker, msgs: list[tuple[str, bytes]]) -> float:
    """Publish with several connections at once; returns messages/s."""
    chunks = [msgs[i::PUBLISHERS] for i in range(PUBLISHERS)]

    def send(chunk: list[tuple[str, bytes]]) -> None:
        with Publisher(broker, f"bench-pub-{uuid.uuid4().hex[:6]}") as pub:
            for topic, body in chunk:
                pub.publish(topic, body)
            pub.flush(timeout=600)
            pub.check_denied()

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(msgs) / (time.perf_counter() - started)


def drop_session(target: Target, client_id: str) -> None:
    """End a contender's persistent broker session, or it keeps queueing for a week."""
    broker = Broker(target.consume_url, target.ca_file)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if target.login:
        client.username_pw_set(target.login.username, target.login.password)
    if broker.tls:
        client.tls_set(ca_certs=broker.ca_file)
    host, port = broker.host_port
    client.connect(host, port, clean_start=True)
    client.loop_start()
    client.disconnect()  # session expiry 0 (the default): gone with the connection
    client.loop_stop()


def count_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]


def reset(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "TRUNCATE events, event_keys, daily_category, household_days, rejected_messages,"
            " rejected_tally"
        )


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
    target: Target,
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
        "--database-url",
        db_url,
        "--client-id",
        cid,
    ]
    env = {**os.environ, **target.consumer_env()}
    subprocess.run([*base, "--prepare"], check=True, env=env)
    pub_rates.append(publish_backlog(target.publish, msgs))
    _settle_noted(db_url, target)
    try:
        out = subprocess.run(
            [*base, "--expect", str(n)], check=True, capture_output=True, text=True, env=env
        )
    finally:
        drop_session(target, cid)
    result: dict[str, float] = json.loads(out.stdout)
    if mode == "naive":
        rows, distinct, _ = stored_span(db_url)
        result.update(stored=rows, distinct=distinct)
    return result


@contextmanager
def _mosquitto_sub_login(login: Login | None) -> Iterator[dict[str, str]]:
    """The environment for mosquitto_sub with ``login``: it reads its options file
    ($XDG_CONFIG_HOME/mosquitto_sub, 0600 in a temporary directory), so the password
    never appears on a command line."""
    with tempfile.TemporaryDirectory(prefix="fenlei-bench-sub-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
        env["XDG_CONFIG_HOME"] = home
        if login:
            options = Path(home) / "mosquitto_sub"
            options.touch(0o600)
            options.write_text(f"-u {login.username}\n-P {login.password}\n")
        yield env


def mosquitto_sub(
    target: Target, db_url: str, n: int, msgs: list[tuple[str, bytes]], pub_rates: list[float]
) -> dict[str, float] | None:
    """(e) The broker's side of the limit: Mosquitto's own C client drains the backlog.

    ``mosquitto_sub -c -q 1 -C N`` with a persistent MQTT v5 session (expiry one hour)
    and the ingester's login, payloads to /dev/null; rate = N / wall time of the drain,
    connect and subscribe included (a few ms: it slightly understates the ceiling).
    None when mosquitto_sub is not installed.
    """
    exe = shutil.which("mosquitto_sub")
    if exe is None:
        return None
    broker = Broker(target.consume_url, target.ca_file)
    host, port = broker.host_port
    cid = f"bench-sub-{uuid.uuid4().hex[:6]}"
    base = [exe, "-h", host, "-p", str(port), "-V", "mqttv5", "-c", "-x", "3600"]
    base += ["-q", "1", "-i", cid, "-t", EVENTS_SUBSCRIPTION]
    if broker.tls:
        base += ["--cafile", str(broker.ca_file)]
    with _mosquitto_sub_login(target.login) as env:
        # The session and its subscription, then gone (-W: exit after 1 s).
        subprocess.run([*base, "-W", "1"], env=env, stdout=subprocess.DEVNULL, check=False)
        pub_rates.append(publish_backlog(target.publish, msgs))
        _settle_noted(db_url, target)
        try:
            started = time.perf_counter()
            subprocess.run(
                [*base, "-C", str(n)], env=env, stdout=subprocess.DEVNULL, check=True, timeout=600
            )
            seconds = time.perf_counter() - started
        finally:
            drop_session(target, cid)
    return {"messages": n, "seconds": seconds, "rate": n / seconds, "peak_rss_mb": 0.0}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pids(db_url: str) -> list[int]:
    """The database server processes serving the ingesters' connections."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'fenlei-ingest' AND datname = current_database()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def fenlei_ingest(
    target: Target,
    db_url: str,
    n: int,
    msgs: list[tuple[str, bytes]],
    pub_rates: list[float],
    expect_stored: int | None = None,
    source: Path | None = None,
    processes: int = 1,
) -> dict[str, float]:
    """Drain `msgs` with `python -m ingest`; from the checkout `source` when given (a
    baseline commit's worktree: its modules come first on the path), else this one.

    With `processes` > 1, that many ingesters split the stream on a shared
    subscription (FENLEI_SHARE_GROUP), each with its own client id and session.
    Besides the rate, the CPU the ingesters and their database connections used per
    message after the first stored event (steadier than rates on a shared machine).
    """
    tag = uuid.uuid4().hex[:6]
    cids = [f"bench-fenlei-{tag}-{i}" for i in range(processes)]
    base = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    base.update(
        FENLEI_DATABASE_URL=db_url,
        FENLEI_METRICS_PORT="0",
        FENLEI_HOME="/nonexistent",
        **target.consumer_env(),
    )
    if processes > 1:
        base["FENLEI_SHARE_GROUP"] = f"bench-{tag}"
    envs = [{**base, "FENLEI_CLIENT_ID": cid} for cid in cids]
    warm = messages("warmup", 1)
    cwd = str(source) if source else None

    def start() -> list[subprocess.Popen[bytes]]:
        return [subprocess.Popen([sys.executable, "-m", "ingest"], env=e, cwd=cwd) for e in envs]

    procs = start()
    while count_events(db_url) < 1:  # subscribed once: the session now exists
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"`fenlei ingest` on {target.consume_url} exited: see its output")
        publish_backlog(target.publish, warm)
        time.sleep(0.5)
    if processes > 1:
        time.sleep(2.0)  # the others subscribe too (they started at the same time)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(60)
    reset(db_url)
    pub_rates.append(publish_backlog(target.publish, msgs))
    _settle_noted(db_url, target)
    procs = start()
    try:
        while (first := count_events(db_url)) < 1:
            time.sleep(0.02)
        ingest0 = sum(_cpu_s(p.pid) for p in procs)
        # A connection opened later (another ingester's) counts from its start.
        db0 = {b: _cpu_s(b) for b in _backend_pids(db_url)}
        while count_events(db_url) < (expect_stored or n):
            time.sleep(0.2)
        ingest_cpu = sum(_cpu_s(p.pid) for p in procs) - ingest0
        db_cpu = sum(_cpu_s(b) - db0.get(b, 0.0) for b in _backend_pids(db_url))
        hwm = 0
        for p in procs:
            with open(f"/proc/{p.pid}/status") as fh:
                hwm = max(hwm, next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
        for cid in cids:
            drop_session(target, cid)
    rows, distinct, span = stored_span(db_url)
    with psycopg.connect(db_url) as conn:
        rejected, seen = conn.execute(
            "SELECT (SELECT count(*) FROM rejected_messages),"
            " (SELECT coalesce(sum(seen), 0) FROM rejected_tally)"
        ).fetchone()  # type: ignore[misc]
    after_first = max(n - first, 1)
    return {
        "rejected": int(rejected),
        "seen": int(seen),
        "cap": float(IngestSettings.model_fields["rejected_cap"].default),
        "messages": n,
        "seconds": span,
        "rate": rows / span if span else 0.0,
        "stored": rows,
        "distinct": distinct,
        "peak_rss_mb": hwm / 1024,
        "ingest_us": ingest_cpu / after_first * 1e6,
        "db_us": db_cpu / after_first * 1e6,
    }


class LoadWatch:
    """The machine's 1-minute load average (/proc/loadavg), sampled in the background
    every few seconds while the benchmark runs: the results say how busy it was."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self._every):
                return

    def __enter__(self) -> LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def mark(self) -> int:
        return len(self.samples)

    def since(self, mark: int) -> tuple[float, float]:
        """(mean, max) of the samples since ``mark`` (the current load if none yet)."""
        got = self.samples[mark:] or [os.getloadavg()[0]]
        return sum(got) / len(got), max(got)


# The contenders in the order they run (the machine's load drifts over a run, so the
# ones compared with each other run next to each other).
ORDER = "aechgfdb"
LABELS = {
    "a": "(a) bare paho subscriber",
    "b": "(b) naive: one INSERT per message (baseline)",
    "c": "(c) `fenlei ingest`",
    "d": f"(d) `fenlei ingest`, every {GARBAGE_EVERY}th message garbage (valid events/s)",
    "e": "(e) `mosquitto_sub -c -q 1` (C client: the broker's ceiling)",
    "f": "(f) `fenlei ingest` over TLS (mqtts listener)",
    "g": "(g) `fenlei ingest`, throwaway broker without authentication",
    "h": f"(h) {SHARED_PROCESSES} × `fenlei ingest` on one shared subscription",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=None, help="messages per contender (300,000)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"a quick check: {QUICK_EVENTS:,} messages, results to {QUICK_RESULTS}",
    )
    ap.add_argument(
        "--naive-events",
        type=int,
        default=None,
        help="messages for the naive baseline (default: same as --events)",
    )
    ap.add_argument(
        "--results",
        type=Path,
        default=None,
        help="where to write the results (default: bench/results/ingest.md)",
    )
    ap.add_argument(
        "--only",
        default=ORDER,
        help=f"the contenders to run, as letters (default: all, {ORDER}); c is always run",
    )
    ap.add_argument(
        "--no-anonymous",
        action="store_true",
        help="skip (g), the run against a throwaway broker without authentication",
    )
    ap.add_argument(
        "--baseline",
        metavar="REF",
        default=None,
        help="only compare `fenlei ingest` at git REF with this checkout: (c0) and (c) "
        "alternately, --pairs times; results to bench/results/ingest-baseline.md",
    )
    ap.add_argument("--pairs", type=int, default=3, help="(c0, c) pairs with --baseline (3)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the contenders this many rounds, in turn; each is reported by its "
        "median run, and the ratios round by round (1)",
    )
    args = ap.parse_args()
    from fenlei.env import fenlei_home, load_services_env

    load_services_env()
    base_url = os.environ.get("FENLEI_DATABASE_URL")
    if not base_url or not os.environ.get("FENLEI_MQTT_URL"):
        raise SystemExit("run `fenlei services up` first (or set FENLEI_DATABASE_URL/MQTT_URL)")
    n = args.events or (QUICK_EVENTS if args.quick else 300_000)
    n_naive = args.naive_events or n
    wanted = set(args.only) | {"c"}
    if args.no_anonymous:
        wanted.discard("g")
    if not wanted <= set(ORDER):
        raise SystemExit(f"--only takes letters of {ORDER!r}")
    results = args.results or (QUICK_RESULTS if args.quick or wanted != set(ORDER) else RESULTS)
    local = local_target()
    mqtts_url = os.environ.get("FENLEI_MQTTS_URL")
    # The broker config `fenlei services up` wrote: (g) copies its settings.
    config = fenlei_home() / "mosquitto" / "mosquitto.conf"
    db_url = scratch_database(base_url)
    if args.baseline:
        try:
            return compare_with_baseline(args.baseline, args.pairs, local, db_url, n, results)
        finally:
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    pub_rates: list[float] = []
    runs: dict[str, dict[str, float] | None] = dict.fromkeys(ORDER)
    loads: dict[str, tuple[float, float]] = {}
    # Every round's run and load of each contender (--rounds).
    rounds: list[dict[str, tuple[dict[str, float], tuple[float, float]]]] = []
    started = datetime.now(UTC)
    with LoadWatch() as watch:
        try:
            # Every other round in the reverse order: a drift over the run (the
            # broker's and the database's state, the machine) would otherwise always
            # favour the contenders that run first in a round.
            turns = [ORDER if r % 2 == 0 else ORDER[::-1] for r in range(max(args.rounds, 1))]
            for rnd, key in [(r, k) for r, order in enumerate(turns) for k in order]:
                if key not in wanted:
                    continue
                if len(rounds) <= rnd:
                    rounds.append({})
                mark = watch.mark()
                print(f"{LABELS[key]}: {n_naive if key == 'b' else n:,} messages…", flush=True)
                reset(db_url)
                run: dict[str, float] | None = None
                if key == "a":
                    run = contender("bare", local, db_url, n, messages(key, n), pub_rates)
                elif key == "b":
                    msgs = messages(key, n_naive)
                    run = contender("naive", local, db_url, n_naive, msgs, pub_rates)
                elif key == "c":
                    run = fenlei_ingest(local, db_url, n, messages(key, n), pub_rates)
                elif key == "d":
                    dirty = with_garbage(messages(key, n), GARBAGE_EVERY)
                    valid = n - n // GARBAGE_EVERY
                    run = fenlei_ingest(local, db_url, n, dirty, pub_rates, valid)
                elif key == "e":
                    run = mosquitto_sub(local, db_url, n, messages(key, n), pub_rates)
                elif key == "f" and mqtts_url:
                    tls = replace(local, name="tls", consume_url=mqtts_url)
                    run = fenlei_ingest(tls, db_url, n, messages(key, n), pub_rates)
                elif key == "h":
                    msgs = messages(key, n)
                    run = fenlei_ingest(
                        local, db_url, n, msgs, pub_rates, processes=SHARED_PROCESSES
                    )
                elif key == "g":
                    with anonymous_broker(config) as anon:
                        if anon is not None:
                            msgs = messages(key, n)
                            run = fenlei_ingest(anon, db_url, n, msgs, pub_rates)
                load = watch.since(mark)
                if run:
                    rounds[-1][key] = (run, load)
                    print(f"    {run['rate']:,.0f}/s (load {load[0]:.1f})", flush=True)
            median_runs(rounds, runs, loads)
        finally:
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    command = " ".join(["python -m bench.ingest", *sys.argv[1:]])
    write_results(
        results, n, n_naive, runs, pub_rates, loads, watch.samples, started, command, rounds
    )
    print(results.read_text())
    return 0


def compare_with_baseline(
    ref: str, pairs: int, target: Target, db_url: str, n: int, results: Path
) -> int:
    """(c0) `fenlei ingest` at `ref` and (c) this checkout, alternately, on one database.

    The schema is this checkout's; an older ingester runs on it unchanged (it writes
    the columns it knows). Alternating spreads the machine's drifting load over both.
    """
    if results == RESULTS:
        results = BASELINE_RESULTS
    c0: list[dict[str, float]] = []
    c: list[dict[str, float]] = []
    pub_rates: list[float] = []
    with worktree(ref) as (path, commit):
        for i in range(pairs):
            for name, runs, source in (("c0", c0, path), ("c", c, None)):
                print(f"({name}) pair {i + 1}/{pairs}: draining {n} messages…", flush=True)
                reset(db_url)
                runs.append(
                    fenlei_ingest(
                        target, db_url, n, messages(f"{name}{i}", n), pub_rates, None, source
                    )
                )
                print(f"    {runs[-1]['rate']:,.0f} events/s", flush=True)
    head = describe_checkout()
    ratios = [b["rate"] / a["rate"] for a, b in zip(c0, c, strict=True)]
    total = sum(r["rate"] for r in c) / sum(r["rate"] for r in c0)
    lines = [
        "# Ingest benchmark against a baseline commit",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores); command: `python -m bench.ingest --baseline {ref}"
        f" --pairs {pairs}{' --events ' + str(n) if n != 300_000 else ''}`.",
        f"(c0) is `fenlei ingest` at {commit}, (c) this checkout ({head}),"
        " draining the same kind of backlog alternately on one database and broker.",
        "",
        "| pair | (c0) events/s | (c) events/s | c/c0 |",
        "| ---: | ---: | ---: | ---: |",
        *(
            f"| {i + 1} | {a['rate']:,.0f} | {b['rate']:,.0f} | {r:.3f} |"
            for i, (a, b, r) in enumerate(zip(c0, c, ratios, strict=True))
        ),
        "",
        f"Mean rate ratio c/c0: {total:.3f} (goal: within 5 %, i.e. >= 0.95:"
        f" {'met' if total >= 0.95 else 'NOT met'}). Lost/duplicated in (c):"
        f" {sum(n - r['distinct'] for r in c)}/{sum(r['stored'] - r['distinct'] for r in c)}.",
        f"Machine load average at the end: {os.getloadavg()[0]:.1f}.",
        "",
    ]
    # Keep the explanation written by hand under the table of the last run.
    old = results.read_text() if results.exists() else ""
    notes = old[old.find(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    results.write_text("\n".join(lines) + notes)
    print(results.read_text())
    return 0


def median_runs(
    rounds: list[dict[str, tuple[dict[str, float], tuple[float, float]]]],
    runs: dict[str, dict[str, float] | None],
    loads: dict[str, tuple[float, float]],
) -> None:
    """Each contender's run of median rate over the rounds, into `runs` and `loads`
    (the lower middle one of an even count: no run is made up); the rounds are the only
    record of the runs, so a contender that did not run in a round is not counted in it."""
    for key in ORDER:
        mine = sorted((r[key] for r in rounds if key in r), key=lambda x: x[0]["rate"])
        if mine:
            runs[key], loads[key] = mine[(len(mine) - 1) // 2]


# Ratios shown round by round (numerator, denominator), where both ran in the round.
ROUND_RATIOS = (("d", "c"), ("c", "e"), ("h", "c"), ("c", "a"))


def rounds_section(
    rounds: list[dict[str, tuple[dict[str, float], tuple[float, float]]]],
) -> list[str]:
    """The ratios of contenders that ran in the same round, one row per round."""
    ratios = [(num, den) for num, den in ROUND_RATIOS if any(num in r and den in r for r in rounds)]
    if len(rounds) < 2 or not ratios:
        return []
    head = " | ".join(f"{num}/{den}" for num, den in ratios)
    lines = [
        f"Round by round ({len(rounds)} rounds; the tables above show each contender's "
        "median run, the goals the median of these same-round ratios):",
        "",
        f"| round | {head} | load mean (c) |",
        "| ---: | " + " | ".join("---:" for _ in ratios) + " | ---: |",
    ]
    for i, r in enumerate(rounds, 1):
        cells = [
            f"{r[num][0]['rate'] / r[den][0]['rate']:.2f}" if num in r and den in r else "—"
            for num, den in ratios
        ]
        load = f"{r['c'][1][0]:.1f}" if "c" in r else "—"
        lines.append(f"| {i} | " + " | ".join(cells) + f" | {load} |")
    return [*lines, ""]


def same_round_ratio(
    rounds: list[dict[str, tuple[dict[str, float], tuple[float, float]]]], num: str, den: str
) -> float | None:
    """The median over the rounds of num/den measured in the same round (None if never)."""
    values = sorted(r[num][0]["rate"] / r[den][0]["rate"] for r in rounds if num in r and den in r)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def write_results(
    path: Path,
    n: int,
    n_naive: int,
    runs: dict[str, dict[str, float] | None],
    pub_rates: list[float],
    loads: dict[str, tuple[float, float]],
    load_samples: list[float],
    started: datetime,
    command: str,
    rounds: list[dict[str, tuple[dict[str, float], tuple[float, float]]]] | None = None,
) -> None:
    rounds = rounds or []
    c = runs["c"]
    assert c
    a, b, d, e, f, g = (runs[k] for k in "abdefg")

    def ok(good: bool) -> str:
        return "met" if good else "NOT met"

    rows = []
    for key in "abcdefgh":
        run = runs[key]
        if run is None:
            continue
        count = n_naive if key == "b" else n
        rss = f"{run['peak_rss_mb']:.0f}" if run["peak_rss_mb"] else "—"
        cpu = f"{run['ingest_us']:.1f} + {run['db_us']:.1f}" if "ingest_us" in run else "—"
        mean, peak = loads[key]
        rows.append(
            f"| {LABELS[key]} | {count:,} | {run['rate']:,.0f} | {rss} | {cpu} | "
            f"{mean:.1f} / {peak:.1f} |"
        )
    lost, dup = n - c["distinct"], c["stored"] - c["distinct"]
    goals = []
    if a:
        ca = c["rate"] / a["rate"]
        goals.append(f"| c/a >= {GOALS['c/a']} | {ca:.2f} | {ok(ca >= GOALS['c/a'])} |")
    if b:
        cb = c["rate"] / b["rate"]
        goals.append(f"| c/b >= {GOALS['c/b']} | {cb:.1f} | {ok(cb >= GOALS['c/b'])} |")
    goals += [
        f"| 0 lost | {lost} | {ok(lost == 0)} |",
        f"| 0 duplicated | {dup} | {ok(dup == 0)} |",
        f"| ingester peak RSS < {GOALS['rss_mb']:.0f} MB | {c['peak_rss_mb']:.0f} | "
        f"{ok(c['peak_rss_mb'] < GOALS['rss_mb'])} |",
    ]
    if d:
        dc = same_round_ratio(rounds, "d", "c")
        dc = d["rate"] / c["rate"] if dc is None else dc
        d_lost = n - n // GARBAGE_EVERY - d["distinct"]
        goals.append(
            f"| garbage does not slow valid traffic: d/c >= {GOALS['d/c']} | {dc:.2f} | "
            f"{ok(dc >= GOALS['d/c'])}; in (d) {d_lost} valid lost, "
            f"{d['stored'] - d['distinct']:.0f} duplicated; {d['seen']:,.0f} of "
            f"{n // GARBAGE_EVERY:,} garbage messages counted in the quarantine's tally, "
            f"{d['rejected']:,.0f} rows kept (cap {d['cap']:,.0f} per bin and reason) |"
        )
    if e:
        ce = same_round_ratio(rounds, "c", "e")
        ce = c["rate"] / e["rate"] if ce is None else ce
        goals.append(
            f"| towards the broker's limit: c/e >= {GOALS['c/e']} | {ce:.2f} | "
            f"{ok(ce >= GOALS['c/e'])} |"
        )
    h = runs["h"]
    if h:
        goals.append(
            f"| {SHARED_PROCESSES} ingesters on a shared subscription: h/c | "
            f"{h['rate'] / c['rate']:.2f} | {h['distinct']:,.0f} of {n:,} stored once, "
            f"{h['stored'] - h['distinct']:.0f} twice |"
        )
        if e:
            goals.append(
                f"| the same towards the broker's limit: h/e | {h['rate'] / e['rate']:.2f} | |"
            )
    # Authentication and TLS against the same run without them (g), else TLS against (c).
    base, base_name = (g, "g") if g else (c, "c")
    if g:
        cg = c["rate"] / g["rate"]
        goals.append(
            f"| with authentication: c/g >= {GOALS['auth']} | {cg:.2f} | "
            f"{ok(cg >= GOALS['auth'])} |"
        )
    if f and base:
        fb = f["rate"] / base["rate"]
        goals.append(
            f"| over TLS: f/{base_name} >= {GOALS['tls']} | {fb:.2f} | {ok(fb >= GOALS['tls'])} |"
        )
        if g:
            goals.append(
                f"| over TLS against authenticated plain: f/c | {f['rate'] / c['rate']:.2f} | |"
            )
    mean_load = sum(load_samples) / len(load_samples) if load_samples else os.getloadavg()[0]
    peak_load = max(load_samples, default=mean_load)
    noisy = peak_load > 2.5
    lines = [
        "# Ingest benchmark",
        "",
        f"Run {started:%Y-%m-%d %H:%M}–{datetime.now(UTC):%H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}; "
        f"command: `{command}` (`make bench-ingest` runs `python -m bench.ingest`).",
        "",
        "Each contender drains a backlog of QoS-1 messages (one ~200-byte drop event each) "
        "queued at the local Mosquitto for its persistent session by "
        f"{PUBLISHERS} publishers (mean {sum(pub_rates) / max(len(pub_rates), 1):,.0f} msg/s); "
        "rate = messages or stored events per second from first to last "
        "((e): messages over the drain's wall time). "
        "Every drain starts settled: after a CHECKPOINT and just after the broker's "
        "autosave, so the background writers on timers meet each one at the same points. "
        "(a)–(f) log in (dynamic security: consumers as `fenlei-ingest`, publishers as "
        "`fenlei-sim`); (f) drains over the mqtts listener; (g) drains a second, "
        "throwaway Mosquitto with the same settings but anonymous access and no plugin.",
        "",
        f"MQTT path measured in (c), (d), (f), (g): {describe_mqtt_path()}. "
        f"(a) and (b) use paho-mqtt {PAHO_INSTALLED}'s stock client.",
        "",
        "| contender | messages | events/s | peak RSS MB | CPU µs per message: "
        "ingester + its database connection | load mean / max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Machine load (/proc/loadavg, 1-minute average, sampled every 2 s) during the run: "
        f"mean {mean_load:.1f}, max {peak_load:.1f} on {os.cpu_count()} cores"
        + (
            " — noisy: other work shared the machine; compare the ratios of contenders "
            "that ran next to each other."
            if noisy
            else "."
        ),
        "",
        *rounds_section(rounds),
        "| goal | measured | |",
        "| --- | ---: | --- |",
        *goals,
        "",
    ]
    # Keep the explanation written by hand under the tables of the last run.
    old = path.read_text() if path.exists() else ""
    notes = old[old.find(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    path.write_text("\n".join(lines) + notes)


if __name__ == "__main__":
    raise SystemExit(main())
