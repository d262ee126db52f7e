"""The admin routes: channels (secrets write-only, masked), settings, test message,
delivery log; errors as documented."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import psycopg
import pytest

from api.auth.tokens import Role
from api.notify.vault import Vault
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import SECRET, make_token

with warnings.catch_warnings():
    # As tests/api/conftest.py: Starlette's TestClient warns about httpx at import.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from tests.fix_data import register
from tests.notify.fix_notify import KEY
from tests.notify.sinks import HttpSink, http_sink

pytestmark = pytest.mark.integration
BASE = "/api/v1/estates/jjq"
ROBOT_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5c3f"


@pytest.fixture
def api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("FENLEI_CHANNEL_KEY", KEY)
    monkeypatch.setenv("FENLEI_NOTIFY_PRIVATE_NETWORKS", "127.0.0.0/8")  # the sink
    register(db_url, "jjq", {"r1": {"b-wet": "wet"}})
    register(db_url, "other", {"r1": {"b1": "dry"}})
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret=SECRET),
    )
    with TestClient(app) as client:
        client.headers.update(make_token(db_url, Role.admin, ["jjq"]))
        yield client


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with http_sink() as s:
        yield s


def test_channels_are_created_listed_masked_tested_and_deleted(
    api: TestClient, db_url: str, sink: HttpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{sink.url}/cgi-bin/webhook/send?key={ROBOT_KEY}"
    r = api.post(
        f"{BASE}/notification-channels",
        json={"name": "值班群", "kind": "wecom", "audience": "duty", "url": url},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"] == "http://127.0…key=****c3f"
    assert ROBOT_KEY not in r.text
    r = api.post(
        f"{BASE}/notification-channels",
        json={"name": "值班群", "kind": "webhook", "audience": "duty", "url": url},
    )
    assert r.status_code == 409
    r = api.post(
        f"{BASE}/notification-channels",
        json={
            "name": "mail",
            "kind": "email",
            "audience": "committee",
            "host": "127.0.0.1",
            "port": 2525,
            "security": "none",
            "sender": "a@b.cn",
            "to": ["c@d.cn"],
            "password": "pw-never-shown",
        },
    )
    assert r.status_code == 201, r.text
    listing = api.get(f"{BASE}/notification-channels")
    assert listing.status_code == 200
    assert [c["name"] for c in listing.json()] == ["值班群", "mail"]
    assert ROBOT_KEY not in listing.text and "pw-never-shown" not in listing.text
    # Stored encrypted: the key is not in the row, but opens under FENLEI_CHANNEL_KEY.
    with psycopg.connect(db_url) as conn:
        raw = conn.execute(
            "SELECT secret FROM notify_channels WHERE id = %s", (created["id"],)
        ).fetchone()
    assert raw is not None and ROBOT_KEY.encode() not in bytes(raw[0])
    assert Vault(KEY).open(bytes(raw[0]))["url"] == url

    r = api.post(f"{BASE}/notification-channels/{created['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert sink.bodies()[0]["msgtype"] == "text"
    assert "测试" in sink.bodies()[0]["text"]["content"]
    log = api.get(f"{BASE}/notifications")
    assert log.status_code == 200
    assert [(d["step"], d["ok"], d["channel_name"]) for d in log.json()] == [
        ("test", True, "值班群")
    ]
    sink.status = 500
    r = api.post(f"{BASE}/notification-channels/{created['id']}/test")
    assert r.json() == {"ok": False, "detail": "HTTP 500"}

    assert api.delete(f"{BASE}/notification-channels/{created['id']}").status_code == 204
    assert api.delete(f"{BASE}/notification-channels/{created['id']}").status_code == 404
    assert len(api.get(f"{BASE}/notifications").json()) == 2  # the log stays
    assert ROBOT_KEY not in caplog.text and "pw-never-shown" not in caplog.text
    assert "notify_channel_created" in caplog.text or "channel" in caplog.text


def test_settings_round_trip_and_refusals(api: TestClient) -> None:
    r = api.get(f"{BASE}/notification-settings")
    assert r.status_code == 200 and r.json()["escalate_minutes"] == 10
    body = {
        "property_name": "绿城物业",
        "property_phone": "139 0000 2222",
        "escalate_minutes": 5,
        "reminder_minutes": 20,
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "urgent_kinds": ["overflow"],
        "send_resolved": False,
    }
    r = api.put(f"{BASE}/notification-settings", json=body)
    assert r.status_code == 200, r.text
    got = api.get(f"{BASE}/notification-settings").json()
    assert {k: got[k] for k in body} == body
    r = api.put(f"{BASE}/notification-settings", json={"quiet_start": "22:00"})
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "rule"
    r = api.put(f"{BASE}/notification-settings", json={"escalate_minutes": 0})
    assert r.status_code == 422


def test_other_estates_and_unknown_ones(api: TestClient, db_url: str) -> None:
    for role in (Role.viewer, Role.volunteer):
        headers = make_token(db_url, role, ["jjq"])
        for method, path in (
            ("GET", f"{BASE}/notification-channels"),
            ("GET", f"{BASE}/notification-settings"),
            ("GET", f"{BASE}/notifications"),
            ("POST", f"{BASE}/notification-channels/1/test"),
            ("DELETE", f"{BASE}/notification-channels/1"),
        ):
            assert api.request(method, path, headers=headers).status_code == 403, (role, path)
    assert api.get(f"{BASE}/notifications", headers={"Authorization": ""}).status_code == 401
    assert api.get("/api/v1/estates/other/notification-channels").status_code == 403
    assert api.get("/api/v1/estates/other/notifications").status_code == 403
    api.headers.update(make_token(db_url, Role.admin))
    assert api.get("/api/v1/estates/nope/notification-channels").status_code == 404
    assert api.post("/api/v1/estates/jjq/notification-channels/99/test").status_code == 404


def test_without_a_channel_key_creating_answers_503(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FENLEI_CHANNEL_KEY")
    monkeypatch.delenv("FENLEI_DEV", raising=False)
    r = api.post(
        f"{BASE}/notification-channels",
        json={"name": "x", "kind": "webhook", "audience": "duty", "url": "http://127.0.0.1:9/h"},
    )
    assert r.status_code == 503 and "FENLEI_CHANNEL_KEY" in r.json()["detail"]
