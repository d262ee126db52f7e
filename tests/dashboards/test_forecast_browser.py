"""The fill forecast page in Debian's Chromium at 390 × 844: nothing scrolls sideways
(the bins' table scrolls in its own box), and the room cards show 清运 before in the
API's order. Data: the known-rate series of tests/api/test_forecast_api.py."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import make_token
from tests.api.test_forecast_api import ROOMS, write_series
from tests.dashboards.test_responsive_pages import MEASURE, PHONE
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS
from tests.fix_data import register

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def base(db_url: str) -> Iterator[str]:
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2),
        DashboardSettings(session_secret="forecast-browser-secret"),
    )
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=uv.run, name="forecast-page", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{uv.config.port}"
    uv.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_forecast_page_fits_a_phone(db_url: str, base: str, lang: str) -> None:
    register(db_url, "jjq", ROOMS)
    write_series(db_url, datetime.now(UTC))
    viewer = make_token(db_url, Role.viewer, ["jjq"])
    rooms = httpx.get(f"{base}/api/v1/estates/jjq/forecast/rooms", headers=viewer).json()["rooms"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(
                base_url=base, viewport=PHONE, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            page.goto("/dashboards/signin")
            page.fill("#token", viewer["Authorization"].removeprefix("Bearer "))
            page.click("#signin-submit")
            page.wait_for_load_state()
            page.goto(f"/dashboards/estates/jjq/forecast?lang={lang}")
            found = page.evaluate(MEASURE)
            shown = page.eval_on_selector_all(
                "#forecast-rooms li", "els => els.map(e => e.dataset.room)"
            )
            first = page.inner_text("#forecast-rooms li .when")
            folder = os.environ.get("FENLEI_SCREENSHOTS_DIR")  # to look at it
            if folder:
                page.screenshot(path=f"{folder}/phone-forecast-{lang}.png", full_page=True)
        finally:
            browser.close()
    assert found["width"] <= PHONE["width"], found
    assert not found["small"] and not found["tiny"], found
    assert shown == [r["room"] for r in rooms]
    assert ("前清运" if lang == "zh" else "collect before") in first
