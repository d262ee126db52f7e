"""The v1 device contract: topics, event fields, limits and rejection reasons, defined once.

The ingester validates against these definitions (``ingest.payload``) and the simulators
import them to build the messages a real bin would publish, so the wire format cannot
drift between the two. Pure: no I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import orjson

__all__ = [
    "ALARMS",
    "CATEGORIES",
    "EVENTS_SUBSCRIPTION",
    "FUTURE_TOLERANCE_S_DEFAULT",
    "HOUSEHOLD_CATEGORIES",
    "HOUSEHOLD_PATTERN",
    "ID_PATTERN",
    "KINDS",
    "MAX_DROP_WEIGHT_G",
    "MAX_EMPTY_WEIGHT_G",
    "MAX_JSON_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "MAX_STORED_PAYLOAD_BYTES",
    "OLDEST_VALID_TS",
    "STATUS_SUBSCRIPTION",
    "TOPIC_ROOT",
    "BinAddress",
    "Event",
    "Reason",
    "Rejection",
    "check_category",
    "check_registered",
    "encode_payload",
    "event_to_json",
    "events_topic",
    "status_topic",
    "stored_topic",
]

# -- topics -------------------------------------------------------------------------------

TOPIC_ROOT = "fenlei/v1"
# Estate, room, bin and event ids: lower-case so topic ACLs and dedupe keys never differ
# by case alone; 64 characters is far above any real id and bounds every key we store.
ID_PATTERN = r"[a-z0-9-]{1,64}"
# Household tokens come from cards and QR codes printed by third parties, so they get a
# wider alphabet (mixed case, dots, colons, underscores) but the same length bound.
HOUSEHOLD_PATTERN = r"[A-Za-z0-9._:-]{1,64}"

EVENTS_SUBSCRIPTION = f"{TOPIC_ROOT}/+/+/+/events"
STATUS_SUBSCRIPTION = f"{TOPIC_ROOT}/+/+/+/status"
STORED_TOPICS = f"{TOPIC_ROOT}/+/+/+/stored"


def events_topic(estate: str, room: str, bin_id: str) -> str:
    """Return the topic a bin publishes its events on (QoS 1)."""
    return f"{TOPIC_ROOT}/{estate}/{room}/{bin_id}/events"


def status_topic(estate: str, room: str, bin_id: str) -> str:
    """Return the retained topic a bin publishes ``{"online": ...}`` on (also its last will)."""
    return f"{TOPIC_ROOT}/{estate}/{room}/{bin_id}/status"


def stored_topic(estate: str, room: str, bin_id: str) -> str:
    """Return the retained topic fenlei publishes a bin's stored watermark on (devices read it)."""
    return f"{TOPIC_ROOT}/{estate}/{room}/{bin_id}/stored"


# -- limits -------------------------------------------------------------------------------

# 256 KiB: a device flushing its offline buffer sends at most this much in one message.
MAX_PAYLOAD_BYTES = 256 * 1024
# A rejected payload is kept for operators, but only this much of it: enough to read
# what went wrong, small enough that a flood of garbage cannot fill the database.
MAX_STORED_PAYLOAD_BYTES = 4096
# Nesting depth of a payload's JSON. Valid payloads are 2 deep (an array of objects).
# The bound is far below the depth at which a parser without a limit of its own
# overflows the C stack (orjson < 3.9.15 segfaults near 100k levels, CVE-2024-27454),
# and high enough that counting brackets proves most batches shallow without a scan.
MAX_JSON_DEPTH = 128

KINDS = ("drop", "fill", "empty", "alarm")
ALARMS = ("overflow", "odour", "temperature", "tilt", "sensor_fault")
# The five categories of a Shanghai refuse room; a bin has exactly one of them.
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
# The denominator of the wet-waste share: construction waste is reported beside it.
HOUSEHOLD_CATEGORIES = ("dry", "wet", "recyclable", "hazardous")

