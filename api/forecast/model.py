"""When a bin will be full: a fill rate per local hour of the day, from its readings.

Pure logic, no I/O. A bin's readings (any event carrying `fill_pct`, and its `empty`
events) are cut into *fills*: the stretches between two empties. Within a fill, the
level is the readings' best non-decreasing fit (isotonic regression: a reading below an
earlier one is sensor noise or settling, not waste taken out, and is averaged with its
neighbours rather than ignored), and each rise between two readings is
spread evenly over the time between them, into the local hours of the estate's zone it
covers. Summed over the last days (recent days weigh more), that gives per local hour
the percentage points added and the hours watched; their ratio is the hour's rate.

Robust to gaps: a rise over more than `MAX_GAP` (the device was offline: when the waste
came is unknown) is left out, while a long stretch with no rise counts as watched hours
with no fill (devices report on change, so silence at night is a flat line). A fall by
more than `RESET_FALL_PCT` without an `empty` event counts as an empty (a lost event).

The forecast walks forward from now, hour by hour of the local profile, from the
current level until it reaches the threshold, or gives up at the horizon.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

HOURS = 24
# Days of readings the profile is built from, and the half-life of a day's weight.
LOOKBACK_DAYS = 14
HALF_LIFE_DAYS = 7.0
# A rise over a longer stretch than this is not spread over it (when it came is unknown).
MAX_GAP = timedelta(hours=12)
# A fall by more than this, with no `empty` event, is taken as an empty.
RESET_FALL_PCT = 15.0
# Weighted hours of the day's mean rate mixed into each hour's own: an hour seldom
# watched leans on the mean instead of on one or two readings.
PRIOR_HOURS = 0.1
DEFAULT_HORIZON = timedelta(hours=72)
# Days of data behind a forecast for each confidence word.
Confidence = Literal["high", "medium", "low", "none"]
# Today's pace: percentage points added to both today's seen and expected rise, and
# the bounds of their ratio.
TODAY_PRIOR_PCT = 3.0
TODAY_BOUNDS = (0.5, 2.0)
# The stretch of newest readings averaged into the level a forecast starts from.
SMOOTH = timedelta(hours=1)
CONFIDENCE_DAYS: tuple[tuple[Confidence, float], ...] = (
    ("high", 7.0),
    ("medium", 3.0),
    ("low", 0.0),
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One event of a bin: when (timezone-aware), its fill_pct (None if it has none),
    and whether it is an `empty`."""

    ts: datetime
    fill_pct: float | None
    emptied: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    """Fill rate (percentage points per hour) per local hour 0–23, and the basis."""

    rate: tuple[float, ...]
    # Hours watched per local hour (unweighted) over the lookback.
    watched_h: tuple[float, ...]

    @property
    def basis_days(self) -> float:
        """Days of data: the hours watched, in days."""
        return sum(self.watched_h) / HOURS

    @property
    def daily_pct(self) -> float:
        """Percentage points a day at these rates."""
        return sum(self.rate)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A bin's forecast at `now`."""

    fill_pct: float | None
    rate_now: float | None  # percentage points per hour in the current local hour
    full_at: datetime | None  # None: not within the horizon (or nothing to go on)
    basis_days: float
    confidence: Confidence

    def hours_to_full(self, now: datetime) -> float | None:
        """Hours from `now` to `full_at`."""
        if self.full_at is None:
            return None
        return (self.full_at - now).total_seconds() / 3600


def _hour_pieces(start: datetime, end: datetime, tz: ZoneInfo) -> Iterable[tuple[int, float]]:
    """[start, end) cut at the local hour boundaries: (local hour, hours in it)."""
    cur = start
    while cur < end:
        local = cur.astimezone(tz)
        top = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        nxt = min(end, top + timedelta(hours=1))
        if nxt <= cur:  # a zone's odd offset: never stall
            nxt = min(end, cur + timedelta(hours=1))
        yield local.hour, (nxt - cur).total_seconds() / 3600
        cur = nxt


def _fills(readings: Iterable[Reading]) -> list[list[tuple[datetime, float]]]:
    """The readings (in time order) cut into fills: an `empty` starts one at its level
    (0), and so does a fall by more than RESET_FALL_PCT (an empty whose event was lost)."""
    fills: list[list[tuple[datetime, float]]] = []
    for r in readings:
        if r.emptied:
            fills.append([(r.ts, r.fill_pct or 0.0)])
        elif r.fill_pct is not None:
            if not fills or r.fill_pct < fills[-1][-1][1] - RESET_FALL_PCT:
                fills.append([])
            fills[-1].append((r.ts, r.fill_pct))
    return fills


def rising(values: list[float]) -> list[float]:
    """The least-squares non-decreasing fit of `values` (pool adjacent violators): a
    bin between empties only fills, so what goes down is noise, averaged out."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            total = blocks[-1][1] + count
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * count) / total, total]
    out: list[float] = []
    for mean, count in blocks:
        out += [mean] * int(count)
    return out


def profile(readings: Iterable[Reading], now: datetime, timezone: str) -> Profile:
    """The bin's rate per local hour over the `LOOKBACK_DAYS` before `now`."""
    tz = ZoneInfo(timezone)
    since = now - timedelta(days=LOOKBACK_DAYS)
    added = [0.0] * HOURS  # weighted percentage points
    weighted = [0.0] * HOURS  # weighted hours
    watched = [0.0] * HOURS
    ordered = sorted((r for r in readings if since <= r.ts <= now), key=lambda r: r.ts)
    for fill in _fills(ordered):
        levels = rising([f for _, f in fill])
        for (t0, _), (t1, _), l0, l1 in zip(fill, fill[1:], levels, levels[1:], strict=False):
            rise, span = l1 - l0, t1 - t0
            if span <= timedelta(0) or (rise > 0 and span > MAX_GAP):
                continue
            hours = span.total_seconds() / 3600
            weight = 0.5 ** ((now - t1).total_seconds() / 86_400 / HALF_LIFE_DAYS)
            for hour, part in _hour_pieces(t0, t1, tz):
                added[hour] += weight * rise * part / hours
                weighted[hour] += weight * part
                watched[hour] += part
    total_w = sum(weighted)
    mean = sum(added) / total_w if total_w > 0 else 0.0
    rate = tuple(
        (added[h] + PRIOR_HOURS * mean) / (weighted[h] + PRIOR_HOURS) if total_w > 0 else 0.0
        for h in range(HOURS)
    )
    return Profile(rate, tuple(watched))


