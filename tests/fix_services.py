"""Real broker and database for the tests, found in this order:

1. FENLEI_TEST_DATABASE_URL / FENLEI_TEST_MQTT_URL, when set;
2. testcontainers (TimescaleDB and Mosquitto images), when a Docker engine answers;
3. the project's own launcher (`fenlei services up`) in a temporary FENLEI_HOME.

`pytest_report_header` says which one this run uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from deploy.migrate import migrate

TIMESCALE_IMAGE = "timescale/timescaledb:2.19.3-pg15"
MOSQUITTO_IMAGE = "eclipse-mosquitto:2.0"
# Tables the tests must never truncate: the migration ledger.
KEEP_TABLES = {"fenlei_migrations"}


@dataclass
class Services:
    database_url: str
    mqtt_url: str
    source: str
    home: Path | None = None
    # The launcher's settings when the project started the services itself: tests
    # that stop and restart the database need them.
    launcher_settings: object | None = None

    @property
    def mqtt_host_port(self) -> tuple[str, int]:
        rest = self.mqtt_url.split("://", 1)[-1]
        host, _, port = rest.rpartition(":")
        return host, int(port)


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _which_source() -> str:
    if os.environ.get("FENLEI_TEST_DATABASE_URL") and os.environ.get("FENLEI_TEST_MQTT_URL"):
        return "environment (FENLEI_TEST_DATABASE_URL / FENLEI_TEST_MQTT_URL)"
    if _docker_answers():
        return "testcontainers"
    return "local launcher (fenlei services up in a temporary FENLEI_HOME)"


_SOURCE: str | None = None


def _source() -> str:
    global _SOURCE
    if _SOURCE is None:
        _SOURCE = _which_source()
    return _SOURCE


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"fenlei services: {_source()}"]


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """The broker and database every integration test in this session uses (migrated)."""
    source = _source()
    if source.startswith("environment"):
        svc = Services(
            os.environ["FENLEI_TEST_DATABASE_URL"], os.environ["FENLEI_TEST_MQTT_URL"], source
        )
        migrate(svc.database_url)
        yield svc
    elif source == "testcontainers":
        yield from _containers()
    else:
        yield from _local_launcher()


def _containers() -> Iterator[Services]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer

    # The project's broker config: its queue limits are what the no-loss tests test.
    conf = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto.conf"
    with (
        PostgresContainer(TIMESCALE_IMAGE, driver=None) as pg,
        DockerContainer(MOSQUITTO_IMAGE)
        .with_volume_mapping(str(conf), "/mosquitto/config/mosquitto.conf")
        .with_exposed_ports(1883) as mq,
    ):
        wait_for_logs(mq, "running")
        url = pg.get_connection_url()
        mqtt = f"mqtt://{mq.get_container_host_ip()}:{mq.get_exposed_port(1883)}"
        migrate(url)
        yield Services(url, mqtt, "testcontainers")


def _local_launcher() -> Iterator[Services]:
    from deploy import services as launcher
    from deploy.settings import ServicesSettings

    # Not under pytest's tmp (0700): PostgreSQL and Mosquitto run as their own users.
    home = Path(tempfile.mkdtemp(prefix="fenlei-test-", dir="/tmp"))
    home.chmod(0o755)

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    settings = ServicesSettings(home=home, pg_port=free_port(), mqtt_port=free_port())
    try:
        state = launcher.up(settings)
        url = state.database_url(settings)
        migrate(url)
        yield Services(
            url, state.mqtt_url(), "local launcher", home=home, launcher_settings=settings
        )
    finally:
        launcher.down(settings)
        shutil.rmtree(home, ignore_errors=True)


def truncate_all(database_url: str) -> None:
    """Empty every fenlei table (not the migration ledger); fast on hypertables."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            if r[0] not in KEEP_TABLES
        ]
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def db_url(services: Services) -> str:
    """The database URL, emptied before the test: each test starts from a clean state."""
    truncate_all(services.database_url)
    return services.database_url


@pytest.fixture
def mqtt_url(services: Services) -> str:
    return services.mqtt_url
