"""Bad dates in the query are told, not silently fixed (dashboards/period.py), and day axes
carry the year when a period spans years (dashboards/charts.py). Pure.

The same over HTTP, with the date inputs' min/max: tests/dashboards/test_overview_pages.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from api.periods import FIRST_DAY, PeriodRules
from dashboards import charts, i18n
from dashboards.period import Period, resolve_checked

TODAY = date(2026, 12, 1)
RULES = PeriodRules()


def check(start: str | None, end: str | None) -> tuple[Period, list[str]]:
    got = resolve_checked(start, end, rules=RULES, now=TODAY)
    return got.period, [n.key for n in got.notices]


def said(start: str | None, end: str | None, locale: i18n.Locale = "zh") -> list[str]:
    got = resolve_checked(start, end, rules=RULES, now=TODAY)
    return [i18n.t(locale, n.key, **n.values) for n in got.notices]


def test_a_good_period_is_kept_and_says_nothing() -> None:
    assert check("2026-03-01", "2026-03-31") == (Period(date(2026, 3, 1), date(2026, 3, 31)), [])
    assert check(None, None) == (Period(TODAY - timedelta(days=29), TODAY), [])
    assert check("", "2026-03-31") == (Period(date(2026, 3, 2), date(2026, 3, 31)), [])


def test_reversed_days_are_swapped_and_said() -> None:
    period, keys = check("2026-03-31", "2026-03-01")
    assert period == Period(date(2026, 3, 1), date(2026, 3, 31))
    assert keys == ["date.swapped"]
    assert said("2026-03-31", "2026-03-01") == ["起止日期颠倒，已交换：2026-03-01 至 2026-03-31。"]
    assert "reversed and have been swapped" in said("2026-03-31", "2026-03-01", "en")[0]


def test_an_unreadable_date_is_named_and_the_default_said() -> None:
    period, keys = check("abc", "2026-03-31")
    assert period == Period(date(2026, 3, 2), date(2026, 3, 31))
    assert keys == ["date.unreadable_from"]
    assert said("abc", "2026-03-31") == ["起始日期“abc”无法识别，已使用截止日期前的30天。"]
    period, keys = check("2026-03-01", "31/03/2026")
    assert period == Period(date(2026, 3, 1), TODAY) and keys == ["date.unreadable_to"]
    assert "“31/03/2026”" in said("2026-03-01", "31/03/2026", "en")[0]
    # A long value is cut in the notice, not quoted whole.
    assert len(said("x" * 5000, None)[0]) < 100


def test_a_period_too_long_is_cut_and_said() -> None:
    """2000-01-01 to 2026-03-31 is 9,587 days; the API serves 3,660: the last ones."""
    period, keys = check("2000-01-01", "2026-03-31")
    assert period.end == date(2026, 3, 31) and period.days == RULES.max_days
    assert period.start == date(2016, 3, 24)
    assert keys == ["date.too_long"]
    assert said("2000-01-01", "2026-03-31") == [
        "统计期间最长 3,660 天，已截为自 2016-03-24 起的最后 3,660 天。"
    ]


def test_days_outside_the_served_ones_are_moved_and_said() -> None:
    period, keys = check("1980-01-01", "1985-06-30")
    assert period == Period(FIRST_DAY, FIRST_DAY) and keys == [
        "date.too_early_to",
        "date.too_early_from",
    ]
    last = RULES.last_day(TODAY)
    period, keys = check("2026-11-01", "2400-01-01")
    assert period == Period(date(2026, 11, 1), last) and keys == ["date.too_late_to"]
    assert said("2026-11-01", "2400-01-01") == [
        f"截止日期 2400-01-01 晚于可查询的最晚日期，已改为 {last}。"
    ]


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_notice_has_its_label(locale: i18n.Locale) -> None:
    cases = [
        ("abc", "xyz"),
        ("2026-03-31", "2026-03-01"),
        ("2000-01-01", "2026-03-31"),
        ("1980-01-01", "1985-01-01"),
        ("2400-01-01", "2400-02-01"),
    ]
    keys = set()
    for start, end in cases:
        for n in resolve_checked(start, end, rules=RULES, now=TODAY).notices:
            keys.add(n.key)
            text = i18n.t(locale, n.key, **n.values)
            assert "{" not in text, text
    assert keys >= {
        "date.unreadable_from",
        "date.unreadable_to",
        "date.swapped",
        "date.too_long",
        "date.too_early_from",
        "date.too_early_to",
        "date.too_late_from",
        "date.too_late_to",
    }


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_day_axes_carry_the_year_across_a_year_boundary(locale: i18n.Locale) -> None:
    across = _days(date(2025, 12, 20), date(2026, 1, 10))
    within = _days(date(2026, 3, 1), date(2026, 3, 31))
    for days, year in ((across, True), (within, False)):
        figures = [
            charts.share_line(locale, days, [0.5] * len(days), "x", 0.8),
            charts.stacked_kg(locale, days, {"wet": [1.0] * len(days)}),
            charts.stacked_kg(locale, _days(days[0], days[0] + timedelta(days=100)), {"wet": []}),
            charts.counts_by_reason(locale, [], days),
        ]
        for f in figures[:2] + figures[3:]:
            assert ("%Y" in f["layout"]["xaxis"]["tickformat"]) is year, f["layout"]["xaxis"]
    # The year is where a reader expects it: 2025年12月20日 / Dec 20, 2025.
    assert charts.tick_format("zh", across) == "%Y年%-m月%-d日"
    assert charts.tick_format("en", across) == "%b %-d, %Y"
    # A long period starting in one year and ending the next (areas, not bars).
    long = _days(date(2025, 11, 1), date(2026, 2, 28))
    area = charts.stacked_kg(locale, long, {"wet": [1.0] * len(long)})
    assert area["data"][0]["type"] == "scatter" and "%Y" in area["layout"]["xaxis"]["tickformat"]
