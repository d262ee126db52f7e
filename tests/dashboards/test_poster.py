"""The printable poster: one A4 page with Chinese glyphs drawn, whose figures, ranking and
star families are the API's and the disclosure board's for the same period.

The PDF is read back with PDFium (pypdfium2): its pages and their size, a render to
pixels (against an empty page's), the font of its Chinese characters, and its text,
which is compared with the API's JSON (`/metrics`, `/buildings/metrics`) and with the
disclosure board's own export of its star families.
"""

from __future__ import annotations

import ctypes
import re
from datetime import date, timedelta
from html import unescape
from typing import Any

import httpx
import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp

from tests.dashboards.conftest import Site
from tests.dashboards.fix_board import board_csv, csrf_of, csv_rows, signed_in

pytestmark = pytest.mark.integration
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
POSTER = "/dashboards/estates/jjq/poster"
A4_PT = (595.28, 841.89)  # 210 × 297 mm in PDF points
FIGURES = {"coverage": "覆盖率", "participation_rate": "参与率", "wet_share": "湿垃圾占比"}
TARGETS = {"coverage": "95%", "participation_rate": "80%", "wet_share": "35%"}  # defaults
CJK = re.compile(r"[\u4e00-\u9fff]")


def period(start: date, end: date) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat()}


def previous(start: date, end: date) -> tuple[date, date]:
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def api(site: Site, path: str, start: date, end: date) -> dict[str, Any]:
    r = httpx.get(
        f"{site.base}/api/v1/estates/jjq/{path}",
        params=period(start, end),
        headers={"Authorization": f"Bearer {site.admin}"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def flat(text: str) -> str:
    """Text without any white space: PDFium's line breaks and spacing do not matter."""
    return re.sub(r"\s+", "", text)


def pdf_text(pdf: pdfium.PdfDocument) -> str:
    return "".join(page.get_textpage().get_text_range() for page in pdf)


def font_of(page: pdfium.PdfPage, char_index: int) -> str:
    """The name of the font PDFium draws one character with."""
    buf = ctypes.create_string_buffer(256)
    flags = ctypes.c_int()
    text = page.get_textpage()
    pdfium_c.FPDFText_GetFontInfo(text.raw, char_index, buf, 256, ctypes.byref(flags))
    return buf.value.decode()


def ink(page: pdfium.PdfPage) -> np.ndarray[Any, Any]:
    """Which pixels are not white, at 72 dpi."""
    pixels = page.render(scale=1, grayscale=True).to_numpy()
    return np.asarray(pixels < 200)


def ranked(buildings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's buildings in the poster's order: participation, highest first."""
    return sorted(
        buildings,
        key=lambda b: (b["participation_rate"] is None, -(b["participation_rate"] or 0)),
    )


@pytest.fixture(scope="module")
def march_pdf(site: Site) -> bytes:
    with signed_in(site, site.jjq_viewer) as client:
        r = client.get(f"{POSTER}.pdf", params=period(*MARCH))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["cache-control"] == "no-store"
    return r.content


def test_the_pdf_is_one_a4_page_with_chinese_drawn(march_pdf: bytes) -> None:
    pdf = pdfium.PdfDocument(march_pdf)
    assert len(pdf) == 1
    page = pdf[0]
    width, height = page.get_size()
    assert abs(width - A4_PT[0]) < 1 and abs(height - A4_PT[1]) < 1
    empty = pdfium.PdfDocument.new()
    blank = empty.new_page(width, height)
    drawn = ink(page)
    assert ink(blank).sum() == 0
    assert drawn.mean() > 0.01, "the page is (nearly) blank"
    text = page.get_textpage().get_text_range()
    first = CJK.search(text)
    assert first is not None, text
    # The characters are drawn with the CJK font, embedded (a subset: "ABCDEF+…").
    assert "CJK" in font_of(page, first.start())
    assert "垃圾分类公示" in flat(text)


def test_the_figures_are_the_apis(site: Site, march_pdf: bytes) -> None:
    text = flat(pdf_text(pdfium.PdfDocument(march_pdf)))
    now = api(site, "metrics", *MARCH)
    before = api(site, "metrics", *previous(*MARCH))
    for figure, label in FIGURES.items():
        shown = f"{label}{pct(now[figure])}目标≥{TARGETS[figure]}"
        assert shown in text, (shown, text)
        change = (now[figure] - before[figure]) * 100
        assert f"较上期{change:+.2f}个百分点" in text, (figure, text)


def test_the_building_ranking_and_its_moves_are_the_apis(site: Site, march_pdf: bytes) -> None:
    text = flat(pdf_text(pdfium.PdfDocument(march_pdf)))
    now = ranked(api(site, "buildings/metrics", *MARCH)["buildings"])
    then = ranked(api(site, "buildings/metrics", *previous(*MARCH))["buildings"])
    before = {b["building"]: i for i, b in enumerate(then, start=1)}
    assert len(now) == 3
    rows = text[text.index("楼栋排名") :]
    at = 0
    for rank, b in enumerate(now, start=1):
        moved = before[b["building"]] - rank
        move = "持平" if moved == 0 else (f"↑升{moved}" if moved > 0 else f"↓降{-moved}")
        row = f"{rank}{b['building']}{pct(b['participation_rate'])}{pct(b['wet_share'])}{move}"
        found = rows.find(row, at)
        assert found >= 0, (row, rows)
        at = found + len(row)  # in rank order


def test_the_star_families_are_the_boards(site: Site, march_pdf: bytes) -> None:
    text = flat(pdf_text(pdfium.PdfDocument(march_pdf)))
    with signed_in(site, site.jjq_viewer) as client:
        stars = csv_rows(board_csv(client, "stars", *MARCH))
        page = client.get(POSTER, params={**period(*MARCH), "lang": "en"})
    assert page.status_code == 200, page.text
    assert stars, "the board of March lists star families"
    html = page.text[page.text.index('id="poster-stars"') :]
    # A card per building group, its star families in order: (building, group, name, days).
    cells = [
        [unescape(b), unescape(g), unescape(who), days]
        for b, g, card in re.findall(
            r'<div class="card" data-building="([^"]*)" data-group="([^"]*)">(.*?)</ol></div>',
            html,
        )
        for who, days in re.findall(
            r'<span class="who">(.*?)</span> <span class="days">(\d+) days</span>', card
        )
    ]

    def undefused(value: str) -> str:  # the CSV's formula-safe cell, as typed
        return value[1:] if value[:2] in ("'=", "'+", "'-", "'@") else value

    want = [
        [
            s["Building"],
            s["Building group"],
            undefused(s["Household (name or code)"]),
            s["Days with a drop"],
        ]
        for s in stars
    ]
    assert cells == want
    # The PDF (zh) names the same households.
    for s in want:
        assert flat(s[2]) in text, (s, text)
    assert re.search(r"h00\d\d", text) is None  # no household id, ever


def test_a_short_period_lists_no_households(site: Site) -> None:
    with signed_in(site, site.jjq_viewer) as client:
        r = client.get(POSTER, params={"from": "2026-03-10", "to": "2026-03-12", "lang": "en"})
    assert r.status_code == 200
    assert 'id="poster-short"' in r.text and 'id="poster-stars"' not in r.text
    assert "@page{size:A4" in r.text  # the print view's print CSS


def test_a_group_poster_shows_the_groups_figures_or_hides_a_small_group(site: Site) -> None:
    groups = {
        g["building_group"]: g
        for b in api(site, "buildings/metrics", *MARCH)["buildings"]
        for g in b["groups"]
    }
    with signed_in(site, site.jjq_viewer) as client:
        pdf = client.get(f"{POSTER}.pdf", params={**period(*MARCH), "group": "1-1"})
        small = client.get(POSTER, params={**period(*MARCH), "group": "2-2", "lang": "en"})
        none = client.get(POSTER, params={**period(*MARCH), "group": "9-9", "lang": "en"})
        elsewhere = client.get(POSTER, params={**period(*MARCH), "group": "1-1", "building": "2"})
        named = client.get(POSTER, params={**period(*MARCH), "group": "1-1", "building": "1"})
    assert pdf.status_code == 200
    text = flat(pdf_text(pdfium.PdfDocument(pdf.content)))
    for figure in ("participation_rate", "wet_share"):
        assert f"{FIGURES[figure]}{pct(groups['1-1'][figure])}" in text, text
    assert "覆盖率" not in text  # a group has no committee count: no coverage
    assert small.status_code == 200
    assert 'id="poster-hidden"' in small.text and 'data-figure="' not in small.text
    assert "h00" not in small.text
    assert none.status_code == 404 and "no such building group" in none.text
    assert elsewhere.status_code == 404
    assert named.status_code == 200 and 'class="num mine"' in named.text


def test_who_may_see_the_poster(site: Site) -> None:
    r = httpx.get(f"{site.base}{POSTER}.pdf", params=period(*MARCH), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboards/signin")
    with signed_in(site, site.jjq_viewer) as client:
        other = client.get("/dashboards/estates/oyl/poster.pdf", params=period(*MARCH))
        assert other.status_code == 403
        # A viewer has no link form, and may not post one.
        page = client.get(POSTER, params=period(*MARCH))
        assert 'id="poster-link-form"' not in page.text
        posted = client.post(POSTER, data={"link": "x", "csrf": csrf_of(page.text)})
        assert posted.status_code == 403


def test_the_qr_code_of_the_public_link(site: Site) -> None:
    with signed_in(site, site.jjq_admin) as client:
        params = {**period(*MARCH), "lang": "en"}
        before = client.get(POSTER, params=params)
        assert "no public link" in before.text and 'id="poster-qr"' not in before.text
        board = client.get("/dashboards/estates/jjq/disclosure", params=period(*MARCH)).text
        state = board[board.index('id="public-link-state"') :]
        made = client.post(
            "/dashboards/estates/jjq/disclosure/public-link", data={"csrf": csrf_of(state)}
        )
        found = re.search(r'id="public-link" readonly size="90" value="([^"]+)"', made.text)
        assert found is not None, made.text
        link = unescape(found[1])
        page = client.get(POSTER, params=params)
        assert "does not carry its QR code" in page.text
        form = page.text[page.text.index('id="poster-link-form"') :]
        url = f"{POSTER}?from=2026-03-01&to=2026-03-31&lang=en"
        wrong = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
        bad = client.post(url, data={"link": wrong, "csrf": csrf_of(form)})
        assert bad.status_code == 400 and "not the estate's current public link" in bad.text
        assert f'value="{wrong}"' in bad.text  # what was typed is kept
        nonsense = client.post(url, data={"link": "=1+2", "csrf": csrf_of(form)})
        assert nonsense.status_code == 400 and "not a public board link" in nonsense.text
        good = client.post(url, data={"link": link, "csrf": csrf_of(form)})
        assert good.status_code == 200 and 'id="poster-qr"' in good.text
        assert 'src="data:image/svg+xml' in good.text
        assert link not in str(good.url)  # posted, never in a URL
        pdf = client.post(
            f"{POSTER}.pdf?from=2026-03-01&to=2026-03-31",
            data={"link": link, "csrf": csrf_of(form)},
        )
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        doc = pdfium.PdfDocument(pdf.content)
        assert len(doc) == 1
        assert "扫码查看本小区公示板" in flat(pdf_text(doc))
        # The printed QR code, read back from the page's pixels, is the link.
        pixels = doc[0].render(scale=3, grayscale=True).to_numpy()
        assert [c.text for c in zxingcpp.read_barcodes(pixels)] == [link]
        no_csrf = client.post(url, data={"link": link})
        assert no_csrf.status_code == 403


def test_the_page_that_makes_the_link_shows_its_qr_and_prints_the_poster_with_it(
    site: Site,
) -> None:
    """The link is known only when it is made (only its hash is kept): that page shows
    its QR code and a form that prints the poster with it, the link in the POST body."""
    with signed_in(site, site.jjq_admin) as client:
        board = client.get("/dashboards/estates/jjq/disclosure", params=period(*MARCH)).text
        state = board[board.index('id="public-link-state"') :]
        made = client.post(
            "/dashboards/estates/jjq/disclosure/public-link", data={"csrf": csrf_of(state)}
        )
        found = re.search(r'id="public-link" readonly size="90" value="([^"]+)"', made.text)
        assert found is not None, made.text
        link = unescape(found[1])
        assert 'id="public-link-qr"' in made.text and 'src="data:image/svg+xml' in made.text
        form = made.text[made.text.index('id="public-link-poster"') :]
        posted = client.post(POSTER, data={"link": link, "csrf": csrf_of(form)})
        assert posted.status_code == 200 and 'id="poster-qr"' in posted.text, posted.text[:300]
        assert link not in str(posted.url)
        pdf = client.post(f"{POSTER}.pdf", data={"link": link, "csrf": csrf_of(form)})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        pixels = pdfium.PdfDocument(pdf.content)[0].render(scale=3, grayscale=True).to_numpy()
        assert [c.text for c in zxingcpp.read_barcodes(pixels)] == [link]
