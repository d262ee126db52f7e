"""A refused volunteer form says why in the page's language, naming the field, and keeps
every value typed; a one-tap action the service refuses says why in words too.

Checked against the inputs the test typed and the labels of the catalogues (never the
page's own code), and against the database: a refused inspection stores nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest

from dashboards import i18n
from tests.dashboards.test_security_sessions import World, form, make_world, submit, vol_sign_in
from tests.fix_data import scalar

pytestmark = pytest.mark.integration

# English of the schema and services: never on a page.
ENGLISH = ("mis_sorted exceeds", "Value error", "check the numbers", "re_sorted exceeds")


class _Inputs(HTMLParser):
    """The values of a page's form fields, and which are marked invalid."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.invalid: set[str] = set()
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag in ("input", "textarea") and name and name != "csrf":
            self.values[name] = a.get("value", "")
            if a.get("aria-invalid") == "true":
                self.invalid.add(name)
            if tag == "textarea":
                self._textarea = name

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def inputs(html: str) -> _Inputs:
    parser = _Inputs()
    parser.feed(html)
    return parser


@pytest.fixture
def world(db_url: str) -> Any:
    yield from make_world(db_url)


def _inspect_form(world: World, lang: str = "zh") -> Any:
    c = world.client
    vol_sign_in(c, world.volunteer["token"])
    page = c.get(f"/volunteer/inspect/{world.assignment}", params={"lang": lang})
    assert page.status_code == 200
    return form(page.text, f"/inspect/{world.assignment}")


def _inspections(world: World) -> int:
    return int(str(scalar(world.db_url, "SELECT count(*) FROM inspections")))


TYPED = {
    "wet_checked": "1",
    "wet_mis_sorted": "5",  # more mis-sorted than checked: refused
    "wet_re_sorted": "0",
    "dry_checked": "25",
    "dry_mis_sorted": "2",
    "dry_re_sorted": "1",
    "recyclable_checked": "7",
    "building": "12号楼",
    "notes": "外卖盒混入湿垃圾 <b>&</b>",
    "photo_ref": "oss://photos/9.jpg",
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refused_inspection_says_why_and_keeps_every_value(world: World, lang: str) -> None:
    f = _inspect_form(world, lang)
    r = submit(world.client, f, None, **TYPED)
    assert r.status_code == 422, r.text
    text = unescape(r.text)
    locale = i18n.parse_locale(lang)
    wet = i18n.t(locale, "cat.wet")  # the field: the wet line
    assert i18n.t(locale, "form.mis_over_checked", field=wet) in text
    assert i18n.t(locale, "form.invalid") in text
    assert not [e for e in ENGLISH if e in text]
    if lang == "zh":
        assert "湿垃圾：错投数不能多于检查数" in text  # the sentence the committee asked for
    page = inputs(r.text)
    for name, value in TYPED.items():
        assert page.values[name] == value, name
    # Categories left empty stay at 0; the refused line's inputs are marked.
    assert page.values["hazardous_checked"] == "0"
    assert {"wet_checked", "wet_mis_sorted"} <= page.invalid
    assert not {n for n in page.invalid if n.startswith("dry_")}
    assert _inspections(world) == 0
    # The same form, corrected, saves.
    fixed = {**TYPED, "wet_mis_sorted": "1"}
    saved = submit(world.client, form(r.text, f"/inspect/{world.assignment}"), None, **fixed)
    assert saved.status_code == 303
    assert _inspections(world) == 1


def test_a_number_out_of_range_names_its_field(world: World) -> None:
    f = _inspect_form(world)
    r = submit(world.client, f, wet_checked="100001", wet_mis_sorted="3", notes="x" * 2001)
    assert r.status_code == 422
    text = unescape(r.text)
    checked = f"{i18n.t('zh', 'cat.wet')} · 检查数"
    assert i18n.t("zh", "form.int_range", field=checked, min="0", max="100,000") in text
    assert i18n.t("zh", "form.too_long", field="备注", max="2,000") in text
    page = inputs(r.text)
    assert page.values["wet_checked"] == "100001" and page.values["notes"] == "x" * 2001
    assert {"wet_checked", "notes"} <= page.invalid
    nothing = submit(world.client, f)  # the form as it came: every count 0
    assert i18n.t("zh", "form.no_lines") in unescape(nothing.text)
    assert _inspections(world) == 0


def test_an_inspection_refused_by_the_service_keeps_the_values(world: World) -> None:
    f = _inspect_form(world)
    world.clock.now = datetime(2026, 4, 7, 4, tzinfo=UTC)  # the next day: too late (3 h)
    r = submit(world.client, f, wet_checked="4", building="7", notes="迟到")
    assert r.status_code == 409
    text = unescape(r.text)
    assert i18n.t("zh", "svc.inspection_window", hours="3") in text
    assert "inspections are recorded" not in text
    page = inputs(r.text)
    assert (page.values["wet_checked"], page.values["building"], page.values["notes"]) == (
        "4",
        "7",
        "迟到",
    )
    assert _inspections(world) == 0


def test_a_refused_check_in_says_why_in_chinese(world: World) -> None:
    c = world.client
    vol_sign_in(c, world.volunteer["token"])
    check_in = form(c.get("/volunteer").text, "/check-in")
    assert submit(c, check_in).status_code == 303
    again = submit(c, check_in)  # a second tap (the old page, or a double tap)
    assert again.status_code == 303
    home = c.get(again.headers["location"])
    assert i18n.t("zh", "svc.already_checked_in") in home.text
    assert "already checked in" not in home.text
    en = c.get(
        again.headers["location"].replace("?", "?lang=en&"),
    )
    assert en.status_code == 200


def test_the_volunteer_sign_in_says_whom_to_ask_and_refuses_in_words(world: World) -> None:
    c = world.client
    for lang in ("zh", "en"):
        page = c.get("/volunteer/login", params={"lang": lang})
        help_text = i18n.t(i18n.parse_locale(lang), "vsignin.help")
        assert help_text in page.text and "fenlei token" not in page.text
    assert "居委会" in i18n.t("zh", "vsignin.help") and "二维码" in i18n.t("zh", "vsignin.help")
    page = c.get("/volunteer/login", params={"lang": "zh"})
    r = submit(c, form(page.text, "/volunteer/login"), token="fl_nope")
    assert r.status_code == 401
    assert i18n.t("zh", "vsignin.bad") in r.text and "unknown token" not in r.text
    assert "fl_nope" not in r.text  # a token is never written back into the page
