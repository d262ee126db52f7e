"""Request and response shapes of the registry routes, validated on the way in."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from api.fields import PG_INT_MAX, Day, JsonInt, Text, Window, broken_rule

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

    name: Text = Field(min_length=1, max_length=200)
    timezone: Text = Field(
        default="Asia/Shanghai", max_length=64, description="IANA time zone of local days"
    )
    # JsonInt: JSON false is not 0 (pydantic's lax mode would take it).
    households_total: JsonInt = Field(
        ge=0, le=PG_INT_MAX, description="the committee's count; coverage's denominator"
    )
    drop_windows: list[Window] | None = Field(
        default=None,
        max_length=24,
        description="local [start, end) windows, HH:MM; default 07-09 and 18-20",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise broken_rule(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("drop_windows")
    @classmethod
    def _windows(cls, value: list[list[str]] | None) -> list[list[str]] | None:
        for start, end in value or []:
            # Both ends match HH:MM (the schema's pattern), so they parse.
            if time.fromisoformat(start) >= time.fromisoformat(end):
                raise broken_rule(f"window {start}-{end} does not end after it starts")
        return value


class Estate(BaseModel):
    """An estate as stored."""

    id: str
    name: str
    timezone: str
    households_total: int
    drop_windows: list[list[str]]
    households_registered: int
    created_at: datetime
    updated_at: datetime


class RoomIn(BaseModel):
    """A refuse room (垃圾厢房)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "1号厢房"}]})

    name: Text | None = Field(default=None, max_length=200)


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


class SeqGap(BaseModel):
    """Seqs of a bin declared lost: missing longer than the ingester's gap timeout."""

    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)
    opened_at: datetime = Field(description="the gap was open at least since then")
    recorded_at: datetime = Field(description="when it was declared lost")
    filled_late: int = Field(
        ge=0, description="distinct seqs of the range that arrived later (stored)"
    )


# The most recent gaps shown with a bin (all of them are in seq_lost).
RECENT_GAPS = 5


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
    seq_watermark: int | None = Field(
        default=None,
        description="the stored watermark N, as published on the bin's retained `stored` "
        "topic: every seq 1..N is stored or declared lost (null: seq 1 not yet stored, "
        "or the device sends no seq)",
    )
    seq_gap_open_since: datetime | None = Field(
        default=None,
        description="seq N+1 is missing while a higher seq is stored, at least since then; "
        "declared lost once open past the ingester's FENLEI_SEQ_GAP_TIMEOUT_S",
    )
    seq_lost: int = Field(default=0, ge=0, description="seqs declared lost, all time")
    seq_filled_late: int = Field(
        default=0, ge=0, description="of seq_lost, events that arrived later (stored)"
    )
    seq_gaps: list[SeqGap] = Field(
        default_factory=list,
        description=f"the {RECENT_GAPS} most recently recorded lost ranges, newest first",
        max_length=RECENT_GAPS,
    )


# Registry dates are days a committee can mean: far-off years are typos, and the figures'
# day arithmetic must never reach the end of the calendar (api.periods' range).
RegistryDay = Day


class HouseholdIn(BaseModel):
    """A household as a row of the bulk POST or of a sheet; dated changes per the
    history rules (api/registry/history.py)."""

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
                    "effective_on": None,
                    "display_name": "12号楼 302室",
                    "publish_consent": True,
                }
            ]
        },
    )

    id: str = Field(pattern=HOUSEHOLD_PATTERN, description="the token on the card or QR code")
    building: Text = Field(min_length=1, max_length=64)
    building_group: Text | None = Field(default=None, min_length=1, max_length=64)
    enrolled_on: RegistryDay | None = Field(
        default=None,
        description="start of an enrolment spell: a spell's own start names it, a date on "
        "or after the latest spell's left_on opens a new one; absent: enrolment unchanged",
    )
    left_on: RegistryDay | None = Field(
        default=None, description="end (exclusive) of the named or latest spell"
    )
    effective_on: RegistryDay | None = Field(
        default=None,
        description="when a change of building or building group applies; default: today "
        "in the estate's time zone",
    )
    display_name: Text | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="shown on public boards only with publish_consent; absent: unchanged",
    )
    publish_consent: StrictBool | None = Field(
        default=None, description="the household agrees to its display_name on public boards"
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> HouseholdIn:
        if (
            self.left_on is not None
            and self.enrolled_on is not None
            and self.left_on < self.enrolled_on
        ):
            raise broken_rule(f"left_on {self.left_on} is before enrolled_on {self.enrolled_on}")
        return self


class Household(BaseModel):
    """A household as it stands now: its current place and latest enrolment spell."""

    id: str
    building: str
    building_group: str | None
    enrolled_on: date | None
    left_on: date | None
    display_name: str | None
    publish_consent: bool


class MembershipOut(BaseModel):
    """Where a household belongs from valid_from until valid_to (exclusive)."""

    valid_from: date | None = Field(description="null: since before the registry kept history")
    valid_to: date | None = Field(description="null: still so")
    building: str
    building_group: str | None
    recorded_at: datetime


class SpellOut(BaseModel):
    """An enrolment spell: enrolled from enrolled_on until left_on (exclusive)."""

    enrolled_on: date
    left_on: date | None = Field(description="null: still enrolled")
    recorded_at: datetime


class HouseholdHistory(BaseModel):
    """A household's memberships and enrolment spells, oldest first."""

    id: str
    display_name: str | None
    publish_consent: bool
    memberships: list[MembershipOut]
    spells: list[SpellOut]


class BackdatedChange(BaseModel):
    """A household whose change reaches back before today."""

    id: str
    from_: date = Field(alias="from", description="the first day whose figures it changed")
    days: int = Field(description="days before today on which its place or enrolment changed")

    model_config = ConfigDict(populate_by_name=True)


# The back-dated changes listed one by one in a response (all are counted).
MAX_BACKDATED_LISTED = 100


class Backdated(BaseModel):
    """Changes dated before today: they rewrite the figures of the periods they reach."""

    rows: int = Field(description="rows whose change reaches back before today")
    earliest: date | None = Field(description="the earliest day any of them changed")
    days_touched: int = Field(
        description="distinct local days before today whose state the request changed"
    )
    changes: list[BackdatedChange] = Field(
        description=f"the first {MAX_BACKDATED_LISTED} of them, in request order"
    )


class Upserted(BaseModel):
    """What a bulk upsert did."""

    upserted: int = Field(description="rows in the request")
    created: int
    updated: int = Field(description="existing households the request changed")
    unchanged: int = Field(description="rows that matched what was stored")
    backdated: Backdated
