"""The estate model: buildings, building groups, households and the bins of its rooms.

An estate is built once from a spec, a seed and the period it will be simulated over
(enrolment dates are planned against that period); everything random is drawn from a
numpy Generator seeded with the seed, so the same inputs give the same estate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np

from ingest.contract import CATEGORIES

DEFAULT_WINDOWS = (("07:00", "09:00"), ("18:00", "20:00"))


@dataclass(frozen=True)
class Targets:
    """The three figures the estate is tuned towards (the brief's Jiangjiaqiao figures)."""

    # Households enrolled at the end of the period ÷ the registry total.
    coverage: float = 1.0
    # Enrolled households that use their card at all (the long-run participation rate).
    participation: float = 0.9426
    # Wet weight ÷ weight in the four household categories, outside the summer surge.
    wet_share: float = 0.4587


@dataclass(frozen=True)
class EstateSpec:
    """Everything that shapes a simulated estate; the defaults are Jiangjiaqiao-like."""

    id: str = "jjq"
    name: str = "蒋家桥居民区"
    timezone: str = "Asia/Shanghai"
    drop_windows: tuple[tuple[str, str], ...] = DEFAULT_WINDOWS
    buildings: int = 20
    groups_per_building: int = 4
    households_per_group: int = 15  # 20 × 4 × 15 = 1,200 households
    rooms: int = 2  # each room has one bin per category
    targets: Targets = field(default_factory=Targets)
    # Of the households enrolled by the end, the share already enrolled at the start;
    # the rest enrol on days spread over the period (the committee signing people up).
    enrolled_before_share: float = 0.9
    # Share of drops made outside the drop-off windows (spill-over), on average.
    spill_share: float = 0.12
    # A card user forgets the card (drops anonymously) on this share of visits.
    forgot_card: float = 0.03
    # Anonymous drops by visitors, cleaners and shops, per 100 households a day.
    visitors_per_100_per_day: float = 2.0
    # A household's chance, per visit, of bringing renovation rubble.
    construction_per_visit: float = 0.0015

    # The registry count when it is not a whole number of groups (the last one is short).
    households: int | None = None

    @property
    def households_total(self) -> int:
        full = self.buildings * self.groups_per_building * self.households_per_group
        return full if self.households is None else min(self.households, full)

    def scaled(self, households: int, estate_id: str | None = None) -> EstateSpec:
        """Return this spec with exactly ``households`` households in groups of the same size."""
        groups = -(-households // self.households_per_group)
        buildings = -(-groups // self.groups_per_building)
        return replace(
            self,
            id=estate_id or self.id,
            buildings=buildings,
            rooms=min(self.rooms, buildings),
            households=households,
        )


@dataclass(frozen=True)
class BinSpec:
    """One bin: its room, id and category (one category per bin)."""

    room: str
    id: str
    category: str


@dataclass(frozen=True)
class Household:
    """A household and how it behaves."""

    id: str  # the token on its card
    building: str
    building_group: str
    room: str  # the refuse room it uses
    enrolled_on: date | None  # None: never enrolled (not covered)
    card_user: bool  # uses its card when enrolled (counts for participation)
    size: int  # persons; scales weights
    days_per_week: float  # drop-off days a week
    morning: float  # chance that a visit falls in the morning window
    twice: float  # chance of a second visit on a drop-off day


@dataclass(frozen=True)
class Estate:
    """A built estate: registry facts and the households' drawn behaviour."""

    spec: EstateSpec
    households: tuple[Household, ...]
    bins: tuple[BinSpec, ...]

    @property
    def id(self) -> str:
        return self.spec.id

    def rooms(self) -> list[str]:
        return sorted({b.room for b in self.bins})

    def bin_for(self, room: str, category: str) -> BinSpec:
        for b in self.bins:
            if b.room == room and b.category == category:
                return b
        raise KeyError(f"no {category} bin in room {room}")

    def enrolled_on(self, day: date) -> int:
        """Households enrolled on ``day`` (enrolled_on ≤ day)."""
        return sum(1 for h in self.households if h.enrolled_on is not None and h.enrolled_on <= day)


def room_ids(spec: EstateSpec) -> list[str]:
    return [f"r{i + 1}" for i in range(spec.rooms)]


def build_estate(spec: EstateSpec, seed: int, start: date, end: date) -> Estate:
    """Draw the households of ``spec`` for a simulation of ``[start, end]`` (local days)."""
    rng = np.random.default_rng([seed, 0x657374])  # "est": a stream of its own
    rooms = room_ids(spec)
    bins = tuple(
        BinSpec(room, f"{room}-{category}", category) for room in rooms for category in CATEGORIES
    )
    total = spec.households_total
    enrolled = round(total * spec.targets.coverage)
    # Which households enrol at all, and which of those only during the period.
    order = rng.permutation(total)
    enrolled_set = set(order[:enrolled].tolist())
    late = set(order[round(enrolled * spec.enrolled_before_share) : enrolled].tolist())
    days = max(1, (end - start).days + 1)
    households: list[Household] = []
    index = 0
    for b in range(spec.buildings):
        building = f"b{b + 1:02d}"
        # Buildings are split between rooms in contiguous blocks (nearest room).
        room = rooms[b * len(rooms) // spec.buildings]
        for g in range(spec.groups_per_building):
            group = f"{building}-g{g + 1}"
            for n in range(spec.households_per_group):
                if index == total:
                    break
                if index not in enrolled_set:
                    enrolled_on = None
                elif index in late:
                    enrolled_on = start + timedelta(days=int(rng.integers(0, days)))
                else:
                    enrolled_on = start - timedelta(days=int(rng.integers(1, 365)))
                households.append(
                    Household(
                        id=f"{spec.id}-{building}-{g + 1}{n + 1:02d}",
                        building=building,
                        building_group=group,
                        room=room,
                        enrolled_on=enrolled_on,
                        card_user=bool(rng.random() < spec.targets.participation),
                        size=int(rng.choice([1, 2, 3, 4, 5], p=[0.15, 0.35, 0.3, 0.15, 0.05])),
                        days_per_week=float(np.clip(rng.normal(5.5, 1.3), 2.0, 7.0)),
                        morning=float(rng.beta(2.0, 2.0)),
                        twice=float(rng.beta(1.2, 6.0)),
                    )
                )
                index += 1
    return Estate(spec=spec, households=tuple(households), bins=bins)
