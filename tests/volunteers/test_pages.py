"""The volunteer pages: server-rendered forms (TestClient) and a phone in headless Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS
from tests.volunteers.conftest import Clock, add_volunteer

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

pytestmark = pytest.mark.integration

# The CSRF field every form of the pages carries (dashboards/session.py).
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
EVENINGS = {"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]]}
PHONE: ViewportSize = {"width": 390, "height": 844}


def _team(client: TestClient, admin: dict[str, str], clock: Clock) -> dict[str, Any]:
    client.put("/api/v1/estates/jjq/rooms/r1", headers=admin, json={"name": "1号厢房"})
    client.put("/api/v1/estates/jjq/rooms/r1/watch-slots", headers=admin, json=EVENINGS)
    client.put(
        "/api/v1/estates/jjq/rooms/r2/watch-slots",
        headers=admin,
        json={"weekday": [], "weekend": []},
    )
    # Only A is free on Monday evenings, so A holds the 6 April watch.
    a = add_volunteer(client, admin, "王阿姨", building="12")
    b = add_volunteer(
        client,
        admin,
        "Bob",
        availability=[{"days": [1, 2, 3, 4, 5, 6], "start": "06:00", "end": "21:00"}],
    )
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).status_code == 201
    clock.now = datetime(2026, 4, 6, 9, 50, tzinfo=UTC)  # Monday 17:50 in Shanghai
    return {"a": a, "b": b}


def test_pages_sign_in_check_in_and_inspect(
    client: TestClient, admin: dict[str, str], estate: str, clock: Clock
) -> None:
    team = _team(client, admin, clock)
    assert client.get("/volunteer", follow_redirects=False).status_code == 303
    login = CSRF.findall(client.get("/volunteer/login").text)[0]
    r = client.post(
        "/volunteer/login",
        content=f"token={team['a']['token']}&csrf={login}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "王阿姨" in r.text and 'lang="zh-CN"' in r.text
    aid = client.get("/api/v1/me/shifts", headers=team["a"]["headers"]).json()[0]["assignment_id"]
    assert f"/volunteer/assignments/{aid}/check-in" in r.text
    csrf = CSRF.findall(r.text)[0]  # the session's, on every form of its pages
    r = client.post(f"/volunteer/assignments/{aid}/check-in", data={"csrf": csrf})
    assert "已保存" in r.text and "已签到" in r.text
    form = (
        f"wet_checked=12&wet_mis_sorted=2&wet_re_sorted=2&dry_checked=&building=12&notes=ok"
        f"&csrf={csrf}"
    )
    r = client.post(
        f"/volunteer/inspect/{aid}",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "已保存" in r.text
    bad = client.post(
        f"/volunteer/inspect/{aid}",
        content=f"wet_checked=1&wet_mis_sorted=5&csrf={csrf}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 422 and "湿垃圾：错投数不能多于检查数" in bad.text
    acc = client.get(
        "/api/v1/estates/jjq/accuracy?from=2026-04-06&to=2026-04-06", headers=admin
    ).json()
    assert (acc["inspected"], acc["passed"]) == (12, 10)
    assert "Sign out" in client.get("/volunteer?lang=en").text
    assert "Sign out" in client.get("/volunteer").text  # the language is remembered
    roster = client.get("/volunteer/roster")
    assert roster.status_code == 200 and "83.3%" in roster.text


@pytest.mark.browser
@pytest.mark.slow
def test_a_volunteer_on_a_phone(
    served: str, client: TestClient, admin: dict[str, str], estate: str, clock: Clock
) -> None:
    from playwright.sync_api import sync_playwright

    team = _team(client, admin, clock)
    later = next(
        s
        for s in client.get("/api/v1/me/shifts", headers=team["a"]["headers"]).json()
        if s["day"] > "2026-04-06"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = phone.new_page()
            page.goto(f"{served}/volunteer")
            assert page.url.endswith("/volunteer/login")
            page.fill("#token", team["a"]["token"])
            page.click("[data-test=login]")
            page.wait_for_selector("text=我的值班")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert "无人值守" in page.inner_text("[data-test=room-r1]")  # 17:50: not yet
            page.click("[data-test^=check-in-]")
            page.wait_for_selector("text=已签到")
            clock.now = datetime(2026, 4, 6, 10, 5, tzinfo=UTC)  # 18:05, the watch is on
            page.click("[data-test^=inspect-]")
            page.fill("input[name=wet_checked]", "20")
            page.fill("input[name=wet_mis_sorted]", "3")
            page.fill("input[name=wet_re_sorted]", "3")
            page.click("[data-test=save]")
            page.wait_for_selector("text=已保存")
            assert "王阿姨 ✓" in page.inner_text("[data-test=room-r1]")
            page.click(f"[data-test=offer-{later['assignment_id']}]")
            page.wait_for_selector("text=已申请换班")
            page.goto(f"{served}/volunteer?lang=en")
            assert page.inner_text("h2 >> nth=0") == "My next shifts"

            other = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            bob = other.new_page()
            bob.goto(f"{served}/volunteer/login")
            bob.fill("#token", team["b"]["token"])
            bob.click("[data-test=login]")
            bob.click("[data-test^=take-]")
            bob.wait_for_selector("text=已保存")
            assert bob.locator(f"[data-test=shift-{later['id']}]").count() == 1
        finally:
            browser.close()
    acc = client.get(
        "/api/v1/estates/jjq/accuracy?from=2026-04-06&to=2026-04-06", headers=admin
    ).json()
    assert (acc["inspected"], acc["passed"]) == (20, 17)
    swaps = client.get("/api/v1/estates/jjq/swaps?status=accepted", headers=admin).json()
    assert [(s["offered_by_name"], s["taken_by_name"]) for s in swaps] == [("王阿姨", "Bob")]
