"""Real broker and database for the tests, found in this order:

1. FENLEI_TEST_DATABASE_URL / FENLEI_TEST_MQTT_URL, when set;
2. testcontainers (TimescaleDB and Mosquitto images), when a Docker engine answers;
3. the project's own launcher (`fenlei services up`) in a temporary FENLEI_HOME.

`pytest_report_header` says which one this run uses.

The broker refuses anonymous clients, so `Services` also carries fenlei's own three
logins (`ingest`, `admin`, `sim`), the mqtts URL and the CA that signed the broker's
certificate; `Services.env()` gives them as the FENLEI_* variables the components read.
With external services (1.) they come from these variables, each optional:

- FENLEI_TEST_MQTTS_URL, FENLEI_TEST_MQTT_CA_FILE
- FENLEI_TEST_INGEST_MQTT_USERNAME / FENLEI_TEST_INGEST_MQTT_PASSWORD
- FENLEI_TEST_ADMIN_MQTT_USERNAME / FENLEI_TEST_ADMIN_MQTT_PASSWORD
- FENLEI_TEST_SIM_MQTT_USERNAME / FENLEI_TEST_SIM_MQTT_PASSWORD

(a `fenlei services up` home's services.env has the same names without `TEST_`).
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

from deploy import broker
from deploy.migrate import migrate

TIMESCALE_IMAGE = "timescale/timescaledb:2.19.3-pg15"
MOSQUITTO_IMAGE = "eclipse-mosquitto:2.0"
# Tables the tests must never truncate: the migration ledger.
KEEP_TABLES = {"fenlei_migrations"}


@dataclass(frozen=True)
class MqttLogin:
    """A broker username and its password."""

    username: str
    password: str


# Services.env() names of each own login: (attribute, username var, password var).
_LOGIN_VARS = (
    ("ingest", "FENLEI_INGEST_MQTT_USERNAME", "FENLEI_INGEST_MQTT_PASSWORD"),
    ("admin", "FENLEI_ADMIN_MQTT_USERNAME", "FENLEI_ADMIN_MQTT_PASSWORD"),
    ("sim", "FENLEI_SIM_MQTT_USERNAME", "FENLEI_SIM_MQTT_PASSWORD"),
)


@dataclass
class Services:
    database_url: str
    mqtt_url: str
    source: str
    home: Path | None = None
    # The launcher's settings when the project started the services itself: tests
    # that stop and restart the database need them.
    launcher_settings: object | None = None
    # The TLS listener and the CA file its certificate verifies against.
    mqtts_url: str | None = None
    ca_file: Path | None = None
    # fenlei's own broker logins (None: the external broker needs none).
    ingest: MqttLogin | None = None
    admin: MqttLogin | None = None
    sim: MqttLogin | None = None

    def env(self) -> dict[str, str]:
        """The FENLEI_* variables a component (or a subprocess) needs for these services."""
        values = {"FENLEI_DATABASE_URL": self.database_url, "FENLEI_MQTT_URL": self.mqtt_url}
        if self.mqtts_url:
            values["FENLEI_MQTTS_URL"] = self.mqtts_url
        if self.ca_file:
            values["FENLEI_MQTT_CA_FILE"] = str(self.ca_file)
        for attr, user_var, password_var in _LOGIN_VARS:
            login: MqttLogin | None = getattr(self, attr)
            if login is not None:
                values[user_var] = login.username
                values[password_var] = login.password
        return values

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
        svc = _from_environment(source)
        migrate(svc.database_url)
        yield svc
    elif source == "testcontainers":
        yield from _containers()
    else:
        yield from _local_launcher()


def _env_login(prefix: str) -> MqttLogin | None:
    username = os.environ.get(f"FENLEI_TEST_{prefix}_MQTT_USERNAME")
    password = os.environ.get(f"FENLEI_TEST_{prefix}_MQTT_PASSWORD")
    return MqttLogin(username, password) if username and password else None


def _from_environment(source: str) -> Services:
    ca_file = os.environ.get("FENLEI_TEST_MQTT_CA_FILE")
    return Services(
        os.environ["FENLEI_TEST_DATABASE_URL"],
        os.environ["FENLEI_TEST_MQTT_URL"],
        source,
        mqtts_url=os.environ.get("FENLEI_TEST_MQTTS_URL"),
        ca_file=Path(ca_file) if ca_file else None,
        ingest=_env_login("INGEST"),
        admin=_env_login("ADMIN"),
        sim=_env_login("SIM"),
    )


def _with_logins(svc: Services, passwords: dict[str, str]) -> Services:
    """`svc` with the own logins, from the launcher's username -> password."""
    svc.ingest = MqttLogin(broker.INGEST_USERNAME, passwords[broker.INGEST_USERNAME])
    svc.admin = MqttLogin(broker.ADMIN_USERNAME, passwords[broker.ADMIN_USERNAME])
    svc.sim = MqttLogin(broker.SIM_USERNAME, passwords[broker.SIM_USERNAME])
    return svc


