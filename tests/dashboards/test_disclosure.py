"""Pseudonyms and the disclosure board's privacy rules. Pure."""

from __future__ import annotations

from typing import Any

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
