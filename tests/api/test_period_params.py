"""The month masks and edge days the figures queries take for a period. Pure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from api.metrics.repository import edge_days, period_params

D = date


def days_of(start: date, end: date) -> set[date]:
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (D(2026, 1, 30), D(2026, 2, 2)),
        (D(2026, 2, 1), D(2026, 2, 28)),
        (D(2026, 1, 29), D(2026, 3, 2)),
        (D(2026, 2, 10), D(2026, 2, 20)),
        (D(2026, 1, 31), D(2026, 3, 1)),
        (D(2025, 1, 1), D(2025, 12, 31)),
        (D(2024, 1, 2), D(2024, 12, 31)),
        (D(2024, 2, 29), D(2024, 2, 29)),
        (D(2026, 1, 31), D(2026, 1, 31)),
    ],
)
def test_masks_and_edges_cover_exactly_the_period(start: date, end: date) -> None:
    p = period_params(start, end)
    # Every bit of the first and last month's masks is a day of the period, and back.
    for month, mask in ((p["first_month"], p["first_mask"]), (p["last_month"], p["last_mask"])):
        bits = {month.replace(day=b + 1) for b in range(31) if mask >> b & 1}
        assert bits == {d for d in days_of(start, end) if d.replace(day=1) == month}
        assert 0 < mask < 2**31  # fits household_months.days (int)
    # Whole months plus the two edges are the period, without overlap.
    full, head_to, tail_from = edge_days(start, end)
    covered = [
        d
        for m in full
        for d in days_of(m, (m + timedelta(days=32)).replace(day=1) - timedelta(days=1))
    ]
    covered += sorted(days_of(start, head_to)) + sorted(days_of(tail_from, end))
    assert len(covered) == len(set(covered))
    assert set(covered) == days_of(start, end)
