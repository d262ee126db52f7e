"""The alarm banner and its buttons in headless Chromium (Debian's): the committee sees
the coloured banner in Chinese and acknowledges, then resolves, with plain forms under
the pages' real Content-Security-Policy.

The banner is the estate overview's (`dashboards.overview`), at the top of the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.alarms.test_api import insert_alarm
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]
PAGE = "/dashboards/estates/jjq"


def test_banner_acknowledge_and_resolve_in_chromium(
    served: str, admin: dict[str, str], estate: str, db_url: str
) -> None:
    from playwright.sync_api import sync_playwright

    over = insert_alarm(db_url, "overflow")
    insert_alarm(db_url, "battery_low", bin_id="b-dry")
    token = admin["Authorization"].removeprefix("Bearer ")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page: Page = browser.new_page(base_url=served)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"/dashboards/signin?next={PAGE}")
            page.fill("#token", token)
            page.click("#signin-submit")
            page.wait_for_url(f"**{PAGE}")
            banner = page.locator(".alarm-banner")
            assert banner.is_visible()
            text = banner.inner_text()
            assert "2 条未处理告警" in text and "满溢" in text and "电量低" in text
            # Red when something needs someone at the bin now (the banner's own style
            # sheet applies under the page's CSP).
            colour = banner.evaluate("e => getComputedStyle(e).borderTopColor")
            assert colour == "rgb(185, 28, 28)", colour
            page.click(f'[data-test="ack-{over}"]')
            page.wait_for_url(f"**{PAGE}")
            row = page.locator(f'[data-alarm="{over}"]')
            assert "test admin 已确认" in row.inner_text()
            assert page.locator(f'[data-test="ack-{over}"]').count() == 0
            page.click(f'[data-test="resolve-{over}"]')
            page.wait_for_url(f"**{PAGE}")
            assert page.locator(f'[data-alarm="{over}"]').count() == 0
            assert "1 条未处理告警" in page.locator(".alarm-banner").inner_text()
        finally:
            browser.close()
    assert errors == []  # no CSP violation, no script error
