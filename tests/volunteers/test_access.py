"""The authorization matrix: a volunteer acts on their own records only, an admin on
all of its estates, a viewer reads, another estate's tokens and no token get nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from tests.api.conftest import make_token
from tests.volunteers.conftest import Clock, add_volunteer

pytestmark = pytest.mark.integration

EVENINGS = {"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]]}
INSPECTION = {"lines": [{"category": "wet", "checked": 10, "mis_sorted": 1, "re_sorted": 1}]}


@pytest.fixture
def world(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str, clock: Clock
) -> dict[str, Any]:
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    a = add_volunteer(client, admin, "A")
    b = add_volunteer(client, admin, "B")
    c = add_volunteer(client, admin, "C", estate="other")
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).status_code == 201
    # Monday 6 April 2026, 17:45 in Shanghai: a quarter before the evening watch.
    clock.now = datetime(2026, 4, 6, 9, 45, tzinfo=UTC)
    shifts = client.get("/api/v1/me/shifts", headers=a["headers"]).json()
    today = (
        next(s for s in shifts if s["day"] == "2026-04-06")
        if any(s["day"] == "2026-04-06" for s in shifts)
        else None
    )
    if today is None:  # the rotation gave B today's watch: let A and B trade names
        a, b = b, a
        shifts = client.get("/api/v1/me/shifts", headers=a["headers"]).json()
        today = next(s for s in shifts if s["day"] == "2026-04-06")
    later = next(s for s in shifts if s["day"] > "2026-04-07")
    return {
        "who": {
            "none": {},
            "admin": admin,
            "viewer": make_token(db_url, Role.viewer, ["jjq"]),
            "other": make_token(db_url, Role.viewer, ["other"]),
            "other_admin": make_token(db_url, Role.admin, ["other"]),
            "unlinked": make_token(db_url, Role.volunteer, ["jjq"]),
            "C": c["headers"],
            "B": b["headers"],
            "A": a["headers"],
        },
        "today": today,
        "later": later,
    }


class Matrix:
    """Runs each request as each caller, in the order given, and collects mismatches."""

    def __init__(self, client: TestClient, who: dict[str, dict[str, str]]) -> None:
        self.client, self.who, self.wrong = client, who, list[str]()
        self.last: dict[str, Any] = {}

    def check(self, method: str, path: str, body: Any = None, **expected: int) -> None:
        for name, status in expected.items():
            r = self.client.request(method, path, headers=self.who[name], json=body)
            if r.status_code != status:
                self.wrong.append(
                    f"{method} {path} as {name}: {r.status_code} != {status} ({r.text[:120]})"
                )
            elif r.status_code < 300 and r.content:
                self.last = r.json() if "json" in r.headers["content-type"] else {}


DENIED = {"none": 401, "viewer": 403, "other": 403, "other_admin": 403, "unlinked": 403, "C": 403}


def test_volunteers_act_on_their_own_records_only(
    client: TestClient, world: dict[str, Any]
) -> None:
    m = Matrix(client, world["who"])
    aid = world["today"]["assignment_id"]
    m.check("POST", f"/api/v1/assignments/{aid}/check-in", **DENIED, B=403, A=200)
    m.check("POST", f"/api/v1/assignments/{aid}/inspections", INSPECTION, **DENIED, B=403, A=201)
    iid = m.last["id"]
    m.check(
        "GET",
        f"/api/v1/inspections/{iid}",
        none=401,
        other=403,
        other_admin=403,
        viewer=200,
        B=200,
        A=200,
    )
    m.check("PUT", f"/api/v1/inspections/{iid}", INSPECTION, **DENIED, B=403, A=200, admin=200)
    m.check("POST", f"/api/v1/assignments/{aid}/check-out", **DENIED, B=403, A=200)
    m.check("DELETE", f"/api/v1/inspections/{iid}", **DENIED, B=403, A=204)
    # An admin records for a volunteer, and may correct it; the volunteer still owns it.
    m.check("POST", f"/api/v1/assignments/{aid}/inspections", INSPECTION, admin=201)
    iid = m.last["id"]
    m.check("PUT", f"/api/v1/inspections/{iid}", INSPECTION, B=403, A=200)

    later = world["later"]["assignment_id"]
    m.check("POST", f"/api/v1/assignments/{later}/swaps", {}, **DENIED, B=403, A=201)
    sid = m.last["id"]
    m.check("POST", f"/api/v1/swaps/{sid}/cancel", **DENIED, B=403)
    m.check("POST", f"/api/v1/swaps/{sid}/accept", **DENIED, A=409, B=200)
    m.check("POST", f"/api/v1/swaps/{sid}/cancel", B=403, A=409)
    # Now it is B's watch: A can no longer check in for it.
    m.check("POST", f"/api/v1/assignments/{later}/check-in", A=403)
    assert m.wrong == []


def test_who_reads_and_who_administers(client: TestClient, world: dict[str, Any]) -> None:
    m = Matrix(client, world["who"])
    p = "from=2026-04-01&to=2026-04-30"
    reads = {
        "none": 401,
        "other": 403,
        "other_admin": 403,
        "C": 403,
        "viewer": 200,
        "unlinked": 200,
        "B": 200,
        "admin": 200,
    }
    for path in (
        f"/api/v1/estates/jjq/roster?{p}",
        f"/api/v1/estates/jjq/coverage?{p}",
        f"/api/v1/estates/jjq/accuracy?{p}",
        f"/api/v1/estates/jjq/inspections?{p}",
        "/api/v1/estates/jjq/watch-slots",
        "/api/v1/estates/jjq/rooms/r1/on-duty?at=2026-04-06T19:00:00%2B08:00",
        f"/api/v1/shifts/{world['today']['id']}",
    ):
        m.check("GET", path, **reads)
    m.check(
        "GET", "/api/v1/estates/jjq/swaps", none=401, viewer=403, other=403, C=403, B=200, admin=200
    )
    admin_only = {
        "none": 401,
        "viewer": 403,
        "other": 403,
        "other_admin": 403,
        "unlinked": 403,
        "C": 403,
        "B": 403,
    }
    m.check("GET", "/api/v1/estates/jjq/volunteers", **admin_only, admin=200)
    m.check("POST", "/api/v1/estates/jjq/volunteers", {"name": "D"}, **admin_only, admin=201)
    m.check("PUT", "/api/v1/estates/jjq/rooms/r1/watch-slots", EVENINGS, **admin_only, admin=200)
    m.check("POST", "/api/v1/estates/jjq/roster?month=2026-05", **admin_only, admin=201)
    m.check("GET", "/api/v1/me", none=401, viewer=403, unlinked=403, admin=403, A=200)
    m.check("GET", "/api/v1/me/shifts", none=401, viewer=403, unlinked=403, A=200)
    assert m.wrong == []
    assert client.get("/api/v1/shifts/999999", headers=world["who"]["admin"]).status_code == 404
