"""A volunteer's phone in Debian's Chromium (#15): an inspection with a mistake keeps
every typed value and says what is wrong in Chinese, and taking a swap that would
double-book the taker is refused with the reason, leaving both watches as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.fix_browser import CHROMIUM, CHROMIUM_ARGS
from tests.volunteers.conftest import Clock, add_volunteer

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]

PHONE: ViewportSize = {"width": 390, "height": 844}
# Both rooms watch 16:30-20:00 on weekdays, so a watch in r1 and one in r2 on the same
# evening overlap.
SLOTS = {"weekday": [["16:30", "20:00"]], "weekend": []}


def _team(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    client.put("/api/v1/estates/jjq/rooms/r2", headers=admin, json={"name": "2号厢房"})
    for room in ("r1", "r2"):
        r = client.put(f"/api/v1/estates/jjq/rooms/{room}/watch-slots", headers=admin, json=SLOTS)
        assert r.status_code == 200, r.text
    team = {name: add_volunteer(client, admin, name) for name in ("李师傅", "张阿姨")}
    assert client.post("/api/v1/estates/jjq/roster?month=2026-04", headers=admin).status_code == 201
    return team


def _hand(db_url: str, room: str, day: str, volunteer: dict[str, Any]) -> int:
    """Give `volunteer` every seat of the room's watch that day; one assignment id."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "UPDATE assignments a SET volunteer_id = %s FROM shifts s"
            " WHERE a.shift_id = s.id AND s.estate_id = 'jjq' AND s.room_id = %s"
            " AND s.day = %s RETURNING a.id",
            (volunteer["id"], room, day),
        ).fetchall()
    assert rows
    return int(rows[0][0])


def _holders(db_url: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(db_url) as conn:
        return [
            (str(room), str(day), int(vid))
            for room, day, vid in conn.execute(
                "SELECT s.room_id, s.day, a.volunteer_id FROM assignments a"
                " JOIN shifts s ON s.id = a.shift_id WHERE s.day = '2026-04-06'"
                " ORDER BY 1, 3"
            ).fetchall()
        ]


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/volunteer/login")
    page.fill("#token", token)
    page.click("[data-test=login]")
    page.wait_for_selector("text=我的值班")


def test_an_inspection_with_a_mistake_keeps_what_was_typed(
    served: str,
    client: TestClient,
    admin: dict[str, str],
    estate: str,
    clock: Clock,
    db_url: str,
) -> None:
    from playwright.sync_api import sync_playwright

    team = _team(client, admin)
    zhang = team["张阿姨"]
    _hand(db_url, "r1", "2026-04-06", zhang)
    clock.now = datetime(2026, 4, 6, 8, 45, tzinfo=UTC)  # Monday 16:45 in Shanghai: on watch
    typed = {"wet_checked": "4", "wet_mis_sorted": "7", "dry_checked": "12", "notes": "外卖盒"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
            _sign_in(page, served, zhang["token"])
            page.click("[data-test^=check-in-]")
            page.wait_for_selector("text=已签到")
            page.click("[data-test^=inspect-]")
            for name, value in typed.items():
                page.fill(f"[name={name}]", value)
            page.click("[data-test=save]")
            page.wait_for_selector("text=错投数不能多于检查数")
            kept = {name: page.input_value(f"[name={name}]") for name in typed}
            assert kept == typed
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.fill("[name=wet_mis_sorted]", "1")
            page.click("[data-test=save]")
            page.wait_for_selector("text=已保存")
        finally:
            browser.close()
    acc = client.get(
        "/api/v1/estates/jjq/accuracy?from=2026-04-06&to=2026-04-06", headers=admin
    ).json()
    # Only the corrected inspection was stored: 4 + 12 checked, 1 mis-sorted.
    assert (acc["inspected"], acc["passed"]) == (16, 15)


def test_a_swap_that_would_double_book_is_refused_on_the_phone(
    served: str,
    client: TestClient,
    admin: dict[str, str],
    estate: str,
    clock: Clock,
    db_url: str,
) -> None:
    from playwright.sync_api import sync_playwright

    team = _team(client, admin)
    li, zhang = team["李师傅"], team["张阿姨"]
    offered = _hand(db_url, "r1", "2026-04-06", zhang)
    _hand(db_url, "r2", "2026-04-06", li)
    r = client.post(f"/api/v1/assignments/{offered}/swaps", headers=zhang["headers"])
    assert r.status_code == 201, r.text
    before = _holders(db_url)
    clock.now = datetime(2026, 4, 3, 2, 0, tzinfo=UTC)  # the Friday before
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
            _sign_in(page, served, li["token"])
            page.click("[data-test^=take-]")
            page.wait_for_selector("text=时间重叠")
            text = page.inner_text("body")
            assert "李师傅已有4月6日 周一 16:30–20:00在2号厢房的值班" in text, text
        finally:
            browser.close()
    assert _holders(db_url) == before
    swaps = client.get("/api/v1/estates/jjq/swaps", headers=admin).json()
    assert [(s["status"], s["taken_by_name"]) for s in swaps] == [("open", None)]
