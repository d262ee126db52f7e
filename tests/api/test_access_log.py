"""The API's logs: one access line per request (never a token, calendar key, password
or secret query value), and one audit record per roster and volunteer change."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth.repository import create_token
from api.auth.tokens import Role
from fenlei import logs
from fenlei.logs import JsonFormatter
from tests.fix_data import register
from tests.volunteers.conftest import Clock, add_volunteer, build_app

P = "from=2026-03-01&to=2026-03-31"


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "fenlei.access"]


def _text(record: logging.LogRecord) -> str:
    """All a record would write, whichever formatter: its JSON and its message."""
    return JsonFormatter().format(record) + record.getMessage()


def _token_id(db_url: str, token: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT id FROM api_tokens WHERE token_sha256 = %s",
            (hashlib.sha256(token.encode()).digest(),),
        ).fetchone()
    assert row is not None
    return int(row[0])


# --- access log ---------------------------------------------------------------------------


@pytest.mark.integration
def test_each_request_writes_one_line_with_who_and_how_long(
    client: TestClient, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    register(db_url, "jjq")
    with psycopg.connect(db_url, autocommit=True) as conn:
        viewer_id, viewer = create_token(conn, Role.viewer, ["jjq"])
    caplog.set_level(logging.INFO, logger="fenlei.access")
    caplog.clear()
    headers = {"Authorization": f"Bearer {viewer}"}
    assert client.get(f"/api/v1/estates/jjq/metrics?{P}", headers=headers).status_code == 200
    assert client.get("/api/v1/estates/other/bins", headers=headers).status_code == 403
    assert client.get("/api/v1/estates/jjq/bins").status_code == 401
    assert client.put("/api/v1/estates/jjq", headers=headers, json={}).status_code == 403
    got = [
        (r.method, r.path, r.query, r.status, r.client, r.token_id)  # type: ignore[attr-defined]
        for r in _lines(caplog)
    ]
    assert got == [
        ("GET", "/api/v1/estates/jjq/metrics", P, 200, "testclient", viewer_id),
        ("GET", "/api/v1/estates/other/bins", "", 403, "testclient", viewer_id),
        ("GET", "/api/v1/estates/jjq/bins", "", 401, "testclient", None),
        ("PUT", "/api/v1/estates/jjq", "", 403, "testclient", viewer_id),
    ]
    for record in _lines(caplog):
        assert record.levelno == logging.INFO
        assert 0 <= record.duration_ms < 60_000  # type: ignore[attr-defined]
    assert f"GET /api/v1/estates/jjq/metrics?{P} 200" in _lines(caplog)[0].getMessage()


@pytest.mark.integration
def test_no_token_key_password_or_secret_query_value_reaches_the_access_log(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    register(db_url, "jjq")
    with psycopg.connect(db_url, autocommit=True) as conn:
        _, admin_token = create_token(conn, Role.admin, name="admin")
    admin = {"Authorization": f"Bearer {admin_token}"}
    with TestClient(build_app(db_url, Clock(datetime(2026, 4, 1, 4, tzinfo=UTC)))) as client:
        v = add_volunteer(client, admin, "王阿姨")
        key = v["calendar_url"].rsplit("/", 1)[1].removesuffix(".ics")
        caplog.set_level(logging.DEBUG, logger="fenlei.access")
        caplog.clear()
        assert client.get(v["calendar_url"]).status_code == 200
        assert client.get(f"/api/v1/calendar/{key}").status_code == 404
        client.get(f"/api/v1/calendar/{key}.ics?token={v['token']}&key={key}&password=hunter2")
        client.get(f"/api/v1/estates/jjq/bins?access_token={admin_token}&x={v['token']}")
        client.get(f"/api/v1/{admin_token}/bins")
        client.cookies.set("fenlei_session", "s3cr3t-cookie")
        client.get("/api/v1/me", headers=v["headers"])
        client.post("/dashboards/signin", data={"token": admin_token}, follow_redirects=False)
        client.post("/volunteer/login", data={"token": v["token"]}, follow_redirects=False)
        client.get("/healthz")
    lines = _lines(caplog)
    assert len(lines) == 9
    secrets = (admin_token, v["token"], key, "hunter2", "s3cr3t-cookie")
    for record in lines:
        leaked = [s for s in secrets if s in _text(record)]
        assert not leaked, _text(record)
    paths = [r.path for r in lines]  # type: ignore[attr-defined]
    calendar = "/api/v1/calendar/[redacted]"
    assert paths[:3] == [f"{calendar}.ics", calendar, f"{calendar}.ics"]
    assert lines[2].query == "token=[redacted]&key=[redacted]&password=[redacted]"  # type: ignore[attr-defined]
    assert lines[3].query == "access_token=[redacted]&x=[redacted]"  # type: ignore[attr-defined]
    assert paths[4] == "/api/v1/[redacted]/bins"
    assert lines[5].token_id == v["token_id"]  # type: ignore[attr-defined]
    # A successful health probe is DEBUG: probes every few seconds would bury requests.
    assert (paths[8], lines[8].levelno) == ("/healthz", logging.DEBUG)


def _tiny_app() -> FastAPI:
    from api import access_log

    app = FastAPI()

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    access_log.install(app)
    access_log.install(app)  # once is enough: twice changes nothing
    return app


def test_an_unhandled_error_is_logged_as_a_500_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fenlei.access")
    with TestClient(_tiny_app(), raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500
        assert client.get("/fine?a=1").status_code == 200
    lines = _lines(caplog)
    assert [(r.path, r.status, r.levelno) for r in lines] == [  # type: ignore[attr-defined]
        ("/broken", 500, logging.WARNING),
        ("/fine", 200, logging.INFO),
    ]


@pytest.fixture
def configured_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """`fenlei.logs.configure()` as an entry point runs it (root at WARNING), writing to
    a buffer; the root logger and the access logger are put back afterwards."""
    from api import access_log

    monkeypatch.delenv("FENLEI_LOG_LEVEL", raising=False)
    monkeypatch.delenv("FENLEI_LOG_FORMAT", raising=False)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, access_log.log.level)
    access_log.log.setLevel(logging.NOTSET)
    logs.configure()
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:], root.level = saved[0], saved[1]
    access_log.log.setLevel(saved[2])


def test_the_access_log_is_on_by_default(configured_logging: io.StringIO) -> None:
    assert logging.getLogger().level == logging.WARNING
    with TestClient(_tiny_app()) as client:
        client.get("/fine")
    written = configured_logging.getvalue()
    assert "fenlei.access: GET /fine 200" in written, written


# --- audit of roster and volunteer changes ------------------------------------------------


@pytest.fixture
def volunteers(db_url: str) -> Iterator[tuple[TestClient, dict[str, str], int]]:
    """The app (clock at 1 April 2026) with estate jjq and an admin token named "committee"."""
    register(db_url, "jjq", {"r1": {"b-dry": "dry"}, "r2": {"b2": "dry"}})
    with psycopg.connect(db_url, autocommit=True) as conn:
        admin_id, token = create_token(conn, Role.admin, name="committee")
    with TestClient(build_app(db_url, Clock(datetime(2026, 4, 1, 4, tzinfo=UTC)))) as client:
        yield client, {"Authorization": f"Bearer {token}"}, admin_id


def _audit(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "fenlei.audit"]


@pytest.mark.integration
def test_roster_and_volunteer_changes_write_one_audit_record_each(
    volunteers: tuple[TestClient, dict[str, str], int], caplog: pytest.LogCaptureFixture
) -> None:
    client, admin, admin_id = volunteers
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    caplog.clear()
    a = add_volunteer(client, admin, "甲")
    b = add_volunteer(client, admin, "乙")
    body: dict[str, Any] = {"name": "甲", "contact": "139", "active": True}
    assert (
        client.put(
            f"/api/v1/estates/jjq/volunteers/{a['id']}", headers=admin, json=body
        ).status_code
        == 200
    )
    # The rooms' watches at different hours: taking over the other's evening watch must
    # not double-book anyone (a clash is refused: test_swap_double_booking).
    for room, hours in (("r1", ["18:00", "20:00"]), ("r2", ["07:00", "09:00"])):
        slots = {"weekday": [hours], "weekend": [], "needed": 1}
        r = client.put(f"/api/v1/estates/jjq/rooms/{room}/watch-slots", headers=admin, json=slots)
        assert r.status_code == 200
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).status_code == 201
    mine = client.get("/api/v1/me/shifts", headers=a["headers"]).json()
    offer = client.post(
        f"/api/v1/assignments/{mine[0]['assignment_id']}/swaps", headers=a["headers"]
    )
    assert offer.status_code == 201
    assert (
        client.post(f"/api/v1/swaps/{offer.json()['id']}/accept", headers=b["headers"]).status_code
        == 200
    )
    assert (
        client.delete(f"/api/v1/estates/jjq/volunteers/{b['id']}", headers=admin).status_code == 204
    )

    records = _audit(caplog)
    summary = [(r.audit, r.token_id, r.component) for r in records]  # type: ignore[attr-defined]
    assert summary == [
        ("volunteer_created", admin_id, "api"),
        ("volunteer_created", admin_id, "api"),
        ("volunteer_changed", admin_id, "api"),
        ("watch_slots_changed", admin_id, "api"),
        ("watch_slots_changed", admin_id, "api"),
        ("roster_generated", admin_id, "api"),
        ("swap_accepted", b["token_id"], "api"),
        ("volunteer_deleted", admin_id, "api"),
    ]
    created, _, changed, slots_set, _, roster, swap, deleted = records
    assert (created.volunteer_id, created.volunteer_token_id) == (a["id"], a["token_id"])  # type: ignore[attr-defined]
    assert changed.fields == ["contact"] and changed.token_name == "committee"  # type: ignore[attr-defined]
    assert (slots_set.room, slots_set.slots) == ("r1", 1)  # type: ignore[attr-defined]
    assert (roster.month, roster.shifts, roster.replace) == ("2026-04", 2 * 22, False)  # type: ignore[attr-defined]
    assert (swap.swap_id, swap.from_volunteer_id, swap.to_volunteer_id) == (  # type: ignore[attr-defined]
        offer.json()["id"],
        a["id"],
        b["id"],
    )
    assert (deleted.volunteer_id, deleted.revoked_token_id) == (b["id"], b["token_id"])  # type: ignore[attr-defined]
    secrets = [a["token"], b["token"], admin["Authorization"].removeprefix("Bearer ")]
    secrets += [u["calendar_url"].rsplit("/", 1)[1].removesuffix(".ics") for u in (a, b)]
    for record in caplog.records:
        assert not [s for s in secrets if s in _text(record)], _text(record)


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/volunteer/link/Zq3x-secret", "/volunteer/link/[redacted]"),
        ("/volunteer/login/link/Zq3x-secret", "/volunteer/login/link/[redacted]"),
        ("/dashboards/public/pb_secret", "/dashboards/public/[redacted]"),
        ("/dashboards/public/pb_secret/2026-03", "/dashboards/public/[redacted]/2026-03"),
        ("/dashboards/estates/jjq", "/dashboards/estates/jjq"),
    ],
)
def test_link_secrets_in_a_path_are_redacted(path: str, logged: str) -> None:
    from api.access_log import redact_path

    assert redact_path(path) == logged
