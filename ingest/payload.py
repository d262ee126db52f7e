"""Topic + payload bytes in, validated events and rejections out.

Pure and total: no I/O, no logging, and no input (any topic string, any bytes) makes
these functions raise; a bad message becomes a ``Rejection`` with a reason. This runs
for every message on the ingest hot path (~30k events/s), so the happy path avoids
exceptions, compiles its regexes once and binds globals to locals.

Validation rules beyond the field list of ``ingest.contract``:

- A field whose value is JSON ``null`` is treated as absent.
- A value of the wrong JSON type is ``bad_type`` (a string for a number, an object for
  a string, ``true`` for weight_g), except ``ts``, where any non-string is
  ``bad_timestamp``; a value of the right type but outside the field's rules gets the
  field's own reason (``weight_g: 12.5`` is ``bad_weight``).
- Every known field that is present is validated, whatever the kind; those meaningless
  for the kind are then dropped (``household`` off ``drop``, ``alarm`` off ``alarm``,
  ``weight_g`` off ``fill`` and ``alarm``).
- Unknown fields are ignored, so devices can add fields before the ingester knows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from itertools import accumulate, count
from operator import sub
from typing import TypedDict

import orjson

from ingest.contract import (
    ALARMS,
    CATEGORIES,
    FUTURE_TOLERANCE_S_DEFAULT,
    HOUSEHOLD_PATTERN,
    ID_PATTERN,
    KINDS,
    MAX_DROP_WEIGHT_G,
    MAX_EMPTY_WEIGHT_G,
    MAX_JSON_DEPTH,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    OLDEST_VALID_TS,
    TOPIC_ROOT,
    BinAddress,
    Event,
    Reason,
    Rejection,
)

__all__ = [
    "Parsed",
    "Status",
    "parse_events",
    "parse_status",
    "parse_status_message",
    "parse_topic",
]

_TOPIC_MATCH = re.compile(
    rf"{re.escape(TOPIC_ROOT)}/({ID_PATTERN})/({ID_PATTERN})/({ID_PATTERN})/(events|status)"
).fullmatch
_ID_MATCH = re.compile(ID_PATTERN).fullmatch
_HOUSEHOLD_MATCH = re.compile(HOUSEHOLD_PATTERN).fullmatch
# RFC 3339 date-time. datetime.fromisoformat alone also takes ISO 8601 forms that are
# not RFC 3339 (week dates, "20240101T0800", "+0800", a bare date): the shape is
# checked here and the calendar (month lengths, offsets under 24 h) by fromisoformat.
# [0-9], not \d, which would also match non-ASCII digits.
_TS_MATCH = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
).fullmatch
_FROMISOFORMAT = datetime.fromisoformat

_KINDS = frozenset(KINDS)
_ALARMS = frozenset(ALARMS)
_CATEGORIES = frozenset(CATEGORIES)

# How much of a bad value a detail sentence quotes.
_SHOW_CHARS = 64

# For the nesting-depth guard. Structural bytes: quotes, backslashes and brackets.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"\\[]{}')
# A JSON string; an unterminated one runs to the end, so the scan is linear on any input.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
# Keeps only brackets: an opening one becomes 2, a closing one 0.
_BRACKET_TABLE = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")

# Event is a frozen dataclass: its generated __init__ sets each of the ten fields through
# object.__setattr__, which costs about as much as all the checks of an event together.
# Filling the slots through their descriptors builds the same, equal, immutable Event
# in half the time. The field order is checked here so a change to Event fails loudly.
_EVENT_FIELDS = (
    "address",
    "event_id",
    "ts",
    "kind",
    "weight_g",
    "fill_pct",
    "household",
    "alarm",
    "battery_pct",
    "category",
    "seq",
)
if tuple(f.name for f in fields(Event)) != _EVENT_FIELDS:
    raise ImportError("ingest.contract.Event changed its fields: update ingest.payload._new_event")
(
    _set_address,
    _set_event_id,
    _set_ts,
    _set_kind,
    _set_weight_g,
    _set_fill_pct,
    _set_household,
    _set_alarm,
    _set_battery_pct,
    _set_category,
    _set_seq,
) = (vars(Event)[name].__set__ for name in _EVENT_FIELDS)
_object_new = object.__new__

# Valid topics already parsed: each bin publishes on the same few topics all day, and
# the regex plus a new BinAddress were a tenth of the network thread's time per message
# (the shared address also makes the writer's registry lookups hit by identity). Only
# valid topics are kept (a device can only publish on its own, so they are bounded by
# the bins); bounded all the same.
_TOPICS: dict[str, tuple[BinAddress, str]] = {}
_TOPICS_MAX = 200_000

_BAD_TOPIC_DETAIL = f"is not an events topic {TOPIC_ROOT}/{{estate}}/{{room}}/{{bin}}/events"
_BAD_STATUS_TOPIC_DETAIL = f"is not a status topic {TOPIC_ROOT}/{{estate}}/{{room}}/{{bin}}/status"
# Why a status message was refused: the one shape a status may have.
_STATUS_DETAIL = 'status must be {"online": true|false, "battery_pct"?: 0-100, "ts"?: RFC 3339}'


def parse_topic(topic: str) -> tuple[BinAddress, str] | None:
    """Return the bin address and ``"events"`` or ``"status"`` for a v1 topic, else None."""
    if type(topic) is str:
        known = _TOPICS.get(topic)
        if known is not None:
            return known
    elif not isinstance(topic, str):
        return None
    match = _TOPIC_MATCH(topic)
    if match is None:
        return None
    estate, room, bin_id, suffix = match.groups()
    parsed = BinAddress(estate, room, bin_id), suffix
    if len(_TOPICS) >= _TOPICS_MAX:
        _TOPICS.clear()  # more bins than the cache holds: start over, stay bounded
    _TOPICS[topic] = parsed
    return parsed


@dataclass(slots=True)
class Parsed:
    """The outcome of one message: every element is either an event or a rejection."""

    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class Status(TypedDict):
    """A bin's normalized status message; ``ts`` is UTC, None when absent or before 2000."""

    online: bool
    battery_pct: float | None
    ts: datetime | None


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a whole payload could not be decoded."""

    reason: Reason
    detail: str


def parse_events(
    topic: str,
    payload: bytes,
    now: datetime,
    future_tolerance_s: float = FUTURE_TOLERANCE_S_DEFAULT,
) -> Parsed:
    """Validate one events message into events and rejections; never raises on input.

    ``now`` (timezone-aware) and ``future_tolerance_s`` bound how far ahead of the
    ingester's clock a ``ts`` may be. A JSON object yields one event or one rejection;
    an array yields one per element, each rejection carrying its element's index.
    Raises ValueError only for a naive ``now`` or a NaN tolerance (caller bugs).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    try:
        latest = now + timedelta(seconds=future_tolerance_s)
        if latest.tzinfo is not UTC:
            # Events are in UTC; comparing within one tzinfo skips two utcoffset calls.
            latest = latest.astimezone(UTC)
    except OverflowError:
        # An unbounded tolerance: nothing is too far in the future.
        latest = datetime.max.replace(tzinfo=UTC)

    parsed = Parsed()
    rejections = parsed.rejections
    if type(payload) is not bytes:
        payload = _as_bytes(payload)
    where = parse_topic(topic)
    if where is None or where[1] != "events":
        detail = f"topic {_show(topic)} {_BAD_TOPIC_DETAIL}"
        rejections.append(Rejection(topic, Reason.bad_topic, detail, payload, None))
        return parsed
    address = where[0]

    doc = _decode(payload)
    if isinstance(doc, dict):
        outcome = _validate(doc, address, latest)
        if isinstance(outcome, Event):
            parsed.events.append(outcome)
        else:
            rejections.append(Rejection(topic, outcome[0], outcome[1], payload, None))
    elif isinstance(doc, list):
        if not doc:
            detail = "the payload is an empty array; send at least one event"
            rejections.append(Rejection(topic, Reason.empty_batch, detail, payload, None))
            return parsed
        append_event = parsed.events.append
        validate = _validate
        for index, element in enumerate(doc):
            if isinstance(element, dict):
                outcome = validate(element, address, latest)
                if isinstance(outcome, Event):
                    append_event(outcome)
                    continue
                reason, detail = outcome
            else:
                reason = Reason.not_object
                detail = f"element {index} is {_show(element)}, not an event object"
            rejections.append(Rejection(topic, reason, detail, _reencode(element, payload), index))
    elif isinstance(doc, _Failure):
        rejections.append(Rejection(topic, doc.reason, doc.detail, payload, None))
    else:
        detail = f"the payload is {_show(doc)}, not an event object or an array of them"
        rejections.append(Rejection(topic, Reason.not_object, detail, payload, None))
    return parsed


