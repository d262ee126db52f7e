"""A Patroni cluster (deploy.patroni), a real Mosquitto and the real ingester, for the
failover tests: each started on free loopback ports in a temporary home and stopped
by the pids it recorded, nothing else."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from deploy import broker as accounts
from deploy import patroni
from deploy import services as launcher
from deploy.migrate import migrate
from deploy.settings import ServicesSettings
from ingest.contract import events_topic
from tests.fix_data import register
from tests.fix_ingest import IngestProcess
from tests.fix_services import MqttLogin, Services

ESTATE = "jjq"
# Four bins, so batches touch several.
BINS = {"r1": {"b-dry": "dry", "b-wet": "wet"}, "r2": {"b-dry": "dry", "b-wet": "wet"}}
TOPICS = [events_topic(ESTATE, room, b) for room, bins in BINS.items() for b in bins]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    settings: patroni.PatroniSettings
    state: patroni.ClusterState
    services: Services
    ingester: IngestProcess
    home: Path
    # The API (`fenlei api`) on the same multi-host URL: its /readyz is polled.
    api_port: int

    @property
    def url(self) -> str:
        return self.services.database_url

    def leader_url(self) -> str:
        name = patroni.leader(self.state)
        assert name is not None, "no leader"
        return self.state.node_url(self.settings, self.state.node(name))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp (0700): PostgreSQL and Mosquitto run as their own users.
    home = Path(tempfile.mkdtemp(prefix="fenlei-failover-", dir="/tmp"))
    home.chmod(0o755)
    ps = patroni.PatroniSettings(
        home=home,
        etcd_port=free_port(),
        pg_port=free_port(),
        api_port=free_port(),
        shared_buffers="128MB",
        start_timeout_s=180.0,
    )
    ms = ServicesSettings(
        home=home, mqtt_port=free_port(), mqtts_port=free_port(), auto_install=False
    )
    mq_state = launcher.ServicesState(
        pg_port=0,
        mqtt_port=ms.mqtt_port,
        mqtts_port=ms.mqtts_port,
        pg_password="",
        mqtt_passwords=accounts.new_own_passwords(),
    )
    ingester: IngestProcess | None = None
    made: Cluster | None = None
    api: subprocess.Popen[bytes] | None = None
    api_port = free_port()
    try:
        state = patroni.up(ps)
        url = state.database_url(ps)
        migrate(url)
        register(url, ESTATE, BINS)
        launcher.start_mosquitto(ms, mq_state, accounts.own_accounts(mq_state.mqtt_passwords))
        pw = mq_state.mqtt_passwords
        services = Services(
            url,
            mq_state.mqtt_url(),
            "patroni cluster (deploy.patroni) + local mosquitto",
            home=home,
            ingest=MqttLogin(accounts.INGEST_USERNAME, pw[accounts.INGEST_USERNAME]),
            admin=MqttLogin(accounts.ADMIN_USERNAME, pw[accounts.ADMIN_USERNAME]),
            sim=MqttLogin(accounts.SIM_USERNAME, pw[accounts.SIM_USERNAME]),
        )
        log_dir = home / "ingest"
        log_dir.mkdir()
        ingester = IngestProcess(services, log_dir).start()
        api = start_api(services, home / "api", api_port)
        made = Cluster(ps, state, services, ingester, home, api_port)
        yield made
    finally:
        # A test may have replaced the ingester (with other settings): stop that one too.
        if made is not None and made.ingester.proc is not None:
            made.ingester.stop(timeout=30.0)
        if api is not None:
            api.terminate()
            try:
                api.wait(30.0)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait()
        if ingester is not None and ingester.proc is not None:
            ingester.stop(timeout=30.0)
        launcher.stop_mosquitto(ms, mq_state)
        patroni.down(ps)
        shutil.rmtree(home, ignore_errors=True)


def readyz(port: int) -> int:
    """The API's /readyz status code (0: no answer)."""
    try:
        # Longer than the API's own wait for a pooled connection (2 s), so its 503 is seen.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5.0) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def start_api(services: Services, home: Path, port: int) -> subprocess.Popen[bytes]:
    """`fenlei api` in development mode (made-up secrets) on the cluster's URL."""
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(
        {
            "FENLEI_DATABASE_URL": services.database_url,
            "FENLEI_MQTT_URL": services.mqtt_url,
            "FENLEI_DEV": "1",
            "FENLEI_HOME": str(home),
            "FENLEI_LOG_LEVEL": "WARNING",
        }
    )
    with (home / "api.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fenlei", "api", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + 60.0
    while readyz(port) != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"the API did not become ready:\n{(home / 'api.log').read_text()[-3000:]}"
            )
        time.sleep(0.2)
    return proc


