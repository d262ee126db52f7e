"""The rules of people acting on alarms: who may see, acknowledge and resolve them,
and the estates' thresholds (audited)."""

from __future__ import annotations

from datetime import datetime

from api.alarms import repository as repo
from api.alarms.schemas import AlarmSettingsIn
from api.auth import audit
from api.auth.tokens import Principal, Role
from api.errors import Conflict, Forbidden, NotFound
from api.registry import repository as registry
from api.rows import Conn, Row
from api.shifts import repository as shifts
from api.volunteers import repository as volunteers

UNRESOLVED = ("open", "acknowledged")
LIST_LIMIT = 1000


def states_of(wanted: str) -> tuple[str, ...]:
    """The states a list's `state` filter means."""
    return UNRESOLVED if wanted == "unresolved" else (wanted,)


async def list_alarms(conn: Conn, estate: str, wanted: str) -> list[Row]:
    await registry.get_estate(conn, estate)
    return await repo.list_alarms(conn, estate, states_of(wanted), LIST_LIMIT)


async def alarm_in_scope(conn: Conn, principal: Principal, alarm_id: int) -> Row:
    """The record, for a caller who may see its estate."""
    row = await repo.get_alarm(conn, alarm_id)
    if row is None:
        raise NotFound(f"no alarm {alarm_id}")
    if not principal.may_see(row["estate"]):
        raise Forbidden(f"the token is not allowed to see estate {row['estate']!r}")
    return row


async def actor(conn: Conn, principal: Principal, alarm: Row, now: datetime) -> str:
    """Who acts on the alarm, as the audit log names them: an admin of its estate (the
    token's name), or a volunteer on duty at its room now (the volunteer's name)."""
    if principal.role is Role.admin:
        return principal.name
    if principal.role is not Role.volunteer:
        raise Forbidden(
            f"acting on an alarm needs an admin or the volunteer on duty;"
            f" the token has {principal.role.value}"
        )
    me = await volunteers.volunteer_of_token(conn, principal.token_id)
    if me is None or not me["active"]:
        raise Forbidden("this token is not linked to an active volunteer")
    on_duty = await shifts.shifts_at(conn, alarm["estate"], alarm["room"], now)
    if not any(a["volunteer_id"] == me["id"] for s in on_duty for a in s["assignees"]):
        raise Forbidden(f"only the volunteer on duty at room {alarm['room']!r} now may act")
    return str(me["name"])


async def acknowledge(conn: Conn, principal: Principal, alarm_id: int, now: datetime) -> Row:
    alarm = await alarm_in_scope(conn, principal, alarm_id)
    by = await actor(conn, principal, alarm, now)
    if not await repo.acknowledge(conn, alarm_id, by):
        raise Conflict(f"alarm {alarm_id} is {alarm['state']}, not open")
    audit.record(
        "alarm_acknowledged",
        f"alarm {alarm_id} ({alarm['kind']}) acknowledged by {by}",
        alarm_id=alarm_id,
        estate=alarm["estate"],
        kind=alarm["kind"],
        actor=by,
    )
    return await alarm_in_scope(conn, principal, alarm_id)


async def resolve(conn: Conn, principal: Principal, alarm_id: int, now: datetime) -> Row:
    alarm = await alarm_in_scope(conn, principal, alarm_id)
    by = await actor(conn, principal, alarm, now)
    if not await repo.resolve(conn, alarm_id, by):
        raise Conflict(f"alarm {alarm_id} is already resolved")
    audit.record(
        "alarm_resolved",
        f"alarm {alarm_id} ({alarm['kind']}) resolved by {by}",
        alarm_id=alarm_id,
        estate=alarm["estate"],
        kind=alarm["kind"],
        actor=by,
    )
    return await alarm_in_scope(conn, principal, alarm_id)


async def get_settings(conn: Conn, estate: str) -> Row:
    await registry.get_estate(conn, estate)
    return await repo.get_settings(conn, estate)


async def put_settings(conn: Conn, estate: str, body: AlarmSettingsIn) -> Row:
    await registry.get_estate(conn, estate)
    values = body.model_dump()
    await repo.put_settings(conn, estate, values)
    audit.record(
        "alarm_settings_changed",
        f"alarm thresholds of estate {estate} set",
        estate=estate,
        **{f"new_{k}": v for k, v in values.items()},
    )
    return await repo.get_settings(conn, estate)
