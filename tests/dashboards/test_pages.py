"""The dashboards over HTTP (no browser): sessions, access, pages, and exports against pandas."""

from __future__ import annotations

import io
import re
from datetime import date
from html import escape
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from api.auth.tokens import Role
from dashboards import i18n
from dashboards.i18n import EN
from dashboards.period import today
from dashboards.static import PLOTLY_PATH
from tests.dashboards.conftest import PERIOD, Site, token
from tests.dashboards.dataset import BY_ID, CATEGORIES, FORMULA_NAME, TIMEZONE, mismatches
from tests.dashboards.fix_board import (
    MIN_GROUP,
    board_csv,
    board_mismatches,
    code,
    coder,
    csrf_of,
    csv_rows,
    defused,
    read,
    signed_in,
)

pytestmark = pytest.mark.integration
PERIOD_Q = {"from": "2026-03-01", "to": "2026-03-31"}
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
WHOLE = (date.fromisoformat(PERIOD[0]), date.fromisoformat(PERIOD[1]))


def test_pages_need_a_session(site: Site) -> None:
    r = httpx.get(f"{site.base}/dashboards/estates/jjq")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/dashboards/signin?next=")
    with httpx.Client(base_url=site.base) as client:
        form = client.get("/dashboards/signin").text
        bad = client.post("/dashboards/signin", data={"token": "fl_nope", "csrf": csrf_of(form)})
    assert bad.status_code == 401
    assert "令牌无效" in bad.text
    forged = httpx.get(
        f"{site.base}/dashboards/estates/jjq", cookies={"fenlei_session": "1.99999999999.deadbeef"}
    )
    assert forged.status_code == 303


def test_an_estate_limited_viewer_sees_only_its_estate(site: Site) -> None:
    with signed_in(site, site.jjq_viewer) as client:
        assert client.get("/dashboards/estates/jjq", params=PERIOD_Q).status_code == 200
        denied = client.get("/dashboards/estates/oyl", params=PERIOD_Q)
        assert denied.status_code == 403
        assert client.get("/dashboards/estates/oyl/export/daily").status_code == 403
        district = client.get("/dashboards/district", params=PERIOD_Q)
        assert "oyl" not in district.text.replace("/dashboards/estates/jjq", "")
        # A single visible estate opens directly.
        assert client.get("/dashboards/").headers["location"] == "/dashboards/estates/jjq"


def test_every_page_renders(site: Site) -> None:
    with signed_in(site, site.viewer) as client:
        for path in (
            "/dashboards/",
            "/dashboards/estates/jjq",
            "/dashboards/district",
            "/dashboards/estates/jjq/disclosure",
        ):
            r = client.get(path, params=PERIOD_Q)
            assert r.status_code == 200, (path, r.text)
            assert r.text.startswith("<!doctype html>")
        assert client.get("/dashboards/estates/nope").status_code == 404


