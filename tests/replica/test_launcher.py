"""`fenlei services up --replica` in its own home: idempotent, recorded, stopped by down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deploy import replica, services
from deploy.settings import ServicesSettings
from fenlei.env import read_env_file
from tests.fix_data import wait_for
from tests.replica.conftest import CHECK_S, Cluster, launcher_settings, make_client, temp_home

pytestmark = pytest.mark.integration


@pytest.fixture
def home() -> Iterator[tuple[Path, ServicesSettings]]:
    path = temp_home()
    settings = launcher_settings(path)
    try:
        yield path, settings
    finally:
        services.down(settings)
        shutil.rmtree(path, ignore_errors=True)


def cli(settings: ServicesSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(
        FENLEI_HOME=str(settings.home_dir),
        FENLEI_PG_PORT=str(settings.pg_port),
        FENLEI_PG_REPLICA_PORT=str(settings.pg_replica_port),
        FENLEI_MQTT_PORT=str(settings.mqtt_port),
        FENLEI_MQTTS_PORT=str(settings.mqtts_port),
        FENLEI_AUTO_INSTALL="0",
    )
    return subprocess.run(
        [sys.executable, "-m", "fenlei.cli", "services", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_up_replica_down_and_up_again(home: tuple[Path, ServicesSettings]) -> None:
    path, settings = home
    first = cli(settings, "up", "--replica")
    assert first.returncode == 0, first.stderr
    assert "replica" in first.stdout and "***" in first.stdout
    state = services.read_state(settings)
    assert state is not None and state.replica_port not in (0, state.pg_port)
    env = read_env_file(path / "services.env")
    assert env["FENLEI_DATABASE_READ_URL"] == state.read_database_url(settings)
    assert state.pg_password not in first.stdout

    # A physical copy, streaming, read-only, through a login that may only replicate.
    with psycopg.connect(env["FENLEI_DATABASE_READ_URL"], autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nope (x int)")
    with psycopg.connect(env["FENLEI_DATABASE_URL"], autocommit=True) as conn:
        row = conn.execute(
            "SELECT r.rolreplication, r.rolsuper, s.active FROM pg_roles r, pg_replication_slots s"
            " WHERE r.rolname = %s AND s.slot_name = %s",
            (replica.REPLICATION_ROLE, replica.SLOT),
        ).fetchone()
        assert row == (True, False, True)
        conn.execute("CREATE TABLE IF NOT EXISTS replicated (x int)")
        conn.execute("INSERT INTO replicated VALUES (42)")

    # Again: nothing restarted.
    pids = services.status(settings)["services"]
    again = cli(settings, "up", "--replica")
    assert again.returncode == 0, again.stderr
    assert services.status(settings)["services"]["replica"]["pid"] == pids["replica"]["pid"]
    assert services.status(settings)["services"]["postgres"]["pid"] == pids["postgres"]["pid"]

    report = cli(settings, "status", "--json")
    assert report.returncode == 0, report.stderr
    info = json.loads(report.stdout)["services"]["replica"]
    assert info["running"] and isinstance(info["replay_lag_bytes"], int)
    assert "***" in info["url"]
    text = cli(settings, "status")
    assert text.returncode == 0 and "replica   running" in text.stdout

    down = cli(settings, "down")
    assert down.returncode == 0 and "replica" in down.stdout
    assert not services.is_running(settings)["replica"]
    assert "FENLEI_DATABASE_READ_URL" not in read_env_file(path / "services.env")
    assert cli(settings, "status").returncode == 3

    # A plain `up` brings the recorded replica back; it kept its copy and caught up.
    plain = cli(settings, "up")
    assert plain.returncode == 0, plain.stderr
    assert services.is_running(settings) == {"postgres": True, "mosquitto": True, "replica": True}
    env = read_env_file(path / "services.env")
    with psycopg.connect(env["FENLEI_DATABASE_READ_URL"], autocommit=True) as conn:
        assert conn.execute("SELECT x FROM replicated").fetchall() == [(42,)]


def test_a_replica_of_another_cluster_is_never_read(
    home: tuple[Path, ServicesSettings], cluster: Cluster
) -> None:
    """A READ_URL left over from another home (its services.env, say): a replica, current,
    but of another primary. Its system identifier differs, so reads stay on the primary."""
    _, settings = home
    state = services.up(settings, replica=True)
    with make_client(cluster.primary_url, state.read_database_url(settings)) as client:
        health = wait_for(
            lambda: client.get("/readyz").json()["replica"],
            lambda h: h.get("detail") == "not a copy of the primary",
            30,
            interval=CHECK_S,
            what="the replica refused",
        )
        assert not health["reads_on_replica"]
