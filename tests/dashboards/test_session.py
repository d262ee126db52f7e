"""Periods. Pure. (Sessions: tests/dashboards/test_security_sessions.py.)"""

from __future__ import annotations

from datetime import date

from dashboards.period import Period, resolve


def test_periods() -> None:
    p = resolve("2026-03-01", "2026-03-31")
    assert p == Period(date(2026, 3, 1), date(2026, 3, 31)) and p.days == 31
    assert p.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))
    assert resolve("2026-03-31", "2026-03-01") == p  # swapped
    assert resolve("nonsense", "2026-03-31").days == 30  # default length
    assert resolve("1990-01-01", "2026-03-31").days <= 3_700
