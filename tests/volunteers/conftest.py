"""The API with the volunteer routers on the real database, a settable clock, an estate
with two rooms, and volunteer tokens."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn

with warnings.catch_warnings():
    # See tests/api/conftest.py: Starlette's TestClient warns when driven by httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.routes.volunteer_deps import get_now
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import make_token
from tests.fix_data import register


@dataclass
class Clock:
    """The instant the app believes it is; tests move it to a watch's time."""

    now: datetime


@pytest.fixture
def clock() -> Clock:
    # Wednesday 1 April 2026, 12:00 in Shanghai.
    return Clock(datetime(2026, 4, 1, 4, tzinfo=UTC))


def build_app(db_url: str, clock: Clock) -> Any:
    """The whole app (it mounts the volunteer routes and pages) on a settable clock."""
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret="volunteers-test-secret"),
    )
    app.dependency_overrides[get_now] = lambda: clock.now
    return app


@pytest.fixture
def client(db_url: str, clock: Clock) -> Iterator[TestClient]:
    with TestClient(build_app(db_url, clock)) as test_client:
        yield test_client


@pytest.fixture
def admin(db_url: str) -> dict[str, str]:
    return make_token(db_url, Role.admin)


@pytest.fixture
def estate(db_url: str) -> str:
    """Estate jjq (Asia/Shanghai) with rooms r1 (dry, wet bins) and r2; and estate 'other'."""
    register(db_url, "jjq", {"r1": {"b-dry": "dry", "b-wet": "wet"}, "r2": {"b2": "dry"}})
    register(db_url, "other", {"o1": {"ob": "dry"}})
    return "jjq"


def add_volunteer(
    client: TestClient, admin: dict[str, str], name: str, estate: str = "jjq", **extra: Any
) -> dict[str, Any]:
    """POST a volunteer; the answer carries its token and a ready `headers` entry."""
    r = client.post(
        f"/api/v1/estates/{estate}/volunteers", headers=admin, json={"name": name, **extra}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    body["headers"] = {"Authorization": f"Bearer {body['token']}"}
    return body


@pytest.fixture
def served(db_url: str, clock: Clock) -> Iterator[str]:
    """The app on a loopback port, served by uvicorn in a background thread (for the
    browser tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(db_url, clock),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
