"""Request and response shapes of the registry routes, validated on the way in."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Category = Literal["dry", "wet", "recyclable", "hazardous", "construction"]
HOUSEHOLD_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
DEFAULT_WINDOWS = [("07:00", "09:00"), ("18:00", "20:00")]


class EstateIn(BaseModel):
    """An estate as the committee describes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "蒋家桥居民区",
                    "timezone": "Asia/Shanghai",
                    "households_total": 1200,
                    "drop_windows": [["07:00", "09:00"], ["18:00", "20:00"]],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of local days")
    households_total: int = Field(ge=0, description="the committee's count; coverage's denominator")
    drop_windows: list[tuple[str, str]] | None = Field(
        default=None, description="local [start, end) windows, HH:MM; default 07-09 and 18-20"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("drop_windows")
    @classmethod
    def _windows(cls, value: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
        for start, end in value or []:
            try:
                if time.fromisoformat(start) >= time.fromisoformat(end):
                    raise ValueError(f"window {start}-{end} does not end after it starts")
            except ValueError as exc:
                raise ValueError(f"window {start}-{end}: {exc}") from None
        return value


class Estate(BaseModel):
    """An estate as stored."""

    id: str
    name: str
    timezone: str
    households_total: int
    drop_windows: list[tuple[str, str]]
    households_registered: int
    created_at: datetime
    updated_at: datetime


class RoomIn(BaseModel):
    """A refuse room (垃圾厢房)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "1号厢房"}]})

    name: str | None = Field(default=None, max_length=200)


class Room(BaseModel):
    """A refuse room as stored, with its bin count."""

    estate: str
    id: str
    name: str | None
    bins: int


class BinIn(BaseModel):
    """A bin: exactly one category."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"category": "wet"}]})

    category: Category


class Bin(BaseModel):
    """A bin as stored, with the device state the ingester keeps."""

    estate: str
    room: str
    id: str
    category: Category
    online: bool | None = None
    last_seen: datetime | None = None
    fill_pct: float | None = None
    battery_pct: float | None = None
    last_alarm: str | None = None
    last_alarm_at: datetime | None = None


class HouseholdIn(BaseModel):
    """A household: its card/QR token, building, building group and enrolment dates."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "JJQ-0001",
                    "building": "12",
                    "building_group": "12-2",
                    "enrolled_on": "2019-03-23",
                    "left_on": None,
                }
            ]
        },
    )

    id: str = Field(pattern=HOUSEHOLD_PATTERN, description="the token on the card or QR code")
    building: str = Field(min_length=1, max_length=64)
    building_group: str | None = Field(default=None, min_length=1, max_length=64)
    enrolled_on: date | None = None
    left_on: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> HouseholdIn:
        if (
            self.left_on is not None
            and self.enrolled_on is not None
            and self.left_on < self.enrolled_on
        ):
            raise ValueError(f"left_on {self.left_on} is before enrolled_on {self.enrolled_on}")
        return self


class Household(HouseholdIn):
    """A household as stored."""

    model_config = ConfigDict(extra="ignore")


class Upserted(BaseModel):
    """What a bulk upsert did."""

    upserted: int
    created: int
    updated: int
