"""Request and response shapes of watch slots, roster generation and watch coverage."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.fields import ClockTime, JsonInt, SlotTimes
from api.shifts.schemas import Shift


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

    weekday: list[SlotTimes] = Field(default_factory=list, max_length=24)
    weekend: list[SlotTimes] = Field(default_factory=list, max_length=24)
    needed: JsonInt = Field(default=1, ge=1, le=20, description="volunteers per watch")


class WatchSlot(BaseModel):
    """One watch slot of a room."""

    day_type: Literal["weekday", "weekend"]
    start: ClockTime
    end: ClockTime
    needed: int


class RoomSlots(BaseModel):
    """A room's watch slots and whether they are its own or the estate's windows."""

    estate: str
    room: str
    source: Literal["room", "estate_windows"]
    slots: list[WatchSlot]


class RosterCreated(BaseModel):
    """What generating a month's roster did."""

    estate: str
    month: str
    shifts: int
    seats: int
    filled: int
    uncovered_shifts: int
    per_volunteer: dict[int, int] = Field(description="volunteer id → shifts this month")


class Suggestion(BaseModel):
    """A watch slot that sees many drops per volunteer: a candidate for more volunteers."""

    room: str
    room_name: str | None = None
    day_type: Literal["weekday", "weekend"]
    start: ClockTime
    end: ClockTime
    avg_drops: float = Field(description="drops per watch in the look-back weeks")
    avg_volunteers: float = Field(description="volunteers per watch in the period's roster")
    drops_per_volunteer: float | None
    suggested_volunteers: int


class WatchCoverage(BaseModel):
    """Uncovered watches of a period and the busy slots that need more volunteers.

    Watch coverage is about volunteers at the refuse rooms; it is not the headline
    coverage figure (households enrolled / households) of api.metrics.
    """

    model_config = ConfigDict(populate_by_name=True)

    estate: str
    from_: date = Field(alias="from")
    to: date
    shifts: int
    uncovered: list[Shift]
    suggestions: list[Suggestion]


class AssignmentIn(BaseModel):
    """Who takes a seat of a watch: a volunteer of the shift's estate."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"volunteer_id": 1}]})

    # At most 2**53: up to it every JSON number is an exact integer, so the schema's
    # maximum and the check agree on a number written as 1e15 or 9007199254740992.0.
    volunteer_id: JsonInt = Field(ge=1, le=2**53)
