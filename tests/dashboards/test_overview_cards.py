"""The accuracy card against its target (FENLEI_TARGET_ACCURACY) and the stale-minutes
setting. Pure: a card rendered from figures given here."""

from __future__ import annotations

import re
from datetime import date

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from dashboards import layout, overview
from dashboards.period import Period
from dashboards.settings import DashboardSettings


def _ctx() -> layout.Context:
    request = Request({"type": "http", "path": "/", "headers": [], "query_string": b""})
    return layout.Context(
        request, "zh", Period(date(2026, 3, 1), date(2026, 3, 31)), "jjq", "Asia/Shanghai"
    )


def _data(accuracy: float | None, before: float | None) -> overview.Overview:
    acc = {"accuracy": accuracy, "inspected": 200 if accuracy is not None else 0, "inspections": 7}
    return overview.Overview({}, {}, [], [], [], [], False, acc, {"accuracy": before}, [])


CARD = re.compile(r'<div class="acc-card ([a-z]*)" data-figure="accuracy" data-value="([^"]*)">')


@pytest.mark.parametrize(
    ("value", "target", "state", "aim"),
    [
        (0.93, 0.9, "met", "目标 ≥ 90%"),
        (0.85, 0.9, "missed", "目标 ≥ 90%"),
        (0.85, None, "", "目标 未设目标"),
        (None, 0.9, "", "目标 ≥ 90%"),
    ],
)
def test_the_accuracy_card_is_judged_only_against_a_set_target(
    value: float | None, target: float | None, state: str, aim: str
) -> None:
    html = overview._accuracy_card(_ctx(), _data(value, 0.8), target)
    found = CARD.search(html)
    assert found is not None, html
    assert found[1] == state
    assert found[2] == ("" if value is None else repr(value))
    assert aim in html
    if value is None:
        assert "暂无数据" in html and 'id="accuracy-none"' in html
    else:
        assert "抽查 200 件 · 7 次检查" in html
        assert f"{(value - 0.8) * 100:+.2f} 个百分点" in html
    assert 'href="/dashboards/estates/jjq/accuracy?from=2026-03-01&amp;to=2026-03-31"' in html


def test_the_settings_of_the_card_and_the_badge(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DashboardSettings().stale_minutes == 30
    assert DashboardSettings().target_accuracy is None
    monkeypatch.setenv("FENLEI_TARGET_ACCURACY", "")  # compose's unset variable
    assert DashboardSettings().target_accuracy is None
    monkeypatch.setenv("FENLEI_TARGET_ACCURACY", "0.9")
    monkeypatch.setenv("FENLEI_STALE_MINUTES", "45")
    assert DashboardSettings().target_accuracy == 0.9
    assert DashboardSettings().stale_minutes == 45
    with pytest.raises(ValidationError):
        DashboardSettings(stale_minutes=0)
    with pytest.raises(ValidationError):
        DashboardSettings(target_accuracy=1.5)
