"""The ingester end to end: real Mosquitto, real TimescaleDB, `python -m ingest`."""

from __future__ import annotations

import orjson
import psycopg
import pytest

from ingest.contract import events_topic, status_topic
from simulators.broker import Broker
from simulators.publisher import Publisher
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import (
    TOPIC_DRY,
    TOPIC_WET,
    canary,
    count,
    drop,
    publish,
    wait_stored,
)

pytestmark = pytest.mark.integration


def test_object_and_array_payloads_are_stored(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    publish(
        broker,
        [
            (TOPIC_DRY, drop("one", household="h-001")),
            (TOPIC_WET, [drop(f"arr-{i}", weight_g=100 + i) for i in range(50)]),
        ],
    )
    wait_stored(db_url, 52)
    with psycopg.connect(db_url) as conn:
        one = conn.execute(
            "SELECT kind, weight_g, household, category, ts = '2026-03-23T00:00:00Z'"
            " FROM events WHERE event_id = 'one'"
        ).fetchone()
        assert one == ("drop", 500, "h-001", "dry", True)
        assert conn.execute(
            "SELECT count(*), sum(weight_g) FROM events WHERE event_id LIKE 'arr-%'"
            " AND category = 'wet'"
        ).fetchone() == (50, sum(100 + i for i in range(50)))


def test_redelivered_and_out_of_order_events_are_stored_once(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    later = drop("e-2", ts="2026-03-23T09:00:00Z")
    earlier = drop("e-1", ts="2026-03-20T09:00:00Z")
    # A device flushing its buffer newest first, then redelivering both (as after a
    # lost PUBACK), once as an array and once one by one.
    publish(
        broker,
        [
            (TOPIC_DRY, later),
            (TOPIC_DRY, earlier),
            (TOPIC_DRY, [later, earlier]),
            (TOPIC_DRY, later),
        ],
    )
    canary(db_url, broker)
    assert count(db_url, "event_id IN ('e-1', 'e-2')") == 2
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT event_id, ts::text FROM events WHERE event_id IN ('e-1', 'e-2') ORDER BY ts"
        ).fetchall()
    assert rows == [("e-1", "2026-03-20 09:00:00+00"), ("e-2", "2026-03-23 09:00:00+00")]


INVALID: list[tuple[str, str, bytes]] = [
    ("unknown_bin", events_topic("jjq", "r1", "no-such-bin"), orjson.dumps(drop("x1"))),
    ("unknown_bin", events_topic("other-estate", "r1", "b-dry"), orjson.dumps(drop("x2"))),
    ("bad_json", TOPIC_DRY, b'{"event_id": "x3", '),
    ("not_utf8", TOPIC_DRY, b'{"event_id": "\xff\xfe"}'),
    ("missing_field", TOPIC_DRY, orjson.dumps({"event_id": "x5", "kind": "drop", "weight_g": 5})),
    ("bad_weight", TOPIC_DRY, orjson.dumps(drop("x6", weight_g=-5))),
    ("bad_weight", TOPIC_DRY, orjson.dumps(drop("x7", weight_g=10_000_000))),
    (
        "bad_json",
        TOPIC_DRY,
        b'{"event_id": "x8", "ts": "2026-03-23T08:00:00Z", "kind": "fill", "fill_pct": NaN}',
    ),
    (
        "bad_fill",
        TOPIC_DRY,
        orjson.dumps(
            {"event_id": "x9", "ts": "2026-03-23T08:00:00Z", "kind": "fill", "fill_pct": 140}
        ),
    ),
    ("future_timestamp", TOPIC_DRY, orjson.dumps(drop("x10", ts="2099-01-01T00:00:00Z"))),
    ("bad_timestamp", TOPIC_DRY, orjson.dumps(drop("x11", ts="2026-03-23 08:00"))),
    ("bad_kind", TOPIC_DRY, orjson.dumps({**drop("x12"), "kind": "explode"})),
    ("category_mismatch", TOPIC_DRY, orjson.dumps(drop("x13", category="wet"))),
    ("bad_id", TOPIC_DRY, orjson.dumps(drop("X 14"))),
    ("payload_too_large", TOPIC_DRY, b"[" + b" " * (256 * 1024) + b"]"),
    ("empty_batch", TOPIC_DRY, b"[]"),
    ("not_object", TOPIC_DRY, b"42"),
    (
        "bad_alarm",
        TOPIC_DRY,
        orjson.dumps(
            {"event_id": "x18", "ts": "2026-03-23T08:00:00Z", "kind": "alarm", "alarm": "fire"}
        ),
    ),
]


def test_every_invalid_case_is_quarantined_with_its_reason(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    messages: list[tuple[str, object]] = []
    for i, (_, topic, body) in enumerate(INVALID):
        messages.append((topic, body))
        messages.append((TOPIC_WET, orjson.dumps(drop(f"ok-{i}"))))
    publish(broker, messages, raw=True)
    wait_for(
        lambda: count(db_url, table="rejected_messages"),
        lambda c: c >= len(INVALID),
        what="all rejections",
    )
    wait_stored(db_url, 1 + len(INVALID))
    assert count(db_url, "event_id LIKE 'ok-%'") == len(INVALID)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT reason, topic, detail, length(payload) FROM rejected_messages ORDER BY id"
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(reason for reason, _, _ in INVALID)
    assert all(r[2] for r in rows), "every rejection says why"
    assert max(r[3] for r in rows) <= 4096, "stored payloads are bounded"


def test_a_bin_registered_while_running_is_accepted_at_once(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    topic = events_topic("jjq", "r2", "b-new")
    publish(broker, [(topic, drop("before"))])
    wait_for(
        lambda: scalar(
            db_url, "SELECT count(*) FROM rejected_messages WHERE reason = 'unknown_bin'"
        ),
        lambda c: c == 1,
    )
    register(db_url, rooms={"r2": {"b-new": "recyclable"}})
    publish(broker, [(topic, drop("after"))])
    wait_for(
        lambda: count(db_url, "event_id = 'after' AND category = 'recyclable'"),
        lambda c: c == 1,
        what="the newly registered bin's event",
    )


def test_status_and_last_will_update_the_bin(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    topic = status_topic("jjq", "r1", "b-wet")
    will = orjson.dumps({"online": False})
    device = Publisher(broker, "test-device-b-wet", will=(topic, will))
    device.connect()
    device.publish(topic, orjson.dumps({"online": True, "battery_pct": 87}), retain=True)
    device.flush()

    def state() -> tuple[object, ...]:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT online, battery_pct, last_seen IS NOT NULL FROM bins WHERE id = 'b-wet'"
            ).fetchone()
        return tuple(row) if row else ()

    wait_for(state, lambda s: s == (True, 87.0, True), what="online status")
    # Drop the TCP connection without DISCONNECT: the broker publishes the will.
    device.client.socket().close()  # type: ignore[union-attr]
    device.client.loop_stop()
    wait_for(state, lambda s: s == (False, 87.0, True), what="last will", timeout=90)
    publish(broker, [(topic, b"")], raw=True)  # clear the retained status


def test_fill_and_alarm_events_update_the_bin(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    publish(
        broker,
        [
            (
                TOPIC_DRY,
                [
                    {
                        "event_id": "f1",
                        "ts": "2026-03-23T08:00:00Z",
                        "kind": "fill",
                        "fill_pct": 40,
                    },
                    {
                        "event_id": "f2",
                        "ts": "2026-03-23T09:00:00Z",
                        "kind": "fill",
                        "fill_pct": 95,
                        "battery_pct": 60,
                    },
                    {
                        "event_id": "a1",
                        "ts": "2026-03-23T09:00:01Z",
                        "kind": "alarm",
                        "alarm": "overflow",
                    },
                ],
            ),
            (
                TOPIC_DRY,
                [
                    # A late backfill of an older reading must not overwrite the newer one.
                    {
                        "event_id": "f0",
                        "ts": "2026-03-22T08:00:00Z",
                        "kind": "fill",
                        "fill_pct": 10,
                    },
                ],
            ),
        ],
    )
    wait_stored(db_url, 5)
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT fill_pct, battery_pct, last_alarm, online FROM bins WHERE id = 'b-dry'"
        ).fetchone()
    assert row == (95.0, 60.0, "overflow", True)


def test_rollups_count_each_stored_drop_once_on_its_local_day(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    # Asia/Shanghai is UTC+8; windows 07:00-09:00 and 18:00-20:00 local.
    sent = [
        drop("m1", ts="2026-03-23T23:59:59+08:00", weight_g=100, household="h1"),
        drop("m2", ts="2026-03-23T16:00:00Z", weight_g=200, household="h1"),  # 24th 00:00
        drop("m3", ts="2026-03-24T07:00:00+08:00", weight_g=300, household="h2"),
        drop("m4", ts="2026-03-24T00:59:59Z", weight_g=400),  # 08:59:59 local, anonymous
        drop("m5", ts="2026-03-24T09:00:00+08:00", weight_g=500, household="h2"),
    ]
    publish(
        broker,
        [
            (TOPIC_WET, sent),
            (TOPIC_WET, sent[1:3]),  # a redelivery
            (TOPIC_DRY, drop("m6", ts="2026-03-24T19:59:00+08:00", weight_g=600, household="h1")),
        ],
    )
    canary(db_url, broker)
    with psycopg.connect(db_url) as conn:
        daily = conn.execute(
            "SELECT day::text, category, drops, weight_g, identified_drops, in_window_drops"
            " FROM daily_category WHERE day >= '2026-03-23' AND day <= '2026-03-24'"
            " ORDER BY 1, 2"
        ).fetchall()
        households = conn.execute(
            "SELECT day::text, household, drops, dry_g, wet_g FROM household_days"
            " WHERE day IN ('2026-03-23', '2026-03-24') ORDER BY 1, 2"
        ).fetchall()
    assert daily == [
        ("2026-03-23", "dry", 2, 1000, 0, 2),  # the two canaries, each stored once
        ("2026-03-23", "wet", 1, 100, 1, 0),
        ("2026-03-24", "dry", 1, 600, 1, 1),
        ("2026-03-24", "wet", 4, 1400, 3, 2),
    ]
    assert households == [
        ("2026-03-23", "h1", 1, 0, 100),
        ("2026-03-24", "h1", 2, 600, 200),
        ("2026-03-24", "h2", 2, 0, 800),
    ]


def test_household_months_hold_each_drop_day_as_a_bit(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    sent = [
        drop("b1", ts="2026-03-01T08:00:00+08:00", weight_g=100, household="h1"),
        drop("b2", ts="2026-03-31T23:30:00+08:00", weight_g=200, household="h1"),
        drop("b3", ts="2026-03-31T16:00:00Z", weight_g=300, household="h1"),  # April 1st
        drop("b4", ts="2026-03-01T09:00:00+08:00", weight_g=400, household="h1"),
    ]
    publish(broker, [(TOPIC_WET, sent), (TOPIC_WET, sent)])  # the second is a redelivery
    canary(db_url, broker)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT month::text, household, days, drops, wet_g FROM household_months ORDER BY 1"
        ).fetchall()
    assert rows == [("2026-03-01", "h1", 1 | 1 << 30, 3, 700), ("2026-04-01", "h1", 1, 1, 300)]
