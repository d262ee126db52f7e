"""The public link of the disclosure board: made, replaced and turned off by the estate's
committee; shows, to anyone holding it and without a session, a whole month's board
(groups and star families by consented name or that month's code), and nothing else.

The links are made in this module's own database (the `site` fixture is per module).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from api.auth.tokens import Role
from tests.dashboards.conftest import Site, token
from tests.dashboards.dataset import BY_ID, FORMULA_NAME, TIMEZONE
from tests.dashboards.fix_board import MIN_GROUP, STARS, code, coder, csrf_of, signed_in

pytestmark = pytest.mark.integration
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
BOARD = "/dashboards/estates/jjq/disclosure"
MAKE = f"{BOARD}/public-link"
LINK = re.compile(r'id="public-link" readonly size="90" value="([^"]+)"')
HOUSEHOLD_ID = re.compile(r"h00\d\d")
NO_GROUP = "(no group)"


def make_link(client: httpx.Client) -> str:
    """Press the board page's button; the link the page shows once."""
    page = client.get(BOARD, params={"from": "2026-03-01", "to": "2026-03-31"})
    state = page.text[page.text.index('id="public-link-state"') :]
    r = client.post(MAKE, data={"csrf": csrf_of(state)})
    assert r.status_code == 200, r.text
    found = LINK.search(r.text)
    assert found is not None, r.text
    return unescape(found[1])


def revoke(client: httpx.Client) -> None:
    page = client.get(BOARD).text
    form = page[page.index(f'action="{MAKE}/revoke"') :]
    r = client.post(f"{MAKE}/revoke", data={"csrf": csrf_of(form)})
    assert r.status_code == 303 and r.headers["location"] == BOARD, r.text