# Grams. A single household drop above 100 kg is a load-cell error, not rubbish.
MAX_DROP_WEIGHT_G = 100_000
# Grams. A full 1100 L bin of renovation rubble stays under a tonne.
MAX_EMPTY_WEIGHT_G = 1_000_000

# The largest seq: JSON numbers are exact integers up to 2**53 - 1 in every parser.
MAX_SEQ = 2**53 - 1

# Seconds a device clock may run ahead of the ingester's before its events are refused;
# RTCs drift and NTP may not have run yet, but an hour ahead would skew today's figures.
FUTURE_TOLERANCE_S_DEFAULT = 300
# A device whose RTC was never set reports 1970; nothing in this system predates 2000.
OLDEST_VALID_TS = datetime(2000, 1, 1, tzinfo=UTC)


# -- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinAddress:
    """Where a bin is, as named by its topic ``fenlei/v1/{estate}/{room}/{bin}/...``."""

    estate: str
    room: str
    bin: str


@dataclass(frozen=True, slots=True)
class Event:
    """One validated device event.

    ``ts`` is timezone-aware and in UTC. Fields that are meaningless for the kind are
    None: ``weight_g`` only on ``drop`` (required) and ``empty`` (optional), ``household``
    only on ``drop``, ``alarm`` only on ``alarm``.
    """

    address: BinAddress
    event_id: str
    ts: datetime
    kind: str
    weight_g: int | None
    fill_pct: float | None
    household: str | None
    alarm: str | None
    battery_pct: float | None
    category: str | None
    # The device's own counter, +1 per event per bin from 1; optional (contract v1).
    seq: int | None = None


def event_to_json(event: Event) -> dict[str, object]:
    """Return the wire form of ``event``: what a device publishes on its events topic.

    The address is not included (it is in the topic), None fields are omitted and ``ts``
    is RFC 3339 with its offset. Raises ValueError for a naive ``ts``, which no device
    may send.
    """
    ts = event.ts
    offset = ts.utcoffset()
    if offset is None:
        raise ValueError(f"event {event.event_id!r} has a naive ts {ts.isoformat()}")
    if offset % timedelta(minutes=1):
        # RFC 3339 offsets are whole minutes; isoformat would print seconds.
        ts = ts.astimezone(UTC)
    wire: dict[str, object] = {
        "event_id": event.event_id,
        "ts": ts.isoformat(),
        "kind": event.kind,
    }
    if event.weight_g is not None:
        wire["weight_g"] = event.weight_g
    if event.fill_pct is not None:
        wire["fill_pct"] = event.fill_pct
    if event.household is not None:
        wire["household"] = event.household
    if event.alarm is not None:
        wire["alarm"] = event.alarm
    if event.battery_pct is not None:
        wire["battery_pct"] = event.battery_pct
    if event.category is not None:
        wire["category"] = event.category
    if event.seq is not None:
        wire["seq"] = event.seq
    return wire


def encode_payload(events: Sequence[Mapping[str, object]] | Mapping[str, object]) -> bytes:
    """Encode one wire-form event (an object) or a batch of them (an array) as a payload."""
    if isinstance(events, Mapping):
        return orjson.dumps(events if isinstance(events, dict) else dict(events))
    return orjson.dumps([e if isinstance(e, dict) else dict(e) for e in events])


# -- rejections ---------------------------------------------------------------------------


