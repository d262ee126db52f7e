"""Periods without data (#15): no earlier data, days to come, an estate not yet sending;
and the footer's time in the estate's zone.

A period with no drop says so — 暂无数据 / 无数据 and a sentence — instead of a red 0 %
card or a change against zeros. What is expected comes from the seeded events (pandas,
`dataset.Expected`) and from the clock (zoneinfo), not from the pages' code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from tests.dashboards.conftest import Site
from tests.dashboards.dataset import TIMEZONE, make_events
from tests.dashboards.fix_board import signed_in

pytestmark = pytest.mark.integration

# An estate registered with enrolled households whose bins have sent nothing yet, in a
# zone that is neither the seeded estates' nor (likely) the machine's.
EMPTY = "nod"
EMPTY_ZONE = "America/Sao_Paulo"
FIGURES = ("coverage", "participation_rate", "wet_share", "in_window_share")
CARDS = re.compile(r'<div class="cards">(.*?)</div><div class="grid">', re.S)
CARD = re.compile(r'<div class="card ([a-z]*)" data-figure="([a-z_]+)"(.*?)</div></div>', re.S)
VALUE = re.compile(r'<div class="value">([^<]*)</div>')
DELTA = re.compile(r'<div class="meta delta">([^<]*)$')
FOOTER = re.compile(
    r'<p class="note" id="generated">(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d) \(([^)]+)\)</p>'
)
WORDS = {
    "zh": {
        "empty": "本期尚无投放记录。",
        "yet": "暂无数据",
        "none": "无数据",
        "change": "较上期",
        "missed": "未达标",
        "pp": "个百分点",
        "updated": "生成时间",
    },
    "en": {
        "empty": "No drops have been recorded for this period yet.",
        "yet": "no data yet",
        "none": "no data",
        "change": "vs previous period",
        "missed": "missed",
        "pp": "pp",
        "updated": "Generated",
    },
}


@pytest.fixture(scope="module")
def empty_estate(site: Site) -> Iterator[str]:
    """`nod`: 10 households, 8 enrolled since 2025, one room of bins, no events."""
    with psycopg.connect(site.database_url) as conn:
        conn.execute(
            "INSERT INTO estates (id, name, timezone, households_total) VALUES (%s, %s, %s, 10)",
            (EMPTY, "新小区", EMPTY_ZONE),
        )
        conn.execute("INSERT INTO rooms (estate_id, id) VALUES (%s, 'r1')", (EMPTY,))
        conn.execute(
            "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, 'r1', 'b-wet', 'wet')",
            (EMPTY,),
        )
        conn.execute("INSERT INTO buildings (estate_id, id) VALUES (%s, '1')", (EMPTY,))
        for n in range(1, 11):
            conn.execute(
                "INSERT INTO households (estate_id, id) VALUES (%s, %s)", (EMPTY, f"n{n:02d}")
            )
            conn.execute(
                "INSERT INTO household_memberships (estate_id, household_id, valid_from,"
                " valid_to, building_id, building_group_id)"
                " VALUES (%s, %s, '-infinity', NULL, '1', NULL)",
                (EMPTY, f"n{n:02d}"),
            )
            if n <= 8:
                conn.execute(
                    "INSERT INTO household_spells (estate_id, household_id, enrolled_on)"
                    " VALUES (%s, %s, '2025-01-01')",
                    (EMPTY, f"n{n:02d}"),
                )
    yield EMPTY


def cards(page: str) -> dict[str, dict[str, str]]:
    """{figure: {state, value, delta}} of the overview's cards."""
    found = CARDS.search(page)
    assert found is not None, "no cards on the page"
    out = {}
    for state, figure, inner in CARD.findall(found[1]):
        value, delta = VALUE.search(inner), DELTA.search(inner)
        assert value is not None and delta is not None, inner
        out[figure] = {"state": state, "value": value[1], "delta": delta[1]}
    assert sorted(out) == sorted(FIGURES), out
    return out


def overview(client: httpx.Client, estate: str, start: date, end: date, locale: str) -> str:
    r = client.get(
        f"/dashboards/estates/{estate}",
        params={"from": start.isoformat(), "to": end.isoformat(), "lang": locale},
    )
    assert r.status_code == 200, r.text
    return r.text