@dataclass
class Stream:
    """A stock paho client (MQTT v5, QoS 1) publishing one event per message, paced,
    recording which publishes the broker acknowledged (PUBACK, success reason code)."""

    services: Services
    prefix: str
    acked: set[str] = field(default_factory=set)
    refused: int = 0
    sent: list[tuple[float, str]] = field(default_factory=list)
    _by_mid: dict[int, str] = field(default_factory=dict)
    _early: dict[int, bool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"failover-{self.prefix}", protocol=mqtt.MQTTv5
        )
        login = self.services.sim
        assert login is not None
        client.username_pw_set(login.username, login.password)
        client.max_inflight_messages_set(1_000)
        client.max_queued_messages_set(0)
        client.on_publish = self._on_publish
        host, port = self.services.mqtt_host_port
        client.connect(host, port, keepalive=30)
        client.loop_start()
        self.client = client

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        # paho calls this holding its own lock: ours is never held while calling paho.
        with self._lock:
            event_id = self._by_mid.pop(mid, None)
            if event_id is None:  # acknowledged before publish() returned its mid
                self._early[mid] = reason.is_failure
            else:
                self._settle(event_id, reason.is_failure)

    def _settle(self, event_id: str, failed: bool) -> None:
        if failed:
            self.refused += 1
        else:
            self.acked.add(event_id)

    def publish(self, i: int) -> str:
        event_id = f"{self.prefix}-{i:06d}"
        body = (
            f'{{"event_id":"{event_id}","ts":"2026-03-23T08:00:00+08:00",'
            f'"kind":"drop","weight_g":{100 + i % 900}}}'
        )
        info = self.client.publish(TOPICS[i % len(TOPICS)], body.encode(), qos=1)
        with self._lock:
            self.sent.append((time.time(), event_id))
            if info.mid in self._early:
                self._settle(event_id, self._early.pop(info.mid))
            else:
                self._by_mid[info.mid] = event_id
        return event_id

    def run(self, count: int, rate: float | None, start: int = 0) -> None:
        """Publish `count` events, `rate` per second (None: as fast as paho takes them)."""
        began = time.monotonic()
        for n in range(count):
            if rate:
                delay = began + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self.publish(start + n)

    def wait_acked(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._by_mid:
                    return
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def counts(url: str, prefix: str) -> dict[tuple[int, str], int]:
    """Rows per (bin, event_id) of this stream's events, read from one node."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT bin_key, event_id, count(*) FROM events WHERE event_id LIKE %s"
            " GROUP BY bin_key, event_id",
            (f"{prefix}-%",),
        ).fetchall()
    return {(b, e): n for b, e, n in rows}


def stored(url: str, prefix: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE event_id LIKE %s", (f"{prefix}-%",)
            ).fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else 0


def wait_stored(url: str, prefix: str, n: int, timeout: float) -> float | None:
    """Seconds until `n` events of the stream are stored (via `url`); None: timed out."""
    began = time.monotonic()
    while stored(url, prefix) < n:
        if time.monotonic() - began > timeout:
            return None
        time.sleep(0.05)
    return time.monotonic() - began
