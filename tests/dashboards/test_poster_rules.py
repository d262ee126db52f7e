"""The poster's parts without a database: rank moves, which group and which pasted links
it takes, and how much fits its page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pypdfium2 as pdfium
import pytest

from dashboards.disclosure import Board, Rules
from dashboards.period import Period
from dashboards.poster import (
    AmbiguousGroup,
    Link,
    Poster,
    choose_group,
    document,
    link_error,
    link_token,
    ranking,
)
from dashboards.poster_pdf import render

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


def test_an_estate_of_20_buildings_and_15_groups_of_stars_fits_one_a4_page() -> None:
    """The stated size (README): 20 buildings ranked and 3 star families in each of 15
    building groups still print on one page; the PDF is rendered (no database)."""
    month = Period(date(2026, 3, 1), date(2026, 3, 31))
    ranked = [
        {"rank": i, "key": (f"{i}号楼",), "participation_rate": 0.9, "wet_share": 0.3, "moved": -2}
        for i in range(1, 21)
    ]
    stars = [
        {
            "building": f"{n // 6}号楼",
            "building_group": f"{n // 3 % 2 + 1}单元",
            "household": "12号楼 301室" if n % 2 else "ABCDEF",
            "active_days": 31,
        }
        for n in range(45)
    ]
    figures: dict[str, float | None] = {
        "coverage": 0.8,
        "participation_rate": 0.9,
        "wet_share": 0.3,
    }
    poster = Poster(
        {"id": "x", "name": "蒋家桥", "timezone": "Asia/Shanghai"},
        month,
        month.previous(),
        None,
        figures,
        figures,
        {"coverage": 0.95, "participation_rate": 0.8, "wet_share": 0.35},
        ranked,
        Board([], stars, 2, True),
        Rules(b"k", 5, 3, 7),
        True,
        Link(datetime(2026, 3, 1, tzinfo=UTC)),
        [],
    )
    pdf = pdfium.PdfDocument(render(document("zh", poster)))
    assert len(pdf) == 1
    text = pdf[0].get_textpage().get_text_range()
    assert "20号楼" in text and "公开链接已于" in text  # the last rank and the foot