class Reason(StrEnum):
    """Why a device message (or one event in it) was not stored as an event."""

    bad_topic = "bad_topic"  # not fenlei/v1/{estate}/{room}/{bin}/events (or /status), valid ids
    payload_too_large = "payload_too_large"  # more than MAX_PAYLOAD_BYTES; not decoded
    not_utf8 = "not_utf8"  # the payload bytes are not valid UTF-8
    bad_json = "bad_json"  # not JSON (incl. NaN/Infinity), or nested beyond MAX_JSON_DEPTH
    not_object = "not_object"  # the payload, or an element of its array, is not an object
    empty_batch = "empty_batch"  # the payload is an empty array
    missing_field = "missing_field"  # a field the kind requires is absent or null
    bad_type = "bad_type"  # a field has the wrong JSON type (e.g. a string for a number)
    bad_id = "bad_id"  # event_id does not match ID_PATTERN
    bad_timestamp = "bad_timestamp"  # ts is not RFC 3339 with an offset, or not a string
    future_timestamp = "future_timestamp"  # ts is beyond now + the future tolerance
    too_old_timestamp = "too_old_timestamp"  # ts is before OLDEST_VALID_TS (unset RTC)
    bad_kind = "bad_kind"  # kind is not one of KINDS
    bad_weight = "bad_weight"  # weight_g not integer grams, or outside the kind's range
    bad_fill = "bad_fill"  # fill_pct outside 0-100 (or not finite)
    bad_alarm = "bad_alarm"  # alarm is not one of ALARMS
    bad_battery = "bad_battery"  # battery_pct outside 0-100 (or not finite)
    bad_household = "bad_household"  # household does not match HOUSEHOLD_PATTERN
    bad_category = "bad_category"  # category is not one of CATEGORIES
    unknown_bin = "unknown_bin"  # the topic's bin is not registered (checked at store time)
    category_mismatch = "category_mismatch"  # category differs from the bin's registered one
    bad_seq = "bad_seq"  # seq is not an integer from 1 to MAX_SEQ
    # Same (bin, event_id) as a stored event but other content: the first stored wins.
    conflicting_duplicate = "conflicting_duplicate"
    # The database refused the event itself (the detail has its error): found by
    # splitting the batch, so the rest of the batch was stored.
    database_refused = "database_refused"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A device message, or one element of its array, that was refused, with the reason.

    ``payload`` is the offending array element re-encoded when there is one, else the
    raw payload; either way it is cut to MAX_STORED_PAYLOAD_BYTES on construction.
    ``index`` is the element's position in the array, None for a single object or when
    the whole message failed.
    """

    topic: str
    reason: Reason
    detail: str
    payload: bytes
    index: int | None = None

    def __post_init__(self) -> None:
        payload = self.payload
        if type(payload) is not bytes or len(payload) > MAX_STORED_PAYLOAD_BYTES:
            # Frozen dataclass: the truncation is part of construction, so set it directly.
            object.__setattr__(self, "payload", bytes(payload[:MAX_STORED_PAYLOAD_BYTES]))


def check_registered(event: Event, registered: str | None) -> Rejection | None:
    """Refuse ``event`` unless its bin is registered, with a category it does not contradict.

    ``registered`` is the bin's category in the registry, None when the registry has no
    such bin. The registry lives in the database, so this runs where the batch is stored;
    the rule is here, with the rest of the contract.
    """
    if registered is None:
        address = event.address
        return Rejection(
            topic=events_topic(address.estate, address.room, address.bin),
            reason=Reason.unknown_bin,
            detail=f"bin {address.estate}/{address.room}/{address.bin} is not registered",
            payload=encode_payload(event_to_json(event)),
            index=None,
        )
    return check_category(event, registered)


def check_category(event: Event, registered: str) -> Rejection | None:
    """Refuse ``event`` if it names a category other than its bin's ``registered`` one.

    Devices need not send ``category``; when they do, a mismatch means the bin is
    configured wrongly, and counting its weight under either category would be a guess.
    """
    category = event.category
    if category is None or category == registered:
        return None
    address = event.address
    return Rejection(
        topic=events_topic(address.estate, address.room, address.bin),
        reason=Reason.category_mismatch,
        detail=(
            f"category {category!r} does not match the category {registered!r} "
            f"registered for bin {address.bin!r}"
        ),
        payload=encode_payload(event_to_json(event)),
        index=None,
    )
