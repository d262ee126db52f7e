"""Bins as devices: fill rising with drops, collections, alarms, battery and status.

A bin turns the drops it receives on one local day into the events it publishes, in
its own time order, with event ids unique per bin (``YYYYMMDD-NNNNN``) and a ``seq``
counting every event of the bin from 1 over the whole run (the acknowledgement
protocol's counter, docs/acknowledgement.md): the same seed gives the same seqs.

Opt-in (`BinDevice(rhythm=...)`, for the fill forecast's benchmark, #16): besides its
drops, a bin fills along a known daily curve (`FillRhythm`: percent of capacity a day,
spread over the local hours, most in the drop-off windows, little at night, each day
scaled by a random factor), reports a noisy reading every `every`, and is emptied only
when nearly full. Its noise-free level is kept (`truth`), so `true_full_at` says when it
really reached a threshold. Without a rhythm a bin's events are exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ingest.contract import MAX_EMPTY_WEIGHT_G, BinAddress, Event, event_to_json
from simulators.estate import BinSpec
from simulators.households import Drop

# Grams a bin (a row of 240 L containers behind one scale) holds before it is full.
CAPACITY_G = {
    "dry": 500_000,
    "wet": 600_000,
    "recyclable": 200_000,
    "hazardous": 60_000,
    "construction": 900_000,
}
# Collections after each drop-off window (local times); a bin is emptied only when
# at least this full, so a quiet hazardous bin waits for days.
COLLECTIONS = (time(9, 30), time(20, 30))
EMPTY_THRESHOLD_PCT = 25.0
# An attendant swaps a full bin this long after its overflow alarm.
SWAP_AFTER = timedelta(minutes=10)
# A fill reading on the hour (06:00–22:00) when it changed since the last one.
FILL_HOURS = range(6, 23)
# Summer alarms: a wet bin smells on warm afternoons; any bin overheats in July–August.
ODOUR_P = 0.3
TEMPERATURE_P = 0.1
SENSOR_FAULT_P = 0.003
# Battery: percent a day, percent per event, and the level at which it is replaced.
BATTERY_PER_DAY = 0.8
BATTERY_PER_EVENT = 0.002
BATTERY_REPLACE_AT = 15.0


# The rhythm's share of a day's fill per local hour: most in the default drop-off
# windows (07–09, 18–20), a little through the day, very little at night.
WINDOW_HOURS = (7, 8, 18, 19)
NIGHT_HOURS = (23, 0, 1, 2, 3, 4, 5)
RHYTHM_SHARES = tuple(
    0.18 if h in WINDOW_HOURS else 0.02 / 7 if h in NIGHT_HOURS else 0.26 / 13 for h in range(24)
)
# The rhythm's percent of capacity a day, per category (times a per-bin factor).
RHYTHM_PCT_PER_DAY = {
    "dry": 45.0,
    "wet": 70.0,
    "recyclable": 30.0,
    "hazardous": 8.0,
    "construction": 12.0,
}


@dataclass(frozen=True, slots=True)
class FillRhythm:
    """A bin's known fill curve: `pct_per_day` of capacity on an average day, by the
    local hour `shares` (summing to 1), each day times a lognormal factor of spread
    `day_sigma`; readings every `every` with gaussian `noise_pct`; emptied
    `SWAP_AFTER` after its level reaches `empty_at_pct`."""

    pct_per_day: float
    shares: tuple[float, ...] = RHYTHM_SHARES
    day_sigma: float = 0.2
    every: timedelta = timedelta(minutes=15)
    noise_pct: float = 0.5
    empty_at_pct: float = 95.0

    def pct_per_hour(self, hour: int, factor: float = 1.0) -> float:
        """The curve's rate at a local hour (percent of capacity an hour)."""
        return self.pct_per_day * factor * self.shares[hour]


def rhythm_for(spec: BinSpec, seed: int) -> FillRhythm:
    """A bin's known rhythm: its category's daily percent times a factor 0.6–1.4 drawn
    from `seed` and the bin's id (the same seed gives the same rates)."""
    rng = np.random.default_rng([seed, _stable_hash(spec.id), 16])
    return FillRhythm(RHYTHM_PCT_PER_DAY[spec.category] * float(rng.uniform(0.6, 1.4)))


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One event as a bin publishes it: where, when (UTC, for ordering) and the wire dict."""

    address: BinAddress
    ts: datetime
    wire: dict[str, object]

    @property
    def seq(self) -> int:
        """The bin's counter of this event (+1 per event, from 1)."""
        seq = self.wire["seq"]
        assert isinstance(seq, int)
        return seq


