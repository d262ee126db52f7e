"""The sign-in pages say why a session ended (its token revoked or expired), once, and
tell a committee member whom to ask for a token instead of showing a shell command."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from api.auth.repository import revoke_token
from api.auth.tokens import hash_token
from dashboards import i18n
from tests.dashboards.test_security_sessions import (
    World,
    dash_ok,
    dash_sign_in,
    form,
    make_world,
    submit,
    vol_ok,
    vol_sign_in,
)

pytestmark = pytest.mark.integration
WHY_ZH = "您的令牌已被撤销或已过期，请重新登录"


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    yield from make_world(db_url)


def _revoke(world: World, token: str) -> None:
    with psycopg.connect(world.db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT id FROM api_tokens WHERE token_sha256 = %s", (hash_token(token),)
        ).fetchone()
        assert row is not None
        revoke_token(conn, int(row[0]))


def _expire(world: World, token: str) -> None:
    with psycopg.connect(world.db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 minute'"
            " WHERE token_sha256 = %s",
            (hash_token(token),),
        )


@pytest.mark.parametrize("end", [_revoke, _expire])
def test_a_dashboard_session_whose_token_ended_is_told_why(world: World, end: object) -> None:
    c = world.client
    dash_sign_in(c, world.admin_token)
    assert dash_ok(c)
    assert callable(end)
    end(world, world.admin_token)
    r = c.get("/dashboards/estates/jjq", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/dashboards/signin?next=")
    signin = c.get(r.headers["location"])
    assert signin.status_code == 200
    assert WHY_ZH in signin.text and i18n.t("zh", "signin.why.token") in signin.text
    # Said once: a reload (or a later visit) shows the plain form.
    assert WHY_ZH not in c.get("/dashboards/signin").text


def test_the_reason_is_in_english_on_an_english_page(world: World) -> None:
    c = world.client
    dash_sign_in(c, world.admin_token)
    vol_sign_in(c, world.volunteer["token"])
    _revoke(world, world.admin_token)
    r = c.get("/dashboards/estates/jjq?lang=en", follow_redirects=False)
    signin = c.get(r.headers["location"] + "&lang=en")
    assert i18n.t("en", "signin.why.token") in signin.text
    assert "revoked or has expired" in signin.text


@pytest.mark.parametrize("via", ["page", "form"])
def test_a_volunteer_session_whose_token_was_revoked_is_told_why(world: World, via: str) -> None:
    c = world.client
    vol_sign_in(c, world.volunteer["token"])
    assert vol_ok(c)
    check_in = form(c.get("/volunteer").text, "/check-in")
    _revoke(world, world.volunteer["token"])
    # The next page, or a form of the page the phone still shows.
    r = c.get("/volunteer", follow_redirects=False) if via == "page" else submit(c, check_in)
    assert (r.status_code, r.headers["location"]) == (303, "/volunteer/login")
    login = c.get("/volunteer/login")
    assert WHY_ZH in login.text
    assert WHY_ZH not in c.get("/volunteer/login").text
    english = c.get("/volunteer/inspect/1?lang=en", follow_redirects=False)
    assert english.status_code == 303  # no cookie now: a plain redirect, nothing to say
    assert i18n.t("en", "signin.why.token") not in c.get("/volunteer/login?lang=en").text


def test_signing_out_is_no_reason(world: World) -> None:
    c = world.client
    dash_sign_in(c, world.admin_token)
    vol_sign_in(c, world.volunteer["token"])
    out = submit(c, form(c.get("/dashboards/").text, "/dashboards/signout"))
    assert out.headers["location"] == "/dashboards/signin"
    out = submit(c, form(c.get("/volunteer").text, "/volunteer/logout"))
    assert out.headers["location"] == "/volunteer/login"
    assert not dash_ok(c) and not vol_ok(c)
    assert WHY_ZH not in c.get("/dashboards/signin").text
    assert WHY_ZH not in c.get("/volunteer/login").text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_sign_in_page_says_whom_to_ask_not_a_command(world: World, lang: str) -> None:
    page = world.client.get("/dashboards/signin", params={"lang": lang})
    assert page.status_code == 200
    assert "fenlei token" not in page.text and "--role" not in page.text
    help_text = i18n.t(i18n.parse_locale(lang), "signin.help")
    assert help_text in page.text
    if lang == "zh":
        assert "居委会" in help_text and "街道" in help_text
    else:
        assert "committee" in help_text and "subdistrict" in help_text