def test_plotly_is_served_locally_and_gzipped(site: Site) -> None:
    r = httpx.get(f"{site.base}{PLOTLY_PATH}", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "immutable" in r.headers["cache-control"]
    assert len(r.content) > 1_000_000  # decoded by httpx: the whole bundle


def header(*keys: str) -> dict[str, str]:
    """{column key: its English header} for the compared columns."""
    return {k: EN[f"col.{k}"] for k in keys}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


SHARES = ("participation_rate", "wet_share")
GROUP_COLUMNS = (
    "households_enrolled",
    "households_active",
    "participation_rate",
    "drops",
    "kg_total",
    "wet_share",
)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_daily_export_equals_pandas_over_the_raw_drops(site: Site, fmt: str) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get(
            "/dashboards/estates/jjq/export/daily",
            params={"from": PERIOD[0], "to": PERIOD[1], "format": fmt, "lang": "en"},
        )
        rows = read(r, fmt)
    want = site.expected.daily("jjq", *WHOLE)
    assert len(want) == 90
    columns = header(
        "day",
        "households_enrolled",
        "households_active",
        "drops",
        *SHARES,
        "in_window_share",
        *(f"kg_{c}" for c in CATEGORIES),
    )
    assert mismatches(rows, want, columns) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_buildings_are_ranked_as_pandas_ranks_them(site: Site, fmt: str) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get(
            "/dashboards/estates/jjq/export/buildings",
            params={**PERIOD_Q, "format": fmt, "lang": "en"},
        )
        rows = read(r, fmt)
        groups = read(
            client.get(
                "/dashboards/estates/jjq/export/groups",
                params={**PERIOD_Q, "format": fmt, "lang": "en"},
            ),
            fmt,
        )
    want = site.expected.units("jjq", *MARCH, by_group=False)
    for i, w in enumerate(want, start=1):
        w["rank"] = i
    for row in rows:
        row["Building"] = str(row["Building"])
    columns = header("rank", "building", "households_registered", *GROUP_COLUMNS)
    assert mismatches(rows, want, columns) == []
    # The ranking is not the registry's order for this data (else this proves little).
    assert [w["building"] for w in want] != sorted(w["building"] for w in want)

    want_groups = site.expected.units("jjq", *MARCH, by_group=True)
    # "Building group" is empty (NaN) for households without a recorded group.
    got = {(str(g["Building"]), _text(g["Building group"])): g for g in groups}
    assert len(got) == len(want_groups)
    ordered = [got[(w["building"], w["group"])] for w in want_groups]
    assert mismatches(ordered, want_groups, header(*GROUP_COLUMNS)) == []
    assert [g["Rank"] for g in ordered] == list(range(1, len(want_groups) + 1))


def test_the_district_export_equals_pandas(site: Site) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get("/dashboards/district/export", params={**PERIOD_Q, "lang": "en"})
        rows = read(r, "csv")
    want = site.expected.district(["jjq", "oyl"], *MARCH)
    assert [row["Estate"] for row in rows] == ["jjq", "oyl", "Total"]
    columns = header(
        "households_total",
        "households_enrolled",
        "households_active",
        "coverage",
        *SHARES,
        "in_window_share",
        "drops",
        "kg_total",
    )
    assert mismatches(rows, [want["jjq"], want["oyl"], want["(total)"]], columns) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_export_downloads(site: Site, fmt: str) -> None:
    with signed_in(site, site.viewer) as client:
        for table in ("buildings", "groups", "bins", "rejected"):
            r = client.get(
                f"/dashboards/estates/jjq/export/{table}", params={**PERIOD_Q, "format": fmt}
            )
            assert r.status_code == 200
            assert read(r, fmt), table
        assert client.get("/dashboards/district/export", params={"format": fmt}).status_code == 200
        r = client.get(
            "/dashboards/estates/jjq/disclosure/export/stars", params={**PERIOD_Q, "format": fmt}
        )
        assert read(r, fmt)


# -- the disclosure board and the household codes ----------------------------------------

FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
# Shorter than the minimum period (7 days): the board lists no households.
SHORT = (date(2026, 3, 1), date(2026, 3, 3))
# One day: group 1-2 has 9 households enrolled but only 4 took part (fewer than 5).
ONE_DAY = (date(2026, 3, 3), date(2026, 3, 3))
# A household id as the page could show it (ids are h0001..h0061; codes are base32).
HOUSEHOLD_ID = re.compile(r"h00\d\d")


@pytest.mark.parametrize(
    "period", [MARCH, WHOLE, FEBRUARY, SHORT, ONE_DAY], ids=["march", "whole", "feb", "3d", "1d"]
)
def test_the_board_equals_pandas_over_the_history(site: Site, period: tuple[date, date]) -> None:
    """Groups ranked and star families, households placed where they belong on `to`;
    groups shown when enough households took part, star families only on long periods."""
    with signed_in(site, site.viewer) as client:
        assert board_mismatches(client, site.expected, *period) == []


def test_a_short_period_shows_the_groups_but_no_household(site: Site) -> None:
    with signed_in(site, site.jjq_admin) as client:
        for period in (SHORT, ONE_DAY):
            assert csv_rows(board_csv(client, "stars", *period)) == []
            assert csv_rows(board_csv(client, "groups", *period)) != []
        week = (date(2026, 3, 1), date(2026, 3, 7))  # the minimum: households listed
        assert csv_rows(board_csv(client, "stars", *week)) != []
        for locale in ("zh", "en"):
            q = {"from": SHORT[0].isoformat(), "to": SHORT[1].isoformat(), "lang": locale}
            page = client.get("/dashboards/estates/jjq/disclosure", params=q).text
            line = i18n.t(i18n.parse_locale(locale), "disclosure.short_period", n=7)
            assert f'<p class="note" id="short-period">{line}</p>' in page
            assert ("明星家庭" in line) if locale == "zh" else ("star families" in line)
            assert 'id="codes-export"' not in page  # codes of a board that lists nobody
            assert HOUSEHOLD_ID.findall(page) == []
        q = {**PERIOD_Q, "lang": "en"}
        assert (
            'id="short-period"'
            not in client.get("/dashboards/estates/jjq/disclosure", params=q).text
        )


def test_a_group_is_shown_only_when_enough_households_took_part(site: Site) -> None:
    """Counted: the households that took part (the board is about them), not those
    enrolled. On 3 March group 1-2 had 9 enrolled and 4 active: hidden (minimum 5)."""
    units = {(u["building"], u["group"]): u for u in site.expected.units("jjq", *ONE_DAY, True)}
    small = units[("1", "1-2")]
    assert small["households_enrolled"] >= MIN_GROUP > small["households_active"]
    with signed_in(site, site.viewer) as client:
        groups = csv_rows(board_csv(client, "groups", *ONE_DAY))
        shown = {(g["Building"], g["Building group"]) for g in groups}
        assert ("1", "1-2") not in shown and ("1", "1-1") in shown
        assert all(int(g["Active"]) >= MIN_GROUP for g in groups)
        hidden = sum(1 for u in units.values() if u["households_active"] < MIN_GROUP)
        page = client.get(
            "/dashboards/estates/jjq/disclosure",
            params={"from": "2026-03-03", "to": "2026-03-03", "lang": "en"},
        ).text
        note = i18n.t("en", "disclosure.hidden", n=MIN_GROUP, m=hidden)
        assert f'<p class="note" id="hidden-groups">{note}</p>' in page


def test_codes_change_with_the_period(site: Site) -> None:
    """Boards of a week repeated day by day: a household never has the same code on two
    of them, so the boards cannot be joined into its diary."""
    weeks = [(date(2026, 3, d), date(2026, 3, d + 6)) for d in range(1, 15)]
    names = {"1号楼 101室", defused(FORMULA_NAME)}  # shown with consent, on every board
    seen: dict[str, tuple[date, date]] = {}
    codes_of: dict[str, set[str]] = {}
    with signed_in(site, site.viewer) as client:
        for week in weeks:
            assert board_mismatches(client, site.expected, *week) == [], week
            stars = csv_rows(board_csv(client, "stars", *week))
            for value in {r["Household (name or code)"] for r in stars} - names:
                assert value not in seen, (value, seen.get(value), week)
                seen[value] = week
            units = site.expected.units("jjq", *week, by_group=True)
            keys = {
                (u["building"], u["group"]) for u in units if u["households_active"] >= MIN_GROUP
            }
            for s in site.expected.stars("jjq", *week, keys, 3, coder(*week)):
                codes_of.setdefault(s["id"], set()).add(s["household"])
    # The keen h0002 (no consent) is a star of most weeks, each time under another code.
    assert len(codes_of["h0002"]) >= 10


def test_star_families_show_a_name_only_with_consent(site: Site) -> None:
    with signed_in(site, site.viewer) as client:
        stars = csv_rows(board_csv(client, "stars", *MARCH))
        page = client.get("/dashboards/estates/jjq/disclosure", params=PERIOD_Q).text
    shown = [r["Household (name or code)"] for r in stars]
    # h0001, h0002 and h0004 are the keenest of group 1-1: all three are its stars.
    assert "1号楼 101室" in shown  # named, with consent
    # No consent: March's code.
    assert code("h0002", *MARCH) in shown and "1号楼 102室" not in page + repr(stars)
    assert defused(FORMULA_NAME) in shown and shown.count(code("h0004", *MARCH)) == 0
    assert code("h0001", *MARCH) not in shown
    # Everything else by its code: every shown value is a name with consent or a code.
    named = {h.display_name for h in BY_ID["jjq"].households if h.publish_consent}
    codes = {code(h.id, *MARCH) for h in BY_ID["jjq"].households}
    assert all(v in codes or v in {defused(str(n)) for n in named} for v in shown)
    # On the page the formula name is text, escaped.
    assert escape(FORMULA_NAME) in page and FORMULA_NAME not in page


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_board_exports_are_formula_safe(site: Site, fmt: str) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get(
            "/dashboards/estates/jjq/disclosure/export/stars",
            params={**PERIOD_Q, "format": fmt, "lang": "en"},
        )
    assert r.status_code == 200
    if fmt == "csv":
        values = [row["Household (name or code)"] for row in csv_rows(r.content)]
        assert "'" + FORMULA_NAME in values
    else:
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        cells = [c for row in sheet.iter_rows() for c in row if c.value == FORMULA_NAME]
        assert len(cells) == 1
        assert cells[0].data_type == "s" and cells[0].quotePrefix  # text, not a formula


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_board_tells_residents_where_to_find_their_code(site: Site, locale: str) -> None:
    with signed_in(site, site.viewer) as client:
        page = client.get("/dashboards/estates/jjq/disclosure", params={**PERIOD_Q, "lang": locale})
    assert page.status_code == 200
    hint = i18n.t(i18n.parse_locale(locale), "disclosure.code_hint")
    assert f'<p id="code-hint">{hint}</p>' in page.text  # printed with the board
    assert "公示编号" in hint
    # The slip of this period, from the committee: no card carries a lasting code.
    assert ("本期" in hint and "居委会" in hint) if locale == "zh" else "notice slip" in hint


def test_the_board_never_shows_a_household_id(site: Site) -> None:
    for who in (site.viewer, site.jjq_admin):
        with signed_in(site, who) as client:
            for locale in ("zh", "en"):
                page = client.get(
                    "/dashboards/estates/jjq/disclosure", params={**PERIOD_Q, "lang": locale}
                )
                assert page.status_code == 200
                assert HOUSEHOLD_ID.findall(page.text) == []
            for table in ("groups", "stars"):
                assert HOUSEHOLD_ID.findall(board_csv(client, table, *MARCH).decode()) == []


def test_only_the_estate_s_committee_exports_the_codes(site: Site) -> None:
    path = "/dashboards/estates/jjq/disclosure/codes"
    signed_out = httpx.get(f"{site.base}{path}")
    assert signed_out.status_code == 303  # to sign in, as every dashboards page
    assert signed_out.headers["location"].startswith("/dashboards/signin?next=")
    url = site.database_url
    for who in (
        site.viewer,
        site.jjq_viewer,
        token(url, Role.volunteer, ["jjq"]),
        token(url, Role.admin, ["oyl"]),
    ):
        with signed_in(site, who) as client:
            r = client.get(path)
            assert r.status_code == 403, r.text
            assert "text/csv" not in r.headers["content-type"]
            assert HOUSEHOLD_ID.findall(r.text) == []
            board = client.get("/dashboards/estates/jjq/disclosure", params=PERIOD_Q).text
            assert 'id="codes-export"' not in board
            assert 'id="public-link-state"' not in board
    for who in (site.jjq_admin, site.admin):
        with signed_in(site, who) as client:
            assert client.get(path).status_code == 200
            board = client.get("/dashboards/estates/jjq/disclosure", params=PERIOD_Q).text
            # The committee's link, for the board's period, never printed.
            href = f"{path}?from=2026-03-01&amp;to=2026-03-31&amp;format=csv"
            assert f'href="{href}"' in board
            assert '<p class="noprint exports" id="codes-export">' in board


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_codes_export_has_every_household_once_with_its_code(site: Site, fmt: str) -> None:
    with signed_in(site, site.jjq_admin) as client:
        r = client.get(
            "/dashboards/estates/jjq/disclosure/codes",
            params={**PERIOD_Q, "format": fmt, "lang": "en"},
        )
    assert r.status_code == 200, r.text
    name = f'filename="jjq-household-codes-2026-03-01-2026-03-31.{fmt}"'
    assert name in r.headers["content-disposition"]
    if fmt == "csv":
        rows = csv_rows(r.content)
    else:
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        values = [["" if c.value is None else c.value for c in row] for row in sheet.iter_rows()]
        rows = [dict(zip(values[0], row, strict=True)) for row in values[1:]]
        formula = [c for row in sheet.iter_rows() for c in row if c.value == FORMULA_NAME]
        assert len(formula) == 1 and formula[0].data_type == "s" and formula[0].quotePrefix
    assert list(rows[0]) == [
        "Household id",
        "Display name",
        "Public code",
        "Building",
        "Building group",
        "Consent to publish",
    ]
    households = BY_ID["jjq"].households
    assert sorted(row["Household id"] for row in rows) == sorted(h.id for h in households)
    by_id = {row["Household id"]: row for row in rows}
    day = today(TIMEZONE)
    for h in households:
        row = by_id[h.id]
        assert row["Public code"] == code(h.id, *MARCH)  # the March board's
        place = h.place_on(day)  # today: where the slip goes, after every move in the data
        assert place is not None
        assert (str(row["Building"]), row["Building group"] or None) == place, h.id
        name = h.display_name or ""
        assert row["Display name"] == (defused(name) if fmt == "csv" else name), h.id
        assert row["Consent to publish"] == i18n.t("en", "yes" if h.publish_consent else "no")
    assert by_id["h0005"]["Building"] in ("2", 2)  # moved on 15 March


def test_the_codes_export_gives_the_codes_of_the_board_it_is_for(site: Site) -> None:
    """A period's slips hold the codes of that period's board: every star family the
    board shows by a code is, on the slip list, the household pandas makes a star."""
    with signed_in(site, site.jjq_admin) as client:
        for period in (MARCH, FEBRUARY):
            q = {"from": period[0].isoformat(), "to": period[1].isoformat(), "lang": "en"}
            r = client.get("/dashboards/estates/jjq/disclosure/codes", params=q)
            slips = {row["Public code"]: row["Household id"] for row in csv_rows(r.content)}
            shown = {
                s["Household (name or code)"] for s in csv_rows(board_csv(client, "stars", *period))
            }
            keys = {(u["building"], u["group"]) for u in site.expected.units("jjq", *period, True)}
            want = site.expected.stars("jjq", *period, keys, 3, coder(*period))
            by_code = [s for s in want if s["household"] in shown and s["household"] in slips]
            assert len(by_code) >= 5  # most stars have no consented name
            assert all(slips[s["household"]] == s["id"] for s in by_code)
