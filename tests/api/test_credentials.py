"""Per-bin MQTT credentials against the real broker (dynamic security) and database.

The API runs with its admin client (the launcher's `fenlei-admin` login); devices are
real paho MQTT v5 clients connecting with exactly what the API issued.
"""

from __future__ import annotations

import csv
import logging
import stat
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.devices.broker import AdminClient
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from fenlei.broker_url import BrokerAddress, parse_broker_url
from ingest import sql as ingest_sql
from ingest.contract import events_topic
from tests.api.conftest import SECRET, make_token
from tests.fix_services import Services
from tests.ingest.db_proxy import TcpProxy

pytestmark = pytest.mark.integration
WITHIN_S = 5.0
ESTATE, ROOM = "cred", "r1"
BASE = f"/api/v1/estates/{ESTATE}"


def credentials_url(bin_id: str) -> str:
    return f"{BASE}/rooms/{ROOM}/bins/{bin_id}/credentials"


class Device:
    """One MQTT v5 client with bounded, synchronous helpers."""

    def __init__(self, services: Services, client_id: str, username: str, password: str) -> None:
        host, port = services.mqtt_host_port
        self.host, self.port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.connack: ReasonCode | None = None
        self.answered = threading.Event()
        self.dropped = threading.Event()
        self.pubacks: dict[int, ReasonCode] = {}
        self.acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    def _on_connect(self, c: Any, u: Any, f: Any, reason: ReasonCode, p: Any) -> None:
        self.connack = reason
        self.answered.set()

    def _on_disconnect(self, c: Any, u: Any, f: Any, reason: ReasonCode, p: Any) -> None:
        self.dropped.set()
        self.answered.set()

    def _on_publish(self, c: Any, u: Any, mid: int, reason: ReasonCode, p: Any) -> None:
        with self.acked:
            self.pubacks[mid] = reason
            self.acked.notify_all()

    def connect(self) -> bool:
        """Connect once (no retries); True when the broker accepted."""
        self.client.reconnect_delay_set(60, 60)  # a refused client must not retry in the test
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        assert self.answered.wait(WITHIN_S), "no CONNACK"
        return (
            self.connack is not None and not self.connack.is_failure and not self.dropped.is_set()
        )

    def publish(self, topic: str) -> ReasonCode:
        """QoS 1; the PUBACK's reason code."""
        info = self.client.publish(topic, b'{"probe": true}', qos=1)
        with self.acked:
            assert self.acked.wait_for(lambda: info.mid in self.pubacks, WITHIN_S), "no PUBACK"
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def devices() -> Iterator[list[Device]]:
    """Devices a test opens; all closed afterwards."""
    opened: list[Device] = []
    yield opened
    for device in opened:
        device.close()


@pytest.fixture
def open_device(services: Services, devices: list[Device]) -> Any:
    def make(body: dict[str, Any], password: str | None = None) -> Device:
        device = Device(services, body["client_id"], body["username"], password or body["password"])
        devices.append(device)
        return device

    return make


def api_settings(db_url: str, services: Services, **extra: Any) -> ApiSettings:
    if services.admin is None:
        pytest.skip("the broker gives no admin login (external broker without FENLEI_TEST_ADMIN_*)")
    values: dict[str, Any] = {
        "database_url": db_url,
        "pool_min_size": 1,
        "pool_max_size": 4,
        "mqtt_url": services.mqtt_url,
        "admin_mqtt_username": services.admin.username,
        "admin_mqtt_password": services.admin.password,
        **extra,
    }
    return ApiSettings(**values)


