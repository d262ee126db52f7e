"""The three figures from counted numbers, per the brief's normative definitions. Pure.

- coverage = households enrolled on `to` / the estate's total households (registry);
- participation rate = households enrolled on `to` with at least one identified drop in
  [from, to] / households enrolled on `to`; per day: households enrolled that day with a
  drop that day / households enrolled that day;
- wet share = wet weight / weight of the four household categories (dry, wet,
  recyclable, hazardous); construction waste is reported beside it;
- in-window share = drops inside the estate's drop-off windows (local time) / drops.

"Enrolled on day d" means an enrolment spell with enrolled_on <= d and (left_on is null
or left_on > d) (the registry keeps each household's spells: api/registry/history.py).
A ratio whose denominator is 0 is None (JSON null), never 0 or an error.
"""

from __future__ import annotations

from collections.abc import Mapping

# The categories are the device contract's (a bin has one of them): defined there once,
# re-exported here for the figures' users.
from ingest.contract import CATEGORIES, HOUSEHOLD_CATEGORIES

__all__ = [
    "CATEGORIES",
    "DEFINITIONS_VERSION",
    "HOUSEHOLD_CATEGORIES",
    "in_window_share",
    "kg",
    "kg_total",
    "ratio",
    "wet_share",
    "wet_share_of_wet_dry",
]

# Bump when a definition changes, so a report can say which rules produced it.
DEFINITIONS_VERSION = "v1"


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator as a float, None when the denominator is 0."""
    return numerator / denominator if denominator else None


def kg(grams: Mapping[str, int]) -> dict[str, float]:
    """Grams per category as kilograms (grams / 1000) for all five categories."""
    return {c: int(grams.get(c, 0)) / 1000 for c in CATEGORIES}


def kg_total(kg_by_category: Mapping[str, float]) -> float:
    """All categories' kilograms together (construction included: it is all collected)."""
    return sum(kg_by_category.values())


def in_window_share(in_window_drops: int, drops: int) -> float | None:
    """Drops made inside the estate's drop-off windows over all drops."""
    return ratio(in_window_drops, drops)


def wet_share(grams: Mapping[str, int]) -> float | None:
    """Wet weight over the four household categories' weight."""
    return ratio(int(grams.get("wet", 0)), sum(int(grams.get(c, 0)) for c in HOUSEHOLD_CATEGORIES))


def wet_share_of_wet_dry(grams: Mapping[str, int]) -> float | None:
    """Wet weight over wet + dry weight (the split some districts report)."""
    wet = int(grams.get("wet", 0))
    return ratio(wet, wet + int(grams.get("dry", 0)))
