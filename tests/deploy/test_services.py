"""`fenlei services up | down | status` as a user runs them, in their own FENLEI_HOME."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _procs_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    """Running, i.e. present and not a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fenlei-svc-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    subprocess.run(
        [sys.executable, "-m", "fenlei", "services", "down"], env=_env(path), capture_output=True
    )


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(FENLEI_HOME=str(home), **extra)
    return env


def _fenlei(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fenlei", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_up_twice_migrate_via_env_file_and_down_leaves_nothing(home: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    taken_port = taken.getsockname()[1]
    env = _env(home, FENLEI_PG_PORT=str(taken_port), FENLEI_MQTT_PORT=str(_free_port()))
    try:
        first = _fenlei(env, "services", "up")
        assert first.returncode == 0, first.stderr
        status = json.loads(_fenlei(env, "services", "status", "--json").stdout)
        pids = {name: info["pid"] for name, info in status["services"].items()}
        assert all(info["running"] for info in status["services"].values())
        # The preferred port was taken, so a free one was chosen.
        assert f":{taken_port}/" not in status["services"]["postgres"]["url"]

        second = _fenlei(env, "services", "up")
        assert second.returncode == 0, second.stderr
        again = json.loads(_fenlei(env, "services", "status", "--json").stdout)
        assert {n: i["pid"] for n, i in again["services"].items()} == pids
    finally:
        taken.close()

    # No FENLEI_DATABASE_URL in the environment: migrate finds services.env.
    env_file = home / "services.env"
    assert "FENLEI_DATABASE_URL=" in env_file.read_text()
    migrated = _fenlei(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    url = next(
        line.split("=", 1)[1].strip("'")
        for line in env_file.read_text().splitlines()
        if "FENLEI_DATABASE_URL=" in line
    )
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT extname FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone() == ("timescaledb",)

    assert _procs_mentioning(str(home)), "the services run from this home"
    down = _fenlei(env, "services", "down")
    assert down.returncode == 0, down.stderr
    assert "postgres" in down.stdout and "mosquitto" in down.stdout
    assert _procs_mentioning(str(home)) == []
    assert [pid for pid in pids.values() if _alive(pid)] == []
    stopped = _fenlei(env, "services", "status")
    assert stopped.returncode == 3
