"""One-time sign-in links for volunteers' phones, on the real database: the API route,
the confirm page (GET uses nothing), the POST that signs in once, and every refusal
(used, replaced, expired, inactive, no CSRF token)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from tests.api.conftest import make_token
from tests.volunteers.conftest import add_volunteer
from tests.volunteers.test_committee_volunteers import BASE, csrf, sign_in

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf" value="([^"]*)"')
ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def issue(client: TestClient, headers: dict[str, str], vid: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/estates/jjq/volunteers/{vid}/signin-link",
        headers=headers,
        json=body or None,
    )


def confirm(client: TestClient, url: str) -> Any:
    """Open the link and press the confirm button, as a phone does."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    return client.post(
        ACTION.findall(page.text)[0],
        data={"csrf": CSRF.findall(page.text)[0]},
        follow_redirects=False,
    )


def test_the_api_route(client: TestClient, admin: dict[str, str], estate: str, db_url: str) -> None:
    wang = add_volunteer(client, admin, "王阿姨")
    before = datetime.now(UTC)
    r = issue(client, admin, wang["id"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"url", "expires_at"}
    assert re.fullmatch(r"/volunteer/link/[A-Za-z0-9_-]{24}", body["url"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(hours=72) - timedelta(seconds=5) <= expires
    assert expires <= datetime.now(UTC) + timedelta(hours=72, seconds=5)
    one = datetime.fromisoformat(
        issue(client, admin, wang["id"], valid_hours=1).json()["expires_at"]
    )
    assert abs(one - datetime.now(UTC) - timedelta(hours=1)) < timedelta(seconds=10)
    for bad in (0, 721, "x"):
        assert issue(client, admin, wang["id"], valid_hours=bad).status_code == 422
    assert issue(client, admin, wang["id"], hours=3).status_code == 422  # unknown field
    assert issue(client, admin, 999_999).status_code == 404
    other = add_volunteer(client, admin, "O", estate="other")
    assert issue(client, admin, other["id"]).status_code == 404  # not this estate's
    assert issue(client, make_token(db_url, Role.viewer), wang["id"]).status_code == 403
    assert issue(client, make_token(db_url, Role.admin, ["other"]), wang["id"]).status_code == 403
    assert issue(client, wang["headers"], wang["id"]).status_code == 403
    assert issue(client, {}, wang["id"]).status_code == 401
    # Only the hash is stored, never the code.
    code = body["url"].rsplit("/", 1)[1]
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT code_sha256 FROM volunteer_signin_codes").fetchall()
    assert len(stored) == 2 and all(code.encode() not in bytes(s[0]) for s in stored)
    # An inactive volunteer gets no link.
    client.put(
        f"/api/v1/estates/jjq/volunteers/{wang['id']}",
        headers=admin,
        json={"name": "王阿姨", "active": False},
    )
    assert issue(client, admin, wang["id"]).status_code == 409


def test_a_link_signs_in_once(
    client: TestClient, admin: dict[str, str], estate: str, caplog: pytest.LogCaptureFixture
) -> None:
    wang = add_volunteer(client, admin, "王阿姨")
    caplog.set_level(logging.INFO, "fenlei.audit")
    url = issue(client, admin, wang["id"]).json()["url"]
    # Opening it (a link preview, say) uses nothing.
    for _ in range(2):
        page = client.get(url)
        assert page.status_code == 200 and "以 王阿姨 的身份登录？" in page.text
    assert "Sign in as 王阿姨?" in client.get(url + "?lang=en").text
    # The confirm POST without the form's CSRF token (or with another) does nothing.
    action = ACTION.findall(page.text)[0]
    assert client.post(action, data={}).status_code == 403
    assert client.post(action, data={"csrf": "x" * 64}).status_code == 403
    r = client.post(
        action,
        data={"csrf": CSRF.findall(page.text)[0]},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "来自其他网站" in r.text
    assert client.get("/volunteer", follow_redirects=False).status_code == 303  # not signed in

    r = confirm(client, url)
    assert r.status_code == 303 and r.headers["location"] == "/volunteer"
    home = client.get("/volunteer")
    assert home.status_code == 200 and "王阿姨" in home.text and "我的值班" in home.text
    audits = [getattr(rec, "audit", None) for rec in caplog.records]
    assert "volunteer_signin_link_issued" in audits and "volunteer_signin_link_used" in audits
    code = url.rsplit("/", 1)[1]
    audit = [rec for rec in caplog.records if rec.name == "fenlei.audit"]
    assert all(code not in rec.getMessage() and code not in str(vars(rec)) for rec in audit)

    # A second use is refused, on this phone or any other.
    again = client.get(url)
    assert again.status_code == 410 and "已被使用过" in again.text
    fresh = TestClient(client.app)
    assert "already been used" in fresh.get(url + "?lang=en").text
    # Two phones open the same new link; the first to confirm signs in, the other not.
    url = issue(client, admin, wang["id"]).json()["url"]
    with TestClient(client.app) as one, TestClient(client.app) as two:
        pages = [one.get(url).text, two.get(url).text]
        posts = [
            c.post(ACTION.findall(p)[0], data={"csrf": CSRF.findall(p)[0]}, follow_redirects=False)
            for c, p in zip((one, two), pages, strict=True)
        ]
        assert [p.status_code for p in posts] == [303, 410]
        assert "已被使用过" in posts[1].text
        assert two.get("/volunteer", follow_redirects=False).status_code == 303


def test_refused_links(client: TestClient, admin: dict[str, str], estate: str, db_url: str) -> None:
    wang = add_volunteer(client, admin, "王阿姨")
    first = issue(client, admin, wang["id"]).json()["url"]
    second = issue(client, admin, wang["id"]).json()["url"]
    # A new link replaces the earlier unused one; the volunteer's token is unchanged.
    r = client.get(first)
    assert r.status_code == 410 and "已被新的链接取代" in r.text
    assert client.get("/api/v1/me", headers=wang["headers"]).status_code == 200
    # Expired.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE volunteer_signin_codes SET created_at = now() - interval '3 days',"
            " expires_at = now() - interval '1 minute' WHERE used_at IS NULL"
            " AND superseded_at IS NULL"
        )
    r = client.get(second)
    assert r.status_code == 410 and "已过期" in r.text
    assert "has expired" in client.get(second + "?lang=en").text
    # Never issued, or not even the shape of a code.
    assert client.get("/volunteer/link/" + "A" * 24).status_code == 404
    assert "无效" in client.get("/volunteer/link/x%3Cscript%3E").text
    # A page opened before its link expired: the POST is refused too.
    third = issue(client, admin, wang["id"]).json()["url"]
    page = client.get(third)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE volunteer_signin_codes SET created_at = now() - interval '3 days',"
            " expires_at = now() - interval '1 minute' WHERE used_at IS NULL"
            " AND superseded_at IS NULL"
        )
    r = client.post(
        ACTION.findall(page.text)[0],
        data={"csrf": CSRF.findall(page.text)[0]},
        follow_redirects=False,
    )
    assert r.status_code == 410 and "fenlei_volunteer" not in r.headers.get("set-cookie", "")
    # Deactivated after the link was issued.
    fourth = issue(client, admin, wang["id"]).json()["url"]
    client.put(
        f"/api/v1/estates/jjq/volunteers/{wang['id']}",
        headers=admin,
        json={"name": "王阿姨", "active": False},
    )
    assert client.get(fourth).status_code == 410


def test_a_volunteer_without_a_working_token_gets_one(
    client: TestClient, admin: dict[str, str], estate: str, db_url: str
) -> None:
    wang = add_volunteer(client, admin, "王阿姨")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", (wang["token_id"],))
    url = issue(client, admin, wang["id"]).json()["url"]
    assert confirm(client, url).status_code == 303
    assert "王阿姨" in client.get("/volunteer").text
    [row] = client.get("/api/v1/estates/jjq/volunteers", headers=admin).json()
    assert row["token_id"] not in (None, wang["token_id"])
    assert client.get("/api/v1/me", headers=wang["headers"]).status_code == 401  # still revoked


def test_the_committee_prints_a_link(
    client: TestClient, admin: dict[str, str], estate: str
) -> None:
    wang = add_volunteer(client, admin, "王阿姨")
    sign_in(client, admin)
    token = csrf(client)
    assert client.post(f"{BASE}/{wang['id']}/signin-link").status_code == 403  # no CSRF
    r = client.post(f"{BASE}/{wang['id']}/signin-link", data={"csrf": token})
    assert r.status_code == 200 and "王阿姨 的登录二维码" in r.text
    assert 'id="signin-qr" src="data:image/svg+xml' in r.text
    url = re.findall(r'id="signin-url" href="([^"]+)"', r.text)[0]
    assert url.startswith("http://testserver/volunteer/link/")
    with TestClient(client.app) as phone:
        assert confirm(phone, url).status_code == 303
        assert "王阿姨" in phone.get("/volunteer").text
