"""The dashboards over HTTP (no browser): sessions, access, pages and exports."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pandas as pd
import pytest

from dashboards.static import PLOTLY_PATH
from tests.dashboards.conftest import PERIOD, Site

pytestmark = pytest.mark.integration
PERIOD_Q = {"from": "2026-03-01", "to": "2026-03-31"}


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


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_read_back(site: Site, fmt: str) -> None:
    with signed_in(site, site.viewer) as client:
        r = client.get(
            "/dashboards/estates/jjq/export/daily",
            params={"from": PERIOD[0], "to": PERIOD[1], "format": fmt, "lang": "en"},
        )
        assert r.status_code == 200
        frame = (
            pd.read_csv(io.BytesIO(r.content), encoding="utf-8-sig")
            if fmt == "csv"
            else pd.read_excel(io.BytesIO(r.content))
        )
        assert len(frame) == 90
        api = site.api_json("/api/v1/estates/jjq/daily", **{"from": PERIOD[0], "to": PERIOD[1]})
        assert frame["Drops"].tolist() == [d["drops"] for d in api["days"]]
        for table in ("buildings", "groups", "bins", "rejected"):
            assert (
                client.get(
                    f"/dashboards/estates/jjq/export/{table}", params={"format": fmt}
                ).status_code
                == 200
            )
        assert client.get("/dashboards/district/export", params={"format": fmt}).status_code == 200
        assert (
            client.get(
                "/dashboards/estates/jjq/disclosure/export/stars", params={"format": fmt}
            ).status_code
            == 200
        )
