"""Request and response shapes of the volunteer records."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["party_member", "group_leader", "resident", "child_leader"]


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
