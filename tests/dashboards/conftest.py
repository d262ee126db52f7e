"""A running app with the dashboards on simulated data, and a headless Chromium.

The data is written in SQL (registry, rollups, device state, quarantine) with the API
benchmark's generator: the dashboards read only what the API reads, so going through
broker and ingester here would test ingest again, only slower.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from api.auth.repository import create_token
from api.auth.tokens import Role
from api.main import create_app
from api.settings import ApiSettings
from bench.api import GENERATE, ROLLUPS
from dashboards.router import router
from dashboards.settings import DashboardSettings
from tests.fix_services import Services, truncate_all

PERIOD = ("2026-01-01", "2026-03-31")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "dashboards-test-secret"

# jjq: 60 households in 3 buildings; group 2-2 has only 2 (hidden on the board);
# every 15th never enrolled, every 7th enrolled mid-February. oyl: 30 households.
REGISTRY = """
INSERT INTO estates (id, name, timezone, households_total)
VALUES ('jjq', '蒋家桥', 'Asia/Shanghai', 70), ('oyl', '欧阳路', 'Asia/Shanghai', 40);
INSERT INTO rooms (estate_id, id) VALUES ('jjq', 'r1'), ('oyl', 'r1');
INSERT INTO bins (estate_id, room_id, id, category)
SELECT e, 'r1', 'b-' || c, c FROM unnest(ARRAY['jjq', 'oyl']) AS e,
     unnest(ARRAY['dry', 'wet', 'recyclable', 'hazardous', 'construction']) AS c;
INSERT INTO buildings (estate_id, id) VALUES ('jjq', '1'), ('jjq', '2'), ('jjq', '3'),
    ('oyl', 'A');
INSERT INTO households (estate_id, id, building_id, building_group_id, enrolled_on)
SELECT 'jjq', 'h' || lpad(n::text, 4, '0'), ((n - 1) / 20 + 1)::text,
       CASE WHEN n <= 10 THEN '1-1' WHEN n <= 20 THEN '1-2' WHEN n <= 38 THEN '2-1'
            WHEN n <= 40 THEN '2-2' ELSE '3-1' END,
       CASE WHEN n % 15 = 0 THEN NULL WHEN n % 7 = 0 THEN date '2026-02-15'
            ELSE date '2025-12-01' END
FROM generate_series(1, 60) AS n;
INSERT INTO households (estate_id, id, building_id, building_group_id, enrolled_on)
SELECT 'oyl', 'h' || lpad(n::text, 4, '0'), 'A', 'A-' || (n % 3 + 1), date '2025-12-01'
FROM generate_series(1, 30) AS n;
UPDATE bins SET online = (id <> 'b-hazardous'), fill_pct = 20 + length(id) * 5,
    battery_pct = 80, last_seen = timestamptz '2026-03-31 20:00+08', state_ts = last_seen;
UPDATE bins SET last_alarm = 'overflow', last_alarm_at = timestamptz '2026-03-30 19:12+08'
WHERE estate_id = 'jjq' AND id = 'b-wet';
INSERT INTO rejected_messages (received_at, topic, estate_id, reason, detail, payload)
SELECT timestamptz '2026-03-01 08:00+08' + (n % 20) * interval '1 day',
       'fenlei/v1/jjq/r1/b-x/events', 'jjq',
       CASE WHEN n % 3 = 0 THEN 'unknown_bin' ELSE 'bad_json' END, 'test', '\\x00'
FROM generate_series(1, 40) AS n;
"""


def load_demo(url: str) -> None:
    """Registry, three months of generated drops (rollups), device state and rejections."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in REGISTRY.split(";")[:-1]:
            conn.execute(statement)
        conn.execute("SET enable_memoize = off")
        conn.execute("SELECT setseed(0.42)")
        for estate, households in (("jjq", 60), ("oyl", 30)):
            conn.execute(
                GENERATE,
                {"estate": estate, "households": households, "start": PERIOD[0], "end": PERIOD[1]},
            )
            for sql in ROLLUPS:
                conn.execute(sql, {"estate": estate})
            conn.execute("DROP TABLE gen")


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
    """The running app: its base URL, tokens, and an API client (viewer of every estate)."""

    base: str
    viewer: str
    jjq_viewer: str
    api: httpx.Client

    def api_json(self, path: str, **params: Any) -> Any:
        r = self.api.get(path, params=params)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def site(services: Services) -> Iterator[Site]:
    """The app under uvicorn in a thread, on demo data loaded once for the module."""
    truncate_all(services.database_url)
    load_demo(services.database_url)
    port = _free_port()
    app = create_app(
        ApiSettings(database_url=services.database_url, pool_min_size=1, pool_max_size=4)
    )
    app.include_router(router)
    app.state.dashboard_settings = DashboardSettings(session_secret=SECRET)
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
    viewer = token(services.database_url, Role.viewer)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {viewer}"}) as api:
        yield Site(base, viewer, token(services.database_url, Role.viewer, ["jjq"]), api)
    server.should_exit = True
    thread.join(timeout=10)
