"""The poster's pure parts: rank moves, and which pasted links it takes. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from dashboards.poster import AmbiguousGroup, choose_group, link_error, link_token, ranking

TOKEN = "A" * 32


def unit(name: str, rate: float | None) -> dict[str, Any]:
    return {"building": name, "participation_rate": rate, "wet_share": 0.3}


def test_rank_moves_against_the_previous_period() -> None:
    now = [unit("1", 0.5), unit("2", 0.9), unit("3", 0.7), unit("4", None), unit("5", 0.6)]
    # Before: 1 first, 3 second, 2 third; 4 had no figure and 5 was not there.
    before = [unit("1", 0.9), unit("2", 0.5), unit("3", 0.8), unit("4", None)]
    got = ranking(now, before, ("building",))
    assert [(r["key"], r["rank"], r["moved"]) for r in got] == [
        (("2",), 1, 2),  # third → first
        (("3",), 2, 0),
        (("5",), 3, None),  # new
        (("1",), 4, -3),  # first → fourth
        (("4",), 5, None),  # no figure: last, no move
    ]


def test_groups_are_ranked_by_building_and_group() -> None:
    """Two buildings may both have a group "1单元": they are two rows, each with its move."""
    now = [
        {**unit("1", 0.9), "building_group": "1单元"},
        {**unit("2", 0.8), "building_group": "1单元"},
    ]
    before = [
        {**unit("1", 0.7), "building_group": "1单元"},
        {**unit("2", 0.8), "building_group": "1单元"},
    ]
    got = ranking(now, before, ("building", "building_group"))
    assert [(r["key"], r["moved"]) for r in got] == [(("1", "1单元"), 1), (("2", "1单元"), -1)]


def test_a_group_id_in_several_buildings_needs_its_building() -> None:
    buildings = [
        {"building": "1", "groups": [{"building_group": "1单元"}, {"building_group": "2单元"}]},
        {"building": "2", "groups": [{"building_group": "1单元"}]},
    ]
    assert choose_group(buildings, "2单元", None) == ("1", "2单元")
    assert choose_group(buildings, "1单元", "2") == ("2", "1单元")
    assert choose_group(buildings, "2单元", "2") is None
    assert choose_group(buildings, "9", None) is None
    with pytest.raises(AmbiguousGroup) as several:
        choose_group(buildings, "1单元", None)
    assert several.value.buildings == ["1", "2"]


def test_only_a_public_board_link_is_taken() -> None:
    good = f"https://fenlei.example/dashboards/public/{TOKEN}"
    assert link_error(good) is None and link_error(f"  {good} ") is None
    assert link_token(f" {good} ") == TOKEN
    for bad in (
        "",
        "=1+2",
        f"/dashboards/public/{TOKEN}",  # no host
        f"javascript://x/dashboards/public/{TOKEN}",
        f"https://fenlei.example/dashboards/estates/{TOKEN}",
        f"https://fenlei.example/dashboards/public/{TOKEN}x",
        "https://fenlei.example/dashboards/public/short",
    ):
        assert link_error(bad) == "poster.link_bad", bad
