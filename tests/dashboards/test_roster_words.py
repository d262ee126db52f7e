"""Suggestions of the roster said in words (dashboards/roster_words.py): whole sentences
in zh-CN and English from the numbers of api.roster.service.watch_coverage."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from dashboards import i18n, roster_words


def busy(**extra: Any) -> dict[str, Any]:
    """The suggestion the volunteer page shows as 'r1 · weekday 16:30–20:00: 513.5 / 1.0 → 9'."""
    s: dict[str, Any] = {
        "room": "r1",
        "room_name": "1号投放点",
        "day_type": "weekday",
        "start": time(16, 30),
        "end": time(20),
        "avg_drops": 513.5,
        "avg_volunteers": 1.0,
        "drops_per_volunteer": 513.5,
        "suggested_volunteers": 9,
    }
    return {**s, **extra}


def test_the_issue_s_example_in_chinese() -> None:
    assert roster_words.suggestion("zh", busy()) == (
        "1号投放点 · 工作日 16:30–20:00：平均每次 514 次投放，现有 1 名志愿者值守，建议安排 9 名。"
    )


def test_the_same_in_english() -> None:
    assert roster_words.suggestion("en", busy()) == (
        "1号投放点 · weekdays 16:30–20:00: 514 drops per watch on average, "
        "1 volunteer on duty; suggest 9 volunteers."
    )


def test_a_room_without_a_name_goes_by_its_id_and_weekends_are_named() -> None:
    text = roster_words.suggestion("zh", busy(room_name=None, day_type="weekend"))
    assert text.startswith("r1 · 周末 16:30–20:00：")


def test_several_volunteers_say_drops_each() -> None:
    s = busy(
        avg_drops=1234.4, avg_volunteers=2.0, drops_per_volunteer=617.2, suggested_volunteers=21
    )
    assert roster_words.suggestion("zh", s) == (
        "1号投放点 · 工作日 16:30–20:00：平均每次 1,234 次投放，现有 2 名志愿者值守"
        "（每人约 617 次），建议安排 21 名。"
    )
    assert "2 volunteers on duty (about 617 each); suggest 21 volunteers." in (
        roster_words.suggestion("en", s)
    )


def test_an_average_of_volunteers_and_nobody_on_duty() -> None:
    half = busy(avg_volunteers=1.5, drops_per_volunteer=342.3)
    assert "平均每次有 1.5 名志愿者值守（每人约 342 次）" in roster_words.suggestion("zh", half)
    assert "1.5 volunteers on duty on average" in roster_words.suggestion("en", half)
    nobody = busy(avg_volunteers=0.0, drops_per_volunteer=None, suggested_volunteers=1)
    assert "目前无人值守，建议安排 1 名。" in roster_words.suggestion("zh", nobody)
    assert roster_words.suggestion("en", nobody).endswith(
        "nobody on duty yet; suggest 1 volunteer."
    )


def test_a_watch_past_midnight_reads_as_its_clock_times() -> None:
    assert "22:00–01:00" in roster_words.suggestion("zh", busy(start=time(22), end=time(1)))


@pytest.mark.parametrize(
    ("value", "shown"), [(513.5, 514), (512.5, 513), (0.4, 0), (59.99, 60), (1e6 + 0.5, 1_000_001)]
)
def test_drops_round_half_up(value: float, shown: int) -> None:
    assert roster_words.whole(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(1.0, "1"), (2.0, "2"), (1.5, "1.5"), (1.25, "1.3")])
def test_people_are_whole_when_they_are(value: float, shown: str) -> None:
    assert roster_words.people(value) == shown


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_word_the_sentences_use_exists(locale: i18n.Locale) -> None:
    for kind in ("weekday", "weekend"):
        assert roster_words.day_type(locale, kind)
    for v in (0.0, 1.0, 3.0, 2.5):
        for want in (1, 4):
            text = roster_words.suggestion(
                locale, busy(avg_volunteers=v, suggested_volunteers=want)
            )
            assert "{" not in text and "}" not in text
