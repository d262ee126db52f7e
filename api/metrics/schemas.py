"""Response shapes of the figures routes (with the examples OpenAPI shows)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

KG_EXAMPLE: dict[str, Any] = {
    "dry": 812.4,
    "wet": 1033.9,
    "recyclable": 301.2,
    "hazardous": 6.5,
    "construction": 120.0,
}


SEQS_LOST = (
    "event seqs declared lost: gaps in a bin's seq (the devices' per-bin counter) still "
    "open after the ingester's FENLEI_SEQ_GAP_TIMEOUT_S, counted whole on the local day "
    "the gap was recorded, for the gaps recorded in [from, to]. Catches loss from devices "
    "that cannot resend; bins without seq count nothing"
)
SEQS_FILLED_LATE = (
    "of seqs_lost, the events that arrived after their gap was recorded (stored, and in "
    "the figures); seqs_lost - seqs_filled_late are still missing"
)


class Kg(BaseModel):
    """Kilograms (grams / 1000) per category."""

    dry: float
    wet: float
    recyclable: float
    hazardous: float
    construction: float


class EstateMetrics(BaseModel):
    """The three figures of one estate for [from, to] and what they are made of."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "estate": "jjq",
                    "from": "2019-03-23",
                    "to": "2019-09-11",
                    "coverage": 1.0,
                    "participation_rate": 0.9426,
                    "wet_share": 0.4587,
                    "wet_share_of_wet_dry": 0.56,
                    "households_total": 1200,
                    "households_enrolled": 1200,
                    "households_active": 1131,
                    "drops": 251034,
                    "kg": KG_EXAMPLE,
                    "in_window_share": 0.91,
                    "accuracy": 0.97,
                    "inspected": 4210,
                    "seqs_lost": 3,
                    "seqs_filled_late": 1,
                    "definitions_version": "v1",
                }
            ]
        },
    )

    estate: str
    from_: date = Field(alias="from")
    to: date
    coverage: float | None = Field(description="enrolled on `to` / households_total")
    participation_rate: float | None = Field(
        description="enrolled on `to` with >= 1 identified drop in the period / enrolled on `to`"
    )
    wet_share: float | None = Field(
        description="wet kg / (dry + wet + recyclable + hazardous) kg; construction excluded"
    )
    wet_share_of_wet_dry: float | None = Field(description="wet kg / (wet + dry) kg")
    households_total: int = Field(description="the committee's count (registry)")
    households_enrolled: int
    households_active: int
    drops: int = Field(description="all drops, identified or anonymous, every category")
    kg: Kg
    in_window_share: float | None = Field(
        description="share of drops made inside the estate's drop-off windows (local time)"
    )
    accuracy: float | None = Field(
        default=None,
        description="sorting accuracy from volunteers' inspections: drops that passed / "
        "drops inspected in the period (null when nothing was inspected)",
    )
    inspected: int = Field(
        default=0, description="drops volunteers inspected: the evidence behind `accuracy`"
    )
    seqs_lost: int = Field(ge=0, description=SEQS_LOST)
    seqs_filled_late: int = Field(ge=0, description=SEQS_FILLED_LATE)
    definitions_version: str


class DailyRow(BaseModel):
    """One local day of an estate."""

    day: date
    households_enrolled: int
    households_active: int = Field(description="enrolled that day with a drop that day")
    participation_rate: float | None
    drops: int
    identified_drops: int
    kg: Kg
    wet_share: float | None
    in_window_share: float | None = Field(
        description="share of the day's drops made inside the drop-off windows (local time)"
    )


class EstateDaily(BaseModel):
    """An estate's days of [from, to], every day present (zeros on days without drops)."""

    model_config = ConfigDict(populate_by_name=True)

    estate: str
    from_: date = Field(alias="from")
    to: date
    days: list[DailyRow]
    definitions_version: str


class GroupMetrics(BaseModel):
    """Figures of a building or building group from its registered households' drops."""

    households_registered: int
    households_enrolled: int = Field(description="enrolled on `to`")
    households_active: int
    participation_rate: float | None
    drops: int = Field(description="identified drops of the registered households")
    kg: Kg
    wet_share: float | None


class BuildingGroupMetrics(GroupMetrics):
    """One building group (楼组); `building_group` is null for households without one."""

    building_group: str | None


class BuildingMetrics(GroupMetrics):
    """One building with its building groups."""

    building: str
    groups: list[BuildingGroupMetrics]


class EstateBuildings(BaseModel):
    """Per building and building group. Anonymous drops belong to no building."""

    model_config = ConfigDict(populate_by_name=True)

    estate: str
    from_: date = Field(alias="from")
    to: date
    buildings: list[BuildingMetrics]
    definitions_version: str


class TotalMetrics(BaseModel):
    """Several estates taken together (ratios of the summed counts)."""

    coverage: float | None
    participation_rate: float | None
    wet_share: float | None
    wet_share_of_wet_dry: float | None
    households_total: int
    households_enrolled: int
    households_active: int
    drops: int
    kg: Kg
    in_window_share: float | None
    seqs_lost: int = Field(ge=0, description=SEQS_LOST)
    seqs_filled_late: int = Field(ge=0, description=SEQS_FILLED_LATE)


class MultiMetrics(BaseModel):
    """Several estates side by side, with totals."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    estates: list[EstateMetrics]
    totals: TotalMetrics
    definitions_version: str
