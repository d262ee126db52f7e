"""Every label in both locales, every label the pages use exists, locale formatting."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import dashboards
from dashboards import i18n

SOURCE = Path(dashboards.__file__).parent


def test_both_locales_have_the_same_keys() -> None:
    assert set(i18n.ZH) == set(i18n.EN)


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_no_label_is_empty_or_untranslated(locale: i18n.Locale) -> None:
    catalogue = i18n.CATALOGUES[locale]
    assert all(v.strip() for v in catalogue.values())
    if locale == "zh":
        same = {k for k in i18n.ZH if i18n.ZH[k] == i18n.EN[k]}
        assert same == set(), "these zh labels are still English"


def test_placeholders_match() -> None:
    for key in i18n.ZH:
        assert set(re.findall(r"{\w+}", i18n.ZH[key])) == set(re.findall(r"{\w+}", i18n.EN[key]))


def test_every_label_key_used_in_the_code_exists() -> None:
    used: set[str] = set()
    for path in SOURCE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(
            re.findall(r"""\bt\(\s*(?:ctx\.locale|locale|"\w+")\s*,\s*"([\w.]+)"\)""", text)
        )
        used |= set(re.findall(r"""ctx\.t\("([\w.]+)"[,)]""", text))
        used |= set(re.findall(r'Column\([^)]*?"(col\.\w+)"', text))
    assert used, "the pattern found no label keys"
    assert used - set(i18n.ZH) == set()


def test_dynamic_keys_exist() -> None:
    from api.metrics.definitions import CATEGORIES
    from dashboards.overview import FIGURES

    for locale in i18n.LOCALES:
        for c in CATEGORIES:
            i18n.t(locale, f"cat.{c}")
            i18n.t(locale, f"col.kg_{c}")
        for f in FIGURES:
            i18n.t(locale, f"figure.{f}")
        for state in ("met", "missed"):
            i18n.t(locale, f"target.{state}")


def test_formatting() -> None:
    assert i18n.percent(0.9426) == "94.26%"
    assert i18n.percent(None) == "–"
    assert i18n.number(1234567.891, 1) == "1,234,567.9"
    assert i18n.day("zh", date(2019, 3, 23)) == "2019年3月23日"
    assert i18n.day("en", date(2019, 3, 23)) == "23 Mar 2019"
    assert i18n.moment("zh", datetime(2019, 9, 11, 7, 5, tzinfo=UTC)) == "2019年9月11日 07:05"
    assert i18n.points("zh", 0.012) == "+1.20 个百分点"
    assert i18n.points("en", -0.5) == "-50.00 pp"
    assert i18n.parse_locale("en-US") == "en"
    assert i18n.parse_locale(None) == i18n.parse_locale("fr") == "zh"
