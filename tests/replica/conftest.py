"""A primary with a streaming replica (`fenlei services up --replica`) for these tests.

Its own temporary FENLEI_HOME, like tests/fix_services.py's local launcher, and the
`services` fixture overridden with it, so the shared fixtures (db_url, broker,
ingest_factory) use this primary and its broker.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from deploy import services as launcher
from deploy.migrate import migrate
from deploy.settings import ServicesSettings
from fenlei.app import create_app
from tests.fix_services import Services, _with_logins

SECRET = "replica-test-secret"
# Short, so the tests wait seconds, not minutes.
MAX_LAG_S = 2.0
CHECK_S = 0.2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    settings: ServicesSettings
    primary_url: str
    read_url: str

    def ensure_replica(self) -> None:
        """The replica running again (a test may have stopped it)."""
        launcher.up(self.settings, replica=True)


def launcher_settings(home: Path) -> ServicesSettings:
    return ServicesSettings(
        home=home,
        pg_port=free_port(),
        pg_replica_port=free_port(),
        mqtt_port=free_port(),
        mqtts_port=free_port(),
        auto_install=False,
    )


def temp_home() -> Path:
    # Not under pytest's tmp (0700): PostgreSQL and Mosquitto run as their own users.
    home = Path(tempfile.mkdtemp(prefix="fenlei-replica-test-", dir="/tmp"))
    home.chmod(0o755)
    return home


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    home = temp_home()
    settings = launcher_settings(home)
    try:
        state = launcher.up(settings, replica=True)
        migrate(state.database_url(settings))
        yield Cluster(settings, state.database_url(settings), state.read_database_url(settings))
    finally:
        launcher.down(settings)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def services(cluster: Cluster) -> Services:
    """This folder's primary and broker, for the shared fixtures."""
    state = launcher.read_state(cluster.settings)
    assert state is not None
    home = cluster.settings.home_dir
    svc = Services(
        cluster.primary_url,
        state.mqtt_url(),
        "local launcher with a replica",
        home=home,
        launcher_settings=cluster.settings,
        mqtts_url=state.mqtts_url(),
        ca_file=home / "tls" / "ca.crt",
    )
    return _with_logins(svc, state.mqtt_passwords)


def make_client(db_url: str, read_url: str | None) -> TestClient:
    app = create_app(
        ApiSettings(
            database_url=db_url,
            database_read_url=read_url,
            pool_min_size=1,
            pool_max_size=4,
            read_max_lag_s=MAX_LAG_S,
            read_lag_check_s=CHECK_S,
        ),
        DashboardSettings(session_secret=SECRET),
    )
    return TestClient(app)


@pytest.fixture
def read_client(cluster: Cluster, db_url: str) -> Iterator[TestClient]:
    """The API reading figures from the replica (the replica running at the start)."""
    cluster.ensure_replica()
    with make_client(db_url, cluster.read_url) as client:
        yield client


@pytest.fixture
def primary_client(db_url: str) -> Iterator[TestClient]:
    """The same API without a replica: every figure from the primary."""
    with make_client(db_url, None) as client:
        yield client
