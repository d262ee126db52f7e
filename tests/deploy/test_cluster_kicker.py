"""deploy/emqx/kicker.py against a real fenlei database and a stand-in for EMQX 5's REST
API (no EMQX here). The stand-in answers as EMQX's API reference says: POST
/api/v5/login gives a bearer token, GET /api/v5/clients?username= lists that login's
clients as {"data": [{"clientid": …}]}, DELETE /api/v5/clients/{clientid} answers 204
(404 when no such client). Logins are revoked through fenlei's own API."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from deploy.emqx.kicker import EmqxApi, drain_once
from fenlei.app import create_app
from tests.api.conftest import SECRET, make_token

pytestmark = pytest.mark.integration
ESTATE, ROOM = "kick", "r1"
BASE = f"/api/v1/estates/{ESTATE}"
DASHBOARD_PASSWORD = "dashboard-pw"


class FakeEmqx:
    """Connected clients by username; what was kicked; how to misbehave."""

    def __init__(self) -> None:
        self.clients: dict[str, list[str]] = {}
        self.kicked: list[str] = []
        self.logins = 0
        self.token = "token-1"
        self.fail_deletes = False
        self.url = ""
        self.lock = threading.Lock()


def handler_for(fake: FakeEmqx) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: object | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self._answer(401, {"code": "BAD_TOKEN"})
                return False
            return True

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/api/v5/login":
                return self._answer(404)
            if body != {"username": "admin", "password": DASHBOARD_PASSWORD}:
                return self._answer(401, {"code": "BAD_USERNAME_OR_PWD"})
            with fake.lock:
                fake.logins += 1
            return self._answer(200, {"token": fake.token, "version": "5.8.0"})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/api/v5/clients":
                return self._answer(404)
            if not self._authorised():
                return None
            username = parse_qs(parts.query)["username"][0]
            with fake.lock:
                ids = list(fake.clients.get(username, []))
            return self._answer(200, {"data": [{"clientid": c} for c in ids], "meta": {}})

        def do_DELETE(self) -> None:
            prefix = "/api/v5/clients/"
            if not self.path.startswith(prefix):
                return self._answer(404)
            if not self._authorised():
                return None
            if fake.fail_deletes:
                return self._answer(503, {"code": "SERVICE_UNAVAILABLE"})
            client_id = unquote(self.path[len(prefix) :])
            with fake.lock:
                owner = next((u for u, ids in fake.clients.items() if client_id in ids), None)
                if owner is None:
                    return self._answer(404, {"code": "CLIENTID_NOT_FOUND"})
                fake.clients[owner].remove(client_id)
                fake.kicked.append(client_id)
            return self._answer(204)

    return Handler


@pytest.fixture
def emqx() -> Iterator[tuple[FakeEmqx, EmqxApi]]:
    fake = FakeEmqx()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield fake, EmqxApi(fake.url, "admin", DASHBOARD_PASSWORD)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    """The API without a broker admin login, as under EMQX; one estate with two bins."""
    settings = ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2)
    app = create_app(settings, DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:
        client.headers.update(make_token(db_url, Role.admin))
        body = {"name": "Kick", "timezone": "Asia/Shanghai", "households_total": 10}
        assert client.put(BASE, json=body).status_code in (200, 201)
        assert client.put(f"{BASE}/rooms/{ROOM}").status_code in (200, 201)
        for bin_id, category in (("b-wet", "wet"), ("b-dry", "dry")):
            response = client.put(f"{BASE}/rooms/{ROOM}/bins/{bin_id}", json={"category": category})
            assert response.status_code in (200, 201), response.text
        yield client


def credentials(bin_id: str) -> str:
    return f"{BASE}/rooms/{ROOM}/bins/{bin_id}/credentials"


def queued(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT username FROM mqtt_revocations ORDER BY id").fetchall()
    return [str(r[0]) for r in rows]


def test_a_revoked_devices_open_session_is_kicked_and_the_queue_emptied(
    api: TestClient, db_url: str, emqx: tuple[FakeEmqx, EmqxApi]
) -> None:
    fake, client = emqx
    wet = api.post(credentials("b-wet")).json()
    dry = api.post(credentials("b-dry")).json()
    fake.clients = {wet["username"]: [wet["client_id"]], dry["username"]: [dry["client_id"]]}
    assert api.delete(credentials("b-wet")).status_code == 204
    assert queued(db_url) == [wet["username"]]
    assert drain_once(db_url, client) == 1
    assert fake.kicked == [wet["client_id"]]
    assert fake.clients[dry["username"]] == [dry["client_id"]], "the other device stays"
    assert queued(db_url) == []
    # Nothing queued: nothing called.
    assert drain_once(db_url, client) == 0
    assert fake.kicked == [wet["client_id"]]


def test_a_login_with_no_session_open_is_done_too(
    api: TestClient, db_url: str, emqx: tuple[FakeEmqx, EmqxApi]
) -> None:
    fake, client = emqx
    api.post(credentials("b-wet"))
    assert api.delete(credentials("b-wet")).status_code == 204
    assert drain_once(db_url, client) == 1
    assert fake.kicked == [] and queued(db_url) == []


def test_a_login_issued_again_is_not_kicked(
    api: TestClient, db_url: str, emqx: tuple[FakeEmqx, EmqxApi]
) -> None:
    fake, client = emqx
    first = api.post(credentials("b-wet")).json()
    assert api.delete(credentials("b-wet")).status_code == 204
    again = api.post(credentials("b-wet")).json()
    assert again["username"] == first["username"]
    fake.clients = {again["username"]: [again["client_id"]]}  # back, with the new password
    # Issuing forgets the queued revocation; one still queued (claimed by a kicker
    # while the API issued) finds the login back and is dropped without a kick.
    assert queued(db_url) == []
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO mqtt_revocations (username) VALUES (%s)", (again["username"],))
    assert drain_once(db_url, client) == 1
    assert fake.kicked == [] and queued(db_url) == []


def test_a_failed_kick_stays_queued_and_an_expired_token_is_renewed(
    api: TestClient, db_url: str, emqx: tuple[FakeEmqx, EmqxApi]
) -> None:
    fake, client = emqx
    wet = api.post(credentials("b-wet")).json()
    fake.clients = {wet["username"]: [wet["client_id"]]}
    assert api.delete(credentials("b-wet")).status_code == 204
    fake.fail_deletes = True
    assert drain_once(db_url, client) == 0
    assert queued(db_url) == [wet["username"]] and fake.kicked == []
    # EMQX back; its token expired meanwhile: the kicker logs in again and kicks.
    fake.fail_deletes = False
    fake.token = "token-2"
    assert drain_once(db_url, client) == 1
    assert fake.kicked == [wet["client_id"]] and queued(db_url) == []
    assert fake.logins == 2


def test_a_wrong_dashboard_password_kicks_nothing(
    api: TestClient, db_url: str, emqx: tuple[FakeEmqx, EmqxApi]
) -> None:
    fake, _ = emqx
    wet = api.post(credentials("b-wet")).json()
    fake.clients = {wet["username"]: [wet["client_id"]]}
    assert api.delete(credentials("b-wet")).status_code == 204
    assert drain_once(db_url, EmqxApi(fake.url, "admin", "wrong")) == 0
    assert queued(db_url) == [wet["username"]] and fake.kicked == []
