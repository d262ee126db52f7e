"""SQL of notifications: settings, channels, plans, the outbox and the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from api.rows import Conn, Row, fetch_all, fetch_one

SETTINGS_COLUMNS = (
    "property_name",
    "property_phone",
    "property_email",
    "escalate_minutes",
    "reminder_minutes",
    "quiet_start",
    "quiet_end",
    "urgent_kinds",
    "send_resolved",
)
DEFAULTS: dict[str, Any] = {
    "property_name": None,
    "property_phone": None,
    "property_email": None,
    "escalate_minutes": 10,
    "reminder_minutes": 30,
    "quiet_start": None,
    "quiet_end": None,
    "urgent_kinds": ["overflow", "odour"],
    "send_resolved": True,
}


async def estate_exists(conn: Conn, estate: str) -> bool:
    return await fetch_one(conn, "SELECT 1 AS x FROM estates WHERE id = %s", (estate,)) is not None


async def get_settings(conn: Conn, estate: str) -> Row:
    """The estate's settings, the defaults where it has no row."""
    row = await fetch_one(
        conn,
        f"SELECT {', '.join(SETTINGS_COLUMNS)}, updated_at FROM notify_settings"
        " WHERE estate_id = %s",
        (estate,),
    )
    return row if row is not None else {**DEFAULTS, "updated_at": None}


async def put_settings(conn: Conn, estate: str, values: dict[str, Any]) -> Row:
    """Replace the estate's settings."""
    cols = ", ".join(SETTINGS_COLUMNS)
    marks = ", ".join(f"%({c})s" for c in SETTINGS_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in SETTINGS_COLUMNS)
    row = await fetch_one(
        conn,
        f"INSERT INTO notify_settings (estate_id, {cols}) VALUES (%(estate)s, {marks})"
        f" ON CONFLICT (estate_id) DO UPDATE SET {updates}, updated_at = now()"
        f" RETURNING {cols}, updated_at",
        {**values, "estate": estate},
    )
    assert row is not None
    return row


_CHANNEL = "id, estate_id, name, kind, audience, config, secret_hint, created_at"


async def list_channels(conn: Conn, estate: str) -> list[Row]:
    """The estate's channels, without their secrets (the masked hint only)."""
    return await fetch_all(
        conn, f"SELECT {_CHANNEL} FROM notify_channels WHERE estate_id = %s ORDER BY id", (estate,)
    )


async def create_channel(
    conn: Conn,
    estate: str,
    name: str,
    kind: str,
    audience: str,
    config: dict[str, Any],
    secret: bytes,
    hint: str,
) -> Row | None:
    """The new channel; None when the estate already has one of that name."""
    return await fetch_one(
        conn,
        "INSERT INTO notify_channels (estate_id, name, kind, audience, config, secret,"
        " secret_hint) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        f" ON CONFLICT (estate_id, name) DO NOTHING RETURNING {_CHANNEL}",
        (estate, name, kind, audience, Jsonb(config), secret, hint),
    )


async def get_channel(conn: Conn, estate: str, channel: int) -> Row | None:
    """One channel with its sealed secret."""
    return await fetch_one(
        conn,
        f"SELECT {_CHANNEL}, secret FROM notify_channels WHERE estate_id = %s AND id = %s",
        (estate, channel),
    )


async def delete_channel(conn: Conn, estate: str, channel: int) -> Row | None:
    """Delete a channel (its pending deliveries go with it); None when there is none."""
    return await fetch_one(
        conn,
        "DELETE FROM notify_channels WHERE estate_id = %s AND id = %s RETURNING id, name",
        (estate, channel),
    )


