"""Ground truth: the three figures computed from the events the simulator had stored.

Independent of the API and the rollups: plain Python over the events a correct
ingester keeps, by the brief's normative definitions —

- coverage = households enrolled on ``to`` ÷ households_total;
- participation = enrolled households (on ``to``) with ≥ 1 identified drop whose
  local day is in ``[from, to]`` ÷ households enrolled on ``to``;
- wet share = wet grams ÷ grams of dry + wet + recyclable + hazardous drops.

An event counts once per (bin, event_id), its first copy, as the ingester stores it:
a copy sent again (a redelivery, a resend above the stored watermark) carries the same
content, so which copy is first makes no difference to the figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, time
from zoneinfo import ZoneInfo

from ingest.contract import CATEGORIES, HOUSEHOLD_CATEGORIES
from simulators.bins import DeviceEvent
from simulators.estate import Estate, Household


@dataclass
class _DayTally:
    grams: Counter[str] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)
    identified: int = 0
    in_window: int = 0
    households: set[str] = field(default_factory=set)


class Truth:
    """Accumulates stored events of one estate and answers the figures for a period."""

    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self.tz = ZoneInfo(estate.spec.timezone)
        self.windows = [
            (time.fromisoformat(a), time.fromisoformat(b)) for a, b in estate.spec.drop_windows
        ]
        # (bin, event_id) of every event a correct ingester stores.
        self.keys: set[tuple[str, str]] = set()
        self.days: dict[date, _DayTally] = defaultdict(_DayTally)
        self.stored_events = 0
        self.by_kind: Counter[str] = Counter()
        self._category = {b.id: b.category for b in estate.bins}
        self._by_id: dict[str, Household] = {h.id: h for h in estate.households}

    def add(self, events: list[DeviceEvent] | tuple[DeviceEvent, ...]) -> None:
        for e in events:
            key = (e.address.bin, str(e.wire["event_id"]))
            if key in self.keys:
                continue
            self.keys.add(key)
            self.stored_events += 1
            kind = str(e.wire["kind"])
            self.by_kind[kind] += 1
            if kind != "drop":
                continue
            local = e.ts.astimezone(self.tz)
            tally = self.days[local.date()]
            category = self._category[e.address.bin]
            weight = e.wire["weight_g"]
            assert isinstance(weight, int)
            tally.grams[category] += weight
            tally.drops[category] += 1
            household = e.wire.get("household")
            if isinstance(household, str):
                tally.identified += 1
                tally.households.add(household)
            clock = local.time()
            if any(a <= clock < b for a, b in self.windows):
                tally.in_window += 1

    def figures(self, start: date, end: date) -> dict[str, object]:
        """The figures of ``[start, end]`` (local days, both included), as JSON values."""
        enrolled = {
            h.id
            for h in self.estate.households
            if h.enrolled_on is not None and h.enrolled_on <= end
        }
        total = self.estate.spec.households_total
        grams: Counter[str] = Counter()
        drops = identified = in_window = 0
        active: set[str] = set()
        daily: list[dict[str, object]] = []
        for day in sorted(d for d in self.days if start <= d <= end):
            t = self.days[day]
            grams.update(t.grams)
            drops += sum(t.drops.values())
            identified += t.identified
            in_window += t.in_window
            active |= t.households & enrolled
            enrolled_today = self.estate.enrolled_on(day)
            active_today = sum(1 for h in t.households if self._enrolled(h, day))
            daily.append(
                {
                    "day": day.isoformat(),
                    "kg": {c: t.grams[c] / 1000 for c in CATEGORIES},
                    "drops": sum(t.drops.values()),
                    "households_active": active_today,
                    "households_enrolled": enrolled_today,
                    "participation_rate": _ratio(active_today, enrolled_today),
                }
            )
        household_g = sum(grams[c] for c in HOUSEHOLD_CATEGORIES)
        return {
            "estate": self.estate.id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "coverage": _ratio(len(enrolled), total),
            "participation_rate": _ratio(len(active), len(enrolled)),
            "wet_share": _ratio(grams["wet"], household_g),
            "wet_share_of_wet_dry": _ratio(grams["wet"], grams["wet"] + grams["dry"]),
            "households_total": total,
            "households_enrolled": len(enrolled),
            "households_active": len(active),
            "drops": drops,
            "identified_drops": identified,
            "in_window_share": _ratio(in_window, drops),
            "grams": {c: grams[c] for c in CATEGORIES},
            "kg": {c: grams[c] / 1000 for c in CATEGORIES},
            "daily": daily,
        }

    def _enrolled(self, household: str, day: date) -> bool:
        h = self._by_id.get(household)
        return h is not None and h.enrolled_on is not None and h.enrolled_on <= day


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
