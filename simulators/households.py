"""What the households (and anonymous visitors) drop on one local day.

Each day draws from its own numpy stream seeded with (seed, day), so any day can be
generated on its own — the same in a backfill and in a live run — and reproducibly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ingest.contract import MAX_DROP_WEIGHT_G
from simulators.estate import Estate, Household

# Chance per visit that a bag of each household category comes along.
VISIT_CATEGORY_P = {"wet": 0.92, "dry": 0.90, "recyclable": 0.18, "hazardous": 0.02}
# Mean grams per bag for a household of BASE_SIZE persons (lognormal, σ below).
MEAN_G = {"dry": 420.0, "recyclable": 600.0, "hazardous": 120.0}
BASE_SIZE = 2.5
WEIGHT_SIGMA = 0.45
# Renovation rubble: a few sacks at a time, in grams.
CONSTRUCTION_G = (8_000, 40_000)
# Summer (June–August) kitchens throw away more: wet weight × this.
SUMMER_WET_FACTOR = 1.15
# On a public holiday this share of households is away.
HOLIDAY_AWAY = 0.3
# Spill-over: minutes by which a late or early drop misses its window (half-normal σ),
# and the share of spilled drops at any time of day (night owls, shift workers).
SPILL_SIGMA_MIN = 35.0
SPILL_ANYTIME = 0.2

# Spring Festival (the holiday starts the eve before): lunar, so a table.
SPRING_FESTIVAL = {
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}


def is_holiday(day: date) -> bool:
    """New Year, Spring Festival week, Labour Day week and National Day week."""
    md = (day.month, day.day)
    if md == (1, 1) or (5, 1) <= md <= (5, 5) or (10, 1) <= md <= (10, 7):
        return True
    eve = SPRING_FESTIVAL.get(day.year)
    return eve is not None and eve - timedelta(days=1) <= day <= eve + timedelta(days=6)


def wet_mean_g(estate: Estate) -> float:
    """Mean wet grams per bag that makes wet ÷ household weight equal the target."""
    share = estate.spec.targets.wet_share
    others = sum(VISIT_CATEGORY_P[c] * MEAN_G[c] for c in MEAN_G)
    return share / (1.0 - share) * others / VISIT_CATEGORY_P["wet"]


@dataclass(frozen=True, slots=True)
class Drop:
    """One bag deposited into one bin."""

    ts: datetime  # aware, in the estate's time zone, whole seconds
    room: str
    category: str
    weight_g: int
    household: str | None  # the card's token; None for an anonymous drop


class _Day:
    """The draws of one local day."""

    def __init__(self, estate: Estate, day: date, seed: int) -> None:
        self.estate = estate
        self.day = day
        self.rng = np.random.default_rng([seed, day.toordinal(), 0x64])
        self.tz = ZoneInfo(estate.spec.timezone)
        self.midnight = datetime.combine(day, time(0), self.tz)
        self.windows = [(_minutes(a), _minutes(b)) for a, b in estate.spec.drop_windows]
        self.wet_factor = SUMMER_WET_FACTOR if day.month in (6, 7, 8) else 1.0
        self.wet_mean = wet_mean_g(estate)
        self.drops: list[Drop] = []

    def minute_of_visit(self, morning: float) -> float:
        rng = self.rng
        windows = self.windows
        if len(windows) == 1 or rng.random() < morning:
            start, end = windows[0]
        else:
            start, end = windows[1 + int(rng.integers(0, len(windows) - 1))]
        if rng.random() >= self.estate.spec.spill_share:
            return start + (end - start) * float(rng.beta(2.0, 2.0))
        if rng.random() < SPILL_ANYTIME:
            return float(rng.uniform(0, 1440))
        miss = abs(float(rng.normal(0, SPILL_SIGMA_MIN))) + 0.5
        return start - miss if rng.random() < 0.4 else end + miss

    def visit(self, room: str, minute: float, token: str | None, size: int) -> None:
        rng = self.rng
        spec = self.estate.spec
        scale = (size / BASE_SIZE) ** 0.7
        # Whole seconds within the day: keep the drop on this local day.
        second = int(min(max(minute * 60.0, 0.0), 86_399.0 - 120))
        bags: list[tuple[str, int]] = []
        for category, p in VISIT_CATEGORY_P.items():
            if rng.random() < p:
                mean = self.wet_mean * self.wet_factor if category == "wet" else MEAN_G[category]
                bags.append((category, _lognormal_g(rng, mean * scale)))
        if rng.random() < spec.construction_per_visit:
            bags.append(("construction", int(rng.integers(*CONSTRUCTION_G))))
        for category, grams in bags:
            second += int(rng.integers(4, 25))  # walking to the next bin
            ts = self.midnight + timedelta(seconds=min(second, 86_399))
            self.drops.append(Drop(ts, room, category, grams, token))

    def household(self, h: Household, holiday: bool) -> None:
        rng = self.rng
        if holiday and rng.random() < HOLIDAY_AWAY:
            return
        if rng.random() >= h.days_per_week / 7.0:
            return
        enrolled = h.enrolled_on is not None and h.enrolled_on <= self.day
        visits = 2 if rng.random() < h.twice else 1
        morning = h.morning
        for _ in range(visits):
            uses_card = enrolled and h.card_user and rng.random() >= self.estate.spec.forgot_card
            self.visit(h.room, self.minute_of_visit(morning), h.id if uses_card else None, h.size)
            morning = 1.0 - morning  # a second visit tends to be in the other window

    def visitors(self) -> None:
        rng = self.rng
        spec = self.estate.spec
        rooms = self.estate.rooms()
        lam = spec.visitors_per_100_per_day * spec.households_total / 100.0
        for _ in range(int(rng.poisson(lam))):
            room = rooms[int(rng.integers(0, len(rooms)))]
            self.visit(room, self.minute_of_visit(0.5), None, int(rng.integers(1, 4)))


def day_drops(estate: Estate, day: date, seed: int) -> list[Drop]:
    """Every drop of ``day`` (a local day), sorted by time."""
    draws = _Day(estate, day, seed)
    holiday = is_holiday(day)
    for h in estate.households:
        draws.household(h, holiday)
    draws.visitors()
    return sorted(draws.drops, key=lambda d: (d.ts, d.room, d.category))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _lognormal_g(rng: np.random.Generator, mean: float) -> int:
    mu = np.log(mean) - WEIGHT_SIGMA**2 / 2.0  # so that the lognormal's mean is `mean`
    return int(min(max(10.0, rng.lognormal(mu, WEIGHT_SIGMA)), MAX_DROP_WEIGHT_G))
