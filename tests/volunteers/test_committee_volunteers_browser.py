"""The committee imports volunteers from an .xlsx through the page, in Debian's Chromium,
and a volunteer's phone (390×844) opens their one-time sign-in link, confirms, and lands
on /volunteer signed in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS
from tests.volunteers.test_committee_volunteers import GOOD, HEADER, xlsx

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

pytestmark = pytest.mark.integration
PHONE: ViewportSize = {"width": 390, "height": 844}


def shot(page: Page, name: str) -> None:
    """A full-page screenshot when FENLEI_SCREENSHOTS_DIR names a folder (to look at)."""
    folder = os.environ.get("FENLEI_SCREENSHOTS_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.slow
def test_import_then_sign_a_phone_in_by_its_link(
    served: str,
    client: TestClient,
    admin: dict[str, str],
    estate: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    sheet = tmp_path / "志愿者.xlsx"
    sheet.write_bytes(xlsx([HEADER, *GOOD]))
    token = admin["Authorization"].split()[1]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            desk = browser.new_context(base_url=served, viewport={"width": 1280, "height": 900})
            page = desk.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto("/dashboards/signin?next=/dashboards/estates/jjq/volunteers")
            page.fill("#token", token)
            page.click("#signin-submit")
            page.wait_for_url("**/dashboards/estates/jjq/volunteers")
            page.click("#import")
            page.set_input_files("#sheet", str(sheet))
            page.click("#import-submit")
            page.wait_for_selector("#done")
            assert "已导入 3 名志愿者" in page.inner_text("#done")
            rows = page.locator("#volunteers tbody tr")
            assert rows.count() == 3
            shot(page, "committee-volunteers")
            assert "周一至周五 17:30-20:30; 周六、周日 06:30-20:30" in rows.nth(0).inner_text()
            stored = client.get("/api/v1/estates/jjq/volunteers", headers=admin).json()
            wang = next(v for v in stored if v["name"] == "王阿姨")
            page.click(f"[data-test=link-{wang['id']}]")
            page.wait_for_selector("#signin-url")
            url = page.get_attribute("#signin-url", "href")
            assert url is not None and url.startswith(f"{served}/volunteer/link/")
            # The QR code is drawn (the pages' CSP allows data: images).
            assert page.evaluate("document.getElementById('signin-qr').naturalWidth") > 0
            shot(page, "committee-signin-link")

            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            mobile = phone.new_page()
            # (Not the refused link's 410, nor the phone pages' favicon.ico, which they lack.)
            mobile.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            mobile.goto(url)
            assert "以 王阿姨 的身份登录？" in mobile.inner_text("#link-name")
            assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            shot(mobile, "volunteer-link-confirm")
            mobile.click("[data-test=confirm-link]")
            mobile.wait_for_url(f"{served}/volunteer")
            mobile.wait_for_selector("text=我的值班")
            assert "王阿姨" in mobile.inner_text("main")
            assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            # The link worked once: opening it again says so.
            mobile.goto(url)
            assert "已被使用过" in mobile.inner_text("main")
        finally:
            browser.close()
    assert errors == []
