"""Field types the request schemas share: values PostgreSQL can store, refused at the
edge with a 422 instead of failing in the database with a 500.

- `Text`: no NUL (PostgreSQL text cannot hold U+0000) and no lone surrogate (not
  encodable as UTF-8); the JSON schema says so with a pattern.
- `JsonInt`: a body's integer as JSON Schema has it (3 or 3.0, never true or "3").
- `Int32` / `PG_INT_MAX`: what an `integer` column holds.
- `LocalTime` / `LocalMinute` / `HourMinute`: a time of day on the rooms' local clock,
  HH:MM[:SS], never with an offset: `"10:02:48-21:44"` parses (in pydantic, and as
  JSON Schema's `format: time`) as a time at offset -21:44, which PostgreSQL refuses.
- `Day`: a date inside the days the API serves (`api.periods.FIRST_DAY`..`LAST_DAY`).

A value the JSON schema allows but a rule it cannot state refuses (a day outside the
served days, values of one body that contradict each other) is refused with an error
item of `type` `period` or `rule` (`broken_rule`), never pydantic's `value_error`: the
422's description names these types, and the schemathesis test holds the API to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from api.periods import FIRST_DAY, LAST_DAY

PG_INT_MAX = 2**31 - 1
# Offsets a query may reach without an overflow: a bigint column's range.
PG_BIGINT_MAX = 2**63 - 1
# The JSON schema's version of `_storable` (ECMA 262 regex: no NUL anywhere).
NO_NUL_PATTERN = "^[^\\u0000]*$"
# 00:00 … 23:59, optionally with seconds and a fraction; never an offset.
MINUTE_PATTERN = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
TIME_PATTERN = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?$"


# The error item types of refusals the JSON schema cannot state (see the docstring).
PERIOD, RULE = "period", "rule"
SERVED_DAYS = f"a day from {FIRST_DAY} to {LAST_DAY}"


def broken_rule(reason: str, kind: str = RULE) -> PydanticCustomError:
    """The error to raise in a validator for a documented rule the schema cannot state."""
    # The reason goes in as context, not as the template: it may quote input with braces.
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


def _served_day(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise broken_rule(f"must lie between {FIRST_DAY} and {LAST_DAY}", PERIOD)
    return value


def _json_integer(value: object) -> object:
    # JSON Schema's integer: 3 and 3.0, never true, false or "3" (which pydantic's lax
    # mode takes as 1, 0 and 3); StrictInt would refuse 3.0, which the schema allows.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be an integer")
    return value


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (it has a lone surrogate)") from None
    return value


def _clock(pattern: str, shape: str) -> Callable[[object], object]:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        # Stricter than pydantic's time parsing, which also takes offsets and numbers
        # of seconds: exactly what the JSON schema's pattern says.
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(f"a local time of day is {shape}, without an offset")
        if isinstance(value, time) and value.tzinfo is not None:
            raise ValueError(f"a local time of day is {shape}, without an offset")
        if not isinstance(value, str | time):
            raise ValueError(f"a local time of day is a string {shape}")
        return value

    return check


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("an instant needs an offset, e.g. 2026-04-03T19:00:00+08:00")
    if not FIRST_DAY.year <= value.year <= LAST_DAY.year:
        raise broken_rule(f"must lie between {FIRST_DAY.year} and {LAST_DAY.year}", PERIOD)
    return value


Text = Annotated[
    str, AfterValidator(_storable), Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
]
# An integer in a JSON body, as its schema says: no booleans, no strings. Bounds go in
# the field's `= Field(ge=…, le=…)`, or before the validator (as `Int32` and `Weekday` are):
# `Annotated[JsonInt, Field(ge=0)]` would document them as raw `ge`/`le` keys.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]
Int32 = Annotated[int, Field(ge=-PG_INT_MAX - 1, le=PG_INT_MAX), BeforeValidator(_json_integer)]
Weekday = Annotated[int, Field(ge=0, le=6), BeforeValidator(_json_integer)]
# Answers write times as HH:MM:SS[.ffffff] (and never with an offset: JSON Schema's
# `format: time` would demand one).
_TIME_OUT = WithJsonSchema({"type": "string", "pattern": TIME_PATTERN}, mode="serialization")
LocalTime = Annotated[
    time,
    BeforeValidator(_clock(TIME_PATTERN, "HH:MM or HH:MM:SS")),
    WithJsonSchema(
        {"type": "string", "pattern": TIME_PATTERN, "examples": ["18:00"]}, mode="validation"
    ),
    _TIME_OUT,
]
# Availability is kept to the minute: seconds would be dropped, so they are refused.
LocalMinute = Annotated[
    time,
    BeforeValidator(_clock(MINUTE_PATTERN, "HH:MM")),
    WithJsonSchema(
        {"type": "string", "pattern": MINUTE_PATTERN, "examples": ["17:30"]}, mode="validation"
    ),
    _TIME_OUT,
]
# A time of day in an answer (a shift's local start, a slot's end).
ClockTime = Annotated[time, _TIME_OUT]
# A drop-off window's ends as stored: "HH:MM" text.
HourMinute = Annotated[str, Field(pattern=MINUTE_PATTERN, examples=["07:00"])]
# Local [start, end) pairs. Lists of two, not tuples: a tuple is documented with
# `prefixItems`, which OpenAPI tools still read badly.
Window = Annotated[list[HourMinute], Field(min_length=2, max_length=2)]
SlotTimes = Annotated[list[LocalTime], Field(min_length=2, max_length=2)]
Day = Annotated[date, AfterValidator(_served_day), Field(description=SERVED_DAYS)]
Instant = Annotated[
    datetime,
    AfterValidator(_aware),
    Field(description=f"with its offset; in the years {FIRST_DAY.year} to {LAST_DAY.year}"),
]
