"""The monthly report (月报) workbook: each sheet's figures are the API's JSON for the same
month, its sheet names are Chinese (English with ?lang=en), and no cell is a formula.

The module's own database gets a roster and inspections for March 2026 through the API
(volunteers, watch slots, a generated roster, inspections recorded by an admin), and a
few assignments removed and check-ins stamped in SQL, so every sheet has rows.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from tests.dashboards.conftest import Site
from tests.dashboards.fix_board import signed_in

pytestmark = pytest.mark.integration
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
FEBRUARY = {"from": "2026-02-01", "to": "2026-02-28"}
ZH_SHEETS = ["指标", "每日", "楼栋", "楼组", "检查", "值守", "数据质量"]
EN_SHEETS = [
    "Figures",
    "Daily",
    "Buildings",
    "Building groups",
    "Inspections",
    "Watches",
    "Data quality",
]
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
CAT_EN = {c: c.capitalize() for c in CATEGORIES}
FORMULA_BUILDING = "=SUM(1,2)"


def _api(site: Site, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(
        method,
        f"{site.base}/api/v1{path}",
        headers={"Authorization": f"Bearer {site.admin}"},
        timeout=60,
        **kw,
    )
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json() if r.content else None


def get(site: Site, path: str, params: dict[str, str] | None = None) -> Any:
    return _api(site, "GET", path, params=params)


@pytest.fixture(scope="module")
def seeded(site: Site) -> Site:
    """A roster of March at jjq's room r1, some watches left uncovered, check-ins, and
    inspections (one names a building that is a spreadsheet formula)."""
    for name in ("王阿姨", "李师傅", "张老师"):
        _api(site, "POST", "/estates/jjq/volunteers", json={"name": name})
    _api(
        site,
        "PUT",
        "/estates/jjq/rooms/r1/watch-slots",
        json={"weekday": [["18:00", "20:00"]], "weekend": [["07:00", "09:00"]], "needed": 2},
    )
    _api(site, "POST", "/estates/jjq/roster", params={"month": "2026-03"})
    shifts = get(site, "/estates/jjq/roster", MARCH)
    assignments = [a["assignment_id"] for s in shifts for a in s["assignees"]]
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM assignments WHERE id = ANY(%s)", (assignments[:3],))
        conn.execute(
            "UPDATE assignments a SET checked_in_at = s.starts_at FROM shifts s"
            " WHERE s.id = a.shift_id AND a.id = ANY(%s)",
            (assignments[3:10],),
        )
    lines = [
        {"category": "wet", "checked": 40, "mis_sorted": 3, "re_sorted": 2},
        {"category": "dry", "checked": 25, "mis_sorted": 1, "re_sorted": 1},
    ]
    for n, assignment in enumerate(assignments[3:9]):
        body = {"building": ("1", "2", FORMULA_BUILDING)[n % 3], "lines": lines[: 1 + n % 2]}
        _api(site, "POST", f"/assignments/{assignment}/inspections", json=body)
    return site


def workbook(client: httpx.Client, path: str, **params: str) -> Workbook:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(r.content))


def rows(book: Workbook, sheet: str) -> list[dict[str, Any]]:
    """A sheet's rows as {header: value}."""
    values = list(book[sheet].iter_rows(values_only=True))
    head = [str(h) for h in values[0]]
    return [dict(zip(head, r, strict=True)) for r in values[1:]]


def close(got: Any, want: Any) -> bool:
    if want is None:
        return got is None
    if isinstance(want, float) or isinstance(got, float):
        return got is not None and abs(float(got) - float(want)) <= 1e-9
    return bool(got == want)


def assert_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        bad = {k: (g.get(k), v) for k, v in w.items() if not close(g.get(k), v)}
        assert not bad, (bad, g)


@pytest.fixture(scope="module")
def march(seeded: Site) -> Workbook:
    with signed_in(seeded, seeded.jjq_viewer) as client:
        return workbook(client, "/dashboards/estates/jjq/report.xlsx", month="2026-03", lang="en")


def unit(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "Registered": u["households_registered"],
        "Enrolled": u["households_enrolled"],
        "Active": u["households_active"],
        "Participation": u["participation_rate"],
        "Drops": u["drops"],
        "Wet share": u["wet_share"],
        **{f"{CAT_EN[c]} (kg)": u["kg"][c] for c in CATEGORIES},
    }


def test_sheet_names_zh_and_en(seeded: Site, march: Workbook) -> None:
    assert march.sheetnames == EN_SHEETS
    with signed_in(seeded, seeded.jjq_viewer) as client:
        zh = workbook(client, "/dashboards/estates/jjq/report.xlsx", month="2026-03")
    assert zh.sheetnames == ZH_SHEETS
    assert [c.value for c in zh["指标"][1]][:3] == ["指标", "本月", "目标"]


