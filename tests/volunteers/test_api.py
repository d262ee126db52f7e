"""Volunteers, roster, on-duty, check-in, inspections, accuracy, swaps, telemetry, ICS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.volunteers.conftest import Clock, add_volunteer

pytestmark = pytest.mark.integration

EVENINGS = {"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]], "needed": 1}


def _roster(client: TestClient, admin: dict[str, str], month: str = "2026-04") -> Any:
    r = client.post(f"/api/v1/estates/jjq/roster?month={month}", headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def _shifts(client: TestClient, admin: dict[str, str], start: str, end: str) -> list[Any]:
    r = client.get(f"/api/v1/estates/jjq/roster?from={start}&to={end}", headers=admin)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_generate_a_month_fairly_within_availability(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    for room in ("r1", "r2"):
        assert (
            client.put(
                f"/api/v1/estates/jjq/rooms/{room}/watch-slots", headers=admin, json=EVENINGS
            ).status_code
            == 200
        )
    team = [add_volunteer(client, admin, f"v{i}") for i in range(6)]
    weekends_only = add_volunteer(
        client,
        admin,
        "weekend",
        availability=[{"days": [5, 6], "start": "06:00", "end": "21:00"}],
        unavailable_on=["2026-04-11"],
    )
    body = _roster(client, admin)
    # April 2026: 22 weekdays + 8 weekend days, two rooms.
    assert body["shifts"] == body["seats"] == body["filled"] == 2 * (22 + 8)
    assert body["uncovered_shifts"] == 0
    counts = [body["per_volunteer"][str(v["id"])] for v in team]
    assert max(counts) - min(counts) <= 1
    shifts = _shifts(client, admin, "2026-04-01", "2026-04-30")
    for s in shifts:
        names = {a["name"] for a in s["assignees"]}
        if "weekend" in names:
            assert s["local_start"] == "07:00:00" and s["day"] != "2026-04-11"
    assert body["per_volunteer"][str(weekends_only["id"])] > 0
    # A second run is refused; replace regenerates only what has not started.
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).status_code == 409
    again = client.post("/api/v1/estates/jjq/roster?month=2026-04&replace=true", headers=admin)
    assert again.status_code == 201
    assert again.json()["shifts"] == 2 * (22 + 8)  # the clock is before every April watch
    assert len(_shifts(client, admin, "2026-04-01", "2026-04-30")) == 2 * (22 + 8)


def test_unavailable_team_leaves_watches_uncovered_and_flagged(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    add_volunteer(
        client,
        admin,
        "weekdays",
        availability=[{"days": [0, 1, 2, 3, 4], "start": "17:00", "end": "21:00"}],
    )
    body = _roster(client, admin)
    assert body["uncovered_shifts"] == 8  # the weekend mornings
    cov = client.get(
        "/api/v1/estates/jjq/coverage?from=2026-04-01&to=2026-04-30", headers=admin
    ).json()
    assert len(cov["uncovered"]) == 8
    assert all(s["local_start"] == "07:00:00" and s["uncovered"] for s in cov["uncovered"])
    assert any(s["day_type"] == "weekend" and s["start"] == "07:00:00" for s in cov["suggestions"])


def test_on_duty_across_local_midnight_and_weekends(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    client.put(
        "/api/v1/estates/jjq/rooms/r1/watch-slots",
        headers=admin,
        json={"weekday": [["22:00", "01:00"]], "weekend": [["07:00", "09:00"]]},
    )
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    a = add_volunteer(client, admin, "A")
    _roster(client, admin)

    def who(at: str) -> list[tuple[str, str]]:
        r = client.get("/api/v1/estates/jjq/rooms/r1/on-duty", params={"at": at}, headers=admin)
        assert r.status_code == 200, r.text
        return [(s["day"], x["name"]) for s in r.json()["shifts"] for x in s["assignees"]]

    # Friday 3 April 23:30 and Saturday 00:30 local: Friday's night watch (a weekday one).
    assert who("2026-04-03T23:30:00+08:00") == [("2026-04-03", "A")]
    assert who("2026-04-03T16:30:00Z") == [("2026-04-03", "A")]
    assert who("2026-04-04T01:00:00+08:00") == []  # the end is exclusive
    assert who("2026-04-04T08:00:00+08:00") == [("2026-04-04", "A")]  # Saturday morning
    assert who("2026-04-04T23:30:00+08:00") == []  # no night watch on a Saturday
    # Sunday night 5 April is a weekend day: no weekday watch starts then, but Monday does.
    assert who("2026-04-05T23:00:00+08:00") == []
    assert who("2026-04-06T23:00:00+08:00") == [("2026-04-06", "A")]
    assert a["id"]


def test_checkin_inspection_accuracy_and_telemetry(
    client: TestClient, admin: dict[str, str], estate: str, clock: Clock, db_url: str
) -> None:
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    v = add_volunteer(client, admin, "王阿姨", building="12")
    _roster(client, admin)
    # Monday 6 April, 17:45 local: my next watch is 18:00-20:00.
    clock.now = datetime(2026, 4, 6, 9, 45, tzinfo=UTC)
    mine = client.get("/api/v1/me/shifts?days=2", headers=v["headers"]).json()
    assert mine[0]["day"] == "2026-04-06" and mine[0]["room"] == "r1"
    aid = mine[0]["assignment_id"]
    clock.now = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)  # 17:00: too early
    assert (
        client.post(f"/api/v1/assignments/{aid}/check-in", headers=v["headers"]).status_code == 409
    )
    clock.now = datetime(2026, 4, 6, 9, 45, tzinfo=UTC)
    r = client.post(f"/api/v1/assignments/{aid}/check-in", headers=v["headers"])
    assert r.status_code == 200 and r.json()["checked_in_at"].startswith("2026-04-06T09:45")
    assert (
        client.post(f"/api/v1/assignments/{aid}/check-in", headers=v["headers"]).status_code == 409
    )
    # Telemetry in the room during the watch, and one drop outside it.
    with psycopg.connect(db_url, autocommit=True) as conn:
        keys: dict[str, Any] = dict(
            conn.execute("SELECT id, bin_key FROM bins WHERE estate_id = 'jjq'")
        )
        rows = [
            ("2026-04-06T10:05:00Z", keys["b-wet"], "e1", "wet", "drop", 1200, None, "h1", None),
            ("2026-04-06T10:06:00Z", keys["b-dry"], "e2", "dry", "drop", 800, None, None, None),
            ("2026-04-06T10:07:00Z", keys["b-wet"], "e3", "wet", "fill", None, 82.5, None, None),
            (
                "2026-04-06T10:08:00Z",
                keys["b-wet"],
                "e4",
                "wet",
                "alarm",
                None,
                None,
                None,
                "odour",
            ),
            ("2026-04-06T12:30:00Z", keys["b-wet"], "e5", "wet", "drop", 999, None, None, None),
        ]
        conn.cursor().executemany(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,"
            " fill_pct, household, alarm) VALUES (%s, %s, %s, 'jjq', %s, %s, %s, %s, %s, %s)",
            rows,
        )
    detail = client.get(f"/api/v1/shifts/{mine[0]['id']}", headers=v["headers"]).json()
    assert detail["drops"] == 2 and detail["identified_drops"] == 1
    assert detail["kg"]["wet"] == 1.2 and detail["kg"]["dry"] == 0.8
    wet = next(b for b in detail["bins"] if b["bin"] == "b-wet")
    assert wet["fill_pct_last"] == 82.5
    assert [x["alarm"] for x in detail["alarms"]] == ["odour"]
    # An inspection, then its correction.
    clock.now = datetime(2026, 4, 6, 11, tzinfo=UTC)
    body: dict[str, Any] = {
        "building": "12",
        "notes": "外卖盒",
        "lines": [
            {"category": "wet", "checked": 40, "mis_sorted": 4, "re_sorted": 4},
            {"category": "dry", "checked": 10, "mis_sorted": 1, "re_sorted": 0},
        ],
    }
    r = client.post(f"/api/v1/assignments/{aid}/inspections", headers=v["headers"], json=body)
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    bad = {**body, "lines": [{"category": "wet", "checked": 1, "mis_sorted": 2}]}
    assert (
        client.put(f"/api/v1/inspections/{iid}", headers=v["headers"], json=bad).status_code == 422
    )
    body["lines"][1]["mis_sorted"] = 0
    assert (
        client.put(f"/api/v1/inspections/{iid}", headers=v["headers"], json=body).status_code == 200
    )
    r = client.post(f"/api/v1/assignments/{aid}/check-out", headers=v["headers"])
    assert r.status_code == 200 and r.json()["checked_out_at"]
    acc = client.get(
        "/api/v1/estates/jjq/accuracy?from=2026-04-01&to=2026-04-30", headers=make_viewer(db_url)
    ).json()
    assert (acc["inspected"], acc["passed"], acc["mis_sorted"], acc["re_sorted"]) == (50, 46, 4, 4)
    assert acc["accuracy"] == pytest.approx(0.92)
    assert acc["by_category"]["wet"]["accuracy"] == pytest.approx(0.9)
    assert acc["by_category"]["hazardous"] == {
        "inspected": 0,
        "passed": 0,
        "mis_sorted": 0,
        "re_sorted": 0,
        "accuracy": None,
        "inspections": 0,
    }
    assert acc["by_building"] == [
        {
            "building": "12",
            "inspected": 50,
            "passed": 46,
            "mis_sorted": 4,
            "re_sorted": 4,
            "accuracy": 0.92,
            "inspections": 1,
        }
    ]
    assert (
        client.get(
            "/api/v1/estates/jjq/accuracy?from=2026-05-01&to=2026-05-31", headers=admin
        ).json()["accuracy"]
        is None
    )
    # The committee's figures carry it too, with the evidence behind it.
    figures = client.get(
        "/api/v1/estates/jjq/metrics?from=2026-04-01&to=2026-04-30", headers=make_viewer(db_url)
    ).json()
    assert (figures["accuracy"], figures["inspected"]) == (0.92, 50)
    empty = client.get("/api/v1/estates/jjq/metrics?from=2026-05-01&to=2026-05-31", headers=admin)
    assert (empty.json()["accuracy"], empty.json()["inspected"]) == (None, 0)


def make_viewer(db_url: str) -> dict[str, str]:
    from api.auth.tokens import Role
    from tests.api.conftest import make_token

    return make_token(db_url, Role.viewer, ["jjq"])


def test_swap_offer_accept_and_admin_sees(
    client: TestClient, admin: dict[str, str], estate: str, clock: Clock
) -> None:
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    a = add_volunteer(client, admin, "A")
    b = add_volunteer(client, admin, "B")
    _roster(client, admin)
    mine = client.get("/api/v1/me/shifts", headers=a["headers"]).json()
    target = next(s for s in mine)
    r = client.post(
        f"/api/v1/assignments/{target['assignment_id']}/swaps",
        headers=a["headers"],
        json={"note": "出差"},
    )
    assert r.status_code == 201, r.text
    swap = r.json()
    assert (
        client.post(
            f"/api/v1/assignments/{target['assignment_id']}/swaps", headers=a["headers"]
        ).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/swaps/{swap['id']}/accept", headers=a["headers"]).status_code == 409
    )
    listed = client.get("/api/v1/estates/jjq/swaps?status=open", headers=b["headers"]).json()
    assert [s["id"] for s in listed] == [swap["id"]]
    r = client.post(f"/api/v1/swaps/{swap['id']}/accept", headers=b["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["taken_by_name"] == "B"
    assert [x["name"] for x in r.json()["shift"]["assignees"]] == ["B"]
    seen = client.get("/api/v1/estates/jjq/swaps?status=accepted", headers=admin).json()
    assert seen[0]["offered_by_name"] == "A" and seen[0]["taken_by_name"] == "B"
    assert target["id"] in [
        s["id"] for s in client.get("/api/v1/me/shifts", headers=b["headers"]).json()
    ]
    assert target["id"] not in [
        s["id"] for s in client.get("/api/v1/me/shifts", headers=a["headers"]).json()
    ]
    assert (
        client.post(f"/api/v1/swaps/{swap['id']}/cancel", headers=a["headers"]).status_code == 409
    )


def test_ics_feed_parses_and_the_key_is_the_secret(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    client.put("/api/v1/estates/jjq/rooms/r1", headers=admin, json={"name": "1号, 厢房; 东"})
    v = add_volunteer(client, admin, "李老师")
    _roster(client, admin)
    url = client.get("/api/v1/me", headers=v["headers"]).json()["calendar_url"]
    assert url == v["calendar_url"]
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 22 + 8
    first = min(events, key=lambda e: e.decoded("DTSTART"))
    assert first.decoded("DTSTART") == datetime(2026, 4, 1, 10, tzinfo=UTC)
    assert first.decoded("DTEND") - first.decoded("DTSTART") == timedelta(hours=2)
    assert str(first["LOCATION"]) == "jjq / 1号, 厢房; 东"
    assert "1号, 厢房; 东" in str(first["SUMMARY"])
    assert client.get("/api/v1/calendar/" + "x" * 32 + ".ics").status_code == 404
