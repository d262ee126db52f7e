"""The estate's forecast: each bin's, and per room the earliest (清运 before)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from api.forecast import model, repository

# Minutes a room's 清运 time is rounded down to: the truck comes before, not at, it.
ROUND_MINUTES = 5


async def estate_forecast(
    conn: psycopg.AsyncConnection[Any],
    estate: str,
    horizon: timedelta = model.DEFAULT_HORIZON,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The estate's forecast body (see api.forecast.schemas); None when there is no estate."""
    found = await repository.estate(conn, estate)
    if found is None:
        return None
    now = now or datetime.now(UTC)
    zone, threshold = str(found["timezone"]), float(found["threshold_pct"])
    per_bin: dict[int, list[model.Reading]] = defaultdict(list)
    since = now - timedelta(days=model.LOOKBACK_DAYS)
    for key, ts, fill, emptied in await repository.readings(conn, estate, since, now):
        per_bin[key].append(model.Reading(ts, fill, emptied))
    bins = []
    for b in await repository.bins(conn, estate):
        readings = per_bin.get(int(b["bin_key"]), [])
        level = _level(readings, b["fill_pct"], b["state_ts"])
        f = model.forecast(readings, now, threshold, zone, horizon, level)
        hours = f.hours_to_full(now)
        bins.append(
            {
                "room": b["room"],
                "room_name": b["room_name"],
                "bin": b["bin"],
                "category": b["category"],
                "fill_pct": None if f.fill_pct is None else round(f.fill_pct, 1),
                "rate_pct_per_hour": None if f.rate_now is None else round(f.rate_now, 3),
                "full_at": f.full_at,
                "hours_to_full": None if hours is None else round(hours, 2),
                "basis_days": round(f.basis_days, 2),
                "confidence": f.confidence,
            }
        )
    return {
        "estate": estate,
        "timezone": zone,
        "threshold_pct": threshold,
        "horizon_hours": round(horizon.total_seconds() / 3600),
        "generated_at": now,
        "bins": bins,
    }


def _level(
    readings: list[model.Reading], state_fill: float | None, state_ts: datetime | None
) -> float | None:
    """The device state's fill when it is newer than every reading (a reading the
    events' range does not hold); None: the model takes the readings' own."""
    newest = model.current_level(readings)
    newer = state_ts is not None and (newest is None or state_ts > newest[0])
    return float(state_fill) if state_fill is not None and newer else None


def rooms(body: dict[str, Any]) -> dict[str, Any]:
    """Per room the earliest time one of its bins is full (清运 before), soonest first;
    rooms with no bin full within the horizon last."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in body["bins"]:
        grouped[b["room"]].append(b)
    out = []
    for room, bins in grouped.items():
        due = sorted((b for b in bins if b["full_at"] is not None), key=lambda b: b["full_at"])
        first = due[0] if due else None
        out.append(
            {
                "room": room,
                "room_name": bins[0]["room_name"],
                "collect_before": None if first is None else _round_down(first["full_at"]),
                "first_bin": None if first is None else first["bin"],
                "first_category": None if first is None else first["category"],
                "bins_due": len(due),
                "bins_no_data": sum(1 for b in bins if b["confidence"] == "none"),
                "bins": len(bins),
            }
        )
    out.sort(
        key=lambda r: (
            r["collect_before"] is None,
            r["collect_before"] or body["generated_at"],
            r["room"],
        )
    )
    return {k: v for k, v in body.items() if k != "bins"} | {"rooms": out}


def _round_down(ts: datetime) -> datetime:
    ts = ts.replace(second=0, microsecond=0)
    return ts - timedelta(minutes=ts.minute % ROUND_MINUTES)


def csv_bins(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per bin, times in the estate's zone as ISO text."""
    return [
        {"estate": body["estate"], **b, "full_at": _iso(b["full_at"], body["timezone"])}
        for b in body["bins"]
    ]


def csv_rooms(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per room."""
    return [
        {
            "estate": body["estate"],
            **r,
            "collect_before": _iso(r["collect_before"], body["timezone"]),
        }
        for r in body["rooms"]
    ]


def _iso(ts: datetime | None, zone: str) -> str | None:
    return None if ts is None else ts.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")
