"""The dashboards over HTTP (no browser): sessions, access, pages, and exports against pandas."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
import pandas as pd
import pytest

from dashboards.i18n import EN
from dashboards.static import PLOTLY_PATH
from tests.dashboards.conftest import PERIOD, Site
from tests.dashboards.dataset import CATEGORIES, mismatches

pytestmark = pytest.mark.integration
PERIOD_Q = {"from": "2026-03-01", "to": "2026-03-31"}
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
WHOLE = (date.fromisoformat(PERIOD[0]), date.fromisoformat(PERIOD[1]))


@contextmanager
def signed_in(site: Site, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base) as client:
        r = client.post("/dashboards/signin", data={"token": token, "next": "/dashboards/district"})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/dashboards/district"
        assert "httponly" in r.headers["set-cookie"].lower()
        yield client


def test_pages_need_a_session(site: Site) -> None:
    r = httpx.get(f"{site.base}/dashboards/estates/jjq")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/dashboards/signin?next=")
    bad = httpx.post(f"{site.base}/dashboards/signin", data={"token": "fl_nope"})
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


def read(r: httpx.Response, fmt: str) -> list[dict[str, Any]]:
    """An export's rows as {header: value} (English headers)."""
    assert r.status_code == 200, r.text
    data = io.BytesIO(r.content)
    frame = pd.read_csv(data, encoding="utf-8-sig") if fmt == "csv" else pd.read_excel(data)
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


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
