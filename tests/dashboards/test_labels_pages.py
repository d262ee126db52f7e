"""The zh pages and exports carry no English label and no raw code: alarms, rejection
reasons and yes/no are words of the catalogue, sheets have Chinese names.

Checked on the real pages over the seeded data (its alarm `overflow`, its rejections
`bad_json` and `unknown_bin`: tests/dashboards/dataset.py), against the codes the
ingester defines (`ingest.contract`) and the catalogue's zh values.
"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from dashboards import i18n
from ingest.contract import ALARMS, Reason
from tests.dashboards.conftest import Site
from tests.dashboards.dataset import ESTATES
from tests.dashboards.fix_board import csrf_of, signed_in
from tests.dashboards.test_disclosure_public import make_link
from tests.dashboards.test_responsive_pages import make_volunteer

pytestmark = pytest.mark.integration
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
CODES = {*ALARMS, *(r.value for r in Reason), "True", "False"}
# Latin words a zh page may show: data (ids of estates, rooms, bins, households' codes),
# the product's name, the zone of the footer, file formats, the language switch.
ALLOWED = re.compile(
    r"^(fenlei|CSV|Excel|English|JSON|UTF|Asia|Shanghai|UTC|YYYY|MM|PNG|jjq|oyl|nod|r\d|b|"
    r"dry|wet|recyclable|hazardous|construction|[A-Z0-9]{2,})$"
)


class _Text(HTMLParser):
    """What a reader sees: text outside <script> and <style>, and input values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        a = dict(attrs)
        if a.get("aria-label"):
            self.parts.append(str(a["aria-label"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def seen(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


# Households' display names are data (one is a spreadsheet formula with a URL).
NAMES = sorted({h.display_name for e in ESTATES for h in e.households if h.display_name}, key=len)[
    ::-1
]


def english_words(text: str) -> set[str]:
    for name in NAMES:
        text = text.replace(name, " ")
    words = set(re.findall(r"[A-Za-z][A-Za-z_]+", text))
    return {w for w in words if not ALLOWED.match(w) and not w.startswith("b-")}


PAGES = [
    ("/dashboards/estates/jjq", MARCH),
    ("/dashboards/district", MARCH),
    ("/dashboards/estates/jjq/disclosure", MARCH),
]


def test_zh_pages_show_no_raw_code_and_no_english(site: Site) -> None:
    with signed_in(site, site.jjq_admin) as client:
        for path, params in PAGES:
            r = client.get(path, params={**params, "lang": "zh"})
            assert r.status_code == 200, path
            text = seen(r.text)
            assert not {c for c in CODES if re.search(rf"\b{c}\b", text)}, path
            assert english_words(text) == set(), path
        overview = seen(client.get("/dashboards/estates/jjq", params=MARCH).text)
        public = httpx.get(make_link(client), params={"month": "2026-03", "lang": "zh"})
    assert public.status_code == 200
    assert english_words(seen(public.text)) == set()
    for word in ("alarm.overflow", "reason.bad_json", "reason.unknown_bin"):
        assert i18n.t("zh", word) in overview, word
    signin = seen(httpx.get(f"{site.base}/dashboards/signin").text)
    assert english_words(signin) == set()


@pytest.fixture(scope="module")
def volunteer(site: Site) -> dict[str, Any]:
    return make_volunteer(site)


def test_zh_volunteer_pages_show_no_english(site: Site, volunteer: dict[str, Any]) -> None:
    with httpx.Client(base_url=site.base) as client:
        login = client.get("/volunteer/login")
        assert english_words(seen(login.text)) == set()
        r = client.post(
            "/volunteer/login", data={"token": volunteer["token"], "csrf": csrf_of(login.text)}
        )
        assert r.status_code == 303
        for path in ("/volunteer", "/volunteer/inspect/1", "/volunteer/roster"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert english_words(seen(page.text)) == set(), path
        refused = client.post(
            "/volunteer/inspect/1",
            data={"wet_checked": "1", "wet_mis_sorted": "2", "csrf": csrf_of(page.text)},
        )
        assert refused.status_code == 422
        assert english_words(seen(refused.text)) == set()


@pytest.mark.parametrize("table", ["bins", "rejected"])
def test_zh_exports_carry_words_and_chinese_sheet_names(site: Site, table: str) -> None:
    with signed_in(site, site.viewer) as client:
        path = f"/dashboards/estates/jjq/export/{table}"
        r = client.get(path, params={**MARCH, "format": "csv", "lang": "zh"})
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        x = client.get(path, params={**MARCH, "format": "xlsx", "lang": "zh"})
    cells = {v for row in rows for v in row.values()}
    assert not cells & CODES
    if table == "bins":
        assert {row["在线"] for row in rows} == {"是", "否"}  # one bin of the data is offline
        assert i18n.t("zh", "alarm.overflow") in {row["最近告警"] for row in rows}
    else:
        reasons = {row["原因"] for row in rows}
        assert reasons == {i18n.t("zh", "reason.bad_json"), i18n.t("zh", "reason.unknown_bin")}
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None
    assert sheet.title == i18n.t("zh", f"table.{table}")
    xcells = {c.value for row in sheet.iter_rows() for c in row}
    assert not xcells & CODES and not [v for v in xcells if isinstance(v, bool)]
