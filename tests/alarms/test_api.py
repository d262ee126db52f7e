"""The alarms' JSON API: who may read and act, the lifecycle's refusals, thresholds,
and the audit records of what people did. Alarm rows and shifts are the test's own
inputs, written directly."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from api.auth.tokens import Role
from tests.api.conftest import make_token
from tests.volunteers.conftest import Clock, add_volunteer

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def insert_alarm(
    db_url: str,
    kind: str = "overflow",
    room: str = "r1",
    bin_id: str | None = "b-wet",
    estate: str = "jjq",
) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO alarms (estate_id, room_id, bin_id, kind, source, first_seen,"
            " last_seen, repeats) VALUES (%s, %s, %s, %s, %s, now(), now(), 3) RETURNING id",
            (estate, room, bin_id, kind, "device" if kind == "overflow" else "derived"),
        ).fetchone()
    assert row is not None
    return int(row[0])


def put_on_duty(db_url: str, volunteer_id: int, room: str, start: datetime) -> None:
    with psycopg.connect(db_url) as conn:
        shift = conn.execute(
            "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end, starts_at,"
            " ends_at) VALUES ('jjq', %s, %s, '07:00', '09:00', %s, %s) RETURNING id",
            (room, start.date(), start, start + timedelta(hours=2)),
        ).fetchone()
        assert shift is not None
        conn.execute(
            "INSERT INTO assignments (shift_id, volunteer_id) VALUES (%s, %s)",
            (shift[0], volunteer_id),
        )


def test_list_acknowledge_resolve_with_audit(
    client: TestClient,
    admin: dict[str, str],
    estate: str,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = insert_alarm(db_url)
    b = insert_alarm(db_url, "battery_low", bin_id="b-dry")
    viewer = make_token(db_url, Role.viewer, ["jjq"])
    r = client.get("/api/v1/estates/jjq/alarms", headers=viewer)
    assert r.status_code == 200
    assert sorted((x["id"], x["kind"], x["state"], x["repeats"]) for x in r.json()) == [
        (a, "overflow", "open", 3),
        (b, "battery_low", "open", 3),
    ]
    # A viewer reads but does not act.
    assert client.post(f"/api/v1/alarms/{a}/acknowledge", headers=viewer).status_code == 403
    with caplog.at_level(logging.INFO, logger="fenlei.audit"):
        r = client.post(f"/api/v1/alarms/{a}/acknowledge", headers=admin)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["acknowledged_by"]) == ("acknowledged", "test admin")
        assert client.post(f"/api/v1/alarms/{a}/acknowledge", headers=admin).status_code == 409
        r = client.post(f"/api/v1/alarms/{a}/resolve", headers=admin)
        assert (r.status_code, r.json()["state"], r.json()["resolved_by"]) == (
            200,
            "resolved",
            "test admin",
        )
        assert client.post(f"/api/v1/alarms/{a}/resolve", headers=admin).status_code == 409
    audits = [(x.audit, x.alarm_id) for x in caplog.records if hasattr(x, "audit")]  # type: ignore[attr-defined]
    assert audits == [("alarm_acknowledged", a), ("alarm_resolved", a)]
    states = {
        s: [
            x["id"]
            for x in client.get(f"/api/v1/estates/jjq/alarms?state={s}", headers=viewer).json()
        ]
        for s in ("open", "acknowledged", "resolved", "unresolved")
    }
    assert states == {"open": [b], "acknowledged": [], "resolved": [a], "unresolved": [b]}
    assert client.post("/api/v1/alarms/999999/resolve", headers=admin).status_code == 404
    other = make_token(db_url, Role.viewer, ["other"])
    assert client.get("/api/v1/estates/jjq/alarms", headers=other).status_code == 403
    assert client.get("/api/v1/estates/jjq/alarms?state=bad", headers=viewer).status_code == 422


def test_only_the_volunteer_on_duty_at_that_room_acts(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str, clock: Clock
) -> None:
    wang: dict[str, Any] = add_volunteer(client, admin, "王阿姨")
    li: dict[str, Any] = add_volunteer(client, admin, "李叔叔")
    start = datetime(2026, 4, 1, 3, 30, tzinfo=UTC)  # clock.now is 04:00 UTC
    put_on_duty(db_url, wang["id"], "r1", start)
    put_on_duty(db_url, li["id"], "r2", start)
    a = insert_alarm(db_url)
    assert client.post(f"/api/v1/alarms/{a}/acknowledge", headers=li["headers"]).status_code == 403
    clock.now = start + timedelta(hours=3)  # after the watch
    assert (
        client.post(f"/api/v1/alarms/{a}/acknowledge", headers=wang["headers"]).status_code == 403
    )
    clock.now = start + timedelta(minutes=30)
    r = client.post(f"/api/v1/alarms/{a}/acknowledge", headers=wang["headers"])
    assert (r.status_code, r.json()["acknowledged_by"]) == (200, "王阿姨")


def test_settings_defaults_and_put(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    viewer = make_token(db_url, Role.viewer, ["jjq"])
    r = client.get("/api/v1/estates/jjq/alarm-settings", headers=viewer)
    assert r.status_code == 200
    got = r.json()
    assert (
        got["fill_pct"],
        got["battery_pct"],
        got["offline_minutes"],
        got["offline_window_minutes"],
        got["silent_room"],
    ) == (90, 20, 60, 15, True)
    # Reading the defaults wrote nothing.
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alarm_settings").fetchone() == (0,)
    body = {
        "fill_pct": 80,
        "battery_pct": 15,
        "offline_minutes": 30,
        "offline_window_minutes": 5,
        "device_clear_minutes": 10,
        "silent_room": False,
        "stuck_sensor": True,
    }
    assert (
        client.put("/api/v1/estates/jjq/alarm-settings", headers=viewer, json=body).status_code
        == 403
    )
    r = client.put("/api/v1/estates/jjq/alarm-settings", headers=admin, json=body)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in body} == body
    assert (
        client.get("/api/v1/estates/jjq/alarm-settings", headers=viewer).json()["offline_minutes"]
        == 30
    )
    bad = client.put(
        "/api/v1/estates/jjq/alarm-settings", headers=admin, json={**body, "fill_pct": 0}
    )
    assert bad.status_code == 422
    assert (
        client.put("/api/v1/estates/nope/alarm-settings", headers=admin, json=body).status_code
        == 404
    )
