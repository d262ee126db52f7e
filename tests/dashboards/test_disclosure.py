"""Pseudonyms, the disclosure board's privacy rules, formula-safe exports. Pure."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from dashboards import tables
from dashboards.disclosure import board
from dashboards.pseudonym import CODE_CHARS, pseudonym
from dashboards.settings import DashboardSettings

SETTINGS = DashboardSettings(session_secret="s", disclosure_min_group=5, disclosure_stars=2)


def test_pseudonyms_are_stable_secret_and_distinct() -> None:
    code = pseudonym(b"k", "jjq", "JJQ-0001")
    assert code == pseudonym(b"k", "jjq", "JJQ-0001")
    assert len(code) == CODE_CHARS and code.isalnum() and "0001" not in code
    assert code != pseudonym(b"other", "jjq", "JJQ-0001")
    assert code != pseudonym(b"k", "oyl", "JJQ-0001")
    codes = {pseudonym(b"k", "jjq", f"JJQ-{n:04d}") for n in range(5_000)}
    assert len(codes) == 5_000


def group(name: str | None, enrolled: int, active: int) -> dict[str, Any]:
    return {
        "building_group": name,
        "households_enrolled": enrolled,
        "households_active": active,
        "participation_rate": active / enrolled if enrolled else None,
        "wet_share": 0.4,
    }


def test_small_groups_and_their_families_are_hidden() -> None:
    buildings = [
        {"building": "1", "groups": [group("1-1", 10, 9), group("1-2", 3, 3), group(None, 6, 3)]}
    ]
    activity = [
        {"building": "1", "building_group": g, "household": h, "active_days": d, "drops": d}
        for g, h, d in [
            ("1-1", "a", 20),
            ("1-1", "b", 25),
            ("1-1", "c", 5),
            ("1-2", "small", 30),
            (None, "x", 1),
        ]
    ]
    groups, stars, hidden = board("jjq", buildings, activity, SETTINGS, "(none)")
    assert hidden == 1
    assert [(g["rank"], g["building_group"]) for g in groups] == [(1, "1-1"), (2, "(none)")]
    assert [s["household"] for s in stars] == [pseudonym(b"s", "jjq", h) for h in ("x", "b", "a")]
    shown = repr(groups) + repr(stars)
    assert "small" not in shown and "'a'" not in shown and "'b'" not in shown


def test_star_families_are_named_only_with_their_consent() -> None:
    buildings = [{"building": "1", "groups": [group("1-1", 10, 4)]}]
    people = [
        ("a", "1号楼 101室", True, 30),  # named, with consent
        ("b", "1号楼 102室", False, 29),  # a name without consent: its code
        ("c", None, True, 28),  # consent without a name: its code
        ("d", "<b>=1+1</b>", True, 27),  # shown as given: escaping is the page's
    ]
    activity = [
        {
            "building": "1",
            "building_group": "1-1",
            "household": h,
            "display_name": name,
            "publish_consent": consent,
            "active_days": days,
            "drops": days,
        }
        for h, name, consent, days in people
    ]
    settings = DashboardSettings(session_secret="s", disclosure_min_group=5, disclosure_stars=4)
    _, stars, _ = board("jjq", buildings, activity, settings, "(none)")
    assert [s["household"] for s in stars] == [
        "1号楼 101室",
        pseudonym(b"s", "jjq", "b"),
        pseudonym(b"s", "jjq", "c"),
        "<b>=1+1</b>",
    ]
    assert "1号楼 102室" not in repr(stars)


FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\r=1"]


def test_exports_are_formula_safe() -> None:
    table = tables.Table(
        "t",
        "t",
        [tables.Column("text", "col.name"), tables.Column("n", "col.count", "int")],
        [{"text": f, "n": -1} for f in FORMULAS] + [{"text": "5号楼 302室", "n": 2}],
    )
    text = tables.to_csv(table, "en").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert [r[0] for r in rows] == ["'" + f for f in FORMULAS] + ["5号楼 302室"]
    assert [r[1] for r in rows] == ["-1"] * len(FORMULAS) + ["2"]  # numbers stay numbers
    sheet = load_workbook(io.BytesIO(tables.to_xlsx(table, "en"))).active
    assert sheet is not None
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    # The text unchanged (but for XML's line ends: a stored \r reads back as \n).
    unchanged = [f.replace("\r", "\n") for f in FORMULAS]
    assert [c.value for c in cells] == [*unchanged, "5号楼 302室"]
    assert all(c.data_type == "s" for c in cells)  # no formula cell
    assert all(c.quotePrefix for c in cells[: len(FORMULAS)])
    assert [row[1].value for row in sheet.iter_rows(min_row=2)] == [-1] * len(FORMULAS) + [2]
