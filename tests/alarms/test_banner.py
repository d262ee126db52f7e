"""The alarm banner's fragment and its buttons' routes: the committee acknowledges and
resolves from the dashboards, the volunteer on duty acknowledges from the phone; every
POST is this session's form (CSRF) and the result is read back through the JSON API."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from starlette.requests import Request

from api.auth.tokens import Role
from dashboards import alarm_banner, layout
from tests.alarms.test_api import insert_alarm, put_on_duty
from tests.api.conftest import make_token
from tests.volunteers.conftest import Clock, add_volunteer

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def sign_in(client: TestClient, headers: dict[str, str]) -> None:
    token = headers["Authorization"].removeprefix("Bearer ")
    form = client.get("/dashboards/signin").text
    r = client.post(
        "/dashboards/signin",
        data={"token": token, "next": "/dashboards/", "csrf": CSRF.findall(form)[0]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def page_request(client: TestClient, path: str = "/dashboards/estates/jjq") -> Request:
    """A request to a dashboards page carrying the client's cookies, as a page gets."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return Request(
        {
            "type": "http",
            "app": client.app,
            "method": "GET",
            "path": path,
            "query_string": b"from=2026-03-01",
            "headers": [(b"cookie", cookie.encode()), (b"host", b"testserver")],
        }
    )


def api_rows(client: TestClient, admin: dict[str, str], state: str = "unresolved") -> Any:
    return {
        a["id"]: a
        for a in client.get(f"/api/v1/estates/jjq/alarms?state={state}", headers=admin).json()
    }