# Alarms that may need a step: every unresolved one, and resolved ones told of whose
# resolved note is not planned yet (for a week: an older one is history).
_TO_PLAN = """
SELECT a.id, a.estate_id, a.room_id, a.bin_id, a.kind, a.state, a.first_seen, a.repeats,
       a.detail,
       a.resolved_at, a.resolved_by, r.name AS room_name, e.name AS estate_name,
       e.timezone, s.escalate_minutes, s.reminder_minutes, s.quiet_start, s.quiet_end,
       s.urgent_kinds, s.send_resolved, s.property_name, s.property_phone,
       s.property_email,
       ARRAY(SELECT p.step FROM notify_plans p WHERE p.alarm_id = a.id ORDER BY p.step)
           AS steps,
       ARRAY(SELECT p.due_at FROM notify_plans p WHERE p.alarm_id = a.id ORDER BY p.step)
           AS dues,
       EXISTS (SELECT 1 FROM notify_outbox o WHERE o.alarm_id = a.id AND o.state = 'sent')
           AS told
FROM alarms a
JOIN estates e ON e.id = a.estate_id
LEFT JOIN rooms r ON r.estate_id = a.estate_id AND r.id = a.room_id
LEFT JOIN notify_settings s ON s.estate_id = a.estate_id
WHERE a.state <> 'resolved'
   OR (a.resolved_at > %(now)s - interval '7 days'
       AND EXISTS (SELECT 1 FROM notify_plans p WHERE p.alarm_id = a.id AND p.step = 'open')
       AND NOT EXISTS (SELECT 1 FROM notify_plans p
                       WHERE p.alarm_id = a.id AND p.step = 'resolved'))
ORDER BY a.id
"""


async def alarms_to_plan(conn: Conn, now: datetime) -> list[Row]:
    """Alarms that may need a step now, with their estate's settings and plans."""
    return await fetch_all(conn, _TO_PLAN, {"now": now})


async def on_duty(conn: Conn, estate: str, room: str, at: datetime) -> list[Row]:
    """Volunteers of the room's shifts at `at` who have not checked out (checked in first)."""
    return await fetch_all(
        conn,
        "SELECT v.name, v.contact FROM shifts s JOIN assignments a ON a.shift_id = s.id"
        " JOIN volunteers v ON v.id = a.volunteer_id WHERE s.estate_id = %s"
        " AND s.room_id = %s AND s.starts_at <= %s AND %s < s.ends_at AND v.active"
        " AND a.checked_out_at IS NULL ORDER BY a.checked_in_at IS NULL, v.name, v.id",
        (estate, room, at, at),
    )


async def channels_for(conn: Conn, estate: str, audiences: Sequence[str]) -> list[Row]:
    """The estate's channels of these audiences."""
    return await fetch_all(
        conn,
        "SELECT id, audience FROM notify_channels WHERE estate_id = %s"
        " AND audience = ANY(%s) ORDER BY id",
        (estate, list(audiences)),
    )


async def plan_step(
    conn: Conn,
    alarm: int,
    step: str,
    due_at: datetime,
    now: datetime,
    deliveries: Sequence[tuple[int, dict[str, Any]]],
) -> bool:
    """Plan a step and its deliveries (channel id, message) at once; False when another
    dispatcher planned it first (then nothing is added)."""
    async with conn.transaction():
        planned = await fetch_one(
            conn,
            "INSERT INTO notify_plans (alarm_id, step, due_at, planned_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING step",
            (alarm, step, due_at, now),
        )
        if planned is None:
            return False
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO notify_outbox (alarm_id, step, channel_id, message, due_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(alarm, step, ch, Jsonb(msg), due_at) for ch, msg in deliveries],
            )
    return True


async def due_deliveries(conn: Conn, now: datetime, limit: int) -> list[int]:
    """Ids of pending deliveries due at `now`, oldest first (not locked: see `claim`)."""
    rows = await fetch_all(
        conn,
        "SELECT id FROM notify_outbox WHERE state = 'pending' AND due_at <= %s"
        " ORDER BY due_at, id LIMIT %s",
        (now, limit),
    )
    return [int(r["id"]) for r in rows]


