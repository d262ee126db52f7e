"""The bins' opt-in fill rhythm (#16): a known curve, the same for the same seed, and
its ground truth (when a bin really reached a level) computed here from the curve."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from simulators.bins import RHYTHM_SHARES, WINDOW_HOURS, BinDevice, FillRhythm, rhythm_for
from simulators.estate import BinSpec

ZONE = "Asia/Shanghai"
SPEC = BinSpec("r1", "b-wet", "wet")
DAY = date(2026, 3, 2)


def _run(rhythm: FillRhythm, days: int, seed: int = 3) -> tuple[BinDevice, list[dict[str, object]]]:
    device = BinDevice("jjq", SPEC, ZONE, rhythm=rhythm)
    wire = []
    for d in range(days):
        wire += [e.wire for e in device.run_day(DAY + timedelta(days=d), [], seed)]
    return device, wire


def test_shares_put_most_fill_in_the_windows_and_little_at_night() -> None:
    assert abs(sum(RHYTHM_SHARES) - 1.0) < 1e-9
    assert sum(RHYTHM_SHARES[h] for h in WINDOW_HOURS) > 0.7
    assert sum(RHYTHM_SHARES[h] for h in (23, 0, 1, 2, 3, 4, 5)) < 0.03


def test_same_seed_same_events_and_rates() -> None:
    assert rhythm_for(SPEC, 5) == rhythm_for(SPEC, 5)
    assert rhythm_for(SPEC, 5) != rhythm_for(SPEC, 6)
    assert _run(rhythm_for(SPEC, 5), 3)[1] == _run(rhythm_for(SPEC, 5), 3)[1]


def test_truth_follows_the_known_rate_and_empties_when_nearly_full() -> None:
    # No day factor, no noise: the level is the curve, hour by hour.
    rhythm = FillRhythm(60.0, day_sigma=0.0, noise_pct=0.0)
    device, wire = _run(rhythm, 4)
    kinds = [w["kind"] for w in wire]
    assert kinds.count("empty") >= 1 and set(kinds) == {"fill", "empty"}
    # From local midnight of day 1 (empty at 0): the level by hour from the shares.
    tz = ZoneInfo(ZONE)
    level, hour_end = 0.0, None
    start = device.truth[0][0].astimezone(tz).replace(hour=0, minute=0)
    for h in range(24):
        level += 60.0 * RHYTHM_SHARES[h]
        if level >= 50.0:
            over = (level - 50.0) / (60.0 * RHYTHM_SHARES[h])
            hour_end = start + timedelta(hours=h + 1 - over)
            break
    assert hour_end is not None
    found = device.true_full_at(start, 50.0)
    assert found is not None
    # Grams are whole: within a minute.
    assert abs((found - hour_end).total_seconds()) < 60, (found, hour_end)
    # After an empty the level starts again from 0: full times come in the run's order.
    assert device.true_full_at(device.truth[-1][0], 50.0) is None


def test_without_rhythm_no_truth_and_the_old_events() -> None:
    device = BinDevice("jjq", SPEC, ZONE)
    events = device.run_day(DAY, [], 3)
    # Fill readings only on the hour when changed: one (0 %, at 06:00) with no drops.
    assert device.truth == []
    assert [(e.wire["kind"], e.ts.astimezone(ZoneInfo(ZONE)).hour) for e in events] == [("fill", 6)]
