"""The dashboards in headless Chromium (Debian's), driven by Playwright.

Screenshots go to $FENLEI_SCREENSHOTS_DIR when it is set (docs/screenshots/ keeps some).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from dashboards import i18n
from tests.dashboards.conftest import CHROMIUM, CHROMIUM_ARGS, Site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
FIGURES = ("coverage", "participation_rate", "wet_share", "in_window_share")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A fresh browser profile signed in as a viewer of every estate."""
    ctx = browser.new_context(
        base_url=site.base, viewport={"width": 1400, "height": 900}, accept_downloads=True
    )
    page = ctx.new_page()
    page.goto("/dashboards/signin?next=/dashboards/")
    page.fill("#token", site.viewer)
    page.click("#signin-submit")
    page.wait_for_url("**/dashboards/")
    page.close()
    yield ctx
    ctx.close()


def open_page(context: BrowserContext, path: str, errors: list[str]) -> Page:
    """Open `path`, recording console errors and page errors, and wait for the charts."""
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path)
    if page.locator("script.figure").count():
        page.wait_for_selector("body[data-charts-ready]", timeout=15_000)
    return page


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("FENLEI_SCREENSHOTS_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def cards(page: Page) -> dict[str, str]:
    return {
        c.get_attribute("data-figure") or "": c.get_attribute("data-value") or ""
        for c in page.locator(".card").all()
    }


def test_every_page_loads_without_console_errors(context: BrowserContext) -> None:
    errors: list[str] = []
    q = "from=2026-03-01&to=2026-03-31"
    for path, name in (
        (f"/dashboards/estates/jjq?{q}", "overview-zh"),
        (f"/dashboards/district?{q}", "district-zh"),
        (f"/dashboards/estates/jjq/disclosure?{q}", "disclosure-zh"),
        ("/dashboards/", None),
        ("/dashboards/signin", None),
    ):
        page = open_page(context, path, errors)
        assert page.locator("h1").count() == 1, path
        if name:
            shot(page, name)
        page.close()
    assert errors == []
    page = open_page(context, f"/dashboards/estates/jjq?{q}", errors)
    assert page.locator(".js-plotly-plot").count() == 6
    assert page.locator(".modebar-btn[data-title]").count() > 0  # PNG download is there


def test_cards_equal_the_api(context: BrowserContext, site: Site) -> None:
    errors: list[str] = []
    page = open_page(context, "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31", errors)
    api = site.api_json("/api/v1/estates/jjq/metrics", **MARCH)
    shown = cards(page)
    for figure in FIGURES:
        assert float(shown[figure]) == api[figure], figure
        text = page.locator(f'.card[data-figure="{figure}"] .value').inner_text()
        assert text == i18n.percent(api[figure])
    assert errors == []


def test_language_switch_changes_the_labels(context: BrowserContext) -> None:
    errors: list[str] = []
    page = open_page(context, "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31", errors)
    assert "小区概览" in page.locator("h1").inner_text()
    zh_labels = page.locator(".card .label").all_inner_texts()
    assert zh_labels == [i18n.t("zh", f"figure.{f}") for f in FIGURES]
    page.click("#lang-switch")
    page.wait_for_selector("body[data-charts-ready]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Estate overview" in page.locator("h1").inner_text()
    assert page.locator(".card .label").all_inner_texts() == [
        i18n.t("en", f"figure.{f}") for f in FIGURES
    ]
    assert page.locator("#period-label").inner_text() == "1 Mar 2026 – 31 Mar 2026"
    assert "from=2026-03-01" in page.url  # the period survives the switch
    shot(page, "overview-en")
    page.click("#lang-switch")  # and back, for the other tests
    page.wait_for_selector("html[lang='zh-CN']")
    assert errors == []


def test_period_picker_changes_the_data(context: BrowserContext, site: Site) -> None:
    errors: list[str] = []
    page = open_page(context, "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31", errors)
    before = cards(page)
    page.fill("input[name=from]", "2026-01-10")
    page.fill("input[name=to]", "2026-01-16")
    page.click("#period-apply")
    page.wait_for_url("**from=2026-01-10**")
    page.wait_for_selector("body[data-charts-ready]")
    after = cards(page)
    assert after != before
    api = site.api_json("/api/v1/estates/jjq/metrics", **{"from": "2026-01-10", "to": "2026-01-16"})
    assert {f: float(after[f]) for f in FIGURES} == {f: api[f] for f in FIGURES}
    assert page.locator("#table-daily tbody tr").count() == 7
    assert errors == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_downloads_a_file_pandas_reads(
    context: BrowserContext, site: Site, fmt: str
) -> None:
    errors: list[str] = []
    page = open_page(context, "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31", errors)
    with page.expect_download() as info:
        page.click(f'#table-groups a.export[data-format="{fmt}"]')
    download = info.value
    assert download.suggested_filename == f"jjq-groups-2026-03-01-2026-03-31.{fmt}"
    data = Path(download.path()).read_bytes()
    frame = (
        pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
        if fmt == "csv"
        else pd.read_excel(io.BytesIO(data))
    )
    api = site.api_json("/api/v1/estates/jjq/buildings/metrics", **MARCH)
    groups = {
        (b["building"], g["building_group"]): g for b in api["buildings"] for g in b["groups"]
    }
    assert len(frame) == len(groups)
    by_key = {(str(r["楼"]), r["楼组"]): r for r in frame.to_dict("records")}
    for key, g in groups.items():
        assert by_key[key]["投放户数"] == g["households_active"]
        assert by_key[key]["参与率"] == pytest.approx(g["participation_rate"], abs=1e-12)
    assert errors == []
