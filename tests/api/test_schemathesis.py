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
from dataclasses import dataclass, field
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
# Seconds of requests at most per run (valid, then invalid data); the cases past it
# are generated but not sent.
BUDGET_S = 120.0
ADMIN_ID = 7_351_942_871_019
# The `type` of an error item that refuses a value the document allows because it
# breaks a rule JSON Schema cannot state, each stated in words in the document: a
# period within the served days and running forwards (`period`), a registry change
# that contradicts the household's history (`history`), values that contradict each
# other within one body (`rule`: re_sorted at most mis_sorted, a window of no length).
# Any other 422 for valid data means the document is not true.
DOCUMENTED_RULES = frozenset({"period", "history", "rule"})


def _config(mode: str) -> dict[str, Any]:
    # A documented rule may refuse valid data with a 422: the valid-data test checks
    # that every such 422 names only documented rules. (The invalid-data run also sends
    # the document's own examples, which are valid data.)
    checks = {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422"]
        }
    }
    return {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "mode": mode},
        "phases": {"stateful": {"enabled": False}},
        "checks": checks,
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
# Valid and invalid data run apart, so a test knows which kind each case is: valid
# data must be accepted (or refused by a documented rule), invalid data refused.
valid = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict(_config("positive"))
)
invalid = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict(_config("negative"))
)


@dataclass
class Server:
    """The API on loopback, with an admin token and the run's counts."""

    base_url: str
    admin: dict[str, str]
    started: dict[str, float] = field(default_factory=dict)
    sent: int = 0
    skipped: int = 0
    refused_by_rule: dict[str, int] = field(default_factory=dict)

    def within_budget(self, run: str) -> bool:
        """True while `run` ("valid", "invalid") has time left; counts the case."""
        started = self.started.setdefault(run, time.monotonic())
        if time.monotonic() - started > BUDGET_S:
            self.skipped += 1
            return False
        self.sent += 1
        return True


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
    # The notification channels' key (api.notify.settings), read per request: without it
    # creating a channel answers 503.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FENLEI_CHANNEL_KEY", "schemathesis-channel-key-" + "k" * 32)
        yield from _server(services)


def _server(services: Services) -> Iterator[Server]:
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
        yield state
    finally:
        print(
            f"\nschemathesis: {state.sent} cases sent"
            f" ({state.skipped} past the {BUDGET_S:.0f} s budget per run, not sent);"
            f" valid data refused by a documented rule: {state.refused_by_rule}"
        )
        uv.should_exit = True
        thread.join(timeout=30)


def test_the_server_serves_the_document_under_test(server: Server) -> None:
    served = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert served == DOCUMENT


SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@valid.parametrize()
@SETTINGS
def test_valid_data_is_accepted_and_answered_as_documented(case: Any, server: Server) -> None:
    if not server.within_budget("valid"):
        return
    response = case.call(base_url=server.base_url, headers=server.admin)
    case.validate_response(response)
    if response.status_code == 422:
        kinds = {item["type"] for item in response.json().get("errors") or [{"type": None}]}
        assert kinds <= DOCUMENTED_RULES, (
            f"{case.operation.label}: valid data refused for {kinds - DOCUMENTED_RULES}"
            f" (not a documented rule): {response.text[:500]}"
        )
        for kind in kinds:
            server.refused_by_rule[kind] = server.refused_by_rule.get(kind, 0) + 1


@invalid.parametrize()
@SETTINGS
def test_invalid_data_is_refused_and_answered_as_documented(case: Any, server: Server) -> None:
    if not server.within_budget("invalid"):
        return
    case.call_and_validate(base_url=server.base_url, headers=server.admin)
