"""The real API as a `fenlei api` child process, for registering and reading figures.

The simulators reach the product only as bins (MQTT) and as an installer (the registry
API over HTTP); their tests read the figures through that same API, so what is
compared with the simulator's ground truth is what a committee would be shown.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.auth.repository import create_token
from api.auth.tokens import Role

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ApiServer:
    """A running API: its base URL and an admin token for every estate."""

    base_url: str
    token: str

    def get(self, path: str, **params: str) -> dict[str, Any]:
        """``GET /api/v1<path>`` as admin; fails the test on an error status."""
        r = httpx.get(
            f"{self.base_url}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body, dict)
        return body


@contextmanager
def serve(
    db_url: str, home: Path, service_env: dict[str, str] | None = None
) -> Iterator[ApiServer]:
    """Run `fenlei api` on a free loopback port until the block ends.

    ``service_env``: the broker's URL and the admin login (`Services.env()`), so the
    API can apply the device credentials it issues on the broker.
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(service_env or {})
    # FENLEI_HOME without a services.env: nothing is read from the developer's own.
    # FENLEI_DEV: a test server, which may make up its session secret and pseudonym key.
    env.update(FENLEI_DATABASE_URL=db_url, FENLEI_HOME=str(home), FENLEI_DEV="1")
    log_path = home / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fenlei", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`fenlei api` did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        with psycopg.connect(db_url, autocommit=True) as conn:
            _, token = create_token(conn, Role.admin, name="tests/simulators")
        yield ApiServer(base, token)
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
