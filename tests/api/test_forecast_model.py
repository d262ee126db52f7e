"""The forecast model on synthetic series with a known rate (no services).

Each expected time is computed here from the series' own rate, not with the model.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.forecast import model
from api.forecast.model import Reading

ZONE = "Asia/Shanghai"  # UTC+8, no DST
NOW = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)  # 10:00 local


def series(
    rate_at: dict[int, float],
    days: int,
    every_min: int = 15,
    noise: float = 0.0,
    empty_at: float = 95.0,
    seed: int = 1,
) -> list[Reading]:
    """Readings every `every_min` over `days` days before NOW, filling at `rate_at[local
    hour]` (pp/h, 0 when absent), emptied (an empty event) when the level passes `empty_at`."""
    rng = np.random.default_rng(seed)
    out, level = [], 0.0
    step = timedelta(minutes=every_min)
    ts = NOW - timedelta(days=days)
    while ts < NOW:
        hour = (ts + timedelta(hours=8)).hour
        level += rate_at.get(hour, 0.0) * every_min / 60
        ts += step
        out.append(Reading(ts, round(level + float(rng.normal(0, noise)), 1) if noise else level))
        if level >= empty_at:
            level = 0.0
            out.append(Reading(ts + timedelta(seconds=1), 0.0, emptied=True))
    return out


def test_constant_rate_is_recovered_and_full_time_follows() -> None:
    readings = series({h: 2.0 for h in range(24)}, days=10, noise=0.3)
    prof = model.profile(readings, NOW, ZONE)
    # Noise 0.3 pp on each reading: one hour's rate from 10 days is within ~2 sd (0.35),
    # the day's mean much closer.
    assert all(abs(r - 2.0) < 0.35 for r in prof.rate), prof.rate
    assert abs(prof.daily_pct / 24 - 2.0) < 0.05
    f = model.forecast(readings, NOW, 90.0, ZONE, level=50.0)
    # 40 pp at 2 pp/h: 20 h, within 5 %.
    hours = f.hours_to_full(NOW)
    assert hours is not None and abs(hours - 20.0) < 1.0
    assert f.confidence == "high" and f.basis_days > 9


def test_daily_rhythm_is_recovered_per_local_hour() -> None:
    # 10 pp/h in the windows 07–09 and 18–20 local, 0.5 pp/h from 09 to 18, 0 at night.
    rates = {7: 10.0, 8: 10.0, 18: 10.0, 19: 10.0} | {h: 0.5 for h in range(9, 18)}
    readings = series(rates, days=14, noise=0.3)
    prof = model.profile(readings, NOW, ZONE)
    for hour in range(24):
        # Within 12 % of the window's rate, 0.6 pp/h elsewhere (noise 0.3 pp a reading).
        bound = 1.2 if hour in (7, 8, 18, 19) else 0.6
        assert abs(prof.rate[hour] - rates.get(hour, 0.0)) < bound, (hour, prof.rate[hour])
    # At 10:00 local with 70 %: 8 h at 0.5 pp/h (4 pp, to 18:00), then 16 pp at 10 pp/h.
    f = model.forecast(readings, NOW, 90.0, ZONE, level=70.0)
    expected = NOW + timedelta(hours=8 + 16 / 10)
    assert f.full_at is not None
    assert abs((f.full_at - expected).total_seconds()) < 20 * 60, (f.full_at, expected)
    assert abs((f.rate_now or 0) - 0.5) < 0.3
    # With 60 %: 84 % at 20:00, nothing at night, the last 6 pp from 07:00 (07:36 local).
    late = model.forecast(readings, NOW, 90.0, ZONE, level=60.0)
    expected = datetime(2026, 5, 20, 23, 36, tzinfo=UTC)
    assert late.full_at is not None
    assert abs((late.full_at - expected).total_seconds()) < 20 * 60, (late.full_at, expected)


def test_rhythm_in_another_zone_follows_local_hours() -> None:
    # The same local rhythm seen from UTC: the rates sit at UTC hours 23, 0, 10, 11.
    rates = {7: 8.0, 8: 8.0, 18: 8.0, 19: 8.0}
    prof = model.profile(series(rates, days=7), NOW, "UTC")
    assert prof.rate[23] > 6 and prof.rate[0] > 6 and prof.rate[10] > 6 and prof.rate[7] < 1


def test_empties_reset_and_are_not_a_negative_rate() -> None:
    readings = series({h: 3.0 for h in range(24)}, days=6, empty_at=60.0)
    assert sum(r.emptied for r in readings) >= 5
    prof = model.profile(readings, NOW, ZONE)
    assert all(abs(r - 3.0) < 0.2 for r in prof.rate)
    # The current level is the newest reading, after the last empty.
    level = model.current_level(readings)
    assert level is not None and level[1] < 60.0


def test_a_lost_empty_event_is_still_a_reset() -> None:
    readings = [
        r for r in series({h: 3.0 for h in range(24)}, days=6, empty_at=60) if not r.emptied
    ]
    prof = model.profile(readings, NOW, ZONE)
    assert all(abs(r - 3.0) < 0.3 for r in prof.rate)


def test_gaps_do_not_bias_the_rate() -> None:
    readings = series({h: 2.0 for h in range(24)}, days=10)
    # The device is offline for two days: the rise across the gap is left out.
    gap = [r for r in readings if not (NOW - timedelta(days=6) < r.ts < NOW - timedelta(days=4))]
    prof = model.profile(gap, NOW, ZONE)
    assert all(abs(r - 2.0) < 0.15 for r in prof.rate)
    assert 7.5 < prof.basis_days < 8.5


def test_horizon_none_and_already_full() -> None:
    readings = series({h: 0.1 for h in range(24)}, days=5)
    f = model.forecast(readings, NOW, 90.0, ZONE, timedelta(hours=72), level=10.0)
    assert f.full_at is None  # 80 pp at 0.1 pp/h is 800 h
    full = model.forecast(readings, NOW, 90.0, ZONE, level=93.0)
    assert full.full_at == NOW


def test_no_data_means_no_forecast() -> None:
    f = model.forecast([], NOW, 90.0, ZONE)
    assert f.full_at is None and f.confidence == "none" and f.fill_pct is None


@pytest.mark.parametrize("days,word", [(1, "low"), (4, "medium"), (10, "high")])
def test_confidence_follows_days_of_data(days: int, word: str) -> None:
    f = model.forecast(series({h: 1.0 for h in range(24)}, days=days), NOW, 90, ZONE)
    assert f.confidence == word


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_slow_bin_is_forecast_from_a_smoothed_level(seed: int) -> None:
    # 0.5 pp/h, readings with noise 0.5 pp: one reading alone is ±1 h of fill.
    clean = series({h: 0.5 for h in range(24)}, days=7, empty_at=200.0)
    noisy = series({h: 0.5 for h in range(24)}, days=7, noise=0.5, empty_at=200.0, seed=seed)
    true_level = clean[-1].fill_pct
    assert true_level is not None and 80 < true_level < 90, true_level
    f = model.forecast(noisy, NOW, 90.0, ZONE)
    expected = clean[-1].ts + timedelta(hours=(90.0 - true_level) / 0.5)
    assert f.full_at is not None
    # The mean of the last 1 h (4 readings) has noise ~0.25 pp, ~0.5 h of fill.
    assert abs((f.full_at - expected).total_seconds()) < 3600, (f.full_at, expected)


def test_a_busy_day_is_seen_in_todays_pace() -> None:
    # 2 pp/h every day; today (from local midnight, 16:00 UTC) 3 pp/h: 1.5 times.
    usual = series({h: 2.0 for h in range(24)}, days=8, empty_at=500.0)
    midnight = datetime(2026, 5, 19, 16, 0, tzinfo=UTC)
    base = next(r.fill_pct for r in usual if r.ts == midnight)
    assert base is not None
    busy = [r for r in usual if r.ts <= midnight] + [
        Reading(r.ts, base + 3.0 * (r.ts - midnight).total_seconds() / 3600)
        for r in usual
        if r.ts > midnight
    ]
    f = model.forecast(busy, NOW, 90.0, ZONE, level=60.0)
    factor = model.today_factor(busy, model.profile(busy, NOW, ZONE), NOW, ZONE)
    # 10 h today: 30 pp seen against ~20-22 expected (today's readings are in the
    # profile too), each plus TODAY_PRIOR_PCT.
    assert 1.25 < factor < 1.45
    # 30 pp to go: 10 h at today's pace, 15 h at the usual one; the forecast is near
    # today's (the prior and the profile's share of today keep it a little later).
    hours = f.hours_to_full(NOW)
    assert hours is not None and 10.0 <= hours < 12.0, hours
