"""The overview's additions of #15 over the real services: sorting accuracy equal to the
API's, definitions beside every figure, the stale-data badge inside windows only, bad
dates told (with the inputs' min/max), year labels across a year boundary, and the
committee's document links.

Accuracy is checked against `GET /api/v1/estates/{estate}/accuracy` and against the
inspections this module writes (summed here); the badge against the newest event read
straight from the database and the clock.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest

from api.periods import FIRST_DAY, PeriodRules
from dashboards import i18n
from tests.dashboards.conftest import Site
from tests.dashboards.dataset import TIMEZONE
from tests.dashboards.fix_board import csv_rows, signed_in

pytestmark = pytest.mark.integration
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
FIGURES = ("coverage", "participation_rate", "wet_share", "in_window_share")
# (room, local day, {category: (checked, mis_sorted, re_sorted)}): one inspection each.
INSPECTIONS: list[tuple[str, date, dict[str, tuple[int, int, int]]]] = [
    ("r1", date(2026, 2, 27), {"wet": (50, 10, 5)}),  # before March: not in its figures
    ("r1", date(2026, 3, 1), {"wet": (40, 3, 3), "dry": (25, 1, 1)}),  # a Sunday
    ("r1", date(2026, 3, 2), {"wet": (30, 6, 2), "recyclable": (12, 0, 0)}),
    ("r2", date(2026, 3, 4), {"wet": (20, 5, 5), "hazardous": (3, 1, 0)}),
    ("r1", date(2026, 3, 17), {"dry": (18, 2, 1)}),
    ("r2", date(2026, 3, 17), {"wet": (22, 2, 2), "dry": (10, 4, 4)}),
    ("r2", date(2026, 3, 31), {"wet": (15, 0, 0)}),
]
CARD = re.compile(r'<div class="acc-card ?([a-z]*)" data-figure="accuracy" data-value="([^"]*)">')
FIGURE_JSON = re.compile(
    r'<script type="application/json" class="figure" data-target="chart-([a-z-]+)"[^>]*>(.*?)'
    r"</script>",
    re.S,
)


@pytest.fixture(scope="module")
def inspected(site: Site) -> Iterator[list[tuple[str, date, dict[str, tuple[int, int, int]]]]]:
    """The inspections above, written in SQL for jjq (room r2 added for them)."""
    zone = ZoneInfo(TIMEZONE)
    with psycopg.connect(site.database_url) as conn:
        conn.execute("INSERT INTO rooms (estate_id, id) VALUES ('jjq', 'r2')")
        volunteer = conn.execute(
            "INSERT INTO volunteers (estate_id, name, calendar_key)"
            " VALUES ('jjq', '王阿姨', 'cal-test-accuracy') RETURNING id"
        ).fetchone()
        assert volunteer is not None
        for n, (room, day, lines) in enumerate(INSPECTIONS):
            starts = datetime.combine(day, time(7), zone)
            shift = conn.execute(
                "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end,"
                " starts_at, ends_at) VALUES ('jjq', %s, %s, '07:00', '09:00', %s, %s)"
                " RETURNING id",
                (room, day, starts + timedelta(minutes=n), starts + timedelta(hours=2)),
            ).fetchone()
            assert shift is not None
            assignment = conn.execute(
                "INSERT INTO assignments (shift_id, volunteer_id) VALUES (%s, %s) RETURNING id",
                (shift[0], volunteer[0]),
            ).fetchone()
            assert assignment is not None
            inspection = conn.execute(
                "INSERT INTO inspections (assignment_id, volunteer_id, building_id)"
                " VALUES (%s, %s, '1') RETURNING id",
                (assignment[0], volunteer[0]),
            ).fetchone()
            assert inspection is not None
            for category, (checked, mis, re_sorted) in lines.items():
                conn.execute(
                    "INSERT INTO inspection_lines VALUES (%s, %s, %s, %s, %s)",
                    (inspection[0], category, checked, mis, re_sorted),
                )
    yield INSPECTIONS


def api_accuracy(site: Site, period: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(
        f"{site.base}/api/v1/estates/jjq/accuracy",
        params=period,
        headers={"Authorization": f"Bearer {site.admin}"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_accuracy_card_equals_the_api_s(site: Site, inspected: Any) -> None:
    api = api_accuracy(site, MARCH)
    # The inputs say what the API should say (so neither can be wrong in the same way).
    march = [lines for _, day, lines in inspected if day.month == 3]
    checked = sum(c for lines in march for c, _, _ in lines.values())
    mis = sum(m for lines in march for _, m, _ in lines.values())
    assert (api["inspected"], api["mis_sorted"]) == (checked, mis) == (195, 24)
    assert api["inspections"] == len(march)
    with signed_in(site, site.viewer) as client:
        for locale in i18n.LOCALES:
            page = client.get("/dashboards/estates/jjq", params={**MARCH, "lang": locale}).text
            found = CARD.search(page)
            assert found is not None, "no accuracy card"
            assert float(found[2]) == api["accuracy"]
            assert f'<div class="value">{i18n.percent(api["accuracy"])}</div>' in page
            assert i18n.t(locale, "acc.inspected", n="195", m=len(march)) in page
            assert i18n.t(locale, "acc.no_target") in page  # none set in this app
            # Beside the three figures' cards, in their row.
            cards = page[page.index('<div class="cards">') :]
            assert (
                cards.index('data-figure="in_window_share"')
                < cards.index('data-figure="accuracy"')
                < cards.index('<div class="grid">')
            )
        # A period without inspections says so, not 0 %.
        empty = client.get(
            "/dashboards/estates/jjq", params={"from": "2026-01-01", "to": "2026-01-31"}
        )
        found = CARD.search(empty.text)
        assert found is not None and found[2] == ""
        assert 'id="accuracy-none"' in empty.text


def test_accuracy_per_room_category_and_week_sums_to_the_api_s(site: Site, inspected: Any) -> None:
    want: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for room, day, lines in inspected:
        if day.month != 3:
            continue
        week = (day - timedelta(days=day.weekday())).isoformat()
        for category, (checked, mis, re_sorted) in lines.items():
            got = want[room, category, week]
            got[0] += 1
            got[1] += checked
            got[2] += mis
            got[3] += re_sorted
    with signed_in(site, site.viewer) as client:
        r = client.get(
            "/dashboards/estates/jjq/accuracy/export/weeks",
            params={**MARCH, "lang": "en", "format": "csv"},
        )
        assert r.status_code == 200, r.text
        rows = csv_rows(r.content)
        per_category = csv_rows(
            client.get(
                "/dashboards/estates/jjq/accuracy/export/categories",
                params={**MARCH, "lang": "en", "format": "csv"},
            ).content
        )
        overview = client.get("/dashboards/estates/jjq", params=MARCH).text
        page = client.get("/dashboards/estates/jjq/accuracy", params=MARCH)
    assert page.status_code == 200, page.text
    # The card links its page, for the same period.
    assert (
        'id="accuracy-details" href="/dashboards/estates/jjq/accuracy?'
        'from=2026-03-01&amp;to=2026-03-31"'
    ) in overview
    assert 'id="table-weeks"' in page.text and 'id="table-categories"' in page.text
    weekly_chart = _figures(page.text)["accuracy"]
    weeks = ["2026-02-23", "2026-03-02", "2026-03-16", "2026-03-30"]
    assert [x[:10] for x in weekly_chart["data"][0]["x"]] == weeks
    categories = {
        i18n.t("en", f"cat.{c}"): c
        for c in ("dry", "wet", "recyclable", "hazardous", "construction")
    }
    shown = {}
    for row in rows:
        category = categories.get(row["Category"], row["Category"])
        key = (row["Refuse room"], category, row["Week (from Monday)"][:10])
        shown[key] = [
            int(row[k])
            for k in ("Inspections", "Drops inspected", "Mis-sorted", "Re-sorted on the spot")
        ]
        assert int(row["Sorted correctly"]) == shown[key][1] - shown[key][2]
        assert float(row["Accuracy"]) == pytest.approx(
            (shown[key][1] - shown[key][2]) / shown[key][1]
        )
    assert shown == dict(want)
    assert ("r1", "wet", "2026-02-23") in shown  # Sunday 1 March is in the week of 23 Feb
    # Summed over rooms and weeks, each category is the API's; so is the category table.
    api = api_accuracy(site, MARCH)
    table = {categories.get(r["Category"], r["Category"]): r for r in per_category}
    for category, figures in api["by_category"].items():
        line = table[category]
        assert int(line["Drops inspected"]) == figures["inspected"], category
        assert int(line["Sorted correctly"]) == figures["passed"], category
        assert int(line["Inspections"]) == figures["inspections"], category
        if figures["accuracy"] is None:
            assert line["Accuracy"] == "", category
        else:
            assert float(line["Accuracy"]) == figures["accuracy"], category
    for category, figures in api["by_category"].items():
        inspected_sum = sum(v[1] for k, v in shown.items() if k[1] == category)
        mis_sum = sum(v[2] for k, v in shown.items() if k[1] == category)
        assert (inspected_sum, mis_sum) == (figures["inspected"], figures["mis_sorted"]), category


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_figure_has_its_definition_beside_it(site: Site, locale: i18n.Locale) -> None:
    with signed_in(site, site.viewer) as client:
        page = client.get("/dashboards/estates/jjq", params={**MARCH, "lang": locale}).text
        district = client.get("/dashboards/district", params={**MARCH, "lang": locale}).text
        board = client.get(
            "/dashboards/estates/jjq/disclosure", params={**MARCH, "lang": locale}
        ).text
    text = unescape(page)
    for figure in (*FIGURES, "accuracy"):
        start = page.index(f'data-figure="{figure}"')
        card = page[start : page.index("</details>", start)]
        assert f'<details class="def" data-def="{figure}">' in card, figure
        assert i18n.t(locale, f"def.{figure}") in unescape(card), figure
    # The daily participation chart says it is not the card's figure.
    assert i18n.t(locale, "def.daily_participation") in text
    daily = text.index(i18n.t(locale, "chart.daily_participation"))
    assert text.index(i18n.t(locale, "def.daily_participation")) > daily
    for chart in ("daily-kg", "wet-share", "in-window", "buildings", "rejected"):
        assert f'data-def="{chart}"' in page, chart
    assert 'href="/dashboards/definitions"' in page
    for other in (district, board):
        assert 'id="definitions-notes"' in other
        assert i18n.t(locale, "def.participation_rate") in unescape(other)


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_the_definitions_page_renders_signed_in_or_not(site: Site, locale: i18n.Locale) -> None:
    r = httpx.get(f"{site.base}/dashboards/definitions", params={"lang": locale})
    assert r.status_code == 200, r.text
    text = unescape(r.text)
    for name, key in (
        ("figure.coverage", "def.coverage"),
        ("figure.participation_rate", "def.participation_rate"),
        ("chart.daily_participation", "def.daily_participation"),
        ("figure.wet_share", "def.wet_share"),
        ("figure.in_window_share", "def.in_window_share"),
        ("figure.accuracy", "def.accuracy"),
    ):
        assert i18n.t(locale, name) in text and i18n.t(locale, key) in text, key
    assert i18n.t(locale, "def.stale", n=30) in text  # the setting's minutes
    assert 'id="signout"' not in r.text
    with signed_in(site, site.viewer) as client:
        assert 'id="signout"' in client.get("/dashboards/definitions").text


# -- the stale-data badge -------------------------------------------------------------------


def _windows(site: Site, windows: list[list[str]]) -> None:
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE estates SET drop_windows = %s::jsonb WHERE id = 'jjq'",
            (orjson.dumps(windows).decode(),),
        )


def _hhmm(t: datetime) -> str:
    return f"{t:%H:%M}"


@pytest.fixture
def restore_windows(site: Site) -> Iterator[None]:
    with psycopg.connect(site.database_url) as conn:
        row = conn.execute("SELECT drop_windows FROM estates WHERE id = 'jjq'").fetchone()
    assert row is not None
    yield
    _windows(site, row[0])


def _pages(client: httpx.Client) -> dict[str, str]:
    return {
        "overview": client.get("/dashboards/estates/jjq", params=MARCH).text,
        "district": client.get("/dashboards/district", params=MARCH).text,
        "board": client.get("/dashboards/estates/jjq/disclosure", params=MARCH).text,
    }


BADGE = re.compile(r'<p class="stale" role="alert">蒋家桥：数据已 ([\d,]+) 分钟未更新')


def test_the_badge_shows_inside_a_window_and_not_outside(site: Site, restore_windows: None) -> None:
    now = datetime.now(ZoneInfo(TIMEZONE))
    if now.time() >= time(23, 50) or now.time() < time(0, 10):
        pytest.skip("a window around now would cross midnight")
    around = [
        _hhmm(max(now - timedelta(hours=1), now.replace(hour=0, minute=0))),
        _hhmm(min(now + timedelta(hours=1), now.replace(hour=23, minute=59))),
    ]
    away = [["01:00", "02:00"]] if now.hour >= 12 else [["21:00", "22:00"]]
    with psycopg.connect(site.database_url) as conn:
        newest = conn.execute(
            "SELECT max(ts) FROM events WHERE estate_id = 'jjq' AND ts <= now()"
        ).fetchone()
    assert newest is not None and newest[0] is not None
    with signed_in(site, site.viewer) as client:
        _windows(site, [around])
        inside = _pages(client)
        after = datetime.now(UTC)
        _windows(site, away)
        outside = _pages(client)
    lo = int((now.astimezone(UTC) - newest[0]).total_seconds() // 60)
    hi = int((after - newest[0]).total_seconds() // 60)
    for name, page in inside.items():
        found = BADGE.search(page)
        assert found is not None, name
        assert lo <= int(found[1].replace(",", "")) <= hi, (name, found[1], lo, hi)
    for name, page in outside.items():
        assert BADGE.search(page) is None, name
        if name != "district":
            # The district page badges every estate shown: the fixture's other estates
            # keep the simulator's windows (07:00-09:00, 18:00-20:00), inside which
            # they are stale too; only jjq's windows were moved away from now.
            assert 'class="stale"' not in page, name
            assert "分钟未更新" not in page, name


def test_fresh_data_inside_a_window_shows_no_badge(site: Site, restore_windows: None) -> None:
    now = datetime.now(ZoneInfo(TIMEZONE))
    if now.time() >= time(23, 50) or now.time() < time(0, 10):
        pytest.skip("a window around now would cross midnight")
    _windows(
        site,
        [
            [
                _hhmm(max(now - timedelta(hours=1), now.replace(hour=0, minute=0))),
                _hhmm(min(now + timedelta(hours=1), now.replace(hour=23, minute=59))),
            ]
        ],
    )
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, fill_pct)"
            " SELECT now() - interval '5 minutes', bin_key, 'fresh-badge-test', estate_id,"
            " category, 'fill', 10 FROM bins WHERE estate_id = 'jjq' AND id = 'b-wet'"
        )
        try:
            with signed_in(site, site.viewer) as client:
                pages = _pages(client)
        finally:
            conn.execute("DELETE FROM events WHERE event_id = 'fresh-badge-test'")
    for name, page in pages.items():
        assert BADGE.search(page) is None, name


def test_a_watched_room_s_slot_counts_like_a_window(site: Site, restore_windows: None) -> None:
    """The drop-off windows away from now, a watch slot of r1 around now: the badge."""
    now = datetime.now(ZoneInfo(TIMEZONE))
    if now.time() >= time(23, 50) or now.time() < time(0, 10):
        pytest.skip("a slot around now would cross midnight")
    _windows(site, [["01:00", "02:00"]] if now.hour >= 12 else [["21:00", "22:00"]])
    kind = "weekend" if now.weekday() >= 5 else "weekday"
    other = "weekday" if kind == "weekend" else "weekend"
    start = max(now - timedelta(hours=1), now.replace(hour=0, minute=0)).time()
    end = min(now + timedelta(hours=1), now.replace(hour=23, minute=59)).time()
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO watched_rooms VALUES ('jjq', 'r1')")
        try:
            # The other day type's slot at the same time: not today's, no badge.
            conn.execute(
                "INSERT INTO watch_slots (estate_id, room_id, day_type, starts, ends)"
                " VALUES ('jjq', 'r1', %s, %s, %s)",
                (other, start, end),
            )
            with signed_in(site, site.viewer) as client:
                quiet = _pages(client)
                conn.execute(
                    "UPDATE watch_slots SET day_type = %s WHERE estate_id = 'jjq'", (kind,)
                )
                watched = _pages(client)
        finally:
            conn.execute("DELETE FROM watched_rooms WHERE estate_id = 'jjq'")  # its slots too
    for name in quiet:
        assert BADGE.search(quiet[name]) is None, name
        assert BADGE.search(watched[name]) is not None, name


# -- dates ---------------------------------------------------------------------------------

NOTICE = re.compile(r'<p class="notice" role="status" data-notice="([a-z_.]+)">([^<]*)</p>')


@pytest.mark.parametrize(
    ("query", "key", "zh"),
    [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "date.swapped", "起止日期颠倒，已交换"),
        ({"from": "abc", "to": "2026-03-31"}, "date.unreadable_from", "起始日期“abc”无法识别"),
        ({"from": "2026-03-01", "to": "abc"}, "date.unreadable_to", "截止日期“abc”无法识别"),
        ({"from": "2000-01-01", "to": "2026-03-31"}, "date.too_long", "统计期间最长 3,660 天"),
        ({"from": "1980-01-01", "to": "2026-03-31"}, "date.too_early_from", "早于可查询的最早日期"),
        ({"from": "2026-03-01", "to": "2400-01-01"}, "date.too_late_to", "晚于可查询的最晚日期"),
    ],
)
def test_each_bad_date_is_told_on_every_page(
    site: Site, query: dict[str, str], key: str, zh: str
) -> None:
    with signed_in(site, site.viewer) as client:
        for path in (
            "/dashboards/estates/jjq",
            "/dashboards/district",
            "/dashboards/estates/jjq/disclosure",
        ):
            r = client.get(path, params=query)
            assert r.status_code == 200, (path, r.text)
            notices = {k: unescape(v) for k, v in NOTICE.findall(r.text)}
            assert key in notices, (path, notices)
            assert zh in notices[key], (path, notices[key])
            en = client.get(path, params={**query, "lang": "en"}).text
            assert key in dict(NOTICE.findall(en)), path
        good = client.get("/dashboards/estates/jjq", params=MARCH).text
    assert 'class="notice"' not in good


def test_a_typed_value_is_escaped_in_its_notice(site: Site) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get("/dashboards/estates/jjq", params={"from": "<b>x</b>", "to": "2026-03-31"})
    assert r.status_code == 200
    assert "<b>x</b>" not in r.text and "&lt;b&gt;x&lt;/b&gt;" in r.text


def test_the_date_inputs_carry_the_served_days(site: Site) -> None:
    last = PeriodRules().last_day()  # the app runs the API's default rules
    with signed_in(site, site.viewer) as client:
        for path in (
            "/dashboards/estates/jjq",
            "/dashboards/district",
            "/dashboards/estates/jjq/disclosure",
        ):
            page = client.get(path, params=MARCH).text
            for name, value in (("from", "2026-03-01"), ("to", "2026-03-31")):
                assert (
                    f'<input type="date" name="{name}" min="{FIRST_DAY}" max="{last}" '
                    f'value="{value}">'
                ) in page, (path, name)


def _figures(page: str) -> dict[str, dict[str, Any]]:
    return {name: orjson.loads(body) for name, body in FIGURE_JSON.findall(page)}


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_axis_labels_carry_the_year_across_a_year_boundary(site: Site, locale: str) -> None:
    with signed_in(site, site.viewer) as client:
        across = _figures(
            client.get(
                "/dashboards/estates/jjq",
                params={"from": "2025-12-20", "to": "2026-01-10", "lang": locale},
            ).text
        )
        within = _figures(
            client.get("/dashboards/estates/jjq", params={**MARCH, "lang": locale}).text
        )
    dated = ("daily-kg", "participation", "wet-share", "in-window", "rejected")
    for name in dated:
        assert "%Y" in across[name]["layout"]["xaxis"]["tickformat"], name
        assert "%Y" not in within[name]["layout"]["xaxis"]["tickformat"], name
    assert across["participation"]["layout"]["xaxis"]["tickformat"] == (
        "%Y年%-m月%-d日" if locale == "zh" else "%b %-d, %Y"
    )


# -- the committee's documents -----------------------------------------------------------


def test_the_committee_gets_links_to_its_documents(site: Site) -> None:
    with signed_in(site, site.jjq_admin) as client:
        page = client.get("/dashboards/estates/jjq", params=MARCH).text
        district = client.get("/dashboards/district", params=MARCH).text
    base = "/dashboards/estates/jjq"
    assert f'href="{base}/poster?from=2026-03-01&amp;to=2026-03-31"' in page
    assert f'href="{base}/poster.pdf?from=2026-03-01&amp;to=2026-03-31"' in page
    assert f'href="{base}/report.xlsx?month=2026-03"' in page
    assert i18n.t("zh", "docs.report", month="2026-03") in page
    assert 'href="/dashboards/district/report.xlsx?month=2026-03"' in district
    with signed_in(site, site.viewer) as client:
        page = client.get("/dashboards/estates/jjq", params=MARCH).text
        district = client.get("/dashboards/district", params=MARCH).text
    for html in (page, district):
        assert 'id="committee-documents"' not in html
        assert "report.xlsx" not in html and "poster" not in html
