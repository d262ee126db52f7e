"""A running app with the dashboards on seeded raw drops, and a headless Chromium.

The registry is written in SQL; the drops (`dataset.make_events`) go the product's way:
published over MQTT to the real ingester, which stores them and keeps the rollups the
pages read. The tests compare the pages with pandas over the same list of events
(`dataset.Expected`), not with the API.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from api.auth.repository import create_token
from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from ingest.contract import encode_payload, events_topic
from simulators.publisher import Publisher
from tests.dashboards import dataset
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services, truncate_all
from tests.fix_stream import sim_broker

PERIOD = tuple(d.isoformat() for d in dataset.PERIOD)
SECRET = "dashboards-test-secret"
# The household codes' own key (FENLEI_PSEUDONYM_KEY), distinct from the session secret.
PSEUDONYM_KEY = "dashboards-test-pseudonym-key"


def _stored(url: str) -> int:
    return int(str(scalar(url, "SELECT count(*) FROM events")))


def load_demo(services: Services, log_dir: Path) -> dataset.Expected:
    """Registry, the seeded drops through broker and ingester, device state, rejections."""
    url = services.database_url
    dataset.write_registry(url)
    events = dataset.make_events()
    ingest = IngestProcess(services, log_dir).start()
    try:
        key = f"canary-{uuid.uuid4().hex[:8]}"

        def canary() -> int:  # republished until stored: the ingester is subscribed
            with Publisher(sim_broker(services), f"test-canary-{uuid.uuid4().hex[:8]}") as pub:
                pub.publish(
                    events_topic("jjq", "r1", "b-dry"),
                    encode_payload(
                        {
                            "event_id": key,
                            "ts": "2026-03-01T12:00:00Z",
                            "kind": "fill",
                            "fill_pct": 5,
                        }
                    ),
                )
                pub.flush()
            return int(str(scalar(url, "SELECT count(*) FROM events WHERE event_id = %s", (key,))))

        try:
            wait_for(canary, lambda n: n == 1, 60, interval=0.5, what="the canary")
            dataset.publish(sim_broker(services), events)
            want = 1 + len(events)
            wait_for(lambda: _stored(url), lambda n: n >= want, 60, what=f"{want} stored events")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ningester log:\n{ingest.log()[-3000:]}") from None
        assert _stored(url) == want, ingest.log()[-3000:]
    finally:
        ingest.stop()
    dataset.write_device_state(url)
    return dataset.Expected(events)


def token(url: str, role: Role, estates: list[str] | None = None) -> str:
    """A new API token."""
    with psycopg.connect(url, autocommit=True) as conn:
        return create_token(conn, role, estates, name=f"dashboards test {role}")[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """The running app: its base URL, tokens, and the figures pandas expects."""

    base: str
    viewer: str
    jjq_viewer: str
    expected: dataset.Expected
    database_url: str
    admin: str  # of every estate: also the API's bearer token
    jjq_admin: str  # the committee of jjq only


@pytest.fixture(scope="module")
def site(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The composed app under uvicorn in a thread, on the data loaded once per module."""
    truncate_all(services.database_url)
    expected = load_demo(services, tmp_path_factory.mktemp("ingest"))
    port = _free_port()
    app = create_app(
        ApiSettings(database_url=services.database_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret=SECRET, pseudonym_secret=PSEUDONYM_KEY),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not become ready")
        time.sleep(0.05)
    url = services.database_url
    yield Site(
        base,
        token(url, Role.viewer),
        token(url, Role.viewer, ["jjq"]),
        expected,
        url,
        token(url, Role.admin),
        token(url, Role.admin, ["jjq"]),
    )
    server.should_exit = True
    thread.join(timeout=10)