# The eclipse-mosquitto image runs the broker as uid/gid 1883 and has the plugin here.
IMAGE_MOSQUITTO_UID = 1883
IMAGE_DYNSEC_PLUGIN = "/usr/lib/mosquitto_dynamic_security.so"


def _container_broker_config(config_dir: Path) -> dict[str, str]:
    """A config dir for the eclipse-mosquitto image: compose's settings, dynsec, TLS.

    Untested here (no Docker on the development machines): it mirrors the local
    launcher's broker, which the suite tests for real.
    """
    from deploy import tls

    owner = (IMAGE_MOSQUITTO_UID, IMAGE_MOSQUITTO_UID) if os.geteuid() == 0 else None
    passwords = broker.new_own_passwords()
    certs = tls.ensure(config_dir / "tls", owner)
    broker.write_document(
        config_dir / "dynsec" / "dynamic-security.json", broker.own_accounts(passwords), owner
    )
    if owner is None:
        # Not root: the image's user can be given access only by mode (test-only files).
        for path in (config_dir / "dynsec", config_dir / "dynsec" / "dynamic-security.json"):
            path.chmod(0o777 if path.is_dir() else 0o666)
        certs.server_key.chmod(0o644)
    # The project's broker settings: its queue limits are what the no-loss tests test.
    project = (Path(__file__).resolve().parents[1] / "deploy" / "mosquitto.conf").read_text()
    kept = [
        line
        for line in project.splitlines()
        if line.split(" ", 1)[0]
        in {"max_queued_messages", "max_queued_bytes", "max_inflight_messages"}
    ]
    (config_dir / "mosquitto.conf").write_text(
        "\n".join(
            [
                "per_listener_settings false",
                "allow_anonymous false",
                f"plugin {IMAGE_DYNSEC_PLUGIN}",
                "plugin_opt_config_file /mosquitto/config/dynsec/dynamic-security.json",
                "listener 1883",
                "listener 8883",
                "cafile /mosquitto/config/tls/ca.crt",
                "certfile /mosquitto/config/tls/server.crt",
                "keyfile /mosquitto/config/tls/server.key",
                "persistence true",
                "persistence_location /mosquitto/data/",
                *kept,
                "log_dest stdout",
                "",
            ]
        )
    )
    return passwords


def _containers() -> Iterator[Services]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer

    config_dir = Path(tempfile.mkdtemp(prefix="fenlei-test-broker-", dir="/tmp"))
    config_dir.chmod(0o755)
    passwords = _container_broker_config(config_dir)
    try:
        with (
            PostgresContainer(TIMESCALE_IMAGE, driver=None) as pg,
            DockerContainer(MOSQUITTO_IMAGE)
            .with_volume_mapping(str(config_dir), "/mosquitto/config", "rw")
            .with_exposed_ports(1883, 8883) as mq,
        ):
            wait_for_logs(mq, "running")
            url = pg.get_connection_url()
            host = mq.get_container_host_ip()
            migrate(url)
            svc = Services(
                url,
                f"mqtt://{host}:{mq.get_exposed_port(1883)}",
                "testcontainers",
                mqtts_url=f"mqtts://{host}:{mq.get_exposed_port(8883)}",
                ca_file=config_dir / "tls" / "ca.crt",
            )
            yield _with_logins(svc, passwords)
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


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

    settings = ServicesSettings(
        home=home, pg_port=free_port(), mqtt_port=free_port(), mqtts_port=free_port()
    )
    try:
        state = launcher.up(settings)
        url = state.database_url(settings)
        migrate(url)
        svc = Services(
            url,
            state.mqtt_url(),
            "local launcher",
            home=home,
            launcher_settings=settings,
            mqtts_url=state.mqtts_url(),
            ca_file=home / "tls" / "ca.crt",
        )
        yield _with_logins(svc, state.mqtt_passwords)
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
