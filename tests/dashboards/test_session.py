"""Session cookies and periods. Pure."""

from __future__ import annotations

from datetime import date

from dashboards import session
from dashboards.period import Period, resolve


def test_a_cookie_round_trips_and_tampering_fails() -> None:
    value = session.encode(b"k", 42, 2_000)
    assert session.decode(b"k", value, now=1_000) == 42
    assert session.decode(b"k", value, now=2_001) is None  # expired
    assert session.decode(b"other", value, now=1_000) is None
    token_id, expires, sig = value.split(".")
    assert session.decode(b"k", f"43.{expires}.{sig}", now=1_000) is None
    assert session.decode(b"k", f"{token_id}.9999999999.{sig}", now=1_000) is None
    assert session.decode(b"k", "garbage", now=1_000) is None


def test_periods() -> None:
    p = resolve("2026-03-01", "2026-03-31")
    assert p == Period(date(2026, 3, 1), date(2026, 3, 31)) and p.days == 31
    assert p.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))
    assert resolve("2026-03-31", "2026-03-01") == p  # swapped
    assert resolve("nonsense", "2026-03-31").days == 30  # default length
    assert resolve("1990-01-01", "2026-03-31").days <= 3_700