def test_figures_are_the_apis(seeded: Site, march: Workbook) -> None:
    now = get(seeded, "/estates/jjq/metrics", MARCH)
    then = get(seeded, "/estates/jjq/metrics", FEBRUARY)
    got = {r["Figure"]: r for r in rows(march, "Figures")}
    targets = {"coverage": 0.95, "participation_rate": 0.80, "wet_share": 0.35}
    labels = {
        "coverage": "Coverage",
        "participation_rate": "Participation rate",
        "wet_share": "Wet-waste share",
        "in_window_share": "Drops inside drop-off windows",
        "accuracy": "Sorting accuracy",
    }
    for key, label in labels.items():
        row = got[label]
        assert close(row["This month"], now[key]), (key, row, now[key])
        assert close(row["Previous month"], then[key]), (key, row)
        if key in targets:
            assert close(row["Target"], targets[key])
            assert row["Target met"] == ("yes" if now[key] >= targets[key] else "no")
    assert now["inspected"] > 0
    for label, key in (
        ("Households", "households_total"),
        ("Drops", "drops"),
        ("Active", "households_active"),
        ("Inspected", "inspected"),
    ):
        assert got[label]["This month"] == now[key] and got[label]["Previous month"] == then[key]
    assert close(got["Total (kg)"]["This month"], sum(now["kg"].values()))


def test_daily_buildings_and_groups_are_the_apis(seeded: Site, march: Workbook) -> None:
    days = get(seeded, "/estates/jjq/daily", MARCH)["days"]
    assert len(days) == 31
    want = [
        {
            "Day": d["day"],
            "Enrolled": d["households_enrolled"],
            "Active": d["households_active"],
            "Participation": d["participation_rate"],
            "Drops": d["drops"],
            "Drops by a known household": d["identified_drops"],
            "Wet share": d["wet_share"],
            "In-window share": d["in_window_share"],
            **{f"{CAT_EN[c]} (kg)": d["kg"][c] for c in CATEGORIES},
        }
        for d in days
    ]
    got = rows(march, "Daily")
    for r in got:
        r["Day"] = r["Day"].date().isoformat()
    assert_rows(got, want)
    buildings = get(seeded, "/estates/jjq/buildings/metrics", MARCH)["buildings"]
    assert_rows(
        rows(march, "Buildings"), [{"Building": b["building"], **unit(b)} for b in buildings]
    )
    assert_rows(
        rows(march, "Building groups"),
        [
            {"Building": b["building"], "Building group": g["building_group"], **unit(g)}
            for b in buildings
            for g in b["groups"]
        ],
    )


def test_inspections_are_the_apis(seeded: Site, march: Workbook) -> None:
    acc = get(seeded, "/estates/jjq/accuracy", MARCH)
    listed = get(seeded, "/estates/jjq/inspections", MARCH)
    keys = {
        "Inspections": "inspections",
        "Inspected": "inspected",
        "Passed": "passed",
        "Mis-sorted": "mis_sorted",
        "Re-sorted": "re_sorted",
        "Sorting accuracy": "accuracy",
    }

    def of(row: dict[str, Any]) -> dict[str, Any]:
        return {label: row[k] for label, k in keys.items()}

    want = [{"Scope": "Total", **of(acc)}]
    want += [
        {"Scope": "By category", "Category or building": CAT_EN[c], **of(acc["by_category"][c])}
        for c in CATEGORIES
    ]
    want += [
        {"Scope": "By building", "Category or building": b["building"], **of(b)}
        for b in acc["by_building"]
    ]
    # Per room and category, from the inspections the API lists.
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for i in listed:
        for line in i["lines"]:
            s = sums.setdefault(
                (i["room"], line["category"]), {"ids": set(), "c": 0, "m": 0, "r": 0}
            )
            s["ids"].add(i["id"])
            s["c"] += line["checked"]
            s["m"] += line["mis_sorted"]
            s["r"] += line["re_sorted"]
    for (room, cat), s in sorted(
        sums.items(), key=lambda kv: (kv[0][0], CATEGORIES.index(kv[0][1]))
    ):
        want.append(
            {
                "Scope": "Refuse room",
                "Refuse room": room,
                "Category or building": CAT_EN[cat],
                "Inspections": len(s["ids"]),
                "Inspected": s["c"],
                "Passed": s["c"] - s["m"],
                "Mis-sorted": s["m"],
                "Re-sorted": s["r"],
                "Sorting accuracy": (s["c"] - s["m"]) / s["c"],
            }
        )
    got = rows(march, "Inspections")
    assert_rows(got, want)
    assert acc["inspected"] > 0 and any(
        b["building"] == FORMULA_BUILDING for b in acc["by_building"]
    )