def as_rows(client: TestClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    """The API's rows with instants parsed, as a page would pass the repository's."""
    out = []
    for a in api_rows(client, admin).values():
        out.append({**a, "first_seen": datetime.fromisoformat(a["first_seen"])})
    return sorted(out, key=lambda a: a["id"])


def test_committee_banner_acknowledge_and_resolve(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    over = insert_alarm(db_url, "overflow")
    off = insert_alarm(db_url, "offline", bin_id="b-dry")
    silent = insert_alarm(db_url, "silent_room", room="r2", bin_id=None)
    sign_in(client, admin)
    request = page_request(client)
    ctx = layout.Context(request, "zh", estate="jjq", committee=True)
    html = alarm_banner.render(ctx, as_rows(client, admin))
    assert "3 条未处理告警" in html and 'class="alarm-banner urgent"' in html
    for word in ("满溢", "离线", "投放点无投放", "r1 投放点 · b-wet 号桶", "重复 3 次"):
        assert word in html, word
    assert "overflow" not in html.replace("alarm-banner", "")  # no raw codes shown
    assert f'action="/dashboards/estates/jjq/alarms/{over}/acknowledge"' in html
    assert f'action="/dashboards/estates/jjq/alarms/{silent}/resolve"' in html
    csrf = CSRF.findall(html)[0]
    assert csrf  # the session's token on each button
    en = alarm_banner.render(layout.Context(request, "en", estate="jjq"), as_rows(client, admin))
    assert "Overflow" in en and "Offline" in en and "<form" not in en  # not the committee
    assert alarm_banner.render(ctx, []) == ""

    # Without this session's token: refused, nothing changes.
    r = client.post(
        f"/dashboards/estates/jjq/alarms/{over}/acknowledge",
        data={"csrf": "forged", "back": "/dashboards/estates/jjq"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert api_rows(client, admin)[over]["state"] == "open"
    # With it: acknowledged, and back to the page it came from.
    r = client.post(
        f"/dashboards/estates/jjq/alarms/{over}/acknowledge",
        data={"csrf": csrf, "back": "/dashboards/estates/jjq?from=2026-03-01"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (
        303,
        "/dashboards/estates/jjq?from=2026-03-01",
    )
    assert api_rows(client, admin)[over]["state"] == "acknowledged"
    html = alarm_banner.render(ctx, as_rows(client, admin))
    assert "test admin 已确认" in html
    assert f"/alarms/{over}/acknowledge" not in html and f"/alarms/{over}/resolve" in html
    # Another site as `back` is not followed.
    r = client.post(
        f"/dashboards/estates/jjq/alarms/{off}/resolve",
        data={"csrf": csrf, "back": "https://evil.example/x"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/dashboards/estates/jjq")
    assert off in api_rows(client, admin, "resolved")
    r = client.post(
        f"/dashboards/estates/jjq/alarms/{off}/resolve",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 409 and "已经处理过了" in r.text
    # An alarm of another estate through this estate's URL: not found.
    elsewhere = insert_alarm(db_url, "overflow", room="o1", bin_id="ob", estate="other")
    r = client.post(
        f"/dashboards/estates/jjq/alarms/{elsewhere}/resolve",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 404


def test_a_viewer_cannot_act_from_the_dashboards(
    client: TestClient, estate: str, db_url: str, admin: dict[str, str]
) -> None:
    a = insert_alarm(db_url)
    sign_in(client, make_token(db_url, Role.viewer, ["jjq"]))
    csrf = CSRF.findall(client.get("/dashboards/signin").text)
    r = client.post(
        f"/dashboards/estates/jjq/alarms/{a}/resolve",
        data={"csrf": csrf[0] if csrf else ""},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert api_rows(client, admin)[a]["state"] == "open"


def test_volunteer_on_duty_acknowledges_from_the_phone(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str, clock: Clock
) -> None:
    wang = add_volunteer(client, admin, "王阿姨")
    li = add_volunteer(client, admin, "李叔叔")
    start = clock.now - timedelta(minutes=30)
    put_on_duty(db_url, wang["id"], "r1", start)
    a = insert_alarm(db_url)

    def login(token: str) -> str:
        client.cookies.clear()
        form = CSRF.findall(client.get("/volunteer/login").text)[0]
        r = client.post("/volunteer/login", content=f"token={token}&csrf={form}", headers=FORM)
        assert r.status_code == 200
        return str(CSRF.findall(r.text)[0])

    csrf = login(li["token"])  # not on duty at r1
    html = alarm_banner.render_volunteer("zh", csrf, as_rows(client, admin))
    assert "满溢" in html and f'action="/volunteer/alarms/{a}/acknowledge"' in html
    assert "/resolve" not in html
    r = client.post(
        f"/volunteer/alarms/{a}/acknowledge", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    assert api_rows(client, admin)[a]["state"] == "open"
    csrf = login(wang["token"])
    r = client.post(
        f"/volunteer/alarms/{a}/acknowledge", data={"csrf": "nope"}, follow_redirects=False
    )
    assert r.status_code == 403 and api_rows(client, admin)[a]["state"] == "open"
    r = client.post(f"/volunteer/alarms/{a}/acknowledge", data={"csrf": csrf})
    assert r.status_code == 200 and "告警已确认" in r.text
    got = api_rows(client, admin)[a]
    assert (got["state"], got["acknowledged_by"]) == ("acknowledged", "王阿姨")


def test_the_phone_page_shows_the_alarms_of_the_room_i_am_on_duty_at(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str, clock: Clock
) -> None:
    """/volunteer itself: the on-duty volunteer sees r1's open alarm first with its
    acknowledge button; a volunteer not on duty, and an alarm of another room, do not."""
    wang = add_volunteer(client, admin, "王阿姨")
    li = add_volunteer(client, admin, "李叔叔")
    put_on_duty(db_url, wang["id"], "r1", clock.now - timedelta(minutes=30))
    here = insert_alarm(db_url)
    elsewhere = insert_alarm(db_url, "battery_low", room="r2", bin_id="b2")

    def home(token: str) -> str:
        client.cookies.clear()
        form = CSRF.findall(client.get("/volunteer/login").text)[0]
        r = client.post("/volunteer/login", content=f"token={token}&csrf={form}", headers=FORM)
        assert r.status_code == 200
        return str(r.text)

    page = home(wang["token"])
    assert "alarm-banner" in page and "满溢" in page
    assert f'action="/volunteer/alarms/{here}/acknowledge"' in page
    assert f"/volunteer/alarms/{elsewhere}/" not in page
    assert page.index("alarm-banner") < page.index('data-test="room-r1"')
    assert "alarm-banner" not in home(li["token"])


def test_the_district_view_counts_each_estates_unresolved_alarms(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    insert_alarm(db_url, "overflow")
    insert_alarm(db_url, "offline", bin_id="b-dry")
    done = insert_alarm(db_url, "battery_low", bin_id="b2", room="r2")
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = 'auto'"
            " WHERE id = %s",
            (done,),
        )
    sign_in(client, admin)
    r = client.get("/dashboards/district/export?format=csv&lang=en")
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    jjq = next(row for row in rows if row["Estate"] == "jjq")
    assert jjq["Open alarms"] == "2"  # the resolved one is not counted
