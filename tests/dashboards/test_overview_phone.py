"""The overview on a phone (bench/dashboards.py times it): a period longer than a month
folds its daily table (every day still in the page, drawn once opened, printed), and a
touch screen draws the charts without plotly's mode bar; a desktop keeps it.

The days are checked against the period's own calendar, the charts against the
figures the page sends (one mode bar per figure on a desktop, none on a phone).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.dashboards.conftest import Site
from tests.dashboards.fix_board import signed_in
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.integration]
QUARTER = (date(2026, 1, 1), date(2026, 3, 31))  # 90 days: folded
MARCH = (date(2026, 3, 1), date(2026, 3, 31))  # 31 days: open
no_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}")


def _path(period: tuple[date, date]) -> str:
    return f"/dashboards/estates/jjq?from={period[0]}&to={period[1]}"


def _days(period: tuple[date, date]) -> list[str]:
    n = (period[1] - period[0]).days + 1
    return [(period[0] + timedelta(days=i)).isoformat() for i in range(n)]


def _section(html: str, name: str) -> str:
    start = html.index(f'<section class="table" id="table-{name}"')
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize(("period", "folded"), [(QUARTER, True), (MARCH, False)])
def test_the_daily_table_folds_past_a_month_with_every_day(
    site: Site, period: tuple[date, date], folded: bool
) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get(_path(period))
    assert r.status_code == 200, r.text
    daily = _section(r.text, "daily")
    assert ('<details class="rows">' in daily) is folded
    shown = re.findall(r'<tr><td data-sort="(\d{4}-\d\d-\d\d)"', daily)
    assert shown == _days(period)
    # The export links stay outside the fold.
    assert 'class="export"' in daily.split("<details")[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _signed_in(browser: Browser, site: Site, phone: bool) -> BrowserContext:
    device = (
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
        if phone
        else {"viewport": {"width": 1400, "height": 900}}
    )
    ctx = browser.new_context(base_url=site.base, **device)
    page = ctx.new_page()
    page.goto("/dashboards/signin?next=/dashboards/")
    page.fill("#token", site.viewer)
    page.click("#signin-submit")
    page.wait_for_url("**/dashboards/")
    page.close()
    return ctx


def _drawn(ctx: BrowserContext, path: str) -> Page:
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path)
    page.wait_for_selector("body[data-charts-ready]", timeout=20_000)
    assert errors == []
    return page


@pytest.mark.browser
@pytest.mark.slow
@no_chromium
@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_mode_bar_on_a_desktop_only(browser: Browser, site: Site, phone: bool) -> None:
    ctx = _signed_in(browser, site, phone)
    try:
        page = _drawn(ctx, _path(MARCH))
        figures = page.locator("script.figure").count()
        assert figures == 6
        assert page.get_attribute("body", "data-charts-ready") == str(figures)
        # Every chart drawn: plotly's main SVG in each chart's box.
        assert page.locator(".plot .main-svg").count() >= figures
        assert page.locator(".modebar").count() == (0 if phone else figures)
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.slow
@no_chromium
def test_a_folded_table_opens_on_a_tap_and_prints(browser: Browser, site: Site) -> None:
    ctx = _signed_in(browser, site, phone=True)
    try:
        page = _drawn(ctx, _path(QUARTER))
        rows = page.locator("#table-daily tbody tr")
        assert rows.count() == len(_days(QUARTER))
        assert not rows.first.is_visible()
        page.tap("#table-daily summary")
        assert rows.first.is_visible()
        assert rows.last.inner_text().startswith("2026")  # zh: 2026年3月31日
        # Printed, a folded table shows its rows (and no summary to tap).
        page.evaluate("document.querySelector('#table-daily details').open = false")
        page.emulate_media(media="print")
        assert rows.first.is_visible()
        assert not page.locator("#table-daily summary").is_visible()
    finally:
        ctx.close()