def rows(page: str, table: str) -> list[list[str]]:
    """The cells of a table on a page, as text."""
    section = page[page.index(f'id="table-{table}"') :]
    body = section[section.index("<tbody>") : section.index("</tbody>")]
    return [
        [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_only_the_estate_s_committee_makes_the_link(site: Site) -> None:
    r = httpx.post(f"{site.base}{MAKE}")
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboards/signin")
    for who in (site.viewer, site.jjq_viewer, token(site.database_url, Role.admin, ["oyl"])):
        with signed_in(site, who) as client:
            page = client.get(BOARD).text
            assert 'id="public-link-state"' not in page
            r = client.post(MAKE, data={"csrf": csrf_of(page)})  # the sign-out form's
            assert r.status_code == 403 and LINK.search(r.text) is None
    with signed_in(site, site.jjq_admin) as client:
        r = client.post(MAKE, data={"csrf": "forged"})
        assert r.status_code == 403 and LINK.search(r.text) is None
    with psycopg.connect(site.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM public_boards").fetchone() == (0,)


def test_the_link_shows_a_month_s_board_without_a_session(site: Site) -> None:
    with signed_in(site, site.jjq_admin) as client:
        link = make_link(client)
        assert 'id="public-revoke"' in client.get(BOARD).text
    assert link.startswith(f"{site.base}/dashboards/public/")
    r = httpx.get(link, params={"month": "2026-03", "lang": "en"})  # no cookie at all
    assert r.status_code == 200, r.text
    assert "set-cookie" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-robots-tag"] == "noindex, nofollow"
    assert r.headers["referrer-policy"] == "no-referrer"
    page = r.text
    assert "1 Mar 2026 – 31 Mar 2026" in page

    # The groups where enough households took part, ranked, as pandas ranks them.
    units = site.expected.units("jjq", *MARCH, by_group=True)
    shown = [u for u in units if u["households_active"] >= MIN_GROUP]
    want_groups = [
        [
            str(i),
            u["building"],
            u["group"] or NO_GROUP,
            str(u["households_enrolled"]),
            str(u["households_active"]),
            f"{u['participation_rate'] * 100:.2f}%",
        ]
        for i, u in enumerate(shown, start=1)
    ]
    assert [row[:6] for row in rows(page, "groups")] == want_groups
    # Star families by consented name or March's code (the slips of March).
    keys = {(u["building"], u["group"]) for u in shown}
    stars = site.expected.stars("jjq", *MARCH, keys, STARS, coder(*MARCH))
    want_stars = [
        [s["building"], s["group"] or NO_GROUP, s["household"], str(s["active_days"])]
        for s in stars
    ]
    assert rows(page, "stars") == want_stars
    assert {"1号楼 101室", FORMULA_NAME} <= {row[2] for row in rows(page, "stars")}  # consented

    # Nothing else: no household id, no name without consent, nothing for the committee.
    assert HOUSEHOLD_ID.findall(page) == []
    assert "1号楼 102室" not in page  # h0002's name, no consent
    for absent in ('class="export"', "codes-export", "public-link-state", 'name="csrf"'):
        assert absent not in page, absent
    codes = {code(h.id, *MARCH) for h in BY_ID["jjq"].households}
    other = {code(h.id, date(2026, 2, 1), date(2026, 2, 28)) for h in BY_ID["jjq"].households}
    shown_codes = {row[2] for row in rows(page, "stars")} & (codes | other)
    assert shown_codes and shown_codes <= codes  # this month's codes only

    # Chinese by default.
    zh = httpx.get(link, params={"month": "2026-03"}).text
    assert "垃圾分类公示栏" in zh and "2026年3月1日" in zh


def test_the_link_shows_only_whole_months_that_have_ended(site: Site) -> None:
    with signed_in(site, site.jjq_admin) as client:
        link = make_link(client)
    now = datetime.now(ZoneInfo(TIMEZONE)).date()
    last = now.replace(day=1) - timedelta(days=1)  # the last day of the last ended month
    page = httpx.get(link, params={"lang": "en"})
    assert page.status_code == 200
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    label = f"1 {months[last.month - 1]} {last.year} – {last.day} {months[last.month - 1]}"
    assert label in page.text
    assert 'id="month-previous"' in page.text and 'id="month-next"' not in page.text
    march = httpx.get(link, params={"month": "2026-03"}).text
    assert 'href="/dashboards/public/' in march and "month=2026-04" in march
    for month in (
        f"{now:%Y-%m}",
        f"{now.year + 1}-01",
        "2026-13",
        "2026-3",
        "march",
        "0001-01",
        "0000-01",
    ):
        r = httpx.get(link, params={"month": month})
        assert r.status_code == 400, month
        assert r.headers["x-robots-tag"] == "noindex, nofollow"
        assert 'id="table-stars"' not in r.text


def test_a_replaced_or_revoked_link_stops_working(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    with signed_in(site, site.jjq_admin) as client:
        if 'id="public-revoke"' in client.get(BOARD).text:  # made by an earlier test
            revoke(client)
        first = make_link(client)
        assert httpx.get(first).status_code == 200
        second = make_link(client)  # replaces the first
        assert second != first
        assert httpx.get(first).status_code == 404
        assert httpx.get(second).status_code == 200
        tail = second.rsplit("/", 1)[1]
        with psycopg.connect(site.database_url) as conn:
            stored = conn.execute("SELECT * FROM public_boards").fetchall()
        assert len(stored) == 1
        assert hashlib.sha256(tail.encode()).digest() in stored[0]  # the hash, not the token
        assert tail not in repr(stored)
        revoke(client)
        gone = httpx.get(second)
        assert gone.status_code == 404
        assert 'id="table-groups"' not in gone.text
        assert gone.headers["x-robots-tag"] == "noindex, nofollow"
        assert 'id="public-make"' in client.get(BOARD).text
    for wrong in ("x" * 32, "short", "a" * 200, "%00"):
        assert httpx.get(f"{site.base}/dashboards/public/{wrong}").status_code == 404
    actions = [
        getattr(r, "action", None)
        for r in caplog.records
        if getattr(r, "audit", None) == "public_board_link" and getattr(r, "estate", "") == "jjq"
    ]
    assert actions[-3:] == ["made", "replaced", "revoked"]
