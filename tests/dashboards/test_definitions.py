"""Definitions (口径): docs/definitions.md, the project's own, and the dashboards' labels
(`def.*`, shown beside each figure and on /dashboards/definitions) name the same figures,
each in both languages. Pure. The pages themselves: tests/dashboards/test_overview_pages.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards import definitions, i18n
from dashboards.overview import FIGURES

DOC = Path(__file__).resolve().parents[2] / "docs" / "definitions.md"
# Each entry of the page: the name docs/definitions.md gives it in bold (English).
TERMS = {
    "coverage": "coverage",
    "participation_rate": "participation rate",
    "daily_participation": "daily participation rate",
    "wet_share": "wet-waste share",
    "in_window_share": "in-window share",
    "accuracy": "sorting accuracy",
    "kg": "kg per category",
    "buildings": "per building",
    "change": "change",
    "stale": "stale data",
}
# The Chinese name of each, as the cards and charts say it: the document gives it too.
ZH_NAMES = {
    "coverage": "覆盖率",
    "participation_rate": "参与率",
    "daily_participation": "每日参与率",
    "wet_share": "湿垃圾占比",
    "in_window_share": "定时定点投放占比",
    "accuracy": "分类准确率",
    "kg": "各类重量",
    "change": "较上期",
    "stale": "数据未更新提示",
}


def _bold(text: str) -> set[str]:
    return {b.lower() for b in re.findall(r"\*\*([^*]+)\*\*", text)}


def test_every_figure_on_the_cards_has_a_definition() -> None:
    anchors = {a for a, _, _ in definitions.ENTRIES}
    assert set(FIGURES) | {"accuracy", "daily_participation"} <= anchors


@pytest.mark.parametrize("anchor", sorted(TERMS))
def test_the_document_and_the_labels_name_the_same_figure(anchor: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    term = TERMS[anchor]
    assert any(term in b for b in _bold(doc)), f"docs/definitions.md defines no **{term}**"
    english = definitions.text("en", anchor).lower()
    if anchor not in ("buildings", "stale"):  # worded as a sentence there
        assert term in english, (term, english)
    if anchor in ZH_NAMES:
        zh = ZH_NAMES[anchor]
        assert zh in doc, f"docs/definitions.md does not give {zh}"
        assert zh in definitions.text("zh", anchor) or zh == i18n.t("zh", _name(anchor))


def _name(anchor: str) -> str:
    return next(n for a, n, _ in definitions.ENTRIES if a == anchor)


def test_the_two_participation_rates_are_told_apart_in_both_languages() -> None:
    """The 93 % card and the 66-72 % daily chart under one target line: each says how."""
    period_zh, daily_zh = (
        definitions.text("zh", "participation_rate"),
        definitions.text("zh", "daily_participation"),
    )
    assert "期末日已入户" in period_zh and "至少有一次" in period_zh and "每日参与率" in period_zh
    assert "当天" in daily_zh and "不是上方的期间参与率" in daily_zh
    period_en = definitions.text("en", "participation_rate")
    assert "at least one identified drop in the period" in period_en
    assert "not comparable" in period_en
    assert "day by day" in definitions.text("en", "daily_participation")


def test_the_stale_definition_names_the_setting_s_minutes() -> None:
    assert "45 分钟" in definitions.text("zh", "stale", 45)
    assert "45 minutes" in definitions.text("en", "stale", 45)
    doc = DOC.read_text(encoding="utf-8")
    assert "FENLEI_STALE_MINUTES" in doc and "数据已 N 分钟未更新" in doc


def test_the_page_needs_no_file_outside_the_package() -> None:
    """An installed (non-editable) fenlei has no docs/: the page is made from labels."""
    source = Path(definitions.__file__).read_text(encoding="utf-8")
    assert "open(" not in source and "read_text" not in source and '.md"' not in source
