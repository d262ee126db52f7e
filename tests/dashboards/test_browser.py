"""The dashboards in headless Chromium (Debian's), driven by Playwright.

Screenshots go to $FENLEI_SCREENSHOTS_DIR when it is set (docs/screenshots/ keeps some).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from dashboards import i18n
from tests.dashboards.conftest import Site
from tests.dashboards.dataset import CATEGORIES, same
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
FIGURES = ("coverage", "participation_rate", "wet_share", "in_window_share")
# What plotly drew: each chart div's traces, read back from the page.
DRAWN = """(id) => document.getElementById(id).data.map(t => ({x: t.x, y: t.y}))"""


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


def percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def test_cards_equal_pandas_over_the_raw_drops(context: BrowserContext, site: Site) -> None:
    errors: list[str] = []
    page = open_page(context, "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31", errors)
    want = site.expected.estate("jjq", *MARCH)
    shown = cards(page)
    for figure in FIGURES:
        assert same(float(shown[figure]), want[figure]), (figure, shown[figure], want[figure])
        text = page.locator(f'.card[data-figure="{figure}"] .value').inner_text()
        assert text == percent(want[figure])
    assert errors == []


def test_the_daily_charts_draw_pandas_daily_series(context: BrowserContext, site: Site) -> None:
    errors: list[str] = []
    page = open_page(context, "/dashboards/estates/jjq?from=2026-03-01&to=2026-03-31", errors)
    want = site.expected.daily("jjq", *MARCH)
    days = [d["day"].isoformat() for d in want]
    kg: list[dict[str, Any]] = page.evaluate(DRAWN, "chart-daily-kg")
    assert len(kg) == len(CATEGORIES)
    for trace, c in zip(kg, CATEGORIES, strict=True):
        assert [x[:10] for x in trace["x"]] == days
        assert all(same(g, d[f"kg_{c}"]) for g, d in zip(trace["y"], want, strict=True)), c
    for chart, key in (
        ("chart-participation", "participation_rate"),
        ("chart-wet-share", "wet_share"),
        ("chart-in-window", "in_window_share"),
    ):
        line = page.evaluate(DRAWN, chart)[0]  # the figure; the target line comes after
        assert [x[:10] for x in line["x"]] == days, chart
        got = line["y"]
        assert all(same(g, d[key]) for g, d in zip(got, want, strict=True)), (chart, got)
    buildings = page.evaluate(DRAWN, "chart-buildings")[0]
    ranked = site.expected.units("jjq", *MARCH, by_group=False)
    assert sorted(zip(buildings["y"], buildings["x"], strict=True)) == sorted(
        (b["building"], b["participation_rate"]) for b in ranked
    )
    assert buildings["x"] == sorted(buildings["x"], reverse=True)  # best first
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
    want = site.expected.estate("jjq", date(2026, 1, 10), date(2026, 1, 16))
    for figure in FIGURES:
        assert same(float(after[figure]), want[figure]), figure
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
    want = site.expected.units("jjq", *MARCH, by_group=True)
    assert len(frame) == len(want)
    rows = frame.to_dict("records")
    # 楼组 is empty (NaN) for households without a recorded group.
    by_key = {(str(r["楼"]), r["楼组"] if isinstance(r["楼组"], str) else None): r for r in rows}
    for w in want:
        got = by_key[(w["building"], w["group"])]
        assert got["投放户数"] == w["households_active"]
        assert got["参与分类户数"] == w["households_enrolled"]
        assert same(got["参与率"], w["participation_rate"])
        assert same(got["湿垃圾占比"], w["wet_share"])
        assert same(got["总量（公斤）"], w["kg_total"])
    assert errors == []