def assert_no_data(page: str, locale: str) -> None:
    """The period's empty state: the sentence, every card 'no data yet', no verdict."""
    w = WORDS[locale]
    assert f'<p class="note" id="empty-state">{w["empty"]}</p>' in page
    for figure, card in cards(page).items():
        assert card["state"] == "", (figure, card)  # neither red nor green
        assert card["value"] == w["yet"], (figure, card)
        assert card["delta"] == f"{w['change']} {w['none']}", (figure, card)
    shown = CARDS.search(page)
    assert shown is not None
    assert w["missed"] not in shown[1]


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_an_estate_with_no_drops_shows_an_empty_state(
    site: Site, empty_estate: str, locale: str
) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get(f"/dashboards/estates/{empty_estate}", params={"lang": locale})
        assert r.status_code == 200, r.text
        assert_no_data(r.text, locale)
        # The seeded estate's March has drops: no empty state there (the check can tell).
        march = overview(client, "jjq", date(2026, 3, 1), date(2026, 3, 31), locale)
    assert 'id="empty-state"' not in march
    assert all(c["value"].endswith("%") for c in cards(march).values())


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_a_future_period_is_no_data_yet_not_a_red_zero(site: Site, locale: str) -> None:
    first = datetime.now(ZoneInfo(TIMEZONE)).date() + timedelta(days=10)
    with signed_in(site, site.viewer) as client:
        page = overview(client, "jjq", first, first + timedelta(days=9), locale)
    assert_no_data(page, locale)


def test_days_to_come_have_no_figures_in_the_daily_table(site: Site) -> None:
    """Days up to today without a drop are zeros (nothing was dropped); days after today
    have not happened: their figures are empty, not 0."""
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    with signed_in(site, site.viewer) as client:
        r = client.get(
            "/dashboards/estates/jjq/export/daily",
            params={
                "from": (today - timedelta(days=2)).isoformat(),
                "to": (today + timedelta(days=2)).isoformat(),
                "lang": "en",
                "format": "csv",
            },
        )
    assert r.status_code == 200, r.text
    lines = r.content.decode("utf-8-sig").splitlines()
    head = lines[0].split(",")
    rows = [dict(zip(head, line.split(","), strict=True)) for line in lines[1:]]
    assert [row["Day"] for row in rows] == [
        (today + timedelta(days=d)).isoformat() for d in range(-2, 3)
    ]
    for row in rows:
        future = date.fromisoformat(row["Day"]) > today
        assert row["Drops"] == ("" if future else "0"), row
        assert row["Participation"] == ("" if future else "0.0"), row


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_change_against_a_period_without_data_is_no_data(site: Site, locale: str) -> None:
    """The seeded drops begin two days before 2026; the 30 days from then have data, the
    30 before them none (but enrolled households: the old page showed +xx pp)."""
    first = min(
        datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).astimezone(ZoneInfo(TIMEZONE))
        for e in make_events()
    ).date()
    w = WORDS[locale]
    with signed_in(site, site.viewer) as client:
        shown = cards(overview(client, "jjq", first, first + timedelta(days=29), locale))
        # A period whose previous one has data: the change is told in points.
        march = cards(overview(client, "jjq", date(2026, 3, 1), date(2026, 3, 31), locale))
    for card in shown.values():
        assert card["value"].endswith("%"), card  # this period has data
        assert card["delta"] == f"{w['change']} {w['none']}", card
    expected = site.expected
    now = expected.estate("jjq", date(2026, 3, 1), date(2026, 3, 31))
    before = expected.estate("jjq", date(2026, 1, 29), date(2026, 2, 28))  # 31 days
    for figure, card in march.items():
        points = (now[figure] - before[figure]) * 100
        assert card["delta"] == f"{w['change']} {points:+.2f} {w['pp']}", (figure, card)


def footer(page: str, locale: str) -> tuple[datetime, str]:
    """The footer's time and the zone it names."""
    found = FOOTER.search(page)
    assert found is not None, page[-600:]
    assert found[1] == WORDS[locale]["updated"]
    zone = found[3]
    return datetime.strptime(found[2], "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone)), zone


def assert_now_in(stamp: datetime, zone: str, before: datetime, after: datetime) -> None:
    """`stamp` (minutes) is the local time in `zone` between `before` and `after`."""
    lo = before.astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)
    hi = after.astimezone(ZoneInfo(zone))
    assert lo - timedelta(minutes=1) <= stamp <= hi, (stamp, lo, hi)
    # The same wall-clock reading as the zone's, not only the same instant.
    assert abs(stamp.replace(tzinfo=None) - hi.replace(tzinfo=None)) <= timedelta(minutes=2)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_footer_time_is_in_the_estate_s_zone(
    site: Site, empty_estate: str, locale: str
) -> None:
    with signed_in(site, site.viewer) as client:
        for estate, zone in (("jjq", TIMEZONE), (empty_estate, EMPTY_ZONE)):
            before = datetime.now(UTC)
            r = client.get(f"/dashboards/estates/{estate}", params={"lang": locale})
            after = datetime.now(UTC)
            stamp, named = footer(r.text, locale)
            assert named == zone
            assert_now_in(stamp, zone, before, after)
        # The district: the estates' zone when they share one, else UTC, named so.
        for chosen, zone in ((["jjq", "oyl"], TIMEZONE), (["jjq", empty_estate], "UTC")):
            before = datetime.now(UTC)
            r = client.get("/dashboards/district", params={"estate": chosen, "lang": locale})
            after = datetime.now(UTC)
            assert r.status_code == 200, r.text
            stamp, named = footer(r.text, locale)
            assert named == zone, chosen
            assert_now_in(stamp, zone, before, after)