def parse_status_message(
    topic: str, payload: bytes
) -> tuple[BinAddress, Status] | Rejection | None:
    """Validate one status message into its bin and status, or a rejection; never raises.

    None for an empty payload: it clears a retained status (or a last will) at the
    broker and there is nothing to store. A topic that is not a v1 status topic is
    ``bad_topic``; a payload that ``parse_status`` refuses is ``bad_type``.
    """
    if type(payload) is not bytes:
        payload = _as_bytes(payload)
    if not payload:
        return None
    where = parse_topic(topic)
    if where is None or where[1] != "status":
        detail = f"topic {_show(topic)} {_BAD_STATUS_TOPIC_DETAIL}"
        return Rejection(topic, Reason.bad_topic, detail, payload, None)
    status = parse_status(payload)
    if status is None:
        return Rejection(topic, Reason.bad_type, _STATUS_DETAIL, payload, None)
    return where[0], status


def parse_status(payload: bytes) -> Status | None:
    """Return the normalized ``{"online", "battery_pct", "ts"}`` of a status message.

    None when the payload is not an object with a boolean ``online``, when
    ``battery_pct`` is not a number in 0-100, or when ``ts`` is not RFC 3339 with an
    offset. An empty payload (a cleared retained message) is None too. A ``ts`` before
    2000 comes from an unset clock: the status still counts, with ``ts`` None.
    Never raises.
    """
    doc = _decode(payload)
    if not isinstance(doc, dict):
        return None
    online = doc.get("online")
    if type(online) is not bool:
        return None
    battery = doc.get("battery_pct")
    if battery is not None:
        battery = _percent(battery)
        if battery is None:
            return None
    ts_raw = doc.get("ts")
    ts = None
    if ts_raw is not None:
        if type(ts_raw) is not str:
            return None
        ts = _parse_ts(ts_raw)
        if ts is None:
            return None
        if ts < OLDEST_VALID_TS:
            ts = None
    return Status(online=online, battery_pct=battery, ts=ts)


