"""Every page fits a 390 × 844 phone in Debian's Chromium: nothing scrolls the page
sideways (a wide table scrolls inside its own `.scroll` box), inputs are at least 16 px
(smaller ones make phones zoom in) and the buttons of the page's forms are tap-sized.

Measured by the browser itself (`document.documentElement.scrollWidth`), on the seeded
data of tests/dashboards/conftest.py, signed in as a committee and as a volunteer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.dashboards.conftest import Site
from tests.dashboards.fix_board import signed_in
from tests.dashboards.test_disclosure_public import make_link
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]
PHONE: ViewportSize = {"width": 390, "height": 844}
MARCH = "from=2026-03-01&to=2026-03-31"
# What the page measures: its width, and the inputs / form buttons too small for a phone
# (not plotly's own tool bar, shown over a chart on a tap).
MEASURE = """() => {
  const shown = e => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden';
  const small = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(shown).filter(e => parseFloat(getComputedStyle(e).fontSize) < 16)
    .map(e => e.name || e.id || e.type);
  const tiny = [...document.querySelectorAll('main button:not(.modebar-btn), main .btn')]
    .filter(shown)
    .filter(e => e.getBoundingClientRect().height < 44).map(e => e.textContent.trim());
  const wide = [...document.querySelectorAll('body *')].filter(shown)
    .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > 391)
    .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id);
  return {width: document.documentElement.scrollWidth, small, tiny, wide};
}"""
EVENINGS = {"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def volunteer(site: Site) -> dict[str, Any]:
    return make_volunteer(site)


def make_volunteer(site: Site) -> dict[str, Any]:
    """A volunteer of jjq with this month's watches (the home page's cards and buttons)."""
    admin = {"Authorization": f"Bearer {site.admin}"}
    with httpx.Client(base_url=site.base, headers=admin) as api:
        r = api.put("/api/v1/estates/jjq/rooms/r1/watch-slots", json=EVENINGS)
        assert r.status_code == 200, r.text
        r = api.post(
            "/api/v1/estates/jjq/volunteers",
            json={"name": "王阿姨的名字比较长一些", "building": "12"},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        month = f"{datetime.now(ZoneInfo('Asia/Shanghai')):%Y-%m}"
        r = api.post(f"/api/v1/estates/jjq/roster?month={month}")
        assert r.status_code == 201, r.text
    return body


def _phone(browser: Browser, site: Site) -> BrowserContext:
    return browser.new_context(
        base_url=site.base, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3
    )


def _check(page: Page, path: str) -> dict[str, Any]:
    page.goto(path)
    if page.locator("script.figure").count():
        page.wait_for_selector("body[data-charts-ready]", timeout=20_000)
    found: dict[str, Any] = page.evaluate(MEASURE)
    found["path"] = path
    folder = os.environ.get("FENLEI_SCREENSHOTS_DIR")  # to look at them
    if folder:
        name = "phone" + re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].lower())[:60]
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
    return found


def _problems(results: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each page that scrolls sideways (and its widest elements), or has small inputs or
    buttons."""
    return [
        (r["path"], r["width"], r["wide"], r["small"], r["tiny"])
        for r in results
        if r["width"] > PHONE["width"] or r["small"] or r["tiny"]
    ]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_committee_pages_fit_a_phone(browser: Browser, site: Site, lang: str) -> None:
    with signed_in(site, site.jjq_admin) as client:
        public = make_link(client)
    ctx = _phone(browser, site)
    try:
        page = ctx.new_page()
        results = [_check(page, f"/dashboards/signin?lang={lang}")]
        page.fill("#token", site.jjq_admin)
        page.click("#signin-submit")
        page.wait_for_load_state()
        for path in (
            f"/dashboards/estates/jjq?{MARCH}",
            f"/dashboards/district?{MARCH}",
            f"/dashboards/estates/jjq/disclosure?{MARCH}",
        ):
            results.append(_check(page, path))
        results.append(_check(page, f"{public}?month=2026-03"))
        # The page that shows a new public link once (a long read-only input).
        page.goto(f"/dashboards/estates/jjq/disclosure?{MARCH}")
        page.click("#public-make")
        page.wait_for_load_state()
        found: dict[str, Any] = page.evaluate(MEASURE)
        results.append({**found, "path": "public-link made"})
    finally:
        ctx.close()
    assert len(results) == 6
    assert _problems(results) == [], "\n".join(map(str, _problems(results)))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_volunteer_pages_fit_a_phone(
    browser: Browser, site: Site, volunteer: dict[str, Any], lang: str
) -> None:
    ctx = _phone(browser, site)
    try:
        page = ctx.new_page()
        results = [_check(page, f"/volunteer/login?lang={lang}")]
        page.fill("#token", volunteer["token"])
        page.click("[data-test=login]")
        page.wait_for_url("**/volunteer")
        results.append(_check(page, "/volunteer"))
        results.append(_check(page, "/volunteer/inspect/1"))
        # The form refused (more mis-sorted than checked): the messages above it still fit.
        page.fill("input[name=wet_checked]", "1")
        page.fill("input[name=wet_mis_sorted]", "123456")
        page.fill("textarea[name=notes]", "很长的备注" * 40)
        page.click("[data-test=save]")
        page.wait_for_selector("#form-errors")
        found: dict[str, Any] = page.evaluate(MEASURE)
        results.append({**found, "path": "inspection refused"})
        assert page.input_value("input[name=wet_mis_sorted]") == "123456"
        results.append(_check(page, "/volunteer/roster"))
    finally:
        ctx.close()
    assert _problems(results) == [], "\n".join(map(str, _problems(results)))
