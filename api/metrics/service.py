"""Rows of counts from the repository → the figures routes' answers. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from api.metrics.definitions import (
    CATEGORIES,
    DEFINITIONS_VERSION,
    in_window_share,
    kg,
    ratio,
    wet_share,
    wet_share_of_wet_dry,
)


def grams(row: Mapping[str, Any]) -> dict[str, int]:
    """The `<category>_g` columns of a row as {category: grams}."""
    return {c: int(row[f"{c}_g"]) for c in CATEGORIES}


def _core(row: Mapping[str, Any]) -> dict[str, Any]:
    g = grams(row)
    total, enrolled, active = (
        int(row[k]) for k in ("households_total", "households_enrolled", "households_active")
    )
    return {
        "coverage": ratio(enrolled, total),
        "participation_rate": ratio(active, enrolled),
        "wet_share": wet_share(g),
        "wet_share_of_wet_dry": wet_share_of_wet_dry(g),
        "households_total": total,
        "households_enrolled": enrolled,
        "households_active": active,
        "drops": int(row["drops"]),
        "kg": kg(g),
        "in_window_share": in_window_share(int(row["in_window_drops"]), int(row["drops"])),
        "seqs_lost": int(row["seqs_lost"]),
        "seqs_filled_late": int(row["seqs_filled_late"]),
    }


def estate_metrics(row: Mapping[str, Any], start: date, end: date) -> dict[str, Any]:
    """The /metrics answer of one estate."""
    return {
        "estate": row["estate"],
        "from": start,
        "to": end,
        **_core(row),
        "definitions_version": DEFINITIONS_VERSION,
    }


def multi_metrics(rows: list[dict[str, Any]], start: date, end: date) -> dict[str, Any]:
    """Several estates and their totals (ratios of sums, not averages of ratios)."""
    keys = (
        "households_total",
        "households_enrolled",
        "households_active",
        "drops",
        "in_window_drops",
        *(f"{c}_g" for c in CATEGORIES),
        "seqs_lost",
        "seqs_filled_late",
    )
    summed = {k: sum(int(r[k]) for r in rows) for k in keys}
    return {
        "from": start,
        "to": end,
        "estates": [estate_metrics(r, start, end) for r in rows],
        "totals": _core(summed),
        "definitions_version": DEFINITIONS_VERSION,
    }


def daily(estate: str, rows: list[dict[str, Any]], start: date, end: date) -> dict[str, Any]:
    """The /daily answer."""
    days = []
    for r in rows:
        g = grams(r)
        enrolled, active = int(r["households_enrolled"]), int(r["households_active"])
        days.append(
            {
                "day": r["day"],
                "households_enrolled": enrolled,
                "households_active": active,
                "participation_rate": ratio(active, enrolled),
                "drops": int(r["drops"]),
                "identified_drops": int(r["identified_drops"]),
                "kg": kg(g),
                "wet_share": wet_share(g),
                "in_window_share": in_window_share(int(r["in_window_drops"]), int(r["drops"])),
            }
        )
    return {
        "estate": estate,
        "from": start,
        "to": end,
        "days": days,
        "definitions_version": DEFINITIONS_VERSION,
    }


def _group(row: Mapping[str, Any]) -> dict[str, Any]:
    g = grams(row)
    enrolled, active = int(row["households_enrolled"]), int(row["households_active"])
    return {
        "households_registered": int(row["households_registered"]),
        "households_enrolled": enrolled,
        "households_active": active,
        "participation_rate": ratio(active, enrolled),
        "drops": int(row["drops"]),
        "kg": kg(g),
        "wet_share": wet_share(g),
    }


def buildings(estate: str, rows: list[dict[str, Any]], start: date, end: date) -> dict[str, Any]:
    """The /buildings/metrics answer: rows arrive building first, then its groups."""
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["is_building"]:
            out.append({"building": r["building"], **_group(r), "groups": []})
        else:
            out[-1]["groups"].append({"building_group": r["building_group"], **_group(r)})
    return {
        "estate": estate,
        "from": start,
        "to": end,
        "buildings": out,
        "definitions_version": DEFINITIONS_VERSION,
    }


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one flat row for CSV (`kg.dry` → `kg_dry`)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}_"))
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = value
    return flat
