"""Long tables fold (`tables.to_html(fold_after=…)`): every row still in the page, inside
a closed <details> whose summary says how many, only past the limit."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from dashboards import i18n, tables

COLUMNS = [tables.Column("day", "col.day", "date"), tables.Column("drops", "col.drops", "int")]


def _table(n: int) -> tables.Table:
    first = date(2025, 1, 1)
    rows = [{"day": first + timedelta(days=i), "drops": i * 7} for i in range(n)]
    return tables.Table("daily", "Days", COLUMNS, rows)


def _body_rows(html: str) -> list[str]:
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return re.findall(r'<tr><td data-sort="(\d{4}-\d\d-\d\d)"', body)


@pytest.mark.parametrize(("n", "folded"), [(0, False), (31, False), (32, True), (365, True)])
def test_rows_fold_past_the_limit_and_all_stay(n: int, folded: bool) -> None:
    html = tables.to_html(_table(n), "en", "/x/export", fold_after=31)
    days = [(date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(n)]
    assert _body_rows(html) == days  # every row, in order, folded or not
    assert ('<details class="rows">' in html) is folded
    if folded:
        summary = re.search(r"<summary>(.*?)</summary>", html)
        assert summary is not None
        assert summary[1] == f"Show all {n:,} rows"
        # The title and export links stay outside the fold, usable while it is closed.
        assert html.index('class="export"') < html.index("<details")


def test_no_limit_never_folds() -> None:
    assert "<details" not in tables.to_html(_table(400), "zh")


def test_the_summary_is_in_both_languages() -> None:
    zh = tables.to_html(_table(40), "zh", fold_after=31)
    assert "<summary>展开全部 40 行</summary>" in zh
    assert i18n.t("zh", "table.show_rows", n="40") == "展开全部 40 行"