def full_at(
    level: float,
    now: datetime,
    prof: Profile,
    threshold: float,
    timezone: str,
    horizon: timedelta = DEFAULT_HORIZON,
    today: float = 1.0,
) -> datetime | None:
    """When `level` (at `now`) reaches `threshold` at the profile's rates (times `today`
    for the rest of the local day); `now` when it already has; None when not before
    `now + horizon`."""
    if level >= threshold:
        return now
    remaining = threshold - level
    tz = ZoneInfo(timezone)
    day = now.astimezone(tz).date()
    cur = now
    for hour, part in _hour_pieces(now, now + horizon, tz):
        rate = prof.rate[hour] * (today if cur.astimezone(tz).date() == day else 1.0)
        gain = rate * part
        if gain >= remaining and rate > 0:
            return cur + timedelta(hours=remaining / rate)
        remaining -= gain
        cur += timedelta(hours=part)
    return None


def today_factor(readings: Iterable[Reading], prof: Profile, now: datetime, timezone: str) -> float:
    """How much faster than its profile the bin fills today: the rise of the current
    fill since local midnight over the profile's, each plus `TODAY_PRIOR_PCT` (so a
    morning with little fill yet says ~1), within `TODAY_BOUNDS`. Busy days, holidays
    and rain move a whole day's fill; the profile alone does not see them."""
    tz = ZoneInfo(timezone)
    midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    fills = _fills(sorted(readings, key=lambda r: r.ts))
    if not fills:
        return 1.0
    today = [(t, f) for t, f in fills[-1] if midnight <= t <= now]
    if len(today) < 2:
        return 1.0
    levels = rising([f for _, f in today])
    seen = levels[-1] - levels[0]
    expected = rise(prof, today[0][0], today[-1][0], timezone)
    if expected + TODAY_PRIOR_PCT <= 0:
        return 1.0
    factor = (seen + TODAY_PRIOR_PCT) / (expected + TODAY_PRIOR_PCT)
    return min(TODAY_BOUNDS[1], max(TODAY_BOUNDS[0], factor))


def current_level(readings: Iterable[Reading]) -> tuple[datetime, float] | None:
    """The newest reading with a level (an `empty` counts as its 0): (when, fill_pct)."""
    newest: tuple[datetime, float] | None = None
    for r in readings:
        value = (0.0 if r.fill_pct is None else r.fill_pct) if r.emptied else r.fill_pct
        if value is not None and (newest is None or r.ts >= newest[0]):
            newest = (r.ts, value)
    return newest


def confidence(basis_days: float) -> Confidence:
    """The word for a forecast on this many days of data."""
    if basis_days <= 0:
        return "none"
    return next(word for word, days in CONFIDENCE_DAYS if basis_days >= days)


def rise(prof: Profile, start: datetime, end: datetime, timezone: str) -> float:
    """Percentage points the profile adds over [start, end)."""
    tz = ZoneInfo(timezone)
    return sum(prof.rate[hour] * part for hour, part in _hour_pieces(start, end, tz))


def smoothed_level(
    readings: Iterable[Reading], prof: Profile, timezone: str
) -> tuple[datetime, float] | None:
    """The newest reading's time, and the level then as the mean of the current fill's
    readings of the `SMOOTH` before it, each brought forward by the profile's rise since:
    one noisy reading moves the level (and a slow bin's full time) much less."""
    ordered = sorted(readings, key=lambda r: r.ts)
    fills = _fills(ordered)
    if not fills or not fills[-1]:
        return None
    current = fills[-1]
    newest = current[-1][0]
    recent = [(t, f) for t, f in current if t >= newest - SMOOTH]
    values = [f + rise(prof, t, newest, timezone) for t, f in recent]
    return newest, sum(values) / len(values)


def forecast(
    readings: list[Reading],
    now: datetime,
    threshold: float,
    timezone: str,
    horizon: timedelta = DEFAULT_HORIZON,
    level: float | None = None,
) -> Forecast:
    """The bin's forecast at `now`. `level` is its current fill when known otherwise
    (the registry's device state, newer than any reading); else the newest reading's
    is the level shown, and its smoothed value (`smoothed_level`) the one forecast from."""
    past = [r for r in readings if r.ts <= now]
    prof = profile(past, now, timezone)
    start = level
    if level is None:
        newest = current_level(past)
        level = newest[1] if newest is not None else None
        smooth = smoothed_level(past, prof, timezone)
        start = level if smooth is None else smooth[1]
    basis = prof.basis_days
    word = confidence(basis)
    if level is not None and level >= threshold:
        return Forecast(level, None, now, basis, word)
    if start is None or word == "none":
        return Forecast(level, None, None, basis, word)
    hour = now.astimezone(ZoneInfo(timezone)).hour
    today = today_factor(past, prof, now, timezone)
    return Forecast(
        level,
        prof.rate[hour] * today,
        full_at(start, now, prof, threshold, timezone, horizon, today),
        basis,
        word,
    )
