"""Payload validation: every reason code, batches, boundaries, and inputs that must not raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.contract import (
    FUTURE_TOLERANCE_S_DEFAULT,
    MAX_DROP_WEIGHT_G,
    MAX_EMPTY_WEIGHT_G,
    MAX_JSON_DEPTH,
    MAX_PAYLOAD_BYTES,
    MAX_STORED_PAYLOAD_BYTES,
    BinAddress,
    Event,
    Reason,
    Rejection,
    event_to_json,
    events_topic,
    status_topic,
)
from ingest.payload import (
    Parsed,
    _nesting_depth,
    _reencode,
    parse_events,
    parse_status,
    parse_status_message,
    parse_topic,
)
from tests.ingest.test_contract import events

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TOPIC = "fenlei/v1/jiangjiaqiao/room-1/bin-wet-1/events"
ADDRESS = BinAddress("jiangjiaqiao", "room-1", "bin-wet-1")
SHANGHAI = timezone(timedelta(hours=8))

DROP: dict[str, Any] = {
    "event_id": "e-1",
    "ts": "2024-05-01T19:30:00+08:00",
    "kind": "drop",
    "weight_g": 1234,
    "household": "H:12-301",
}


def ev(**changes: Any) -> dict[str, Any]:
    """DROP with fields changed; a value of ... removes the field."""
    event = {**DROP, **changes}
    return {k: v for k, v in event.items() if v is not ...}


def parse(payload: object, topic: str = TOPIC, now: datetime = NOW, **kw: Any) -> Parsed:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_events(topic, raw, now, **kw)


def only_event(parsed: Parsed) -> Event:
    assert parsed.rejections == []
    assert len(parsed.events) == 1
    return parsed.events[0]


def only_reason(parsed: Parsed) -> Reason:
    assert parsed.events == []
    assert len(parsed.rejections) == 1
    return parsed.rejections[0].reason


# -- one row per way to fail; every reason the parser can give appears --------------------

LONG = "x" * 300
REJECTED: list[tuple[Reason, str, object]] = [
    (Reason.bad_topic, "wrong root", ("fenlei/v2/e/r/b/events", DROP)),
    (Reason.bad_topic, "status topic", ("fenlei/v1/e/r/b/status", DROP)),
    (Reason.bad_topic, "upper-case id", ("fenlei/v1/E/r/b/events", DROP)),
    (Reason.bad_topic, "too deep", ("fenlei/v1/e/r/b/x/events", DROP)),
    (Reason.bad_topic, "too shallow", ("fenlei/v1/e/r/events", DROP)),
    (Reason.bad_topic, "trailing newline", ("fenlei/v1/e/r/b/events\n", DROP)),
    (Reason.payload_too_large, "256 KiB + 1", b" " * MAX_PAYLOAD_BYTES + b"{}"),
    (Reason.not_utf8, "latin-1 byte", b'{"event_id": "\xe9"}'),
    (Reason.not_utf8, "lone continuation", b"\x80"),
    (Reason.bad_json, "truncated", b'{"event_id": "e-1"'),
    (Reason.bad_json, "empty", b""),
    (Reason.bad_json, "NaN literal", b'{"kind": "fill", "fill_pct": NaN}'),
    (Reason.bad_json, "Infinity literal", b'{"kind": "fill", "fill_pct": Infinity}'),
    (Reason.bad_json, "overflowing number", b'{"kind": "fill", "fill_pct": 1e999}'),
    (Reason.bad_json, "byte order mark", b"\xef\xbb\xbf" + orjson.dumps(DROP)),
    (Reason.bad_json, "too deep", b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)),
    (Reason.not_object, "number", 42),
    (Reason.not_object, "string", "drop"),
    (Reason.not_object, "null", None),
    (Reason.not_object, "array of numbers", [1]),
    (Reason.empty_batch, "empty array", []),
    (Reason.missing_field, "no event_id", ev(event_id=...)),
    (Reason.missing_field, "null event_id", ev(event_id=None)),
    (Reason.missing_field, "no ts", ev(ts=...)),
    (Reason.missing_field, "no kind", ev(kind=...)),
    (Reason.missing_field, "drop without weight", ev(weight_g=...)),
    (Reason.missing_field, "fill without fill_pct", ev(kind="fill")),
    (Reason.missing_field, "alarm without alarm", ev(kind="alarm")),
    (Reason.bad_type, "numeric event_id", ev(event_id=7)),
    (Reason.bad_type, "kind as array", ev(kind=["drop"])),
    (Reason.bad_type, "weight as string", ev(weight_g="1234")),
    (Reason.bad_type, "weight as bool", ev(weight_g=True)),
    (Reason.bad_type, "fill as string", ev(kind="fill", fill_pct="50")),
    (Reason.bad_type, "fill as bool", ev(kind="fill", fill_pct=False)),
    (Reason.bad_type, "alarm as number", ev(kind="alarm", alarm=1)),
    (Reason.bad_type, "battery as object", ev(battery_pct={"v": 1})),
    (Reason.bad_type, "household as number", ev(household=12301)),
    (Reason.bad_type, "category as bool", ev(category=True)),
    (Reason.bad_id, "upper case", ev(event_id="E-1")),
    (Reason.bad_id, "empty", ev(event_id="")),
    (Reason.bad_id, "65 characters", ev(event_id="a" * 65)),
    (Reason.bad_id, "underscore", ev(event_id="e_1")),
    (Reason.bad_timestamp, "epoch number", ev(ts=1714563000)),
    (Reason.bad_timestamp, "naive", ev(ts="2024-05-01T19:30:00")),
    (Reason.bad_timestamp, "date only", ev(ts="2024-05-01")),
    (Reason.bad_timestamp, "no seconds", ev(ts="2024-05-01T19:30+08:00")),
    (Reason.bad_timestamp, "basic offset", ev(ts="2024-05-01T19:30:00+0800")),
    (Reason.bad_timestamp, "week date", ev(ts="2024-W18-3T19:30:00Z")),
    (Reason.bad_timestamp, "February 30", ev(ts="2024-02-30T19:30:00Z")),
    (Reason.bad_timestamp, "February 30, lower z", ev(ts="2024-02-30T19:30:00z")),
    (Reason.bad_timestamp, "offset 24:00", ev(ts="2024-05-01T19:30:00+24:00")),
    (Reason.bad_timestamp, "Arabic-Indic digits", ev(ts="٢٠٢٤-05-01T19:30:00Z")),
    (Reason.bad_timestamp, "before datetime.min in UTC", ev(ts="0001-01-01T00:00:00+01:00")),
    (Reason.bad_timestamp, "long garbage", ev(ts=LONG)),
    (Reason.future_timestamp, "a day ahead", ev(ts="2024-05-02T12:00:00Z")),
    (Reason.too_old_timestamp, "unset RTC", ev(ts="1970-01-01T00:00:00Z")),
    (Reason.too_old_timestamp, "just before 2000", ev(ts="2000-01-01T07:59:59+08:00")),
    (Reason.bad_kind, "unknown kind", ev(kind="lid_open")),
    (Reason.bad_kind, "wrong case", ev(kind="Drop")),
    (Reason.bad_seq, "seq zero", ev(seq=0)),
    (Reason.bad_seq, "seq negative", ev(seq=-1)),
    (Reason.bad_seq, "seq float", ev(seq=3.0)),
    (Reason.bad_seq, "seq past 2**53 - 1", ev(seq=2**53)),
    (Reason.bad_type, "seq string", ev(seq="7")),
    (Reason.bad_type, "seq boolean", ev(seq=True)),
    (Reason.bad_weight, "negative", ev(weight_g=-5)),
    (Reason.bad_weight, "zero drop", ev(weight_g=0)),
    (Reason.bad_weight, "float", ev(weight_g=12.0)),
    (Reason.bad_weight, "drop over max", ev(weight_g=MAX_DROP_WEIGHT_G + 1)),
    (Reason.bad_weight, "empty over max", ev(kind="empty", weight_g=MAX_EMPTY_WEIGHT_G + 1)),
    (Reason.bad_weight, "negative on fill", ev(kind="fill", fill_pct=5, weight_g=-1)),
    (Reason.bad_weight, "huge integer", ev(weight_g=2**63)),
    (Reason.bad_fill, "over 100", ev(kind="fill", fill_pct=100.5)),
    (Reason.bad_fill, "negative", ev(kind="fill", fill_pct=-1)),
    (Reason.bad_fill, "negative on drop", ev(fill_pct=-0.1)),
    (Reason.bad_alarm, "unknown alarm", ev(kind="alarm", alarm="fire")),
    (Reason.bad_alarm, "bad alarm on drop", ev(alarm="fire")),
    (Reason.bad_battery, "over 100", ev(battery_pct=101)),
    (Reason.bad_battery, "huge", ev(battery_pct=1e308)),
    (Reason.bad_household, "space", ev(household="H 12")),
    (Reason.bad_household, "empty", ev(household="")),
    (Reason.bad_household, "65 characters", ev(household="h" * 65)),
    (Reason.bad_household, "on a fill too", ev(kind="fill", fill_pct=5, household="?")),
    (Reason.bad_category, "unknown", ev(category="kitchen")),
    (Reason.bad_category, "Chinese name", ev(category="湿垃圾")),
]
# Given by the writer, which knows the registry: see test_contract and the writer's tests.
WRITER_REASONS = {
    Reason.unknown_bin,
    Reason.category_mismatch,
    Reason.conflicting_duplicate,
    Reason.database_refused,
}


def _case(case: object) -> tuple[str, object]:
    if isinstance(case, tuple):
        return case[0], case[1]
    return TOPIC, case


@pytest.mark.parametrize(
    ("reason", "case"),
    [pytest.param(reason, case, id=f"{reason}-{name}") for reason, name, case in REJECTED],
)
def test_each_invalid_message_gets_its_reason(reason: Reason, case: object) -> None:
    topic, payload = _case(case)
    parsed = parse(payload, topic=topic)
    assert only_reason(parsed) is reason
    rejection = parsed.rejections[0]
    assert rejection.topic == topic
    assert rejection.detail
    assert len(rejection.detail) < 300
    if isinstance(payload, list) and payload:
        # One bad element of a batch: its position, and only it, are kept.
        assert rejection.index == 0
        assert rejection.payload == orjson.dumps(payload[0])
    else:
        assert rejection.index is None
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        assert rejection.payload == raw[:MAX_STORED_PAYLOAD_BYTES]


def test_the_table_covers_every_reason_the_parser_gives() -> None:
    assert {reason for reason, _, _ in REJECTED} == set(Reason) - WRITER_REASONS


def test_detail_names_the_field_and_the_value() -> None:
    rejection = parse(ev(weight_g=-5)).rejections[0]
    assert rejection.detail == "weight_g -5 is negative"
    long_id = parse(ev(event_id="A" * 1000)).rejections[0].detail
    assert "event_id" in long_id
    assert len(long_id) < 200


# -- valid messages -----------------------------------------------------------------------


def test_an_object_is_one_event() -> None:
    event = only_event(parse(DROP))
    assert event == Event(
        address=ADDRESS,
        event_id="e-1",
        ts=datetime(2024, 5, 1, 11, 30, tzinfo=UTC),
        kind="drop",
        weight_g=1234,
        fill_pct=None,
        household="H:12-301",
        alarm=None,
        battery_pct=None,
        category=None,
    )
    assert event.ts.tzinfo is UTC


def test_an_array_is_a_batch() -> None:
    parsed = parse([ev(event_id=f"e-{i}") for i in range(3)])
    assert parsed.rejections == []
    assert [e.event_id for e in parsed.events] == ["e-0", "e-1", "e-2"]


def test_a_mixed_array_keeps_the_valid_and_indexes_the_invalid() -> None:
    bad_weight = ev(event_id="e-1", weight_g=-5)
    batch = [ev(event_id="e-0"), bad_weight, "oops", ev(event_id="e-3"), ev(event_id="E!")]
    parsed = parse(batch)
    assert [e.event_id for e in parsed.events] == ["e-0", "e-3"]
    got = [(r.index, r.reason) for r in parsed.rejections]
    assert got == [(1, Reason.bad_weight), (2, Reason.not_object), (4, Reason.bad_id)]
    # Each rejection keeps its own element, not the whole batch.
    assert orjson.loads(parsed.rejections[0].payload) == bad_weight
    assert parsed.rejections[1].payload == b'"oops"'
    assert all(r.topic == TOPIC for r in parsed.rejections)


def test_an_element_that_cannot_be_re_encoded_keeps_the_raw_payload() -> None:
    # Parsed JSON re-encodes, but if orjson.dumps ever refuses (its nesting limit is
    # lower in newer versions), the rejection keeps the whole message instead.
    loop: list[object] = []
    loop.append(loop)
    assert _reencode(loop, b"raw") == b"raw"
    assert _reencode({"a": [1]}, b"raw") == b'{"a":[1]}'


def test_z_and_offset_timestamps_are_the_same_instant_in_utc() -> None:
    zulu = only_event(parse(ev(ts="2024-05-01T11:30:00Z")))
    offset = only_event(parse(ev(ts="2024-05-01T19:30:00+08:00")))
    lower = only_event(parse(ev(ts="2024-05-01t11:30:00z")))
    spaced = only_event(parse(ev(ts="2024-05-01 11:30:00+00:00")))
    for event in (zulu, offset, lower, spaced):
        assert event.ts == datetime(2024, 5, 1, 11, 30, tzinfo=UTC)
        assert event.ts.tzinfo is UTC


def test_fractional_seconds_are_kept_to_the_microsecond() -> None:
    event = only_event(parse(ev(ts="2024-05-01T11:30:00.1234567Z")))
    assert event.ts == datetime(2024, 5, 1, 11, 30, 0, 123456, tzinfo=UTC)


def test_each_kind_keeps_only_its_fields() -> None:
    extras = {"household": "h-1", "alarm": "tilt", "weight_g": 10, "fill_pct": 40}
    fill = only_event(parse(ev(kind="fill", **extras)))
    assert (fill.weight_g, fill.fill_pct, fill.household, fill.alarm) == (None, 40.0, None, None)
    alarm = only_event(parse(ev(kind="alarm", **extras)))
    assert (alarm.weight_g, alarm.household, alarm.alarm) == (None, None, "tilt")
    empty = only_event(parse(ev(kind="empty", **extras)))
    assert (empty.weight_g, empty.household, empty.alarm) == (10, None, None)
    drop = only_event(parse(ev(**extras)))
    assert (drop.weight_g, drop.household, drop.alarm) == (10, "h-1", None)
    assert only_event(parse(ev(kind="empty", weight_g=...))).weight_g is None


def test_optional_fields_and_nulls() -> None:
    event = only_event(parse(ev(battery_pct=87, category="wet", fill_pct=None, household=None)))
    assert (event.battery_pct, event.category, event.fill_pct) == (87.0, "wet", None)
    assert event.household is None
    assert type(event.battery_pct) is float


def test_bytes_like_payloads_are_accepted() -> None:
    raw = orjson.dumps(DROP)
    assert only_event(parse_events(TOPIC, bytearray(raw), NOW)).event_id == "e-1"  # type: ignore[arg-type]
    assert only_event(parse_events(TOPIC, memoryview(raw), NOW)).event_id == "e-1"  # type: ignore[arg-type]
    assert parse_status(bytearray(b'{"online": true}')) is not None  # type: ignore[arg-type]


def test_a_caller_passing_no_bytes_gets_a_rejection_not_an_exception() -> None:
    assert only_reason(parse_events(TOPIC, 42, NOW)) is Reason.bad_json  # type: ignore[arg-type]
    assert only_reason(parse_events(None, b"{}", NOW)) is Reason.bad_topic  # type: ignore[arg-type]
    assert parse_topic(None) is None  # type: ignore[arg-type]
    assert parse_status("{}") is None  # type: ignore[arg-type]


def test_unknown_fields_are_ignored() -> None:
    assert only_event(parse(ev(firmware="2.1", extra={"a": [1, 2]}))).event_id == "e-1"


# -- boundaries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"weight_g": 1}, "weight_g", 1),
        ({"weight_g": MAX_DROP_WEIGHT_G}, "weight_g", MAX_DROP_WEIGHT_G),
        ({"kind": "empty", "weight_g": 0}, "weight_g", 0),
        ({"kind": "empty", "weight_g": MAX_EMPTY_WEIGHT_G}, "weight_g", MAX_EMPTY_WEIGHT_G),
        ({"kind": "fill", "fill_pct": 0}, "fill_pct", 0.0),
        ({"kind": "fill", "fill_pct": 100}, "fill_pct", 100.0),
        ({"kind": "fill", "fill_pct": 100.0}, "fill_pct", 100.0),
        ({"battery_pct": 0}, "battery_pct", 0.0),
        ({"battery_pct": 100}, "battery_pct", 100.0),
        ({"household": "h" * 64}, "household", "h" * 64),
        ({"event_id": "e" * 64}, "event_id", "e" * 64),
        ({"ts": "2000-01-01T00:00:00Z"}, "ts", datetime(2000, 1, 1, tzinfo=UTC)),
        ({"seq": 1}, "seq", 1),
        ({"seq": 2**53 - 1}, "seq", 2**53 - 1),
        ({}, "seq", None),
    ],
)
def test_boundary_values_are_accepted(changes: dict[str, Any], field: str, value: object) -> None:
    assert getattr(only_event(parse(ev(**changes))), field) == value


def test_future_tolerance_is_inclusive() -> None:
    edge = NOW + timedelta(seconds=FUTURE_TOLERANCE_S_DEFAULT)
    assert only_event(parse(ev(ts=edge.isoformat()))).ts == edge
    past_edge = edge + timedelta(microseconds=1)
    assert only_reason(parse(ev(ts=past_edge.isoformat()))) is Reason.future_timestamp


def test_future_tolerance_can_be_set_and_now_may_have_any_offset() -> None:
    ts = (NOW + timedelta(seconds=10)).isoformat()
    assert only_reason(parse(ev(ts=ts), future_tolerance_s=5)) is Reason.future_timestamp
    assert only_event(parse(ev(ts=ts), future_tolerance_s=10.0))
    assert only_event(parse(ev(ts=ts), now=NOW.astimezone(SHANGHAI), future_tolerance_s=10))
    assert only_event(parse(ev(ts=ts), future_tolerance_s=float("inf")))


def test_naive_now_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse(DROP, now=datetime(2024, 5, 1, 12))  # noqa: DTZ001


def test_payload_size_limit_is_inclusive() -> None:
    body = orjson.dumps([DROP])
    exact = body + b" " * (MAX_PAYLOAD_BYTES - len(body))
    assert len(exact) == MAX_PAYLOAD_BYTES
    assert only_event(parse(exact)).event_id == "e-1"
    too_large = parse(exact + b" ")
    assert only_reason(too_large) is Reason.payload_too_large
    assert len(too_large.rejections[0].payload) == MAX_STORED_PAYLOAD_BYTES


def test_nesting_depth_limit_is_inclusive() -> None:
    # The event object is one level and DROP another: MAX_JSON_DEPTH in all.
    nested: object = DROP
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = {"x": nested}
    at_limit = parse(ev(extra=nested))
    assert only_event(at_limit).event_id == "e-1"
    too_deep = parse(ev(extra={"x": nested}))
    assert only_reason(too_deep) is Reason.bad_json


def test_absurd_nesting_is_refused_without_parsing() -> None:
    # orjson < 3.9.15 overflows the C stack on this (CVE-2024-27454): the process dies.
    half = MAX_PAYLOAD_BYTES // 2
    assert only_reason(parse(b"[" * half + b"]" * half)) is Reason.bad_json
    assert only_reason(parse(b'{"a":' * (half // 5))) is Reason.bad_json
    assert only_reason(parse(b"[" * MAX_PAYLOAD_BYTES)) is Reason.bad_json
    assert only_reason(parse(b"[\xff" * half)) is Reason.not_utf8


@pytest.mark.parametrize("quoted", ["no escapes", 'a"[\\[', "\\", "}]"])
def test_brackets_inside_strings_do_not_count_as_nesting(quoted: str) -> None:
    # More brackets than MAX_JSON_DEPTH, so the exact scan runs; all but two are text.
    note = "[" * (MAX_JSON_DEPTH * 2)
    batch = [ev(note=note, quoted=quoted, event_id=f"e-{i}") for i in range(3)]
    assert len(parse(batch).events) == 3


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab"\\[]{}\n\x00\u00e9\u6e7f')),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=40,
)


def reference_depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    return 0


@given(json_values)
def test_nesting_depth_ignores_strings_and_escapes(value: object) -> None:
    assert _nesting_depth(orjson.dumps(value)) == reference_depth(value)


# -- status -------------------------------------------------------------------------------


def test_parse_status_normalizes() -> None:
    assert parse_status(b'{"online": false}') == {"online": False, "battery_pct": None, "ts": None}
    status = parse_status(b'{"online": true, "battery_pct": 50, "ts": "2024-05-01T19:30:00+08:00"}')
    assert status == {
        "online": True,
        "battery_pct": 50.0,
        "ts": datetime(2024, 5, 1, 11, 30, tzinfo=UTC),
    }
    assert status is not None and status["ts"] is not None and status["ts"].tzinfo is UTC


def test_parse_status_drops_an_unset_clock_but_keeps_the_status() -> None:
    status = parse_status(b'{"online": true, "ts": "1970-01-01T00:00:00Z"}')
    assert status == {"online": True, "battery_pct": None, "ts": None}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"null",
        b"[]",
        b'[{"online": true}]',
        b"{}",
        b'{"online": 1}',
        b'{"online": "true"}',
        b'{"online": true, "battery_pct": 101}',
        b'{"online": true, "battery_pct": true}',
        b'{"online": true, "ts": "yesterday"}',
        b'{"online": true, "ts": 1714563000}',
        b'{"online": NaN}',
        b"\xff",
        b" " * (MAX_PAYLOAD_BYTES + 1),
    ],
)
def test_parse_status_refuses_invalid(payload: bytes) -> None:
    assert parse_status(payload) is None


STATUS_TOPIC = status_topic("jiangjiaqiao", "room-1", "bin-wet-1")


def test_parse_status_message_gives_the_bin_and_its_status() -> None:
    assert parse_status_message(STATUS_TOPIC, b'{"online": true, "battery_pct": 40}') == (
        ADDRESS,
        {"online": True, "battery_pct": 40.0, "ts": None},
    )


def test_an_empty_status_payload_is_a_cleared_retained_message() -> None:
    assert parse_status_message(STATUS_TOPIC, b"") is None
    assert parse_status_message("fenlei/v1/Bad/r/b/status", b"") is None


def test_parse_status_message_refuses_a_bad_status() -> None:
    rejection = parse_status_message(STATUS_TOPIC, b'{"online": "yes"}')
    assert isinstance(rejection, Rejection)
    assert rejection.reason is Reason.bad_type
    assert rejection.topic == STATUS_TOPIC
    assert '"online": true|false' in rejection.detail
    assert rejection.payload == b'{"online": "yes"}'
    assert rejection.index is None


@pytest.mark.parametrize("topic", ["fenlei/v1/Bad/r/b/status", TOPIC, "elsewhere/status"])
def test_parse_status_message_refuses_a_topic_that_is_not_a_status_topic(topic: str) -> None:
    rejection = parse_status_message(topic, b'{"online": true}')
    assert isinstance(rejection, Rejection)
    assert rejection.reason is Reason.bad_topic
    assert "is not a status topic" in rejection.detail


def test_a_refused_status_payload_is_stored_bounded() -> None:
    rejection = parse_status_message(STATUS_TOPIC, b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert isinstance(rejection, Rejection)
    assert len(rejection.payload) == MAX_STORED_PAYLOAD_BYTES


# -- topics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "fenlei/v1/e/r/b/alarms",
        "fenlei/v1/e/r/b",
        "fenlei/v1/e/r//events",
        "fenlei/v1/e/r/b/events/",
        "/fenlei/v1/e/r/b/events",
        "fenlei/v1/+/+/+/events",
        "fenlei/v1/e/r/" + "b" * 65 + "/events",
        "fenlei/v1/e/r/b_1/events",
    ],
)
def test_parse_topic_refuses(topic: str) -> None:
    assert parse_topic(topic) is None


def test_parse_topic_accepts_64_character_ids() -> None:
    long = "a" * 64
    assert parse_topic(f"fenlei/v1/{long}/{long}/{long}/events") == (
        BinAddress(long, long, long),
        "events",
    )


# -- properties ---------------------------------------------------------------------------


def check_total(parsed: Parsed, elements: int | None = None) -> None:
    """Every element of a message is accounted for, once, as an event or a rejection."""
    assert len(parsed.events) + len(parsed.rejections) >= 1
    if elements is not None:
        assert len(parsed.events) + len(parsed.rejections) == elements
    for rejection in parsed.rejections:
        assert isinstance(rejection.reason, Reason)
        assert rejection.detail
        assert len(rejection.payload) <= MAX_STORED_PAYLOAD_BYTES
    for event in parsed.events:
        assert event.ts.tzinfo is UTC


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    check_total(parse_events(TOPIC, payload, NOW))
    parse_status(payload)
    parse_status_message(STATUS_TOPIC, payload)


@given(st.text(max_size=200), st.binary(max_size=64))
def test_arbitrary_topics_never_raise(topic: str, payload: bytes) -> None:
    check_total(parse_events(topic, payload, NOW))
    parse_topic(topic)
    parse_status_message(topic, payload)


field_values = (
    json_values
    | st.sampled_from(["drop", "fill", "empty", "alarm", "tilt", "wet", "h-1", "e-1"])
    | st.sampled_from(["2024-05-01T11:30:00Z", "1999-12-31T23:59:59Z", "2030-01-01T00:00:00Z"])
    | st.integers(-(2**64), 2**64)
    | st.floats()
)
event_like = st.dictionaries(
    st.sampled_from(
        [
            "event_id",
            "ts",
            "kind",
            "weight_g",
            "fill_pct",
            "household",
            "alarm",
            "battery_pct",
            "category",
            "other",
        ]
    ),
    field_values,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(event_like | json_values)
def test_arbitrary_json_objects_never_raise(value: object) -> None:
    try:
        payload = orjson.dumps(value)
    except TypeError:  # integers orjson cannot write
        return
    check_total(parse(payload))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_like | json_values, min_size=1, max_size=10))
def test_arbitrary_batches_account_for_every_element(batch: list[object]) -> None:
    try:
        payload = orjson.dumps(batch)
    except TypeError:
        return
    parsed = parse(payload)
    check_total(parsed, len(batch))
    indices = [r.index for r in parsed.rejections if r.index is not None]
    assert len(indices) == len(parsed.rejections)
    assert indices == sorted(indices)
    assert all(0 <= i < len(batch) for i in indices)


@given(st.lists(events(), min_size=1, max_size=10), st.data())
def test_valid_events_round_trip_among_invalid_ones(
    batch: list[Event], data: st.DataObject
) -> None:
    # Every generated valid event comes back unchanged, whatever garbage surrounds it.
    address = batch[0].address
    topic = events_topic(address.estate, address.room, address.bin)
    wire: list[object] = []
    valid_at: list[int] = []
    for event in batch:
        if data.draw(st.booleans()):
            wire.append(data.draw(st.sampled_from([1, "x", [], {}, {"kind": "drop"}])))
        valid_at.append(len(wire))
        wire.append(event_to_json(event))
    parsed = parse_events(topic, orjson.dumps(wire), datetime(2100, 1, 1, tzinfo=UTC))
    expected = [
        Event(
            address,
            e.event_id,
            e.ts,
            e.kind,
            e.weight_g,
            e.fill_pct,
            e.household,
            e.alarm,
            e.battery_pct,
            e.category,
        )
        for e in batch
    ]
    assert parsed.events == expected
    rejected_at = [r.index for r in parsed.rejections if r.index is not None]
    assert len(rejected_at) == len(parsed.rejections)
    assert sorted(valid_at + rejected_at) == list(range(len(wire)))
