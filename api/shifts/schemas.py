"""Response shapes of shifts, who is on duty, check-in/out and a shift's telemetry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.fields import ClockTime


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
    local_start: ClockTime
    local_end: ClockTime
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
    # "retained_away": the watch ended more than FENLEI_RAW_RETENTION_DAYS ago, so its
    # raw events may have been dropped and the counts above are not its activity.
    raw_events: Literal["kept", "retained_away"] = "kept"
