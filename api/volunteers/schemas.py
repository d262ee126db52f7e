"""Request and response shapes of the volunteer routes."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.registry.schemas import Category

Kind = Literal["party_member", "group_leader", "resident", "child_leader"]
SwapStatus = Literal["open", "accepted", "cancelled"]


class AvailabilityWindow(BaseModel):
    """Local times a volunteer can watch on the listed weekdays (Monday = 0)."""

    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(min_length=1, description="weekdays, Monday = 0 … Sunday = 6")
    start: time = Field(examples=["17:30"])
    end: time = Field(examples=["21:00"], description="at or before start: past midnight")

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))


class VolunteerIn(BaseModel):
    """A volunteer as the committee registers them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "王阿姨",
                    "contact": "139…",
                    "building": "12",
                    "kind": "group_leader",
                    "availability": [
                        {"days": [0, 1, 2, 3, 4], "start": "17:30", "end": "20:30"},
                        {"days": [5, 6], "start": "06:30", "end": "20:30"},
                    ],
                    "unavailable_on": ["2026-04-05"],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    building: str | None = Field(default=None, max_length=64)
    kind: Kind = "resident"
    availability: list[AvailabilityWindow] | None = Field(
        default=None, description="when they can watch; null: any time"
    )
    unavailable_on: list[date] = Field(default_factory=list)
    active: bool = True


class Volunteer(BaseModel):
    """A volunteer as stored."""

    id: int
    estate: str
    name: str
    contact: str | None
    building: str | None
    kind: Kind
    availability: list[AvailabilityWindow] | None
    unavailable_on: list[date]
    active: bool
    token_id: int | None


class VolunteerCreated(Volunteer):
    """A new volunteer with the bearer token that acts as them, shown only this once."""

    token: str
    calendar_url: str


class Me(Volunteer):
    """The caller's own volunteer record and calendar feed."""

    calendar_url: str


class WatchSlotsIn(BaseModel):
    """A room's watch slots per day type; local [start, end) as HH:MM."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "weekday": [["18:00", "20:00"]],
                    "weekend": [["07:00", "09:00"], ["18:00", "20:00"]],
                    "needed": 1,
                }
            ]
        },
    )

    weekday: list[tuple[time, time]] = Field(default_factory=list)
    weekend: list[tuple[time, time]] = Field(default_factory=list)
    needed: int = Field(default=1, ge=1, le=20, description="volunteers per watch")


class WatchSlot(BaseModel):
    """One watch slot of a room."""

    day_type: Literal["weekday", "weekend"]
    start: time
    end: time
    needed: int


class RoomSlots(BaseModel):
    """A room's watch slots and whether they are its own or the estate's windows."""

    estate: str
    room: str
    source: Literal["room", "estate_windows"]
    slots: list[WatchSlot]


class Assignee(BaseModel):
    """A volunteer on a shift."""

    assignment_id: int
    volunteer_id: int
    name: str
    checked_in_at: datetime | None
    checked_out_at: datetime | None


class Shift(BaseModel):
    """A watch at a room on a local day, with who holds it."""

    id: int
    estate: str
    room: str
    room_name: str | None
    day: date
    local_start: time
    local_end: time
    starts_at: datetime
    ends_at: datetime
    needed: int
    assignees: list[Assignee]
    uncovered: bool = Field(description="fewer volunteers assigned than needed")


class MyShift(Shift):
    """One of the caller's shifts, with their own assignment."""

    assignment_id: int
    checked_in_at: datetime | None
    checked_out_at: datetime | None


class RosterCreated(BaseModel):
    """What generating a month's roster did."""

    estate: str
    month: str
    shifts: int
    seats: int
    filled: int
    uncovered_shifts: int
    per_volunteer: dict[int, int] = Field(description="volunteer id → shifts this month")


class OnDuty(BaseModel):
    """Who watches a room at an instant."""

    estate: str
    room: str
    at: datetime
    shifts: list[Shift]


class CheckIn(BaseModel):
    """An assignment after check-in or check-out."""

    assignment_id: int
    shift_id: int
    checked_in_at: datetime | None
    checked_out_at: datetime | None


