"""The disclosure board reads the registry's history: a move or a departure recorded
later leaves the board of a period that ended before it exactly as it was.

This module changes the registry through the API (a move and a departure, dated after
the data's last day), so it has its own `site` (the fixture is per module).
"""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from tests.dashboards.conftest import Site
from tests.dashboards.dataset import FORMULA_NAME
from tests.dashboards.fix_board import board_csv, board_mismatches, csv_rows, defused, signed_in

pytestmark = pytest.mark.integration
EFFECTIVE = date(2026, 4, 1)  # the day after the data's period ends
ENDED_BEFORE = [
    (date(2026, 3, 1), date(2026, 3, 31)),
    (date(2026, 1, 1), date(2026, 3, 31)),
    (date(2026, 2, 1), date(2026, 2, 28)),
]
# Ends on the effective day: the changes show here.
REACHING = (date(2026, 3, 1), EFFECTIVE)
TABLES = ("groups", "stars")
NAME = "Household (name or code)"


def boards(site: Site) -> dict[tuple[date, date], dict[str, bytes]]:
    with signed_in(site, site.viewer) as client:
        return {p: {t: board_csv(client, t, *p) for t in TABLES} for p in [*ENDED_BEFORE, REACHING]}


def enrolled(groups: bytes) -> dict[tuple[str, str], int]:
    return {(r["Building"], r["Building group"]): int(r["Enrolled"]) for r in csv_rows(groups)}


def test_a_later_move_leaves_the_board_of_an_earlier_period_as_it_was(site: Site) -> None:
    with signed_in(site, site.viewer) as client:
        for period in [*ENDED_BEFORE, REACHING]:
            assert board_mismatches(client, site.expected, *period) == [], period
    before = boards(site)
    stars = {r[NAME]: r for r in csv_rows(before[REACHING]["stars"])}
    assert stars["1号楼 101室"]["Building group"] == "1-1"  # h0001, a star of 1-1
    assert defused(FORMULA_NAME) in stars  # h0004, another

    # From 1 April h0001 lives in building 3 (group 3-1), and h0004 has left.
    r = httpx.post(
        f"{site.base}/api/v1/estates/jjq/households",
        headers={"Authorization": f"Bearer {site.admin}"},
        json=[
            {"id": "h0001", "building": "3", "building_group": "3-1", "effective_on": "2026-04-01"},
            {"id": "h0004", "building": "1", "building_group": "1-1", "left_on": "2026-04-01"},
        ],
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["backdated"]["earliest"] == "2026-04-01"
    history = httpx.get(
        f"{site.base}/api/v1/estates/jjq/households/h0001/history",
        headers={"Authorization": f"Bearer {site.admin}"},
    ).json()
    assert [(m["valid_from"], m["valid_to"], m["building"]) for m in history["memberships"]] == [
        (None, "2026-04-01", "1"),
        ("2026-04-01", None, "3"),
    ]

    after = boards(site)
    for period in ENDED_BEFORE:
        assert after[period] == before[period], period  # byte for byte
    # The period reaching the effective day sees both changes.
    was, now = enrolled(before[REACHING]["groups"]), enrolled(after[REACHING]["groups"])
    assert now[("1", "1-1")] == was[("1", "1-1")] - 2
    assert now[("3", "3-1")] == was[("3", "3-1")] + 1
    stars_now = {r[NAME]: r for r in csv_rows(after[REACHING]["stars"])}
    assert defused(FORMULA_NAME) not in stars_now  # not enrolled on `to` any more
    moved = stars_now.get("1号楼 101室")
    assert moved is None or (moved["Building"], moved["Building group"]) == ("3", "3-1")