# -- internals ----------------------------------------------------------------------------


def _as_bytes(payload: object) -> bytes:
    """Return a bytes-like payload as bytes; anything else (a caller's bug) as no bytes."""
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            return bytes(payload)
        except (TypeError, ValueError):  # a released memoryview
            return b""
    return b""


def _decode(payload: bytes) -> object:
    """Return the payload's JSON value, or a _Failure saying why there is none."""
    if type(payload) is not bytes:
        payload = _as_bytes(payload)
    size = len(payload)
    if size > MAX_PAYLOAD_BYTES:
        return _Failure(
            Reason.payload_too_large,
            f"the payload is {size} bytes, more than the {MAX_PAYLOAD_BYTES} allowed",
        )
    # Counting brackets is cheap and bounds the depth from above; the exact scan only
    # runs for payloads with many brackets (batches of more than ~120 events).
    if payload.count(b"[") + payload.count(b"{") > MAX_JSON_DEPTH:
        depth = _nesting_depth(payload)
        if depth > MAX_JSON_DEPTH:
            if not _is_utf8(payload):
                return _Failure(Reason.not_utf8, "the payload is not valid UTF-8")
            return _Failure(
                Reason.bad_json,
                f"the payload nests {depth} levels deep, more than the {MAX_JSON_DEPTH} allowed",
            )
    try:
        return orjson.loads(payload)
    except ValueError as error:  # orjson.JSONDecodeError, also for NaN and Infinity
        # orjson checks UTF-8 itself; only tell the two apart once decoding has failed.
        if not _is_utf8(payload):
            return _Failure(Reason.not_utf8, "the payload is not valid UTF-8")
        return _Failure(Reason.bad_json, f"the payload is not JSON: {_cut(str(error))}")


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _nesting_depth(payload: bytes) -> int:
    """Return how deep the payload's arrays and objects nest, ignoring brackets in strings.

    Where the payload is not JSON, this is exact up to the first syntax error, which is
    as far as any parser recurses. All of it runs in C (translate, regex, itertools).
    """
    structure = payload.translate(None, _NOT_STRUCTURAL)
    if b"\\" not in structure:
        # Without escapes every string is now '""' when it holds no bracket. Removing
        # those pairs from the left leaves no quote at all exactly when no string held a
        # bracket (each string's opening quote must pair with its own closing one), and
        # then only structural brackets are left.
        brackets = structure.replace(b'""', b"")
        if b'"' in brackets:
            brackets = _JSON_STRING.sub(b"", payload)
    else:
        # Escapes need the bytes after each backslash (in "\n" the n): use the original.
        brackets = _JSON_STRING.sub(b"", payload)
    levels = brackets.translate(_BRACKET_TABLE, _NOT_BRACKETS)
    # An opening bracket is 2 and a closing one 0, so after i brackets the running sum
    # minus i is opened minus closed: the depth at that point.
    return max(map(sub, accumulate(levels), count(1)), default=0)


