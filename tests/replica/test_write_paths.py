"""Writes, tokens and the volunteers' paths stay on the primary.

Structurally (every route of the composed app, by its dependency tree: only the figure
routes and /readyz take the read router) and live (the replica's pool is not asked
for a connection by writes, check-ins or roster reads; a figure read asks it once).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.deps import get_connection, get_reads
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import make_token
from tests.fix_data import register, wait_for
from tests.replica.conftest import CHECK_S, SECRET

# The routes that may read from the replica: the figures (read-only GETs) and the probe.
READ_ROUTES = {
    ("GET", "/api/v1/estates/{estate}/metrics"),
    ("GET", "/api/v1/estates/{estate}/daily"),
    ("GET", "/api/v1/estates/{estate}/buildings/metrics"),
    ("GET", "/api/v1/metrics"),
    ("GET", "/readyz"),
}
CHECK_IN = ("POST", "/api/v1/assignments/{assignment}/check-in")


def calls(dependant: Dependant) -> set[Any]:
    found = {d.call for d in dependant.dependencies}
    for d in dependant.dependencies:
        found |= calls(d)
    return found


def route_calls() -> dict[tuple[str, str], set[Any]]:
    app = create_app(
        ApiSettings(database_url="postgresql://unused@127.0.0.1:1/x"),
        DashboardSettings(session_secret=SECRET),
    )
    out: dict[tuple[str, str], set[Any]] = {}

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                for method in route.methods or ():
                    out[(method, route.path)] = calls(route.dependant)
            elif hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
                walk(route.original_router.routes)

    walk(list(app.routes))
    # The walk found every documented operation (included routers add no prefix here).
    documented = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented <= set(out), sorted(documented - set(out))[:5]
    return out


def test_only_the_figure_routes_take_the_read_router() -> None:
    routes = route_calls()
    readers = {key for key, deps in routes.items() if get_reads in deps}
    assert readers == READ_ROUTES
    # The walk sees dependencies: a check-in takes the primary's request connection.
    assert get_connection in routes[CHECK_IN] and get_reads not in routes[CHECK_IN]
    writes = {k for k in routes if k[0] not in {"GET", "HEAD"}}
    assert writes and not {k for k in writes if get_reads in routes[k]}
    # And the figure routes do not hold a primary connection for the whole request.
    for key in READ_ROUTES - {("GET", "/readyz")}:
        assert get_connection not in routes[key], key


@pytest.mark.integration
def test_writes_and_check_ins_never_ask_the_replica_pool(
    read_client: TestClient, db_url: str
) -> None:
    reads = read_client.app.state.reads  # type: ignore[attr-defined]
    wait_for(lambda: reads.status.use, bool, 30, interval=CHECK_S, what="reads on the replica")
    register(db_url)
    admin = make_token(db_url, Role.admin)
    asked = reads.replica.get_stats().get("requests_num", 0)
    answers = [
        read_client.put(
            "/api/v1/estates/oyl",
            headers=admin,
            json={"name": "OYL", "timezone": "UTC", "households_total": 5},
        ),
        read_client.put("/api/v1/estates/oyl/rooms/r1", headers=admin, json={"name": "room 1"}),
        read_client.post("/api/v1/assignments/999999/check-in", headers=admin),
        read_client.post("/api/v1/assignments/999999/check-out", headers=admin),
        read_client.get("/api/v1/estates/jjq/roster", headers=admin),
        read_client.get("/api/v1/estates/jjq/bins", headers=admin),
    ]
    assert all(r.status_code < 500 for r in answers), [(r.status_code, r.text) for r in answers]
    assert answers[0].status_code == 201, answers[0].text
    assert reads.replica.get_stats().get("requests_num", 0) == asked
    r = read_client.get(
        "/api/v1/estates/jjq/daily",
        params={"from": "2026-03-23", "to": "2026-03-24"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert reads.replica.get_stats().get("requests_num", 0) == asked + 1