class InspectionLine(BaseModel):
    """Counts of one category: drops checked, mis-sorted among them, re-sorted on the spot."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    checked: int = Field(ge=0, le=100_000)
    mis_sorted: int = Field(ge=0, le=100_000)
    re_sorted: int = Field(default=0, ge=0, le=100_000)

    @model_validator(mode="after")
    def _consistent(self) -> InspectionLine:
        if self.mis_sorted > self.checked:
            raise ValueError(f"{self.category}: mis_sorted exceeds the drops checked")
        if self.re_sorted > self.mis_sorted:
            raise ValueError(f"{self.category}: re_sorted exceeds the mis-sorted drops")
        return self


class InspectionIn(BaseModel):
    """An inspection during a shift."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "building": "12",
                    "notes": "外卖盒混入湿垃圾",
                    "photo_ref": "oss://photos/123.jpg",
                    "lines": [
                        {"category": "wet", "checked": 40, "mis_sorted": 3, "re_sorted": 3},
                        {"category": "dry", "checked": 25, "mis_sorted": 1, "re_sorted": 1},
                    ],
                }
            ]
        },
    )

    building: str | None = Field(default=None, max_length=64)
    notes: str | None = Field(default=None, max_length=2000)
    photo_ref: str | None = Field(default=None, max_length=500)
    lines: list[InspectionLine] = Field(min_length=1, max_length=5)

    @field_validator("lines")
    @classmethod
    def _one_per_category(cls, value: list[InspectionLine]) -> list[InspectionLine]:
        if len({x.category for x in value}) != len(value):
            raise ValueError("one line per category")
        return value


class Inspection(InspectionIn):
    """An inspection as stored."""

    id: int
    assignment_id: int
    shift_id: int
    volunteer_id: int
    estate: str
    room: str
    recorded_at: datetime
    updated_at: datetime


class AccuracyRow(BaseModel):
    """Accuracy of a group: passed ÷ inspected, with the evidence behind it."""

    inspected: int = Field(description="drops inspected")
    passed: int = Field(description="inspected drops that were sorted correctly")
    mis_sorted: int
    re_sorted: int
    accuracy: float | None = Field(description="passed / inspected; null with no inspections")
    inspections: int


class BuildingAccuracy(AccuracyRow):
    """Accuracy of one building (null: inspections that named no building)."""

    building: str | None


class Accuracy(AccuracyRow):
    """Sorting accuracy of an estate over local days [from, to]."""

    model_config = ConfigDict(populate_by_name=True)

    estate: str
    from_: date = Field(alias="from")
    to: date
    by_category: dict[str, AccuracyRow]
    by_building: list[BuildingAccuracy]


class SwapIn(BaseModel):
    """An offer of one's shift to the others."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


class Swap(BaseModel):
    """A swap offer and what became of it."""

    id: int
    assignment_id: int
    shift: Shift
    offered_by: int
    offered_by_name: str
    taken_by: int | None
    taken_by_name: str | None
    status: SwapStatus
    note: str | None
    created_at: datetime
    decided_at: datetime | None


class BinActivity(BaseModel):
    """One bin during a shift."""

    bin: str
    category: str
    drops: int
    kg: float
    fill_pct_max: float | None
    fill_pct_last: float | None


class AlarmSeen(BaseModel):
    """An alarm raised during a shift."""

    ts: datetime
    bin: str
    alarm: str | None


class ShiftActivity(BaseModel):
    """A shift with its room's telemetry during the watch."""

    shift: Shift
    drops: int
    identified_drops: int
    kg: dict[str, float]
    bins: list[BinActivity]
    alarms: list[AlarmSeen]


class Suggestion(BaseModel):
    """A watch slot that sees many drops per volunteer: a candidate for more volunteers."""

    room: str
    day_type: Literal["weekday", "weekend"]
    start: time
    end: time
    avg_drops: float = Field(description="drops per watch in the look-back weeks")
    avg_volunteers: float = Field(description="volunteers per watch in the period's roster")
    drops_per_volunteer: float | None
    suggested_volunteers: int


class Coverage(BaseModel):
    """Uncovered watches of a period and the busy slots that need more volunteers."""

    model_config = ConfigDict(populate_by_name=True)

    estate: str
    from_: date = Field(alias="from")
    to: date
    shifts: int
    uncovered: list[Shift]
    suggestions: list[Suggestion]