@dataclass
class BinDevice:
    """The state of one bin that carries over from day to day."""

    estate: str
    spec: BinSpec
    timezone: str
    # Devices of the second room are from another vendor and report UTC timestamps.
    utc_clock: bool = False
    load_g: int = 0
    battery_pct: float = 100.0
    last_reported_fill: float = -1.0
    # The seq of the last event made: carried over from day to day, never reused.
    last_seq: int = 0
    # The opt-in known fill curve (None: fill comes from drops only, as before).
    rhythm: FillRhythm | None = None
    # With a rhythm: the noise-free level (percent, UTC time) at every reading, and
    # the times of its empties; the ground truth of `true_full_at`.
    truth: list[tuple[datetime, float]] = field(default_factory=list)
    _factor: float = 1.0  # today's factor of the rhythm
    _noise: list[float] = field(default_factory=list)  # today's reading noise, in order
    _events: list[DeviceEvent] = field(default_factory=list)
    _day_count: int = 0  # events made today: the NNNNN of the event ids
    _day: date | None = None

    @property
    def address(self) -> BinAddress:
        return BinAddress(self.estate, self.spec.room, self.spec.id)

    @property
    def capacity_g(self) -> int:
        return CAPACITY_G[self.spec.category]

    def fill_pct(self) -> float:
        return round(min(100.0, 100.0 * self.load_g / self.capacity_g), 1)

    def status(self, online: bool) -> dict[str, object]:
        """The retained status payload (the last will is ``{"online": false}``)."""
        if not online:
            return {"online": False}
        return {"online": True, "battery_pct": round(self.battery_pct, 1)}

    def run_day(self, day: date, drops: list[Drop], seed: int) -> list[DeviceEvent]:
        """Return this bin's events of ``day`` given the drops it received, in order."""
        tz = ZoneInfo(self.timezone)
        rng = np.random.default_rng([seed, day.toordinal(), _stable_hash(self.spec.id)])
        self._events, self._day_count, self._day = [], 0, day
        if self.battery_pct < BATTERY_REPLACE_AT:
            self.battery_pct = 100.0
        self.battery_pct = max(1.0, self.battery_pct - BATTERY_PER_DAY)
        at = datetime.combine(day, time(0), tz)
        # (ts, order, what, drop): scheduled happenings interleave with drops.
        happenings: list[tuple[datetime, int, str, Drop | None]] = [
            (d.ts, 1, "drop", d) for d in drops
        ]
        if self.rhythm is None:
            happenings += [(datetime.combine(day, t, tz), 0, "collect", None) for t in COLLECTIONS]
            happenings += [(at + timedelta(hours=h), 2, "fill", None) for h in FILL_HOURS]
        else:
            happenings += self._rhythm_ticks(day, tz, seed)
        summer = day.month in (6, 7, 8, 9)
        if summer and self.spec.category == "wet" and rng.random() < ODOUR_P:
            happenings.append(
                (at + timedelta(hours=14, seconds=int(rng.integers(0, 3600))), 3, "odour", None)
            )
        if day.month in (7, 8) and rng.random() < TEMPERATURE_P:
            happenings.append(
                (
                    at + timedelta(hours=15, seconds=int(rng.integers(0, 3600))),
                    3,
                    "temperature",
                    None,
                )
            )
        if rng.random() < SENSOR_FAULT_P:
            happenings.append(
                (at + timedelta(seconds=int(rng.integers(0, 86_000))), 3, "sensor_fault", None)
            )
        happenings.sort(key=lambda h: (h[0], h[1]))
        swap_at: datetime | None = None
        for ts, _, what, drop in happenings:
            if swap_at is not None and ts >= swap_at:
                self._empty(swap_at)
                swap_at = None
            if what == "drop" and drop is not None:
                self.load_g += drop.weight_g
                self._emit(
                    ts,
                    "drop",
                    weight_g=drop.weight_g,
                    fill_pct=self.fill_pct(),
                    household=drop.household,
                    category=self.spec.category,
                )
                if swap_at is None and self.load_g >= self.capacity_g:
                    self._emit(
                        ts + timedelta(seconds=1),
                        "alarm",
                        alarm="overflow",
                        fill_pct=self.fill_pct(),
                    )
                    swap_at = ts + SWAP_AFTER
            elif what == "tick":
                if swap_at is None and self._tick(ts):
                    swap_at = ts + SWAP_AFTER
            elif what == "collect":
                if self.fill_pct() >= EMPTY_THRESHOLD_PCT:
                    self._empty(ts)
            elif what == "fill":
                if self.fill_pct() != self.last_reported_fill:
                    self._emit(
                        ts, "fill", fill_pct=self.fill_pct(), battery_pct=round(self.battery_pct, 1)
                    )
                    self.last_reported_fill = self.fill_pct()
            else:
                self._emit(ts, "alarm", alarm=what, battery_pct=round(self.battery_pct, 1))
        if swap_at is not None:
            self._empty(min(swap_at, at + timedelta(hours=23, minutes=59, seconds=59)))
        return self._events

    def _rhythm_ticks(
        self, day: date, tz: ZoneInfo, seed: int
    ) -> list[tuple[datetime, int, str, Drop | None]]:
        """The day's reading times (every `rhythm.every` from local midnight), and the
        day's factor and noise drawn from their own generator (the drops' is untouched)."""
        assert self.rhythm is not None
        rng = np.random.default_rng([seed, day.toordinal(), _stable_hash(self.spec.id), 16])
        self._factor = float(rng.lognormal(0.0, self.rhythm.day_sigma))
        start = datetime.combine(day, time(0), tz)
        count = int(timedelta(days=1) / self.rhythm.every)
        self._noise = [float(x) for x in rng.normal(0.0, self.rhythm.noise_pct, count)]
        return [(start + i * self.rhythm.every, 2, "tick", None) for i in range(1, count + 1)]

    def _tick(self, ts: datetime) -> bool:
        """Add the curve's grams since the last tick; emit a noisy reading; True when
        the level reached the rhythm's emptying point."""
        assert self.rhythm is not None
        tz = ZoneInfo(self.timezone)
        hours = self.rhythm.every.total_seconds() / 3600
        # The tick closes the interval [ts - every, ts): its local hour sets the rate.
        hour = (ts - self.rhythm.every).astimezone(tz).hour
        added = self.rhythm.pct_per_hour(hour, self._factor) * hours
        self.load_g += round(added * self.capacity_g / 100)
        self.truth.append((ts.astimezone(UTC), min(100.0, 100.0 * self.load_g / self.capacity_g)))
        noise = self._noise.pop(0) if self._noise else 0.0
        reading = round(min(100.0, max(0.0, self.truth[-1][1] + noise)), 1)
        self._emit(ts, "fill", fill_pct=reading, battery_pct=round(self.battery_pct, 1))
        return self.truth[-1][1] >= self.rhythm.empty_at_pct

    def true_full_at(self, after: datetime, threshold: float) -> datetime | None:
        """When the noise-free level first reached `threshold` after `after` (before the
        next empty), linear between readings; None when it did not in the run."""
        prev: tuple[datetime, float] | None = None
        for ts, pct in self.truth:
            if ts <= after:
                prev = (ts, pct)
                continue
            if prev is not None and pct < prev[1]:  # an empty came first
                return None
            if pct >= threshold:
                if prev is None or prev[1] >= threshold:
                    return after if prev is not None else ts
                share = (threshold - prev[1]) / (pct - prev[1])
                return prev[0] + share * (ts - prev[0])
            prev = (ts, pct)
        return None

    def _empty(self, ts: datetime) -> None:
        removed = min(self.load_g, MAX_EMPTY_WEIGHT_G)
        self.load_g = 0
        if self.rhythm is not None:
            self.truth.append((ts.astimezone(UTC), 0.0))
        self._emit(ts, "empty", weight_g=removed, fill_pct=0.0)

    def _emit(
        self,
        ts: datetime,
        kind: str,
        *,
        weight_g: int | None = None,
        fill_pct: float | None = None,
        household: str | None = None,
        alarm: str | None = None,
        battery_pct: float | None = None,
        category: str | None = None,
    ) -> None:
        assert self._day is not None
        self._day_count += 1
        self.last_seq += 1
        self.battery_pct = max(1.0, self.battery_pct - BATTERY_PER_EVENT)
        event = Event(
            address=self.address,
            event_id=f"{self._day:%Y%m%d}-{self._day_count:05d}",
            ts=ts.astimezone(UTC) if self.utc_clock else ts,
            kind=kind,
            weight_g=weight_g,
            fill_pct=fill_pct,
            household=household,
            alarm=alarm,
            battery_pct=battery_pct,
            category=category,
            seq=self.last_seq,
        )
        self._events.append(DeviceEvent(self.address, ts.astimezone(UTC), event_to_json(event)))


def _stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (``hash`` is salted)."""
    value = 0
    for byte in text.encode():
        value = (value * 131 + byte) % (2**61 - 1)
    return value
