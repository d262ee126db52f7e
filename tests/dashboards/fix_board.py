"""Signing in, reading exports, and the disclosure board pandas expects."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
import pandas as pd

from dashboards.pseudonym import pseudonym
from tests.dashboards.conftest import SECRET, Site
from tests.dashboards.dataset import Expected

# The board's defaults (dashboards/settings.py): groups shown from 5 enrolled
# households, 3 star families per group.
MIN_GROUP = 5
STARS = 3
NO_GROUP_EN = "(no group)"


@contextmanager
def signed_in(site: Site, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base) as client:
        r = client.post("/dashboards/signin", data={"token": token, "next": "/dashboards/district"})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/dashboards/district"
        assert "httponly" in r.headers["set-cookie"].lower()
        yield client


def read(r: httpx.Response, fmt: str) -> list[dict[str, Any]]:
    """An export's rows as {header: value} (English headers)."""
    assert r.status_code == 200, r.text
    data = io.BytesIO(r.content)
    frame = pd.read_csv(data, encoding="utf-8-sig") if fmt == "csv" else pd.read_excel(data)
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    """A CSV export's rows as text, exactly as written (no type guessing)."""
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def code(household: str, estate: str = "jjq") -> str:
    """The public code the app gives `household` (the tests' session secret)."""
    return pseudonym(SECRET.encode(), estate, household)


def defused(text: str) -> str:
    """What a formula-safe CSV holds for `text` (OWASP: a leading ' before = + - @)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def board_csv(client: httpx.Client, table: str, start: date, end: date) -> bytes:
    """The board's `table` (groups or stars) of jjq for [start, end], CSV, English."""
    r = client.get(
        f"/dashboards/estates/jjq/disclosure/export/{table}",
        params={"from": start.isoformat(), "to": end.isoformat(), "format": "csv", "lang": "en"},
    )
    assert r.status_code == 200, r.text
    return r.content


def expected_board(
    expected: Expected, start: date, end: date
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The board's groups and star families of jjq as its CSV exports should hold them."""
    units = expected.units("jjq", start, end, by_group=True)
    shown = [u for u in units if u["households_enrolled"] >= MIN_GROUP]
    shown.sort(
        key=lambda u: (
            u["participation_rate"] is None,
            -(u["participation_rate"] or 0),
            u["building"],
            u["group"] or NO_GROUP_EN,
        )
    )
    groups = [
        {
            "Rank": str(i),
            "Building": u["building"],
            "Building group": u["group"] or NO_GROUP_EN,
            "Enrolled": str(u["households_enrolled"]),
            "Active": str(u["households_active"]),
            "Participation": u["participation_rate"],
            "Wet share": u["wet_share"],
        }
        for i, u in enumerate(shown, start=1)
    ]
    keys = {(u["building"], u["group"]) for u in shown}
    stars = [
        {
            "Building": s["building"],
            "Building group": s["group"] or NO_GROUP_EN,
            "Household (name or code)": defused(s["household"]),
            "Days with a drop": str(s["active_days"]),
        }
        for s in expected.stars("jjq", start, end, keys, STARS, code)
    ]
    return groups, stars


def _same(got: str, want: Any) -> bool:
    """An exported cell equals the expected value: None as empty, floats to 1e-12."""
    if want is None:
        return got == ""
    if isinstance(want, float):
        return got != "" and abs(float(got) - want) <= 1e-12
    return bool(got == want)


def board_mismatches(client: httpx.Client, expected: Expected, start: date, end: date) -> list[str]:
    """Differences between the board's exports of [start, end] and pandas' board."""
    want_groups, want_stars = expected_board(expected, start, end)
    out = []
    for table, want in (("groups", want_groups), ("stars", want_stars)):
        got = csv_rows(board_csv(client, table, start, end))
        if len(got) != len(want):
            out.append(f"{table}: {len(got)} rows, want {len(want)}: {got} != {want}")
            continue
        out += [
            f"{table} row {i} {k}: {g[k]!r} != {w[k]!r}"
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for k in w
            if not _same(g[k], w[k])
        ]
    return out
