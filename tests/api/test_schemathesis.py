"""The OpenAPI document stays true (#14): schemathesis over the app's own document.

The document is the composed app's (`fenlei.app.create_app(...).openapi()`, what
`/openapi.json` serves: the first test checks the running server serves exactly it).
Every operation in it is exercised against a real uvicorn on loopback, on the real
database, as an admin of every estate, on an estate with rooms, bins, households,
volunteers and a month's roster, with valid and invalid data (schemathesis' examples,
coverage and fuzzing phases). The checks: no server error, every status code
documented, every response body matching its documented schema, every Content-Type
documented, a 405 whose Allow header names the path's documented methods, no
operation that ignores a missing or wrong token.

Bounded: a fixed seed, few fuzzing examples per operation, and a time budget past
which the remaining cases are generated but not sent (the counts are printed).

(`schemathesis.pytest.from_fixture` would load the document from a fixture, but it
sets pytest's private `Node._nodeid`, which pytest 9.2 no longer has; the document
needs no database, so it is built at import instead.)
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
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import SECRET, make_token
from tests.fix_data import register
from tests.fix_services import Services, truncate_all

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SEED = 14
# Fuzzing examples per operation; the coverage phase adds its own boundary cases.
MAX_EXAMPLES = 40
# Seconds of requests at most; the cases past it are generated but not sent.
BUDGET_S = 150.0
ADMIN_ID = 7_351_942_871_019
# Every check but the two that judge which requests the API accepts: the document
# cannot state every rule (a period within ten years, left_on after enrolled_on,
# re_sorted at most mis_sorted), and pydantic takes 0 for false.
JUDGING_ACCEPTANCE = ("positive_data_acceptance", "negative_data_rejection")
CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
    "phases": {"stateful": {"enabled": False}},
    "checks": {name: {"enabled": False} for name in JUDGING_ACCEPTANCE},
}


def _document() -> dict[str, Any]:
    # The database is not needed to describe the API: nothing connects here.
    app = create_app(
        ApiSettings(database_url="postgresql://unused@127.0.0.1:9/unused"),
        DashboardSettings(session_secret=SECRET),
    )
    document: dict[str, Any] = app.openapi()
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))


@dataclass
class Server:
    """The API on loopback, with an admin token and the run's counts."""

    base_url: str
    admin: dict[str, str]
    started: float = 0.0
    sent: int = 0
    skipped: int = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(base_url: str, admin: dict[str, str], db_url: str) -> None:
    """Data for the routes to work on: what the document's examples name (estate jjq,
    room r1, bin b-wet, household JJQ-0001) and a month's roster with shifts. A stored
    event keeps the estate, r1 and b-wet from being deleted (409) by the first DELETE
    the run sends, so the operations after it still find them."""
    register(db_url, "jjq", {"r1": {"b-dry": "dry", "b-wet": "wet"}, "r2": {"b2": "dry"}})
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,"
            " household) SELECT '2026-04-01T10:00:00+08', bin_key, 'seed-1', estate_id,"
            " category, 'drop', 500, 'JJQ-0001' FROM bins WHERE estate_id = 'jjq' AND id = 'b-wet'"
        )
    rows = [
        {"id": f"JJQ-{i:04d}", "building": str(i % 3), "enrolled_on": "2026-01-05"}
        for i in range(1, 21)
    ]
    with httpx.Client(base_url=base_url, headers=admin, timeout=30) as http:
        assert http.post("/api/v1/estates/jjq/households", json=rows).is_success
        for name in ("王阿姨", "李叔叔"):
            r = http.post("/api/v1/estates/jjq/volunteers", json={"name": name})
            assert r.status_code == 201, r.text
        r = http.post("/api/v1/estates/jjq/roster", params={"month": "2026-04"})
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[Server]:
    truncate_all(services.database_url)
    app = create_app(
        ApiSettings(database_url=services.database_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret=SECRET),
    )
    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=uv.run, name="schemathesis-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base_url = f"http://127.0.0.1:{port}"
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        # The admin token gets an id no generated one is likely to name: the run may
        # rotate or revoke tokens by id, and must not lock itself out.
        conn.execute("SELECT setval(pg_get_serial_sequence('api_tokens', 'id'), %s)", (ADMIN_ID,))
    state = Server(base_url, make_token(services.database_url, Role.admin))
    try:
        _seed(base_url, state.admin, services.database_url)
        state.started = time.monotonic()
        yield state
    finally:
        elapsed = time.monotonic() - state.started if state.started else 0.0
        print(
            f"\nschemathesis: {state.sent} cases sent in {elapsed:.1f} s"
            f" ({state.skipped} past the {BUDGET_S:.0f} s budget, not sent)"
        )
        uv.should_exit = True
        thread.join(timeout=30)


def test_the_server_serves_the_document_under_test(server: Server) -> None:
    served = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert served == DOCUMENT


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_to_its_openapi_document(case: Any, server: Server) -> None:
    if time.monotonic() - server.started > BUDGET_S:
        server.skipped += 1
        return
    server.sent += 1
    case.call_and_validate(base_url=server.base_url, headers=server.admin)
