"""Rows for the notification tests, written with SQL as the schema allows (an alarm
is opened, repeated, acknowledged or resolved the way the evaluator would)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from api.notify.vault import Vault, mask_url
from tests.fix_data import register

KEY = "test-channel-key-" + "k" * 32
VOLUNTEER_PHONE = "13800001111"
PROPERTY_PHONE = "13900002222"


def estate_with_duty(db_url: str, now: datetime, escalate: int = 10, reminder: int = 30) -> None:
    """Estate jjq, room r1 (bin b-wet), 王阿姨 on duty at r1 around `now`, a property
    contact, and the escalation and reminder minutes."""
    register(db_url, "jjq", {"r1": {"b-wet": "wet"}, "r2": {"b2": "dry"}})
    with psycopg.connect(db_url, autocommit=True) as conn:
        vid = conn.execute(
            "INSERT INTO volunteers (estate_id, name, contact, calendar_key)"
            " VALUES ('jjq', '王阿姨', '王阿姨 138-0000-1111', 'cal-1') RETURNING id"
        ).fetchone()
        off = conn.execute(
            "INSERT INTO volunteers (estate_id, name, contact, calendar_key)"
            " VALUES ('jjq', '李叔叔', '13700003333', 'cal-2') RETURNING id"
        ).fetchone()
        assert vid is not None and off is not None
        start, end = now - timedelta(hours=1), now + timedelta(hours=3)
        shift = conn.execute(
            "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end, starts_at,"
            " ends_at) VALUES ('jjq', 'r1', %s, '07:00', '11:00', %s, %s) RETURNING id",
            (start.date(), start, end),
        ).fetchone()
        # 李叔叔 is on duty at the other room: he is not mentioned.
        other = conn.execute(
            "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end, starts_at,"
            " ends_at) VALUES ('jjq', 'r2', %s, '07:00', '11:00', %s, %s) RETURNING id",
            (start.date(), start, end),
        ).fetchone()
        assert shift is not None and other is not None
        conn.execute(
            "INSERT INTO assignments (shift_id, volunteer_id) VALUES (%s, %s), (%s, %s)",
            (shift[0], vid[0], other[0], off[0]),
        )
        conn.execute(
            "INSERT INTO notify_settings (estate_id, property_name, property_phone,"
            " property_email, escalate_minutes, reminder_minutes)"
            " VALUES ('jjq', '绿城物业', %s, 'wuye@jjq.test', %s, %s)",
            (PROPERTY_PHONE, escalate, reminder),
        )


def add_channel(
    db_url: str,
    name: str,
    kind: str,
    audience: str,
    secret: dict[str, str],
    config: dict[str, Any] | None = None,
) -> int:
    """A channel row sealed under KEY (as the API stores one)."""
    sealed = Vault(KEY).seal(secret)
    hint = mask_url(secret["url"]) if "url" in secret else "****"
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO notify_channels (estate_id, name, kind, audience, config, secret,"
            " secret_hint) VALUES ('jjq', %s, %s, %s, %s, %s, %s) RETURNING id",
            (name, kind, audience, Jsonb(config or {}), sealed, hint),
        ).fetchone()
    assert row is not None
    return int(row[0])


def open_alarm(
    db_url: str,
    at: datetime,
    kind: str = "overflow",
    room: str = "r1",
    bin_id: str | None = "b-wet",
) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return open_alarm_in(conn, at, kind, room, bin_id)


def open_alarm_in(
    conn: psycopg.Connection[Any],
    at: datetime,
    kind: str = "overflow",
    room: str = "r1",
    bin_id: str | None = "b-wet",
) -> int:
    """An open alarm of estate jjq, written on `conn` (in its transaction, if any)."""
    row = conn.execute(
        "INSERT INTO alarms (estate_id, room_id, bin_id, kind, source, first_seen,"
        " last_seen, opened_at, detail) VALUES ('jjq', %s, %s, %s, 'device', %s, %s, %s,"
        " %s) RETURNING id",
        (room, bin_id, kind, at, at, at, Jsonb({"fill_pct": 97.5})),
    ).fetchone()
    assert row is not None
    return int(row[0])


def set_state(db_url: str, alarm: int, state: str, at: datetime) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        if state == "acknowledged":
            conn.execute(
                "UPDATE alarms SET state = 'acknowledged', acknowledged_at = %s,"
                " acknowledged_by = '王阿姨' WHERE id = %s",
                (at, alarm),
            )
        else:
            conn.execute(
                "UPDATE alarms SET state = 'resolved', resolved_at = %s, resolved_by = 'auto'"
                " WHERE id = %s",
                (at, alarm),
            )


def repeat(db_url: str, alarm: int, at: datetime) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE alarms SET repeats = repeats + 1, last_seen = %s WHERE id = %s", (at, alarm)
        )
