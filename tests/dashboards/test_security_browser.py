"""Hostile building names and the Content-Security-Policy in headless Chromium (#14).

An estate whose buildings are named `<!--<script>` and `</script><script>alert(1)
</script>` (registered through the API, as an installer would) must still show its
overview whole: every chart drawn with those names as labels, every table there, no
script of theirs run, and nothing the pages' own CSP refuses (a refusal is a console
error). Chromium is the HTML parser here, so this is the check that does not trust ours.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Dialog, sync_playwright

from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from tests.api.conftest import make_token
from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}"),
]
HOSTILE = ["<!--<script>", "</script><script>alert(1)</script>", "1号楼 & <b>2</b>"]
MARCH = "from=2026-03-01&to=2026-03-31"
# What plotly drew for the buildings chart: its bar labels.
LABELS = "() => document.getElementById('chart-buildings').data[0].y"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, str]]:
    """The app under uvicorn with the hostile estate registered; (base URL, admin token)."""
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret="browser-security-secret"),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    admin = make_token(db_url, Role.admin)
    with httpx.Client(base_url=base, headers=admin, timeout=30) as api:
        r = api.put("/api/v1/estates/xss", json={"name": "XSS", "households_total": 3})
        assert r.status_code == 201, r.text
        assert api.put("/api/v1/estates/xss/rooms/r1").status_code == 201
        r = api.put("/api/v1/estates/xss/rooms/r1/bins/b1", json={"category": "wet"})
        assert r.status_code == 201, r.text
        households = [
            {
                "id": f"h{i}",
                "building": name,
                "building_group": name,
                "enrolled_on": "2026-01-01",
                "effective_on": "2026-01-01",
            }
            for i, name in enumerate(HOSTILE)
        ]
        r = api.post("/api/v1/estates/xss/households", json=households)
        assert r.status_code == 200, r.text
    try:
        yield base, admin["Authorization"].removeprefix("Bearer ")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_hostile_building_names_leave_every_chart_and_table_working(
    served: tuple[str, str],
) -> None:
    base, token = served
    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def on_dialog(dialog: Dialog) -> None:  # an alert() of a name: must not happen
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto("/dashboards/signin")
            page.fill("#token", token)
            page.click("#signin-submit")
            page.wait_for_url("**/dashboards/estates/xss")
            response = page.goto(f"/dashboards/estates/xss?{MARCH}&lang=en")
            assert response is not None and response.status == 200
            assert "script-src" in response.headers["content-security-policy"]
            page.wait_for_selector("body[data-charts-ready]", timeout=15_000)
            assert page.get_attribute("body", "data-charts-ready") == "6"
            assert page.locator(".js-plotly-plot").count() == 6
            assert sorted(page.evaluate(LABELS)) == sorted(HOSTILE)
            tables = page.locator("section.table").evaluate_all("s => s.map(e => e.id)")
            assert tables == [
                f"table-{t}" for t in ("daily", "buildings", "groups", "bins", "rejected")
            ]
            shown = page.locator("#table-buildings tbody tr td:nth-child(2)").all_inner_texts()
            assert sorted(shown) == sorted(HOSTILE)
            assert page.locator("main script:not(.figure)").count() == 0  # none of theirs
            # The page's own script still runs under the CSP: sorting by a header click
            # (twice: descending), in the page's second table.
            ranks = "#table-buildings tbody tr td:nth-child(1)"
            page.click("#table-buildings th:nth-child(1)")
            page.click("#table-buildings th:nth-child(1)")
            assert page.locator(ranks).all_inner_texts() == ["3", "2", "1"]
            # Signing out with the page's own form (its CSRF token) ends the session.
            page.click("#signout")
            page.wait_for_url("**/dashboards/signin")
            page.goto(f"/dashboards/estates/xss?{MARCH}")
            assert "/dashboards/signin" in page.url
        finally:
            browser.close()
    assert errors == [] and dialogs == []