def test_watches_are_the_apis(seeded: Site, march: Workbook) -> None:
    shifts = get(seeded, "/estates/jjq/roster", MARCH)
    coverage = get(seeded, "/estates/jjq/coverage", MARCH)
    slots = {r["room"]: len(r["slots"]) for r in get(seeded, "/estates/jjq/watch-slots")}
    got = {r["Refuse room"]: r for r in rows(march, "Watches")}
    r1 = [s for s in shifts if s["room"] == "r1"]
    assert r1 and coverage["shifts"] == len(shifts)
    want = {
        "Watch slots": slots["r1"],
        "Watches": len(r1),
        "Volunteers needed": sum(s["needed"] for s in r1),
        "Volunteers assigned": sum(len(s["assignees"]) for s in r1),
        "Uncovered watches": sum(s["uncovered"] for s in r1),
        "Fully staffed watches": sum(not s["uncovered"] for s in r1),
        "Check-ins": sum(a["checked_in_at"] is not None for s in r1 for a in s["assignees"]),
    }
    assert {k: got["r1"][k] for k in want} == want
    assert want["Uncovered watches"] >= 1 and want["Check-ins"] == 7
    assert got["Total"]["Watches"] == coverage["shifts"]
    assert got["Total"]["Uncovered watches"] == len(coverage["uncovered"])


def test_data_quality_is_the_apis(seeded: Site, march: Workbook) -> None:
    rejected = get(seeded, "/rejected", {"estate": "jjq", "since": "2026-03-01T00:00:00+08:00"})
    now = get(seeded, "/estates/jjq/metrics", MARCH)
    bins = get(seeded, "/estates/jjq/bins")
    got = rows(march, "Data quality")
    by_reason = {r["Detail"]: r["Count"] for r in got if r["Item"] == "Rejected messages"}
    assert by_reason == rejected["counts_by_reason"] and sum(by_reason.values()) == 40
    items = {r["Item"]: r for r in got}
    assert items["Messages lost (sequence gaps)"]["Count"] == now["seqs_lost"]
    assert items["Messages filled in late"]["Count"] == now["seqs_filled_late"]
    offline = [f"{b['room']}/{b['id']}" for b in bins if not b["online"]]
    assert items["Bins offline"]["Count"] == len(offline) == 1
    assert items["Bins offline"]["Detail"] == ", ".join(offline)


def test_no_cell_is_a_formula(march: Workbook) -> None:
    seen = False
    for ws in march.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if c.value == FORMULA_BUILDING:
                    assert c.data_type == "s" and c.quotePrefix
                    seen = True
    assert seen


def test_the_district_report(seeded: Site, march: Workbook) -> None:
    with signed_in(seeded, seeded.viewer) as client:
        book = workbook(client, "/dashboards/district/report.xlsx", month="2026-03", lang="en")
    with signed_in(seeded, seeded.jjq_viewer) as client:
        mine = workbook(client, "/dashboards/district/report.xlsx", month="2026-03", lang="en")
    assert book.sheetnames == EN_SHEETS
    for sheet in EN_SHEETS:
        got = rows(book, sheet)
        jjq = [{k: v for k, v in r.items() if k != "Estate"} for r in got if r["Estate"] == "jjq"]
        assert jjq == rows(march, sheet), sheet
        assert {r["Estate"] for r in rows(mine, sheet)} <= {"jjq", "Total"}
    estates = {r["Estate"] for r in rows(book, "Buildings")}
    assert estates == {"jjq", "oyl"}
    totals = get(seeded, "/metrics", MARCH)["totals"]
    total = {r["Figure"]: r for r in rows(book, "Figures") if r["Estate"] == "Total"}
    for key, label in (
        ("coverage", "Coverage"),
        ("participation_rate", "Participation rate"),
        ("wet_share", "Wet-waste share"),
    ):
        assert close(total[label]["This month"], totals[key])
    assert total["Drops"]["This month"] == totals["drops"]


def test_bad_months_and_access(seeded: Site) -> None:
    path = "/dashboards/estates/jjq/report.xlsx"
    with signed_in(seeded, seeded.jjq_viewer) as client:
        for month in ("2026-13", "March", "0000-01", "9999-01"):
            r = client.get(path, params={"month": month, "lang": "en"})
            assert r.status_code == 400 and "YYYY-MM" in r.text, (month, r.status_code)
        assert (
            client.get(
                "/dashboards/estates/oyl/report.xlsx", params={"month": "2026-03"}
            ).status_code
            == 403
        )
        default = client.get(path)
        assert default.status_code == 200  # the last month that ended
    r = httpx.get(f"{seeded.base}{path}", params={"month": "2026-03"})
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboards/signin")
    assert date(2026, 3, 1)  # the seeded month
