"""The demo's team, registered through the real API (fenlei.demo_team), reads back as the
committee and the volunteers' screens would read it: through the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from fenlei.demo_team import roster_months, setup_team
from simulators.estate import EstateSpec, build_estate
from simulators.registry_client import RegistryClient
from simulators.team import build_team
from simulators.team_client import month_last_day, register_team
from tests.simulators.api_server import ApiServer

pytestmark = pytest.mark.integration
ESTATE = "team-demo"
TZ = ZoneInfo("Asia/Shanghai")


def get(api: ApiServer, path: str, **params: str) -> Any:
    r = httpx.get(
        f"{api.base_url}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=30.0,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_the_demo_team_is_registered_with_rosters_check_ins_inspections_and_a_swap(
    api: ApiServer, db_url: str
) -> None:
    today = datetime.now(TZ).date()
    e = build_estate(EstateSpec().scaled(100, ESTATE), 3, today - timedelta(days=3), today)
    with RegistryClient(api.base_url, api.token) as client:
        client.register(e)
    setup = setup_team(api.base_url, api.token, e, 3, db_url)

    expected = build_team(e, 3, date(2000, 1, 1), date(2000, 1, 1))
    volunteers = get(api, f"/estates/{ESTATE}/volunteers")
    assert sorted(v["name"] for v in volunteers) == sorted(m.name for m in expected.members)
    assert len(volunteers) == 25
    assert {v["building"] for v in volunteers} <= {h.building for h in e.households}
    slots = get(api, f"/estates/{ESTATE}/watch-slots")
    assert {s["room"] for s in slots} == set(e.rooms())
    for room in slots:
        assert room["source"] == "room"
        got = {(s["day_type"], s["start"][:5], s["end"][:5]) for s in room["slots"]}
        assert got == {
            ("weekday", "18:00", "20:00"),
            ("weekend", "07:00", "09:00"),
            ("weekend", "18:00", "20:00"),
        }

    months = roster_months(today)
    assert f"{today:%Y-%m}" in months
    first, last = date.fromisoformat(months[0] + "-01"), month_last_day(months[-1])
    shifts = get(api, f"/estates/{ESTATE}/roster", **{"from": str(first), "to": str(last)})
    this_month = [s for s in shifts if s["day"].startswith(f"{today:%Y-%m}")]
    assert this_month and all(s["assignees"] for s in this_month)
    now = datetime.now(UTC)
    seats = [a for s in shifts for a in s["assignees"]]
    checked = [a for a in seats if a["checked_in_at"]]
    assert checked
    by_assignment = {a["assignment_id"]: s for s in shifts for a in s["assignees"]}
    for a in checked:
        s = by_assignment[a["assignment_id"]]
        came = datetime.fromisoformat(a["checked_in_at"])
        assert datetime.fromisoformat(s["starts_at"]) - timedelta(minutes=30) <= came <= now
        assert came <= datetime.fromisoformat(s["ends_at"])

    inspections = get(
        api, f"/estates/{ESTATE}/inspections", **{"from": str(first), "to": str(today)}
    )
    assert inspections
    assert any(x["mis_sorted"] > 0 for i in inspections for x in i["lines"])
    assert {i["assignment_id"] for i in inspections} <= {a["assignment_id"] for a in checked}
    accuracy = get(api, f"/estates/{ESTATE}/accuracy", **{"from": str(first), "to": str(today)})
    assert accuracy["mis_sorted"] > 0 and accuracy["accuracy"] < 1

    swaps = get(api, f"/estates/{ESTATE}/swaps", status="open")
    assert len(swaps) == 1
    assert swaps[0]["offered_by_name"] != "王阿姨"
    assert datetime.fromisoformat(swaps[0]["shift"]["starts_at"]) > now

    assert setup.volunteer_line.startswith(f"volunteer  {api.base_url}/volunteer")
    assert "王阿姨" in setup.volunteer_line
    assert "25 volunteers" in setup.summary_line
    assert api.token not in setup.volunteer_line + setup.summary_line


def test_a_watch_under_way_is_checked_in_with_its_volunteers_own_tokens(
    api: ApiServer, db_url: str
) -> None:
    """The API's clock is the real one: a watch slot around now has watches under way,
    which their volunteers check in to through the API (not the store)."""
    now = datetime.now(UTC)
    local = now.astimezone(TZ).replace(second=0, microsecond=0) - timedelta(minutes=15)
    window = (f"{local:%H:%M}", f"{local + timedelta(hours=1):%H:%M}")
    e = build_estate(EstateSpec().scaled(100, ESTATE), 3, local.date(), local.date())
    with RegistryClient(api.base_url, api.token) as client:
        client.register(e)
    team = replace(
        build_team(e, 3, local.date(), local.date()), weekday=(window,), weekend=(window,)
    )
    months = roster_months(local.date())
    report = register_team(api.base_url, api.token, e, team, months, 3, now)
    assert report.history.checking_in
    first, last = date.fromisoformat(months[0] + "-01"), month_last_day(months[-1])
    shifts = get(api, f"/estates/{ESTATE}/roster", **{"from": str(first), "to": str(last)})
    stamped = {
        a["assignment_id"]: datetime.fromisoformat(a["checked_in_at"])
        for s in shifts
        for a in s["assignees"]
        if a["checked_in_at"]
    }
    # Only the API wrote check-ins here (the past ones are the caller's to store).
    assert set(stamped) == {s.assignment_id for s in report.history.checking_in}
    assert all(now <= at <= datetime.now(UTC) for at in stamped.values())
    swaps = get(api, f"/estates/{ESTATE}/swaps", status="open")
    assert [s["id"] for s in swaps] == [report.swap_id]
