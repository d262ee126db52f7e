"""Per-period codes, the disclosure board's privacy rules, formula-safe exports. Pure."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
from datetime import date, timedelta
from typing import Any

from openpyxl import load_workbook

from dashboards import tables
from dashboards.disclosure import Rules, board, public_month
from dashboards.period import Period
from dashboards.pseudonym import CODE_CHARS, pseudonym

RULES = Rules(key=b"s", min_group=5, stars=2, min_period_days=7)
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


def spec_code(key: bytes, estate: str, period: Period, household: str) -> str:
    """docs/privacy.md's definition, written out: base32(HMAC-SHA256(key,
    "estate/from/to/household")), first 6 characters."""
    message = f"{estate}/{period.start}/{period.end}/{household}".encode()
    return base64.b32encode(hmac.new(key, message, hashlib.sha256).digest()).decode()[:6]


def code(period: Period, household: str, estate: str = "jjq", key: bytes = b"s") -> str:
    return pseudonym(key, estate, period.start, period.end, household)


def test_codes_are_the_documented_hmac_secret_and_distinct() -> None:
    c = code(MARCH, "JJQ-0001", key=b"k")
    assert c == spec_code(b"k", "jjq", MARCH, "JJQ-0001") == code(MARCH, "JJQ-0001", key=b"k")
    assert len(c) == CODE_CHARS and c.isalnum() and "0001" not in c
    assert c != code(MARCH, "JJQ-0001", key=b"other")
    assert c != code(MARCH, "JJQ-0001", estate="oyl", key=b"k")
    codes = {code(MARCH, f"JJQ-{n:04d}", key=b"k") for n in range(5_000)}
    assert len(codes) == 5_000


def test_codes_change_with_the_period() -> None:
    """Boards repeated day by day (a day each, or a week sliding by a day) never give a
    household the same code twice: they cannot be joined into its diary."""
    first = date(2026, 3, 1)
    days = [Period(first + timedelta(days=n), first + timedelta(days=n)) for n in range(60)]
    weeks = [Period(p.start, p.start + timedelta(days=6)) for p in days]
    for periods in (days, weeks):
        assert len({code(p, "JJQ-0001") for p in periods}) == len(periods)
    # Both ends count: the same start with another end is another board.
    assert code(MARCH, "JJQ-0001") != code(Period(MARCH.start, date(2026, 3, 30)), "JJQ-0001")


def group(name: str | None, enrolled: int, active: int) -> dict[str, Any]:
    return {
        "building_group": name,
        "households_enrolled": enrolled,
        "households_active": active,
        "participation_rate": active / enrolled if enrolled else None,
        "wet_share": 0.4,
    }


def active(rows: list[tuple[str | None, str, int]], building: str = "1") -> list[dict[str, Any]]:
    return [
        {"building": building, "building_group": g, "household": h, "active_days": d, "drops": d}
        for g, h, d in rows
    ]


def test_small_groups_and_their_families_are_hidden() -> None:
    buildings = [
        {"building": "1", "groups": [group("1-1", 10, 9), group("1-2", 3, 3), group(None, 6, 6)]}
    ]
    activity = active(
        [("1-1", "a", 20), ("1-1", "b", 25), ("1-1", "c", 5), ("1-2", "small", 30), (None, "x", 1)]
    )
    found = board("jjq", MARCH, buildings, activity, RULES, "(none)")
    assert found.hidden == 1
    assert [(g["rank"], g["building_group"]) for g in found.groups] == [(1, "(none)"), (2, "1-1")]
    assert [s["household"] for s in found.stars] == [code(MARCH, h) for h in ("x", "b", "a")]
    shown = repr(found.groups) + repr(found.stars)
    assert "small" not in shown and "'a'" not in shown and "'b'" not in shown


def test_the_minimum_group_counts_the_households_that_took_part() -> None:
    """5 enrolled but 2 took part: hidden under a minimum of 3, star families too;
    5 enrolled and 3 took part: shown."""
    rules = Rules(key=b"s", min_group=3, stars=3, min_period_days=7)
    buildings = [{"building": "1", "groups": [group("1-1", 5, 2), group("1-2", 5, 3)]}]
    activity = active(
        [("1-1", "a", 9), ("1-1", "b", 8), ("1-2", "c", 7), ("1-2", "d", 6), ("1-2", "e", 5)]
    )
    found = board("jjq", MARCH, buildings, activity, rules, "(none)")
    assert [g["building_group"] for g in found.groups] == ["1-2"]
    assert found.hidden == 1
    assert [s["household"] for s in found.stars] == [code(MARCH, h) for h in "cde"]
    assert not {code(MARCH, "a"), code(MARCH, "b")} & {s["household"] for s in found.stars}


def test_a_period_shorter_than_the_minimum_lists_no_household() -> None:
    buildings = [{"building": "1", "groups": [group("1-1", 10, 9)]}]
    activity = [
        {**a, "display_name": "1号楼 101室", "publish_consent": True}
        for a in active([("1-1", "a", 3), ("1-1", "b", 2)])
    ]
    for days, listed in ((1, False), (3, False), (6, False), (7, True), (31, True)):
        period = Period(MARCH.start, MARCH.start + timedelta(days=days - 1))
        found = board("jjq", period, buildings, activity, RULES, "(none)")
        assert found.lists_households is listed, days
        assert bool(found.stars) is listed, days  # not even names given with consent
        assert [g["building_group"] for g in found.groups] == ["1-1"], days  # the groups stay
    longer = Rules(key=b"s", min_group=5, stars=2, min_period_days=31)
    assert board("jjq", MARCH, buildings, activity, longer, "-").stars != []
    february = Period(date(2026, 2, 1), date(2026, 2, 28))
    assert board("jjq", february, buildings, activity, longer, "-").stars == []


def test_star_families_are_named_only_with_their_consent() -> None:
    buildings = [{"building": "1", "groups": [group("1-1", 10, 5)]}]
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
    rules = Rules(key=b"s", min_group=5, stars=4, min_period_days=7)
    found = board("jjq", MARCH, buildings, activity, rules, "(none)")
    assert [s["household"] for s in found.stars] == [
        "1号楼 101室",
        code(MARCH, "b"),
        code(MARCH, "c"),
        "<b>=1+1</b>",
    ]
    assert "1号楼 102室" not in repr(found.stars)


def test_the_public_link_shows_whole_months_that_have_ended() -> None:
    today = date(2026, 4, 10)
    assert public_month(None, today) == MARCH  # the latest ended month
    assert public_month("2026-02", today) == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert public_month("2024-02", today) == Period(date(2024, 2, 1), date(2024, 2, 29))
    assert public_month("2025-12", date(2026, 1, 1)) == Period(
        date(2025, 12, 1), date(2025, 12, 31)
    )
    # Not ended (this month, later ones), too old, or not a month: refused.
    for value in (
        "2026-04",
        "2026-05",
        "2016-03",
        "0001-01",
        "0000-01",
        "2026-13",
        "2026-00",
        "2026-3",
        "x",
    ):
        assert public_month(value, today) is None, value
    assert public_month("2016-04", today) is not None  # 120 months back, the oldest shown


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
