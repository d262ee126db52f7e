"""Request and response shapes of alarms and the estates' alarm thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from api.fields import JsonInt

Kind = Literal[
    "overflow",
    "odour",
    "temperature",
    "tilt",
    "sensor_fault",
    "fill_high",
    "battery_low",
    "offline",
    "silent_room",
    "stuck_sensor",
]
Tenths = Annotated[float, AfterValidator(lambda v: round(v, 1))]
State = Literal["open", "acknowledged", "resolved"]
StateFilter = Literal["open", "acknowledged", "resolved", "unresolved"]


class Alarm(BaseModel):
    """One alarm record: open -> acknowledged -> resolved."""

    id: int
    estate: str
    room: str
    bin: str | None = Field(description="null for a room's alarm (silent_room)")
    kind: Kind
    source: Literal["device", "derived"]
    state: State
    first_seen: datetime
    last_seen: datetime
    repeats: int = Field(description="device alarm events this record counts")
    detail: dict[str, Any]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="'auto' when the condition cleared")


class AlarmSettingsIn(BaseModel):
    """An estate's thresholds of the derived alarms."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "fill_pct": 90,
                    "battery_pct": 20,
                    "offline_minutes": 60,
                    "offline_window_minutes": 15,
                    "device_clear_minutes": 30,
                    "silent_room": True,
                    "stuck_sensor": True,
                }
            ]
        },
    )

    # Stored as `real`: bounds a float4 keeps, and tenths of a percent (a finer
    # threshold is noise in a bin's reading).
    fill_pct: Tenths = Field(ge=0.1, le=100, description="fill_high at or above this %")
    battery_pct: Tenths = Field(ge=0, le=99.9, description="battery_low at or below this %")
    offline_minutes: JsonInt = Field(ge=1, le=10080, description="no message this long")
    offline_window_minutes: JsonInt = Field(
        ge=1, le=10080, description="the same during a drop-off window"
    )
    device_clear_minutes: JsonInt = Field(
        ge=1, le=10080, description="a device alarm not repeated this long resolves"
    )
    silent_room: StrictBool
    stuck_sensor: StrictBool


class AlarmSettingsOut(AlarmSettingsIn):
    """The thresholds as stored (the defaults when never set)."""

    estate: str
    updated_at: datetime
