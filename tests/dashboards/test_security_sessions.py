"""Server-side sessions, CSRF on every form, cookie flags and headers of the pages (#14).

The composed app on the real database through Starlette's TestClient (base URL
http://testserver, a loopback app: cookies without Secure unless configured). Forms are
read from the pages themselves with the stdlib's HTML parser and posted as a browser
would, so "the pages' own forms work" is checked on the forms the pages really carry.
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import psycopg
import pytest

with warnings.catch_warnings():
    # See tests/api/conftest.py: Starlette's TestClient warns when driven by httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.repository import revoke_token
from api.auth.tokens import Role, hash_token
from api.routes.volunteer_deps import get_now
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import make_token
from tests.fix_data import register, scalar
from tests.volunteers.conftest import Clock, add_volunteer

pytestmark = pytest.mark.integration

DASH_COOKIE = "fenlei_session"
VOL_COOKIE = "fenlei_volunteer"
EVENINGS = {"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]]}
FOREIGN = "http://evil.example"
SIGNIN_FORMS = {"/dashboards/signin", "/volunteer/login"}


# --- reading the pages' forms -----------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form(html: str, action: str) -> Form:
    """The one POST form of the page whose action is (or ends with) `action`."""
    found = [f for f in forms(html) if f.method == "post" and f.action.endswith(action)]
    assert len(found) == 1, (action, [f.action for f in forms(html)])
    return found[0]


def submit(
    client: TestClient, f: Form, headers: dict[str, str] | None = None, **values: str
) -> Any:
    return client.post(
        f.action, data={**f.fields, **values}, headers=headers or {}, follow_redirects=False
    )


def cookie_header(name: str, value: str) -> dict[str, str]:
    """A replayed cookie, sent as a browser keeping a copy would."""
    return {"Cookie": f"{name}={value}"}


def set_cookies(response: Any) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def cookie_value(response: Any, name: str) -> str:
    for header in set_cookies(response):
        if header.startswith(f"{name}="):
            return header.split(";")[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {set_cookies(response)}")


# --- the world ----------------------------------------------------------------------------


@dataclass
class World:
    client: TestClient
    db_url: str
    admin: dict[str, str]  # API headers of an admin of every estate
    admin_token: str
    volunteer: dict[str, Any]  # the volunteer's POST answer (token, id)
    assignment: int  # the volunteer's watch at 18:00 on Monday 6 April, near at 17:50
    clock: Clock
    app: Any


def build(db_url: str, clock: Clock, **settings: Any) -> Any:
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret="security-test-secret", **settings),
    )
    app.dependency_overrides[get_now] = lambda: clock.now
    return app


def make_world(
    db_url: str, base_url: str = "http://testserver", **settings: Any
) -> Iterator[World]:
    register(db_url, "jjq", {"r1": {"b-dry": "dry", "b-wet": "wet"}})
    clock = Clock(datetime(2026, 4, 1, 4, tzinfo=UTC))
    app = build(db_url, clock, **settings)
    admin = make_token(db_url, Role.admin)
    with TestClient(app, base_url=base_url) as client:
        client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
        volunteer = add_volunteer(client, admin, "王阿姨")
        r = client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin)
        assert r.status_code == 201, r.text
        shifts = client.get("/api/v1/me/shifts", headers=volunteer["headers"]).json()
        first = next(s for s in shifts if s["day"] == "2026-04-06")
        clock.now = datetime(2026, 4, 6, 9, 50, tzinfo=UTC)  # Monday 17:50 in Shanghai
        yield World(
            client,
            db_url,
            admin,
            admin["Authorization"].removeprefix("Bearer "),
            volunteer,
            int(first["assignment_id"]),
            clock,
            app,
        )


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    yield from make_world(db_url)


def dash_sign_in(client: TestClient, token: str, headers: dict[str, str] | None = None) -> Any:
    page = client.get("/dashboards/signin")
    assert page.status_code == 200
    r = submit(client, form(page.text, "/dashboards/signin"), headers, token=token)
    assert r.status_code == 303, r.text
    return r


def vol_sign_in(client: TestClient, token: str, headers: dict[str, str] | None = None) -> Any:
    page = client.get("/volunteer/login")
    assert page.status_code == 200
    r = submit(client, form(page.text, "/volunteer/login"), headers, token=token)
    assert r.status_code == 303 and r.headers["location"] == "/volunteer", r.text
    return r


def dash_ok(client: TestClient, headers: dict[str, str] | None = None) -> bool:
    r = client.get("/dashboards/estates/jjq", headers=headers or {}, follow_redirects=False)
    assert r.status_code in (200, 303), r.text
    return bool(r.status_code == 200)


def vol_ok(client: TestClient, headers: dict[str, str] | None = None) -> bool:
    r = client.get("/volunteer", headers=headers or {}, follow_redirects=False)
    assert r.status_code in (200, 303), r.text
    return r.status_code == 200 and "王阿姨" in r.text


# --- sessions -----------------------------------------------------------------------------


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(world: World) -> None:
    c = world.client
    dash = cookie_value(dash_sign_in(c, world.admin_token), DASH_COOKIE)
    vol = cookie_value(vol_sign_in(c, world.volunteer["token"]), VOL_COOKIE)
    assert dash_ok(c) and vol_ok(c)
    # Sign out with the pages' own buttons.
    out = submit(c, form(c.get("/dashboards/estates/jjq").text, "/dashboards/signout"))
    assert (out.status_code, out.headers["location"]) == (303, "/dashboards/signin")
    out = submit(c, form(c.get("/volunteer").text, "/volunteer/logout"))
    assert (out.status_code, out.headers["location"]) == (303, "/volunteer/login")
    c.cookies.clear()
    assert not dash_ok(c, cookie_header(DASH_COOKIE, dash))  # the replayed copy: refused
    assert not vol_ok(c, cookie_header(VOL_COOKIE, vol))


def test_a_session_cookie_is_a_random_id_stored_hashed_never_the_token(world: World) -> None:
    c = world.client
    token = world.volunteer["token"]
    first = vol_sign_in(c, token)
    assert token not in " ".join(set_cookies(first))
    vol = cookie_value(first, VOL_COOKIE)
    c.cookies.clear()
    again = cookie_value(vol_sign_in(c, token), VOL_COOKIE)
    dash = cookie_value(dash_sign_in(c, world.admin_token), DASH_COOKIE)
    assert len({vol, again, dash, token}) == 4 and min(map(len, (vol, again, dash))) >= 43
    with psycopg.connect(world.db_url) as conn:
        rows = conn.execute(
            "SELECT s.id_sha256, s.area, t.token_sha256 FROM sessions s"
            " JOIN api_tokens t ON t.id = s.token_id"
        ).fetchall()
    stored = {bytes(r[0]): (r[1], bytes(r[2])) for r in rows}
    assert stored[hashlib.sha256(vol.encode()).digest()] == ("volunteer", hash_token(token))
    assert stored[hashlib.sha256(again.encode()).digest()][0] == "volunteer"
    admin_hash = hash_token(world.admin_token)
    assert stored[hashlib.sha256(dash.encode()).digest()] == ("dashboards", admin_hash)
    assert not {vol.encode(), again.encode(), dash.encode()} & stored.keys()  # never raw


def test_a_browser_s_old_token_cookie_signs_nobody_in_and_is_removed(world: World) -> None:
    old = cookie_header("fenlei_token", world.volunteer["token"])
    assert not vol_ok(world.client, old)
    r = world.client.get("/volunteer/login", headers=old)
    assert any(h.startswith('fenlei_token=""') for h in set_cookies(r)), set_cookies(r)


def test_sessions_expire_after_their_configured_lifetime(db_url: str) -> None:
    for w in make_world(db_url, session_max_age_s=1, volunteer_session_max_age_s=2):
        c = w.client
        dash_r = dash_sign_in(c, w.admin_token)
        vol_r = vol_sign_in(c, w.volunteer["token"])
        assert "Max-Age=1;" in set_cookies(dash_r)[0] + ";"
        assert any("Max-Age=2;" in h + ";" for h in set_cookies(vol_r) if h.startswith(VOL_COOKIE))
        lifetimes = scalar(
            db_url,
            "SELECT array_agg(extract(epoch FROM expires_at - created_at)::int ORDER BY area)"
            " FROM sessions",
        )
        assert lifetimes == [1, 2]
        dash = cookie_header(DASH_COOKIE, cookie_value(dash_r, DASH_COOKIE))
        vol = cookie_header(VOL_COOKIE, cookie_value(vol_r, VOL_COOKIE))
        c.cookies.clear()
        assert dash_ok(c, dash) and vol_ok(c, vol)
        time.sleep(1.2)
        assert not dash_ok(c, dash) and vol_ok(c, vol)  # a browser that kept the copy
        time.sleep(1.0)
        assert not vol_ok(c, vol)


def test_revoking_the_token_ends_its_sessions(world: World) -> None:
    c = world.client
    dash_sign_in(c, world.admin_token)
    vol_sign_in(c, world.volunteer["token"])
    check_in = form(c.get("/volunteer").text, "/check-in")
    with psycopg.connect(world.db_url, autocommit=True) as conn:
        for token in (world.admin_token, world.volunteer["token"]):
            row = conn.execute(
                "SELECT id FROM api_tokens WHERE token_sha256 = %s", (hash_token(token),)
            ).fetchone()
            assert row is not None
            revoke_token(conn, int(row[0]))
    assert not dash_ok(c) and not vol_ok(c)
    r = submit(c, check_in)
    assert (r.status_code, r.headers["location"]) == (303, "/volunteer/login")
    assert checked_in(world) is None


# --- CSRF ---------------------------------------------------------------------------------


def checked_in(world: World) -> Any:
    return scalar(
        world.db_url,
        "SELECT checked_in_at FROM assignments WHERE id = %s",
        (world.assignment,),
    )


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _routes(inner.routes, prefix + r.include_context.prefix)
        elif hasattr(r, "methods"):
            yield prefix + r.path, r.methods


def page_post_routes(app: Any) -> list[str]:
    """Every POST route of the pages (not the JSON API, which takes bearer tokens only)."""
    return sorted(
        path
        for path, methods in _routes(app.routes)
        if "POST" in methods and path.startswith(("/dashboards", "/volunteer"))
    )


def concrete(path: str, world: World) -> str:
    values = {"estate": "jjq", "assignment": str(world.assignment)}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def test_every_form_post_refuses_a_missing_or_wrong_token_or_another_site(world: World) -> None:
    c = world.client
    routes = page_post_routes(world.app)
    assert {"/dashboards/signin", "/dashboards/signout", "/volunteer/login"} <= set(routes)
    assert "/volunteer/assignments/{assignment}/check-in" in routes
    # Signed in to both, so that each refusal below is the form's, not the session's.
    dash_sign_in(c, world.admin_token)
    vol_sign_in(c, world.volunteer["token"])
    dash_token = form(c.get("/dashboards/").text, "/dashboards/signout").fields["csrf"]
    vol_token = form(c.get("/volunteer").text, "/volunteer/logout").fields["csrf"]
    signin_tokens = {
        p: form(c.get(p).text, p).fields["csrf"] for p in ("/dashboards/signin", "/volunteer/login")
    }
    refused: dict[str, list[int]] = {}
    for route in routes:
        url = concrete(route, world)
        if route in SIGNIN_FORMS:
            good, other = signin_tokens[route], dash_token
            # A working token: without the form's check the sign-in would succeed.
            token = world.admin_token if "dashboards" in route else world.volunteer["token"]
            body = {"token": token}
        elif route.startswith("/volunteer"):
            good, other, body = vol_token, dash_token, {"wet_checked": "1"}
        else:
            good, other, body = dash_token, vol_token, {}
        cases: list[tuple[dict[str, str], dict[str, str]]] = [
            ({}, {}),
            ({"csrf": ""}, {}),
            ({"csrf": "0" * 64}, {}),
            ({"csrf": other}, {}),  # another form's token
            ({"csrf": good}, {"Origin": FOREIGN}),
            ({"csrf": good}, {"Origin": "null"}),
            ({"csrf": good}, {"Referer": f"{FOREIGN}/page"}),
            ({"csrf": good}, {"Sec-Fetch-Site": "cross-site"}),
        ]
        refused[route] = [
            c.post(url, data={**body, **token}, headers=headers, follow_redirects=False).status_code
            for token, headers in cases
        ]
    assert refused == {route: [403] * 8 for route in routes}
    # Nothing was done: still signed in everywhere, the watch not checked in.
    assert dash_ok(c) and vol_ok(c) and checked_in(world) is None


def test_the_pages_own_forms_work_from_the_same_site(world: World) -> None:
    c = world.client
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    dash_sign_in(c, world.admin_token, same)
    assert dash_ok(c)
    vol_sign_in(c, world.volunteer["token"], {"Referer": "http://testserver/volunteer/login"})
    home = c.get("/volunteer").text
    r = submit(c, form(home, f"/assignments/{world.assignment}/check-in"), same)
    assert r.status_code == 303 and checked_in(world) is not None
    assert "已签到" in c.get(r.headers["location"]).text
    inspect = c.get(f"/volunteer/inspect/{world.assignment}").text
    r = submit(c, form(inspect, f"/inspect/{world.assignment}"), same, wet_checked="4")
    assert r.status_code == 303 and "已保存" in c.get(r.headers["location"]).text
    inspected = scalar(world.db_url, "SELECT sum(checked) FROM inspection_lines")
    assert inspected == 4
    r = submit(c, form(c.get("/volunteer").text, "/volunteer/logout"), same)
    assert r.headers["location"] == "/volunteer/login" and not vol_ok(c)
    r = submit(c, form(c.get("/dashboards/").text, "/dashboards/signout"), same)
    assert r.headers["location"] == "/dashboards/signin" and not dash_ok(c)


def test_an_expired_sign_in_form_is_offered_again(world: World) -> None:
    c = world.client
    stale = form(c.get("/dashboards/signin").text, "/dashboards/signin")
    c.cookies.clear()  # the pre-session cookie is gone (another browser, say)
    r = submit(c, stale, token=world.admin_token)
    assert r.status_code == 403 and 'id="signin-error"' in r.text
    fresh = form(r.text, "/dashboards/signin")
    assert fresh.fields["csrf"] != stale.fields["csrf"]
    assert submit(c, fresh, token=world.admin_token).status_code == 303


# --- cookie flags and headers -------------------------------------------------------------


def test_session_cookies_are_httponly_samesite_and_secure_when_configured(db_url: str) -> None:
    for secure in (False, True):
        scheme = "https" if secure else "http"
        for w in make_world(db_url, base_url=f"{scheme}://testserver", cookie_secure=secure):
            dash = next(
                h
                for h in set_cookies(dash_sign_in(w.client, w.admin_token))
                if h.startswith(DASH_COOKIE)
            ).lower()
            vol = next(
                h
                for h in set_cookies(vol_sign_in(w.client, w.volunteer["token"]))
                if h.startswith(VOL_COOKIE)
            ).lower()
            assert "httponly" in dash and "samesite=lax" in dash and "path=/dashboards" in dash
            assert "httponly" in vol and "samesite=strict" in vol and "path=/volunteer" in vol
            assert ("; secure" in dash, "; secure" in vol) == (secure, secure)
            assert dash_ok(w.client) and vol_ok(w.client)
        from tests.fix_services import truncate_all

        truncate_all(db_url)


def test_every_page_sends_the_security_headers(world: World) -> None:
    c = world.client
    dash_sign_in(c, world.admin_token)
    vol_sign_in(c, world.volunteer["token"])
    for path in (
        "/dashboards/",
        "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31",
        "/dashboards/district",
        "/dashboards/estates/jjq/disclosure",
        "/dashboards/estates/nope",
        "/volunteer",
        "/volunteer/roster",
        f"/volunteer/inspect/{world.assignment}",
    ):
        r = c.get(path, follow_redirects=False)
        assert r.status_code in (200, 303, 404), (path, r.status_code)  # 303: one estate
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "same-origin", path
        policy = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, path
        script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