@pytest.fixture
def api(db_url: str, services: Services) -> Iterator[TestClient]:
    """The composed app with its admin client connected, and one estate with three bins."""
    app = create_app(api_settings(db_url, services), DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:
        assert app.state.broker.wait_ready(WITHIN_S), "the admin client did not connect"
        headers = make_token(db_url, Role.admin)
        client.headers.update(headers)
        register(client)
        yield client


def register(client: TestClient) -> None:
    body = {"name": "Cred", "timezone": "Asia/Shanghai", "households_total": 10}
    assert client.put(BASE, json=body).status_code in (200, 201)
    assert client.put(f"{BASE}/rooms/{ROOM}").status_code in (200, 201)
    for bin_id, category in (("b-wet", "wet"), ("b-dry", "dry"), ("b-rec", "recyclable")):
        response = client.put(f"{BASE}/rooms/{ROOM}/bins/{bin_id}", json={"category": category})
        assert response.status_code in (200, 201)


def wait_until(condition: Any, within: float = WITHIN_S) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def queued_revocations(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM mqtt_revocations").fetchone()
    return int(row[0]) if row else -1


def test_issued_credentials_connect_as_that_bin_only(api: TestClient, open_device: Any) -> None:
    response = api.post(credentials_url("b-wet"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"username", "password", "client_id", "broker_applied"}
    assert body["username"] == body["client_id"] and body["username"].startswith("bin-")
    assert body["broker_applied"] is True and len(body["password"]) >= 32

    device = open_device(body)
    assert device.connect()
    assert not device.publish(events_topic(ESTATE, ROOM, "b-wet")).is_failure
    assert device.publish(events_topic(ESTATE, ROOM, "b-dry")).value == 0x87

    wrong_id = open_device({**body, "client_id": "someone-else"})
    assert not wrong_id.connect()
    # One character off (never the same one: a password ending in "x" stayed right).
    last = "y" if body["password"].endswith("x") else "x"
    wrong_password = open_device(body, password=body["password"][:-1] + last)
    assert not wrong_password.connect()


def test_get_shows_metadata_and_never_the_secret(api: TestClient, db_url: str) -> None:
    issued = api.post(credentials_url("b-wet")).json()
    response = api.get(credentials_url("b-wet"))
    assert response.status_code == 200
    info = response.json()
    assert set(info) == {
        "username",
        "client_id",
        "created_at",
        "rotated_at",
        "broker_applied",
        "last_connected_at",
    }
    assert info["username"] == issued["username"] and info["rotated_at"] is None
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT password_hash, salt FROM mqtt_accounts").fetchone()
    assert row is not None
    for secret in (issued["password"], row[0], row[1]):
        assert secret not in response.text


def test_a_second_post_rotates(api: TestClient, open_device: Any) -> None:
    first = api.post(credentials_url("b-wet")).json()
    session = open_device(first)
    assert session.connect()

    second = api.post(credentials_url("b-wet"))
    assert second.status_code == 201
    rotated = second.json()
    assert rotated["username"] == first["username"] and rotated["password"] != first["password"]
    assert rotated["broker_applied"] is True
    assert session.dropped.wait(WITHIN_S), "the session with the old password stayed open"
    assert not open_device(first).connect()
    fresh = open_device(rotated)
    assert fresh.connect()
    assert not fresh.publish(events_topic(ESTATE, ROOM, "b-wet")).is_failure
    assert api.get(credentials_url("b-wet")).json()["rotated_at"] is not None


def test_racing_rotations_leave_broker_and_database_agreeing(
    api: TestClient, open_device: Any, db_url: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from fenlei.passwords import verify_password

    api.post(credentials_url("b-wet"))
    with ThreadPoolExecutor(4) as pool:
        bodies = [
            f.result().json()
            for f in [pool.submit(api.post, credentials_url("b-wet")) for _ in range(4)]
        ]
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT salt, iterations, password_hash FROM mqtt_accounts").fetchone()
    assert row is not None
    stored = [b for b in bodies if verify_password(b["password"], *row)]
    assert len(stored) == 1
    assert open_device(stored[0]).connect()
    assert api.get(credentials_url("b-wet")).json()["broker_applied"] is True


def test_delete_revokes_at_once(api: TestClient, open_device: Any, db_url: str) -> None:
    issued = api.post(credentials_url("b-wet")).json()
    session = open_device(issued)
    assert session.connect()

    assert api.delete(credentials_url("b-wet")).status_code == 204
    assert session.dropped.wait(WITHIN_S), "the revoked session stayed open"
    assert not open_device(issued).connect()
    assert api.get(credentials_url("b-wet")).status_code == 404
    assert api.delete(credentials_url("b-wet")).status_code == 404
    assert wait_until(lambda: queued_revocations(db_url) == 0)


def test_issuing_again_after_a_revoke_works(api: TestClient, open_device: Any) -> None:
    api.post(credentials_url("b-wet"))
    assert api.delete(credentials_url("b-wet")).status_code == 204
    again = api.post(credentials_url("b-wet")).json()
    assert again["broker_applied"] is True
    assert open_device(again).connect()


def test_deleting_the_bin_revokes(api: TestClient, open_device: Any, db_url: str) -> None:
    issued = api.post(credentials_url("b-dry")).json()
    session = open_device(issued)
    assert session.connect()

    assert api.delete(f"{BASE}/rooms/{ROOM}/bins/b-dry").status_code == 204
    assert session.dropped.wait(WITHIN_S), "the deleted bin's session stayed open"
    assert not open_device(issued).connect()
    assert wait_until(lambda: queued_revocations(db_url) == 0)


def test_unknown_bins_and_missing_credentials_are_404(api: TestClient) -> None:
    for method in ("post", "get", "delete"):
        assert getattr(api, method)(credentials_url("nope")).status_code == 404
    assert api.get(credentials_url("b-rec")).status_code == 404
    assert api.delete(credentials_url("b-rec")).status_code == 404


def test_only_admins_of_the_estate_may_touch_credentials(api: TestClient, db_url: str) -> None:
    api.post(credentials_url("b-wet"))
    others = [
        make_token(db_url, Role.viewer),
        make_token(db_url, Role.volunteer),
        make_token(db_url, Role.admin, ["another"]),
    ]
    for headers in others:
        for method in ("post", "get", "delete"):
            response = getattr(api, method)(credentials_url("b-wet"), headers=headers)
            assert response.status_code == 403, (method, headers, response.text)
    assert api.get(credentials_url("b-wet"), headers={"Authorization": ""}).status_code == 401


def test_bins_show_credentials_and_last_connection(api: TestClient, db_url: str) -> None:
    api.post(credentials_url("b-wet"))
    bins = {b["id"]: b for b in api.get(f"{BASE}/bins").json()}
    assert bins["b-wet"]["has_credentials"] is True and bins["b-dry"]["has_credentials"] is False
    assert bins["b-wet"]["last_connected_at"] is None

    # The ingester's own statement for a device's {"online": true} status.
    with psycopg.connect(db_url) as conn:
        for bin_id in ("b-wet", "b-dry"):
            params = {"online": True, "battery_pct": 80.0, "estate": ESTATE, "room": ROOM}
            conn.execute(ingest_sql.load("update_status"), {**params, "bin": bin_id})
    bins = {b["id"]: b for b in api.get(f"{BASE}/bins").json()}
    assert bins["b-wet"]["last_connected_at"] is not None and bins["b-wet"]["online"] is True
    assert bins["b-dry"]["last_connected_at"] is None and bins["b-dry"]["online"] is True
    info = api.get(credentials_url("b-wet")).json()
    assert info["last_connected_at"] == bins["b-wet"]["last_connected_at"]


def broker_logs(services: Services) -> str:
    if services.home is None:
        return ""
    return "".join(
        p.read_text(errors="replace") for p in services.home.rglob("*.log") if p.is_file()
    )


def test_passwords_never_reach_logs_or_later_responses(
    api: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    issued = [api.post(credentials_url("b-wet")).json(), api.post(credentials_url("b-wet")).json()]
    issued.append(api.post(credentials_url("b-rec")).json())
    later = [
        api.get(credentials_url("b-wet")).text,
        api.get(f"{BASE}/bins").text,
        api.get(f"{BASE}/rooms/{ROOM}/bins/b-wet").text,
        api.get("/openapi.json").text,
    ]
    assert api.delete(credentials_url("b-rec")).status_code == 204
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    logs = caplog.text + broker_logs(services)
    for body in issued:
        assert body["password"] not in logs
        assert all(body["password"] not in text for text in later)


def test_without_admin_login_the_credential_is_stored_unapplied(
    db_url: str, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    settings = api_settings(db_url, services, admin_mqtt_username=None, admin_mqtt_password=None)
    app = create_app(settings, DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:
        client.headers.update(make_token(db_url, Role.admin))
        register(client)
        response = client.post(credentials_url("b-wet"))
        assert response.status_code == 201
        body = response.json()
        assert body["broker_applied"] is False
        assert client.get(credentials_url("b-wet")).json()["broker_applied"] is False
    assert "fenlei devices sync" in caplog.text and body["password"] not in caplog.text


def test_the_broker_down_still_returns_the_credential(db_url: str, services: Services) -> None:
    # Nothing listens on port 9: the admin client never connects.
    settings = api_settings(db_url, services, mqtt_url="mqtt://127.0.0.1:9", broker_timeout_s=0.5)
    app = create_app(settings, DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:
        client.headers.update(make_token(db_url, Role.admin))
        register(client)
        response = client.post(credentials_url("b-wet"))
        assert response.status_code == 201 and response.json()["broker_applied"] is False
        assert client.delete(credentials_url("b-wet")).status_code == 204
    # Still queued: the broker never confirmed it.
    assert queued_revocations(db_url) == 1


def run_cli(services: Services, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """`fenlei <argv>` in-process (without its logging setup, which would replace caplog's)."""
    from fenlei import cli

    for key, value in services.env().items():
        monkeypatch.setenv(key, value)
    if services.home is not None:
        monkeypatch.setenv("FENLEI_HOME", str(services.home))
    args = cli.build_parser().parse_args(list(argv))
    return int(args.func(args))


def read_csv(path: Path) -> list[dict[str, str]]:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_provision_writes_a_csv_whose_logins_connect(
    db_url: str,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_device: Any,
) -> None:
    if services.admin is None:
        pytest.skip("needs the admin login")
    settings = ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2)
    app = create_app(settings, DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:  # no admin client: the CLI's is the only one
        client.headers.update(make_token(db_url, Role.admin))
        register(client)
        assert client.post(credentials_url("b-rec")).status_code == 201

    out = tmp_path / "creds.csv"
    assert (
        run_cli(
            services, monkeypatch, "devices", "provision", "--estate", ESTATE, "--out", str(out)
        )
        == 0
    )
    rows = read_csv(out)
    assert [r["bin"] for r in rows] == ["b-dry", "b-wet"]  # b-rec had credentials already
    assert list(rows[0]) == ["estate", "room", "bin", "username", "password", "client_id"]
    for row in rows:
        device = open_device(row)
        assert device.connect(), row["bin"]
        assert not device.publish(events_topic(ESTATE, ROOM, row["bin"])).is_failure
    with psycopg.connect(db_url) as conn:
        applied = conn.execute(
            "SELECT count(*) FILTER (WHERE broker_applied), count(*) FROM mqtt_accounts"
        ).fetchone()
    # b-rec's was issued while the API had no admin login; the two new ones are applied.
    assert applied == (2, 3)
    # A second run has nothing left to do and writes no file.
    again = tmp_path / "again.csv"
    assert (
        run_cli(
            services, monkeypatch, "devices", "provision", "--estate", ESTATE, "--out", str(again)
        )
        == 0
    )
    assert not again.exists()


def test_provision_in_bulk_restarts_the_broker_once(
    db_url: str,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_device: Any,
) -> None:
    if services.launcher_settings is None:
        pytest.skip("bulk provisioning rebuilds the local launcher's broker only")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO estates (id, name, timezone, households_total) VALUES (%s, 'B', "
            "'Asia/Shanghai', 1)",
            (ESTATE,),
        )
        conn.execute("INSERT INTO rooms (estate_id, id) VALUES (%s, %s)", (ESTATE, ROOM))
        conn.execute(
            "INSERT INTO bins (estate_id, room_id, id, category)"
            " SELECT %s, %s, 'bulk-' || i, 'dry' FROM generate_series(1, 5) i",
            (ESTATE, ROOM),
        )
    out = tmp_path / "bulk.csv"
    assert (
        run_cli(
            services,
            monkeypatch,
            "devices",
            "provision",
            "--estate",
            ESTATE,
            "--room",
            ROOM,
            "--out",
            str(out),
            "--bulk-over",
            "2",
        )
        == 0
    )
    rows = read_csv(out)
    assert len(rows) == 5
    for row in rows:
        assert open_device(row).connect(), row["bin"]


def test_sync_rebuilds_the_broker_from_the_database(
    db_url: str, services: Services, monkeypatch: pytest.MonkeyPatch, open_device: Any
) -> None:
    if services.launcher_settings is None:
        pytest.skip("sync rebuilds the local launcher's broker only")
    settings = api_settings(db_url, services, admin_mqtt_username=None, admin_mqtt_password=None)
    app = create_app(settings, DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:
        client.headers.update(make_token(db_url, Role.admin))
        register(client)
        body = client.post(credentials_url("b-wet")).json()
    assert body["broker_applied"] is False
    assert run_cli(services, monkeypatch, "devices", "sync") == 0
    assert open_device(body).connect()


def test_the_emqx_acl_view_gives_a_device_its_own_topics(api: TestClient, db_url: str) -> None:
    username = api.post(credentials_url("b-wet")).json()["username"]
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT permission, action, topic FROM mqtt_acl WHERE username = %s ORDER BY topic",
            (username,),
        ).fetchall()
    base = f"fenlei/v1/{ESTATE}/{ROOM}/b-wet"
    assert rows == [
        ("allow", "publish", f"{base}/events"),
        ("allow", "publish", f"{base}/status"),
        ("allow", "subscribe", f"{base}/stored"),
    ]


def test_a_command_sent_before_the_connack_waits_for_it(services: Services) -> None:
    """The API's first credential POST can beat the admin client's CONNACK (a fresh
    process behind /readyz, which only waits for the database): the command must wait
    for the connection within its timeout, not come back unapplied.

    The admin client goes through a loopback proxy that turns connections away until
    the command is on its way, so "not connected yet" holds by construction: racing a
    real CONNACK made this test skip its point whenever the broker was quick."""
    if services.admin is None:
        pytest.skip("the broker gives no admin login")
    address = parse_broker_url(services.mqtt_url)
    proxy = TcpProxy(address.host, address.port)
    proxy.cut()
    admin = AdminClient(
        BrokerAddress("127.0.0.1", proxy.port, address.tls),
        services.admin.username,
        services.admin.password,
        client_id="fenlei-admin-test-early",
        # paho retries after 1 s, then 2 s: room for both within the command's wait.
        timeout_s=3 * WITHIN_S,
    )
    admin.start()
    replies: list[list[Mapping[str, Any]]] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            replies.append(admin.run_sync([{"command": "getDefaultACLAccess"}]))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    try:
        assert not admin.ready, "connected through a cut proxy"
        sender.start()
        time.sleep(0.3)  # the command is waiting, not refused
        assert sender.is_alive() and not failures, failures
        proxy.restore()
        sender.join(3 * WITHIN_S + 5)
        assert not failures, failures
        ((reply,),) = replies
        assert reply.get("error") is None, reply
    finally:
        admin.stop()
        proxy.close()
