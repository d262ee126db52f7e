"""Bins as devices: fill rising with drops, collections, alarms, battery and status.

A bin turns the drops it receives on one local day into the events it publishes, in
its own time order, with event ids unique per bin (``YYYYMMDD-NNNNN``) and a ``seq``
counting every event of the bin from 1 over the whole run (the acknowledgement
protocol's counter, docs/acknowledgement.md): the same seed gives the same seqs.
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
        happenings += [(datetime.combine(day, t, tz), 0, "collect", None) for t in COLLECTIONS]
        happenings += [(at + timedelta(hours=h), 2, "fill", None) for h in FILL_HOURS]
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

    def _empty(self, ts: datetime) -> None:
        removed = min(self.load_g, MAX_EMPTY_WEIGHT_G)
        self.load_g = 0
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
