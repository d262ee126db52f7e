"""Signing in, reading exports, and the disclosure board pandas expects."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
import pandas as pd

from tests.dashboards.conftest import PSEUDONYM_KEY, Site
from tests.dashboards.dataset import Expected

# The board's defaults (dashboards/settings.py, docs/privacy.md): groups shown from 5
# households that took part, 3 star families per group, star families only on boards of
# 7 days or more.
MIN_GROUP = 5
STARS = 3
MIN_PERIOD_DAYS = 7
NO_GROUP_EN = "(no group)"


# The CSRF field of a page's forms (dashboards/session.py).
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found is not None, "no form with a CSRF token on the page"
    return found[1]


@contextmanager
def signed_in(site: Site, token: str) -> Iterator[httpx.Client]:
    """A client signed in with `token` through the sign-in form, as a browser does."""
    with httpx.Client(base_url=site.base) as client:
        form = client.get("/dashboards/signin")
        assert form.status_code == 200, form.text
        r = client.post(
            "/dashboards/signin",
            data={"token": token, "next": "/dashboards/district", "csrf": csrf_of(form.text)},
        )
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


def code(household: str, start: date, end: date, estate: str = "jjq") -> str:
    """The public code of `household` on the board of [start, end], as docs/privacy.md
    defines it (written out here, not the app's function): the first 6 base32
    characters of HMAC-SHA256(key, "estate/from/to/household"), the key being the
    tests' session secret."""
    message = f"{estate}/{start.isoformat()}/{end.isoformat()}/{household}".encode()
    digest = hmac.new(PSEUDONYM_KEY.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:6]


def coder(start: date, end: date) -> Callable[[str], str]:
    """`code` of the board of [start, end], as a function of the household."""
    return lambda household: code(household, start, end)


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
    """The board's groups and star families of jjq as its CSV exports should hold them:
    the groups where at least MIN_GROUP households took part, and their star families
    when the period has MIN_PERIOD_DAYS days or more."""
    units = expected.units("jjq", start, end, by_group=True)
    shown = [u for u in units if u["households_active"] >= MIN_GROUP]
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
        for s in expected.stars("jjq", start, end, keys, STARS, coder(start, end))
    ]
    if (end - start).days + 1 < MIN_PERIOD_DAYS:
        stars = []
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
