"""The committee's roster screens in headless Chromium (Debian's): set a room's slots,
publish the month and give one seat to another volunteer through the pages at 1280
wide; on a 390×844 phone no screen scrolls sideways."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS
from tests.volunteers.conftest import add_volunteer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
ROSTER = "/dashboards/estates/jjq/roster?month=2026-04"
# How far the page is wider than the window (0 when it does not scroll sideways).
SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def shot(page: Page, name: str) -> None:
    """A full-page screenshot into $FENLEI_SCREENSHOTS_DIR when it is set."""
    folder = os.environ.get("FENLEI_SCREENSHOTS_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _sign_in(browser: Browser, base: str, token: str, viewport: ViewportSize) -> Page:
    ctx = browser.new_context(base_url=base, viewport=viewport)
    page = ctx.new_page()
    page.goto(f"/dashboards/signin?next={ROSTER.replace('?', '%3F').replace('=', '%3D')}")
    page.fill("#token", token)
    page.click("#signin-submit")
    page.wait_for_url("**/roster?month=2026-04")
    return page


def _team(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    client.put("/api/v1/estates/jjq/rooms/r1", headers=admin, json={"name": "1号厢房"})
    client.put("/api/v1/estates/jjq/rooms/r2/watch-slots", headers=admin, json={})
    return {k: add_volunteer(client, admin, n) for k, n in (("a", "王阿姨"), ("b", "李叔叔"))}


def test_slots_publish_and_one_seat_in_chromium(
    served: str, client: TestClient, admin: dict[str, str], estate: str
) -> None:
    from playwright.sync_api import sync_playwright

    team = _team(client, admin)
    token = admin["Authorization"].removeprefix("Bearer ")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = _sign_in(browser, served, token, DESKTOP)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            assert "值守排班" in page.locator("header nav").inner_text()

            # r1's slots: the form starts from the estate's drop-off windows (four lines)
            # and two blank ones. Remove those four; weekday evenings and weekend mornings.
            page.click("#slots-r1")
            lines = page.locator("#slots-form tbody tr").count()
            assert lines == 4 + 2
            for i in range(lines - 2):
                page.check(f"#remove_{i}")
            first, second = lines - 2, lines - 1
            page.select_option(f"#days_{first}", "weekday")
            page.fill(f"#start_{first}", "18:00")
            page.fill(f"#end_{first}", "20:00")
            page.fill(f"#needed_{first}", "1")
            page.select_option(f"#days_{second}", "weekend")
            page.fill(f"#start_{second}", "09:00")
            page.fill(f"#end_{second}", "10:00")
            page.click("#slots-save")
            page.wait_for_url("**/roster?month=2026-04&done=slots*")
            assert "已保存 r1 的值守时段。" in page.locator("#done").inner_text()
            slots = client.get("/api/v1/estates/jjq/watch-slots", headers=admin).json()
            r1 = next(r for r in slots if r["room"] == "r1")
            assert sorted((s["day_type"], s["start"][:5], s["end"][:5]) for s in r1["slots"]) == [
                ("weekday", "18:00", "20:00"),
                ("weekend", "09:00", "10:00"),
            ]

            # Publish April: 22 weekday and 8 weekend watches at r1.
            page.click("#publish-submit")
            page.wait_for_url("**done=generated*")
            assert "已发布排班：30 个班次" in page.locator("#done").inner_text()
            held = client.get(
                "/api/v1/estates/jjq/roster?from=2026-04-01&to=2026-04-30", headers=admin
            ).json()
            assert page.locator("#roster-table tbody tr").count() == len(held) == 30

            # Give the 6 April watch to whoever does not hold it.
            monday = next(s for s in held if s["day"] == "2026-04-06")
            (seat,) = monday["assignees"]
            other = next(v for v in team.values() if v["id"] != seat["volunteer_id"])
            page.click(f'#roster-table a[data-edit="{monday["id"]}"]')
            page.wait_for_url(f"**/roster/shifts/{monday['id']}")
            aid = seat["assignment_id"]
            page.select_option(f"#replace-{aid}", str(other["id"]))
            page.click(f"#replace-submit-{aid}")
            page.wait_for_url("**?done=replaced")
            assert page.locator("#done").inner_text() == "已更换。"
            assert other["name"] in page.locator("#seats").inner_text()
            after = client.get(
                "/api/v1/estates/jjq/roster?from=2026-04-06&to=2026-04-06", headers=admin
            ).json()
            assert [a["volunteer_id"] for a in after[0]["assignees"]] == [other["id"]]
            shot(page, "committee-shift")
            page.goto(ROSTER)
            shot(page, "committee-roster")
            page.goto("/dashboards/estates/jjq/roster/rooms/r1/slots")
            shot(page, "committee-slots")
            page.go_back()
            page.go_back()
            shift_path = page.url.split(served, 1)[1].split("?", 1)[0]
            assert page.evaluate(SIDEWAYS) <= 0
            page.context.close()

            # On a phone, none of the three screens scrolls sideways.
            phone = _sign_in(browser, served, token, PHONE)
            phone.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            for path in (ROSTER, "/dashboards/estates/jjq/roster/rooms/r1/slots", shift_path):
                phone.goto(path)
                assert phone.locator("h1").count() == 1, path
                assert phone.evaluate(SIDEWAYS) <= 0, path
                shot(phone, "committee-phone-" + path.split("/")[-1].split("?")[0])
            phone.context.close()
        finally:
            browser.close()
    assert errors == []
