"""The forecast's answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Category = Literal["dry", "wet", "recyclable", "hazardous", "construction"]
Confidence = Literal["high", "medium", "low", "none"]


class _Estate(BaseModel):
    estate: str
    timezone: str = Field(description="the estate's zone, the one the hourly rates are in")
    threshold_pct: float = Field(description="the estate's fill alarm threshold (default 90)")
    horizon_hours: int = Field(description="how far ahead a bin's full time is looked for")
    generated_at: datetime = Field(description="the time the forecast is for (now)")


class BinForecast(BaseModel):
    """One bin: its fill now, its rate in the current local hour, when it is full."""

    room: str
    room_name: str | None
    bin: str
    category: Category
    fill_pct: float | None = Field(description="current fill; null when it never reported")
    rate_pct_per_hour: float | None = Field(
        description="fill rate of the current local hour (percentage points per hour)"
    )
    full_at: datetime | None = Field(
        description="when it reaches the threshold; now when it has; null when not"
        " within the horizon or with no data"
    )
    hours_to_full: float | None
    basis_days: float = Field(description="days of readings the rates are estimated from")
    confidence: Confidence = Field(description="high: 7+ days, medium: 3+, low: less, none")


class EstateForecast(_Estate):
    bins: list[BinForecast]


class RoomForecast(BaseModel):
    """One room: the truck should come before `collect_before` (清运 before)."""

    room: str
    room_name: str | None
    collect_before: datetime | None = Field(
        description="the earliest full time of the room's bins, rounded down to 5 minutes;"
        " null when none is full within the horizon"
    )
    first_bin: str | None
    first_category: Category | None
    bins_due: int = Field(description="bins full within the horizon")
    bins_no_data: int = Field(description="bins with no readings to forecast from")
    bins: int


class EstateRooms(_Estate):
    rooms: list[RoomForecast] = Field(description="soonest first; rooms with none due last")
