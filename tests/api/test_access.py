"""The authorization matrix: every route x {admin, volunteer, viewer, other estate, none}."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from tests.api.conftest import make_token

pytestmark = pytest.mark.integration

P = "from=2026-03-01&to=2026-03-31"
# (method, path, json body, who may: "figures" = viewer and up of the estate,
#  "admin" = admin only, "open" = everyone, even without a token), success status.
ROUTES: list[tuple[str, str, Any, str, int]] = [
    ("GET", "/healthz", None, "open", 200),
    ("GET", "/readyz", None, "open", 200),
    ("GET", f"/api/v1/estates/jjq/metrics?{P}", None, "figures", 200),
    ("GET", f"/api/v1/estates/jjq/metrics?{P}&format=csv", None, "figures", 200),
    ("GET", f"/api/v1/estates/jjq/daily?{P}", None, "figures", 200),
    ("GET", f"/api/v1/estates/jjq/buildings/metrics?{P}", None, "figures", 200),
    ("GET", f"/api/v1/metrics?{P}&estate=jjq", None, "figures", 200),
    ("GET", "/api/v1/estates/jjq/bins", None, "figures", 200),
    ("GET", "/api/v1/rejected?estate=jjq", None, "admin", 200),
    ("GET", "/api/v1/estates", None, "admin", 200),
    ("GET", "/api/v1/estates/jjq", None, "admin", 200),
    ("PUT", "/api/v1/estates/jjq", {"name": "J", "households_total": 5}, "admin", 200),
    ("GET", "/api/v1/estates/jjq/rooms", None, "admin", 200),
    ("PUT", "/api/v1/estates/jjq/rooms/r2", {"name": "two"}, "admin", 201),
    ("GET", "/api/v1/estates/jjq/rooms/r1", None, "admin", 200),
    ("PUT", "/api/v1/estates/jjq/rooms/r1/bins/b-new", {"category": "wet"}, "admin", 201),
    ("GET", "/api/v1/estates/jjq/rooms/r1/bins/b1", None, "admin", 200),
    ("DELETE", "/api/v1/estates/jjq/rooms/r1/bins/b-gone", None, "admin", 204),
    ("DELETE", "/api/v1/estates/jjq/rooms/r-gone", None, "admin", 204),
    ("POST", "/api/v1/estates/jjq/households", [{"id": "h2", "building": "1"}], "admin", 200),
    ("GET", "/api/v1/estates/jjq/households", None, "admin", 200),
    ("GET", "/api/v1/estates/jjq/households/h1", None, "admin", 200),
    ("DELETE", "/api/v1/estates/jjq/households/h-gone", None, "admin", 204),
    ("DELETE", "/api/v1/estates/gone", None, "admin", 204),
]
WHO = ("none", "other", "viewer", "volunteer", "admin")  # admin last: it mutates


def expected(who: str, rule: str, ok: int, path: str) -> int:
    if rule == "open":
        return ok
    if who == "none":
        return 401
    if rule == "admin":
        return ok if who == "admin" else 403
    return 403 if who == "other" else ok


@pytest.fixture
def tokens(client: TestClient, admin: dict[str, str], db_url: str) -> dict[str, dict[str, str]]:
    for estate in ("jjq", "other", "gone"):
        assert (
            client.put(
                f"/api/v1/estates/{estate}",
                headers=admin,
                json={"name": estate, "households_total": 5},
            ).status_code
            == 201
        )
    for room in ("r1", "r-gone"):
        client.put(f"/api/v1/estates/jjq/rooms/{room}", headers=admin, json={})
    for bin_id in ("b1", "b-gone"):
        client.put(
            f"/api/v1/estates/jjq/rooms/r1/bins/{bin_id}", headers=admin, json={"category": "dry"}
        )
    client.post(
        "/api/v1/estates/jjq/households",
        headers=admin,
        json=[{"id": "h1", "building": "1"}, {"id": "h-gone", "building": "1"}],
    )
    return {
        "none": {},
        "admin": admin,
        "volunteer": make_token(db_url, Role.volunteer, ["jjq"]),
        "viewer": make_token(db_url, Role.viewer, ["jjq"]),
        "other": make_token(db_url, Role.viewer, ["other"]),
    }


def test_every_route_answers_each_role_as_expected(
    client: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    wrong = []
    for method, path, body, rule, ok in ROUTES:
        for who in WHO:
            r = client.request(method, path, json=body, headers=tokens[who])
            want = expected(who, rule, ok, path)
            if r.status_code != want:
                wrong.append(f"{method} {path} as {who}: {r.status_code} (want {want}) {r.text}")
    assert not wrong, "\n".join(wrong)


def test_an_admin_limited_to_an_estate_cannot_touch_another(
    client: TestClient, tokens: dict[str, dict[str, str]], db_url: str
) -> None:
    limited = make_token(db_url, Role.admin, ["other"])
    assert client.get("/api/v1/estates/jjq", headers=limited).status_code == 403
    assert client.get("/api/v1/estates/other", headers=limited).status_code == 200
    assert [e["id"] for e in client.get("/api/v1/estates", headers=limited).json()] == ["other"]
    assert (
        client.get(f"/api/v1/metrics?{P}&estate=jjq&estate=other", headers=limited).status_code
        == 403
    )


def test_invalid_and_revoked_tokens_get_401(client: TestClient, db_url: str) -> None:
    import psycopg

    from api.auth.repository import revoke_token

    url = f"/api/v1/metrics?{P}"
    assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Basic eDp5"}).status_code == 401
    headers = make_token(db_url, Role.viewer)
    assert client.get(url, headers=headers).status_code == 200
    with psycopg.connect(db_url, autocommit=True) as conn:
        token_id = conn.execute("SELECT max(id) FROM api_tokens").fetchone()[0]  # type: ignore[index]
        revoke_token(conn, token_id)
    r = client.get(url, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
