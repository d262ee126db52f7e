"""The v1 device contract: topics, the wire form of events, category checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.contract import (
    ALARMS,
    CATEGORIES,
    EVENTS_SUBSCRIPTION,
    HOUSEHOLD_CATEGORIES,
    HOUSEHOLD_PATTERN,
    ID_PATTERN,
    KINDS,
    MAX_DROP_WEIGHT_G,
    MAX_EMPTY_WEIGHT_G,
    MAX_STORED_PAYLOAD_BYTES,
    OLDEST_VALID_TS,
    STATUS_SUBSCRIPTION,
    BinAddress,
    Event,
    Reason,
    Rejection,
    check_category,
    check_registered,
    encode_payload,
    event_to_json,
    events_topic,
    status_topic,
)
from ingest.payload import parse_events, parse_topic

# Late enough that every generated ts is in the past.
NOW = datetime(2100, 1, 1, tzinfo=UTC)
OFFSETS = [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]

ids = st.from_regex(re.compile(ID_PATTERN), fullmatch=True)
households = st.from_regex(re.compile(HOUSEHOLD_PATTERN), fullmatch=True)
percents = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
addresses = st.builds(BinAddress, ids, ids, ids)


@st.composite
def events(draw: st.DrawFn) -> Event:
    """Any valid event, with ts in any of a few offsets (as a device would send it)."""
    kind = draw(st.sampled_from(KINDS))
    instant = draw(
        # Hypothesis takes naive bounds and attaches the timezone itself.
        st.datetimes(
            min_value=datetime(2000, 1, 1),  # noqa: DTZ001
            max_value=datetime(2099, 12, 31),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
    )
    weight: int | None = None
    if kind == "drop":
        weight = draw(st.integers(1, MAX_DROP_WEIGHT_G))
    elif kind == "empty":
        weight = draw(st.none() | st.integers(0, MAX_EMPTY_WEIGHT_G))
    return Event(
        address=draw(addresses),
        event_id=draw(ids),
        ts=instant.astimezone(draw(st.sampled_from(OFFSETS))),
        kind=kind,
        weight_g=weight,
        fill_pct=draw(percents if kind == "fill" else st.none() | percents),
        household=draw(st.none() | households) if kind == "drop" else None,
        alarm=draw(st.sampled_from(ALARMS)) if kind == "alarm" else None,
        battery_pct=draw(st.none() | percents),
        category=draw(st.none() | st.sampled_from(CATEGORIES)),
    )


def make_event(**changes: object) -> Event:
    fields: dict[str, object] = {
        "address": BinAddress("jiangjiaqiao", "room-1", "bin-wet-1"),
        "event_id": "e-1",
        "ts": datetime(2024, 5, 1, 11, 30, tzinfo=UTC),
        "kind": "drop",
        "weight_g": 1234,
        "fill_pct": None,
        "household": "H:12-301",
        "alarm": None,
        "battery_pct": None,
        "category": "wet",
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


# -- topics -------------------------------------------------------------------------------


@given(ids, ids, ids)
def test_topic_builders_round_trip_through_parse_topic(estate: str, room: str, bin_id: str) -> None:
    address = BinAddress(estate, room, bin_id)
    assert parse_topic(events_topic(estate, room, bin_id)) == (address, "events")
    assert parse_topic(status_topic(estate, room, bin_id)) == (address, "status")


def test_topics_match_the_brief() -> None:
    assert events_topic("e", "r", "b") == "fenlei/v1/e/r/b/events"
    assert status_topic("e", "r", "b") == "fenlei/v1/e/r/b/status"
    assert EVENTS_SUBSCRIPTION == "fenlei/v1/+/+/+/events"
    assert STATUS_SUBSCRIPTION == "fenlei/v1/+/+/+/status"


def test_household_categories_are_the_four_non_construction_ones() -> None:
    assert set(HOUSEHOLD_CATEGORIES) == set(CATEGORIES) - {"construction"}
    assert datetime(2000, 1, 1, tzinfo=UTC) == OLDEST_VALID_TS


# -- wire form ----------------------------------------------------------------------------


def test_event_to_json_omits_none_and_the_address() -> None:
    wire = event_to_json(make_event())
    assert wire == {
        "event_id": "e-1",
        "ts": "2024-05-01T11:30:00+00:00",
        "kind": "drop",
        "weight_g": 1234,
        "household": "H:12-301",
        "category": "wet",
    }


def test_event_to_json_keeps_the_offset_of_ts() -> None:
    shanghai = timezone(timedelta(hours=8))
    wire = event_to_json(make_event(ts=datetime(2024, 5, 1, 19, 30, 0, 5000, tzinfo=shanghai)))
    assert wire["ts"] == "2024-05-01T19:30:00.005000+08:00"


def test_event_to_json_rounds_sub_minute_offsets_to_utc() -> None:
    # RFC 3339 has no seconds in offsets; a timezone with them is written in UTC.
    odd = timezone(timedelta(hours=8, seconds=5))
    wire = event_to_json(make_event(ts=datetime(2024, 5, 1, 19, 30, 5, tzinfo=odd)))
    assert wire["ts"] == "2024-05-01T11:30:00+00:00"


def test_event_to_json_refuses_a_naive_ts() -> None:
    with pytest.raises(ValueError, match="naive"):
        event_to_json(make_event(ts=datetime(2024, 5, 1, 11, 30)))  # noqa: DTZ001


def test_encode_payload_object_and_array() -> None:
    wire = event_to_json(make_event())
    assert orjson.loads(encode_payload(wire)) == wire
    assert orjson.loads(encode_payload([wire, wire])) == [wire, wire]
    assert orjson.loads(encode_payload((wire,))) == [wire]


@given(events())
def test_wire_form_round_trips_through_parse_events(event: Event) -> None:
    address = event.address
    topic = events_topic(address.estate, address.room, address.bin)
    parsed = parse_events(topic, encode_payload(event_to_json(event)), NOW)
    assert parsed.rejections == []
    assert parsed.events == [event]
    assert parsed.events[0].ts.tzinfo is UTC


@given(st.lists(events(), min_size=1, max_size=20))
def test_batches_round_trip_through_parse_events(batch: list[Event]) -> None:
    payload = encode_payload([event_to_json(e) for e in batch])
    address = batch[0].address
    parsed = parse_events(events_topic(address.estate, address.room, address.bin), payload, NOW)
    assert parsed.rejections == []
    assert [e.event_id for e in parsed.events] == [e.event_id for e in batch]
    assert all(e.address == address for e in parsed.events)


# -- rejections ---------------------------------------------------------------------------


def test_reasons_are_their_own_names() -> None:
    assert all(reason.value == reason.name for reason in Reason)
    assert len(Reason) == 24


def test_rejection_truncates_its_payload() -> None:
    rejection = Rejection("t", Reason.bad_json, "x", b"a" * (MAX_STORED_PAYLOAD_BYTES + 10))
    assert rejection.payload == b"a" * MAX_STORED_PAYLOAD_BYTES
    assert rejection.index is None
    # A caller without type checks may hand in a bytearray; what is stored is bytes.
    kept = Rejection("t", Reason.bad_json, "x", bytearray(b"abc"), 3)  # type: ignore[arg-type]
    assert kept.payload == b"abc"
    assert type(kept.payload) is bytes


def test_check_category_accepts_match_and_absence() -> None:
    assert check_category(make_event(category="wet"), "wet") is None
    assert check_category(make_event(category=None), "dry") is None


def test_check_category_rejects_mismatch() -> None:
    event = make_event(category="wet")
    rejection = check_category(event, "dry")
    assert rejection is not None
    assert rejection.reason is Reason.category_mismatch
    assert rejection.topic == "fenlei/v1/jiangjiaqiao/room-1/bin-wet-1/events"
    assert "'wet'" in rejection.detail
    assert "'dry'" in rejection.detail
    assert rejection.index is None
    assert orjson.loads(rejection.payload) == event_to_json(event)


def test_check_registered_refuses_an_unknown_bin() -> None:
    event = make_event(category=None)
    rejection = check_registered(event, None)
    assert rejection is not None
    assert rejection.reason is Reason.unknown_bin
    assert rejection.topic == "fenlei/v1/jiangjiaqiao/room-1/bin-wet-1/events"
    assert "jiangjiaqiao/room-1/bin-wet-1 is not registered" in rejection.detail
    assert rejection.index is None
    assert orjson.loads(rejection.payload) == event_to_json(event)


def test_check_registered_applies_the_category_rule() -> None:
    assert check_registered(make_event(category="wet"), "wet") is None
    assert check_registered(make_event(category=None), "dry") is None
    event = make_event(category="wet")
    assert check_registered(event, "dry") == check_category(event, "dry")