def _reencode(element: object, payload: bytes) -> bytes:
    """Return a rejected array element as JSON, or the whole payload if it cannot be."""
    try:
        return orjson.dumps(element)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return payload


def _parse_ts(raw: str) -> datetime | None:
    """Return an RFC 3339 date-time with an offset as an aware UTC datetime, else None."""
    if _TS_MATCH(raw) is None:
        return None
    try:
        ts = _FROMISOFORMAT(raw)
    except ValueError:
        # RFC 3339 allows a lower-case "z", which fromisoformat does not; otherwise a
        # well-shaped but impossible date-time (February 30, 25:00, offset 24:00).
        if raw[-1] != "z":
            return None
        try:
            ts = _FROMISOFORMAT(raw[:-1] + "Z")
        except ValueError:
            return None
    if ts.tzinfo is not UTC:
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before datetime.min in UTC
            return None
    return ts


def _percent(value: object) -> float | None:
    """Return a JSON number in 0-100 as a float, else None (bools and NaN are not)."""
    if type(value) is float or type(value) is int:
        # Comparisons with NaN are false, so this also refuses NaN; inf is out of range.
        number = float(value)
        if 0.0 <= number <= 100.0:
            return number
    return None


def _validate(
    obj: dict[str, object], address: BinAddress, latest: datetime
) -> Event | tuple[Reason, str]:
    """Return the Event described by one decoded JSON object, or why it is not one."""
    get = obj.get

    event_id = get("event_id")
    if type(event_id) is not str:
        if event_id is None:
            return Reason.missing_field, "event_id is missing"
        return Reason.bad_type, f"event_id must be a string, not {_show(event_id)}"
    if _ID_MATCH(event_id) is None:
        return Reason.bad_id, f"event_id {_show(event_id)} does not match {ID_PATTERN}"

    ts_raw = get("ts")
    if type(ts_raw) is not str:
        if ts_raw is None:
            return Reason.missing_field, "ts is missing"
        return Reason.bad_timestamp, f"ts must be an RFC 3339 string, not {_show(ts_raw)}"
    ts = _parse_ts(ts_raw)
    if ts is None:
        return (
            Reason.bad_timestamp,
            f"ts {_show(ts_raw)} is not an RFC 3339 date-time with an offset or Z",
        )
    if ts > latest:
        return Reason.future_timestamp, f"ts {_show(ts_raw)} is in the future"
    if ts < OLDEST_VALID_TS:
        return (
            Reason.too_old_timestamp,
            f"ts {_show(ts_raw)} is before 2000-01-01; is the device clock set?",
        )

    kind = get("kind")
    if type(kind) is not str:
        if kind is None:
            return Reason.missing_field, "kind is missing"
        return Reason.bad_type, f"kind must be a string, not {_show(kind)}"
    if kind not in _KINDS:
        return Reason.bad_kind, f"kind {_show(kind)} is not one of {', '.join(KINDS)}"

    weight = get("weight_g")
    if weight is not None:
        if type(weight) is not int:
            if type(weight) is float:
                return Reason.bad_weight, f"weight_g {weight!r} is not a whole number of grams"
            return Reason.bad_type, f"weight_g must be an integer, not {_show(weight)}"
        if weight < 0:
            return Reason.bad_weight, f"weight_g {weight} is negative"
        if kind == "drop":
            if weight == 0:
                return Reason.bad_weight, "weight_g 0 is not a drop; a drop weighs at least 1 g"
            if weight > MAX_DROP_WEIGHT_G:
                return (
                    Reason.bad_weight,
                    f"weight_g {weight} is more than {MAX_DROP_WEIGHT_G} g for one drop",
                )
        elif weight > MAX_EMPTY_WEIGHT_G:
            return (
                Reason.bad_weight,
                f"weight_g {weight} is more than {MAX_EMPTY_WEIGHT_G} g for one bin",
            )
        elif kind != "empty":
            # Validated above so a broken load cell shows, but only drops and empties
            # move weight.
            weight = None
    elif kind == "drop":
        return Reason.missing_field, "weight_g is required for a drop"

    fill = get("fill_pct")
    if fill is not None:
        fill = _percent(fill)
        if fill is None:
            raw = obj["fill_pct"]
            if type(raw) is float or type(raw) is int:
                return Reason.bad_fill, f"fill_pct {raw!r} is not between 0 and 100"
            return Reason.bad_type, f"fill_pct must be a number, not {_show(raw)}"
    elif kind == "fill":
        return Reason.missing_field, "fill_pct is required for a fill event"

    alarm = get("alarm")
    if alarm is not None:
        if type(alarm) is not str:
            return Reason.bad_type, f"alarm must be a string, not {_show(alarm)}"
        if alarm not in _ALARMS:
            return Reason.bad_alarm, f"alarm {_show(alarm)} is not one of {', '.join(ALARMS)}"
        if kind != "alarm":
            alarm = None
    elif kind == "alarm":
        return Reason.missing_field, "alarm is required for an alarm event"

    battery = get("battery_pct")
    if battery is not None:
        battery = _percent(battery)
        if battery is None:
            raw = obj["battery_pct"]
            if type(raw) is float or type(raw) is int:
                return Reason.bad_battery, f"battery_pct {raw!r} is not between 0 and 100"
            return Reason.bad_type, f"battery_pct must be a number, not {_show(raw)}"

    household = get("household")
    if household is not None:
        if type(household) is not str:
            return Reason.bad_type, f"household must be a string, not {_show(household)}"
        if _HOUSEHOLD_MATCH(household) is None:
            return (
                Reason.bad_household,
                f"household {_show(household)} does not match {HOUSEHOLD_PATTERN}",
            )
        if kind != "drop":
            household = None

    category = get("category")
    if category is not None:
        if type(category) is not str:
            return Reason.bad_type, f"category must be a string, not {_show(category)}"
        if category not in _CATEGORIES:
            return (
                Reason.bad_category,
                f"category {_show(category)} is not one of {', '.join(CATEGORIES)}",
            )

    seq = get("seq")
    if seq is not None:
        if type(seq) is not int:
            if type(seq) is float:
                return Reason.bad_seq, f"seq {seq!r} is not a whole number"
            return Reason.bad_type, f"seq must be an integer, not {_show(seq)}"
        if not 1 <= seq <= MAX_SEQ:
            return Reason.bad_seq, f"seq {seq} is not between 1 and {MAX_SEQ}"

    return _new_event(
        address, event_id, ts, kind, weight, fill, household, alarm, battery, category, seq
    )


def _new_event(
    address: BinAddress,
    event_id: str,
    ts: datetime,
    kind: str,
    weight_g: int | None,
    fill_pct: float | None,
    household: str | None,
    alarm: str | None,
    battery_pct: float | None,
    category: str | None,
    seq: int | None = None,
) -> Event:
    """Return ``Event(...)`` of these values, built without the frozen ``__init__``."""
    event: Event = _object_new(Event)
    _set_address(event, address)
    _set_event_id(event, event_id)
    _set_ts(event, ts)
    _set_kind(event, kind)
    _set_weight_g(event, weight_g)
    _set_fill_pct(event, fill_pct)
    _set_household(event, household)
    _set_alarm(event, alarm)
    _set_battery_pct(event, battery_pct)
    _set_category(event, category)
    _set_seq(event, seq)
    return event


def _show(value: object) -> str:
    """Quote a JSON value for a detail sentence, briefly and without ever failing."""
    if isinstance(value, str):
        if len(value) > _SHOW_CHARS:
            return repr(value[:_SHOW_CHARS]) + "..."
        return repr(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        # Never repr a container: it may be long, or nested too deep for repr.
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "..."
