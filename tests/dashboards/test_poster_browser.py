"""The poster's print view in headless Chromium (Debian's): it loads without a console
error (nothing the pages' CSP refuses), and printing it gives the poster alone on one
A4 page, the page's header, period picker and controls left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.dashboards.conftest import Site
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]
A4_PT = (595.28, 841.89)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def test_printing_the_print_view_gives_the_poster_on_one_a4_page(
    browser: Browser, site: Site
) -> None:
    ctx = browser.new_context(base_url=site.base)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/dashboards/signin?next=/dashboards/")
    page.fill("#token", site.viewer)
    page.click("#signin-submit")
    page.wait_for_url("**/dashboards/")
    page.goto("/dashboards/estates/jjq/poster?from=2026-03-01&to=2026-03-31")
    assert page.locator("#poster").is_visible()
    assert page.locator("#poster-pdf").is_visible()  # the controls, on screen
    assert errors == []
    pdf = pdfium.PdfDocument(page.pdf(prefer_css_page_size=True, print_background=True))
    ctx.close()
    assert len(pdf) == 1
    width, height = pdf[0].get_size()
    assert abs(width - A4_PT[0]) < 1 and abs(height - A4_PT[1]) < 1
    text = pdf[0].get_textpage().get_text_range()
    assert "垃圾分类公示" in text and "覆盖率" in text
    for left_out in ("下载 PDF", "全小区海报", "生成时间", "退出"):
        assert left_out not in text, left_out
