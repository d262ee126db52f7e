"""Request and response shapes of the volunteer records."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from api.fields import Day, JsonInt, LocalMinute, Text, Weekday

Kind = Literal["party_member", "group_leader", "resident", "child_leader"]


class AvailabilityWindow(BaseModel):
    """Local times a volunteer can watch on the listed weekdays (Monday = 0)."""

    model_config = ConfigDict(extra="forbid")

    days: list[Weekday] = Field(
        min_length=1, max_length=7, description="weekdays, Monday = 0 … Sunday = 6"
    )
    start: LocalMinute = Field(examples=["17:30"])
    end: LocalMinute = Field(examples=["21:00"], description="at or before start: past midnight")

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
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

    name: Text = Field(min_length=1, max_length=200)
    contact: Text | None = Field(default=None, max_length=200)
    building: Text | None = Field(default=None, max_length=64)
    kind: Kind = "resident"
    availability: list[AvailabilityWindow] | None = Field(
        default=None, max_length=50, description="when they can watch; null: any time"
    )
    unavailable_on: list[Day] = Field(default_factory=list, max_length=1_000)
    # Strict: JSON 0 is not false.
    active: StrictBool = True


class Volunteer(BaseModel):
    """A volunteer as stored."""

    id: int
    estate: str
    name: str
    contact: str | None
    building: str | None
    kind: Kind
    availability: list[AvailabilityWindow] | None
    unavailable_on: list[Day]
    active: bool
    token_id: int | None


class VolunteerCreated(Volunteer):
    """A new volunteer with the bearer token that acts as them, shown only this once."""

    token: str
    calendar_url: str


class Me(Volunteer):
    """The caller's own volunteer record and calendar feed."""

    calendar_url: str


class SigninLinkIn(BaseModel):
    """How long a new one-time sign-in link works."""

    model_config = ConfigDict(extra="forbid")

    valid_hours: JsonInt = Field(default=72, ge=1, le=720, description="hours until it expires")


class SigninLink(BaseModel):
    """A one-time sign-in link for a volunteer's phone, shown only this once."""

    url: str = Field(
        description="path of the link on this server; opening it and confirming signs in",
        examples=["/volunteer/link/3q2-7wEAAAAAAAAAAAAAAAAA"],
    )
    expires_at: datetime