async def claim(conn: Conn, outbox_id: int, now: datetime) -> Row | None:
    """Lock one due delivery with its channel and alarm state, inside the caller's
    transaction; None when it is gone, not due, or another dispatcher holds it."""
    return await fetch_one(
        conn,
        "SELECT o.id, o.alarm_id, o.step, o.channel_id, o.message, o.attempts,"
        " c.estate_id, c.name AS channel_name, c.kind, c.config, c.secret,"
        " a.state AS alarm_state FROM notify_outbox o"
        " JOIN notify_channels c ON c.id = o.channel_id JOIN alarms a ON a.id = o.alarm_id"
        " WHERE o.id = %s AND o.state = 'pending' AND o.due_at <= %s"
        " FOR UPDATE OF o SKIP LOCKED",
        (outbox_id, now),
    )


async def finish(
    conn: Conn,
    row: Row,
    now: datetime,
    ok: bool,
    detail: str,
    state: str,
    next_due: datetime | None,
) -> None:
    """Log an attempt and set the delivery's state, in the caller's transaction."""
    attempt = int(row["attempts"]) + 1
    await conn.execute(
        "INSERT INTO notify_deliveries (estate_id, outbox_id, alarm_id, step, channel_id,"
        " channel_name, attempt, at, ok, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            row["estate_id"],
            row["id"],
            row["alarm_id"],
            row["step"],
            row["channel_id"],
            row["channel_name"],
            attempt,
            now,
            ok,
            detail[:500],
        ),
    )
    await conn.execute(
        "UPDATE notify_outbox SET attempts = %s, state = %s, sent_at = %s,"
        " due_at = coalesce(%s, due_at) WHERE id = %s",
        (attempt, state, now if ok else None, next_due, row["id"]),
    )


async def cancel(conn: Conn, outbox_id: int) -> None:
    """Mark a delivery moot (the alarm was acknowledged or resolved first)."""
    await conn.execute("UPDATE notify_outbox SET state = 'cancelled' WHERE id = %s", (outbox_id,))


async def log_test(conn: Conn, estate: str, channel: Row, ok: bool, detail: str) -> None:
    """Log a test message's attempt."""
    await conn.execute(
        "INSERT INTO notify_deliveries (estate_id, step, channel_id, channel_name, attempt,"
        " ok, detail) VALUES (%s, 'test', %s, %s, 1, %s, %s)",
        (estate, channel["id"], channel["name"], ok, detail[:500]),
    )


async def deliveries(
    conn: Conn, estate: str, alarm: int | None, since: datetime | None, limit: int
) -> list[Row]:
    """The delivery log of an estate, newest first."""
    return await fetch_all(
        conn,
        "SELECT d.id, d.alarm_id, d.step, d.channel_id, d.channel_name, c.kind AS channel_kind,"
        " d.attempt, d.at, d.ok, d.detail, o.state AS delivery_state"
        " FROM notify_deliveries d LEFT JOIN notify_channels c ON c.id = d.channel_id"
        " LEFT JOIN notify_outbox o ON o.id = d.outbox_id WHERE d.estate_id = %s"
        " AND (%s::bigint IS NULL OR d.alarm_id = %s)"
        " AND (%s::timestamptz IS NULL OR d.at >= %s) ORDER BY d.at DESC, d.id DESC LIMIT %s",
        (estate, alarm, alarm, since, since, limit),
    )


async def prune(conn: Conn, before: datetime) -> tuple[int, int]:
    """Forget log rows older than `before`, and the plans (with their outbox rows) of
    alarms resolved before it: no step of theirs can be planned again (`alarms_to_plan`
    stops at a week). (log rows, plans) deleted."""
    async with conn.transaction():
        logs = await conn.execute("DELETE FROM notify_deliveries WHERE at < %s", (before,))
        plans = await conn.execute(
            "DELETE FROM notify_plans p USING alarms a WHERE a.id = p.alarm_id"
            " AND a.state = 'resolved' AND a.resolved_at < %s",
            (before,),
        )
    return logs.rowcount, plans.rowcount
