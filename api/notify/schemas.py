"""Bodies and answers of the notification routes. Secrets are write-only: a channel's
answer carries only `secret`, its masked form."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Printable text on one line: a name a listing shows.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,100}$"
# Length bounds in the pattern itself: the document's generators honour them there.
URL_PATTERN = r"^https?://[A-Za-z0-9.:\[\]-]{1,253}([/?][!-~]{0,1790})?$"
# Plain ASCII addresses, bounded by the pattern (no maxLength beside it: the
# document's generators then ignore the pattern; PostgreSQL refuses NUL in jsonb).
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,189}$"
HOST_PATTERN = r"^[A-Za-z0-9.:\[\]-]{1,253}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 -]{2,30}$"
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Audience = Literal["duty", "committee"]
AlarmKind = Literal[
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
Url = Annotated[
    str,
    Field(
        pattern=URL_PATTERN,
        description="the robot's or receiver's URL with its key; write-only (stored"
        " encrypted, shown masked)",
        examples=["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0a1b2c3d"],
    ),
]
Secret = Annotated[str, Field(pattern=r"^[ -~]{1,200}$")]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=NAME_PATTERN, examples=["值班群"])]
    audience: Audience = Field(
        description="duty: the volunteers on duty and the property contact; committee:"
        " told when nobody acknowledged in time"
    )


class WebhookIn(_Channel):
    """A generic JSON webhook."""

    kind: Literal["webhook"]
    url: Url


class WeComIn(_Channel):
    """企业微信 group robot."""

    kind: Literal["wecom"]
    url: Url
    format: Literal["text", "markdown"] = Field(
        default="text", description="markdown cannot mention by phone: phones go in the text"
    )


class DingTalkIn(_Channel):
    """钉钉 group robot, optionally with its signing secret (加签, SEC...)."""

    kind: Literal["dingtalk"]
    url: Url
    sign_secret: Secret | None = Field(default=None, description="write-only")


class EmailIn(_Channel):
    """Email over SMTP."""

    kind: Literal["email"]
    host: Annotated[str, Field(pattern=HOST_PATTERN, examples=["smtp.example.com"])]
    port: int = Field(default=587, ge=1, le=65_535)
    security: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="tls: TLS from the start (port 465)"
    )
    username: Secret | None = None
    password: Secret | None = Field(default=None, description="write-only")
    sender: Annotated[str, Field(pattern=EMAIL_PATTERN)]
    to: Annotated[
        list[Annotated[str, Field(pattern=EMAIL_PATTERN)]],
        Field(min_length=1, max_length=20),
    ]


ChannelIn = Annotated[WebhookIn | WeComIn | DingTalkIn | EmailIn, Field(discriminator="kind")]


class ChannelOut(BaseModel):
    """A channel as listed: never its secret, only `secret`'s masked form."""

    id: int
    name: str
    kind: Literal["webhook", "wecom", "dingtalk", "email"]
    audience: Audience
    config: dict[str, Any] = Field(description="what is not secret (SMTP host, recipients)")
    secret: str = Field(description="masked: https://qyapi…key=****c3f")
    created_at: datetime


def _default_urgent() -> list[AlarmKind]:
    return ["overflow", "odour"]


class SettingsIn(BaseModel):
    """An estate's notification settings (replaced whole)."""

    model_config = ConfigDict(extra="forbid")

    property_name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = Field(
        default=None, description="the property company (物业) told with those on duty"
    )
    property_phone: Annotated[str, Field(pattern=PHONE_PATTERN)] | None = None
    property_email: Annotated[str, Field(pattern=EMAIL_PATTERN)] | None = None
    escalate_minutes: int = Field(
        default=10, ge=1, le=1440, description="unacknowledged this long: the committee"
    )
    reminder_minutes: int = Field(default=30, ge=1, le=1440, description="between reminders")
    quiet_start: Annotated[str, Field(pattern=CLOCK_PATTERN, examples=["22:00"])] | None = Field(
        default=None,
        description="local HH:MM; with quiet_end (both or neither: else a 422 `rule`)",
    )
    quiet_end: Annotated[str, Field(pattern=CLOCK_PATTERN, examples=["07:00"])] | None = None
    urgent_kinds: list[AlarmKind] = Field(
        default_factory=_default_urgent,
        max_length=10,
        description="kinds sent at once even in quiet hours",
    )
    send_resolved: bool = Field(default=True, description="a note when an alarm resolves")


class SettingsOut(BaseModel):
    """An estate's notification settings (the defaults until set)."""

    property_name: str | None
    property_phone: str | None
    property_email: str | None
    escalate_minutes: int
    reminder_minutes: int
    quiet_start: str | None
    quiet_end: str | None
    urgent_kinds: list[str]
    send_resolved: bool
    updated_at: datetime | None


class TestResult(BaseModel):
    """A test message's outcome (also in the delivery log)."""

    ok: bool
    detail: str = Field(description="HTTP status, robot errcode, or the error (masked)")


class Delivery(BaseModel):
    """One attempt to deliver a step of an alarm (or a test message) over a channel."""

    id: int
    alarm_id: int | None
    step: str = Field(description="open, escalate, remind-<n>, resolved, test")
    channel_id: int | None = Field(description="null: the channel was deleted since")
    channel_name: str
    channel_kind: str | None
    attempt: int
    at: datetime
    ok: bool
    detail: str
    delivery_state: str | None = Field(
        description="the delivery now: pending (retrying), sent, failed, cancelled"
    )
