"""Notification channels and settings of an estate (admin), its delivery log, and a
"send a test message" route. Secrets are write-only and shown masked."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request

from api.auth import audit
from api.deps import ConnDep, EstateAdmin, EstatePath
from api.errors import Conflict, Invalid, NotFound, Unavailable
from api.fields import Instant
from api.notify import channels, repository
from api.notify.messages import trial_message
from api.notify.schemas import (
    ChannelIn,
    ChannelOut,
    Delivery,
    EmailIn,
    SettingsIn,
    SettingsOut,
    TestResult,
)
from api.notify.settings import NotifySettings, channel_key
from api.notify.vault import SecretUnreadable, Vault, mask_url
from api.problems import responses
from fenlei.errors import ConfigError

router = APIRouter(prefix="/api/v1", tags=["notifications"], responses=responses(401, 403, 422))
CHANNELS = "/estates/{estate}/notification-channels"
ChannelPath = Annotated[int, Path(ge=1, le=2**62, description="Channel id.")]
NO_ESTATE = responses(404)
# A body that cannot be read (400) or is over FENLEI_MAX_BODY_BYTES (413).
BODY = responses(400, 404, 413)


def vault(request: Request) -> Vault:
    """The process's channel vault (FENLEI_CHANNEL_KEY); 503 when no key is configured."""
    found: Vault | None = getattr(request.app.state, "channel_vault", None)
    if found is None:
        try:
            found = Vault(channel_key(NotifySettings()))
        except ConfigError as exc:
            raise Unavailable(str(exc)) from None
        request.app.state.channel_vault = found
    return found


async def _estate(conn: ConnDep, estate: str) -> None:
    if not await repository.estate_exists(conn, estate):
        raise NotFound(f"no estate {estate!r}")


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "secret": row["secret_hint"]}


def _split(body: ChannelIn) -> tuple[dict[str, Any], dict[str, str], str]:
    """(config, secret fields, masked hint) of a new channel."""
    config: dict[str, Any]
    if isinstance(body, EmailIn):
        config = body.model_dump(include={"host", "port", "security", "username", "sender", "to"})
        secret = {"password": body.password} if body.password else {}
        return config, secret, "****" if body.password else "(no password)"
    secret = {"url": body.url}
    config = {}
    if body.kind == "wecom":
        config["format"] = body.format
    if body.kind == "dingtalk" and body.sign_secret:
        secret["sign_secret"] = body.sign_secret
        config["signed"] = True
    return config, secret, mask_url(body.url)


@router.get(CHANNELS, response_model=list[ChannelOut], responses=NO_ESTATE)
async def list_channels(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> Any:
    """The estate's channels; each secret only in its masked form."""
    await _estate(conn, estate)
    return [_out(r) for r in await repository.list_channels(conn, estate)]


@router.post(
    CHANNELS,
    status_code=201,
    response_model=ChannelOut,
    responses={**BODY, **responses(409, 503)},
)
async def create_channel(
    estate: EstatePath,
    body: Annotated[ChannelIn, Body()],
    conn: ConnDep,
    request: Request,
    _: EstateAdmin,
) -> Any:
    """Add a channel: a generic webhook, a WeCom or DingTalk group robot, or SMTP email.
    Its URL, signing secret and password are stored encrypted and never shown again
    (409: the estate has a channel of that name; 503: no FENLEI_CHANNEL_KEY)."""
    await _estate(conn, estate)
    config, secret, hint = _split(body)
    sealed = vault(request).seal(secret)
    row = await repository.create_channel(
        conn, estate, body.name, body.kind, body.audience, config, sealed, hint
    )
    if row is None:
        raise Conflict(f"estate {estate!r} already has a channel named {body.name!r}")
    audit.record(
        "notify_channel_created",
        f"notification channel {row['id']} ({body.kind}, {body.audience}) added to {estate}",
        estate=estate,
        channel_id=row["id"],
        kind=body.kind,
        secret_hint=hint,
    )
    return _out(row)


@router.delete(CHANNELS + "/{channel}", status_code=204, responses=NO_ESTATE)
async def delete_channel(
    estate: EstatePath, channel: ChannelPath, conn: ConnDep, _: EstateAdmin
) -> None:
    """Delete a channel; its pending deliveries go with it, its log rows stay."""
    row = await repository.delete_channel(conn, estate, channel)
    if row is None:
        raise NotFound(f"estate {estate!r} has no channel {channel}")
    audit.record(
        "notify_channel_deleted",
        f"notification channel {channel} of {estate} deleted",
        estate=estate,
        channel_id=channel,
    )


@router.post(
    CHANNELS + "/{channel}/test",
    response_model=TestResult,
    responses={**NO_ESTATE, **responses(503)},
)
async def test_channel(
    estate: EstatePath, channel: ChannelPath, conn: ConnDep, request: Request, _: EstateAdmin
) -> Any:
    """Send a test message over the channel now and say what it answered (`ok` false
    with the reason when it did not accept it; the attempt is in the delivery log)."""
    row = await repository.get_channel(conn, estate, channel)
    if row is None:
        raise NotFound(f"estate {estate!r} has no channel {channel}")
    settings = NotifySettings()
    try:
        secret = vault(request).open(row["secret"])
    except SecretUnreadable as exc:
        outcome = channels.Outcome(False, str(exc))
    else:
        import httpx

        async with httpx.AsyncClient(timeout=settings.notify_timeout_s) as http:
            outcome = await channels.send(
                row["kind"],
                row["config"],
                secret,
                trial_message(row["name"], estate),
                http,
                settings.notify_timeout_s,
                settings.private_networks(),
            )
    await repository.log_test(conn, estate, row, outcome.ok, outcome.detail)
    audit.record(
        "notify_channel_tested",
        f"test message over channel {channel} of {estate}: {'ok' if outcome.ok else 'failed'}",
        estate=estate,
        channel_id=channel,
        ok=outcome.ok,
    )
    return {"ok": outcome.ok, "detail": outcome.detail}


def _settings_out(row: dict[str, Any]) -> dict[str, Any]:
    clock = {
        k: row[k].strftime("%H:%M") if isinstance(row[k], time) else row[k]
        for k in ("quiet_start", "quiet_end")
    }
    return {**row, **clock, "urgent_kinds": list(row["urgent_kinds"])}


@router.get(
    "/estates/{estate}/notification-settings", response_model=SettingsOut, responses=NO_ESTATE
)
async def get_settings(estate: EstatePath, conn: ConnDep, _: EstateAdmin) -> Any:
    """The property contact, escalation and reminder minutes, quiet hours, urgent kinds."""
    await _estate(conn, estate)
    return _settings_out(await repository.get_settings(conn, estate))


@router.put("/estates/{estate}/notification-settings", response_model=SettingsOut, responses=BODY)
async def put_settings(estate: EstatePath, body: SettingsIn, conn: ConnDep, _: EstateAdmin) -> Any:
    """Replace the estate's notification settings. Quiet hours run from quiet_start to
    quiet_end local time (past midnight when the end is earlier); alarms of kinds not in
    urgent_kinds wait for their end."""
    if (body.quiet_start is None) != (body.quiet_end is None):
        raise Invalid(
            "quiet_start and quiet_end go together",
            [{"loc": ["body", "quiet_end"], "msg": "give both or neither", "type": "rule"}],
        )
    if body.quiet_start is not None and body.quiet_start == body.quiet_end:
        raise Invalid(
            "quiet hours of no length",
            [{"loc": ["body", "quiet_end"], "msg": "differs from quiet_start", "type": "rule"}],
        )
    await _estate(conn, estate)
    values = body.model_dump()
    for k in ("quiet_start", "quiet_end"):
        values[k] = time.fromisoformat(values[k]) if values[k] else None
    values["urgent_kinds"] = sorted(set(body.urgent_kinds))
    row = await repository.put_settings(conn, estate, values)
    audit.record(
        "notify_settings_changed",
        f"notification settings of {estate} changed",
        estate=estate,
        escalate_minutes=body.escalate_minutes,
        reminder_minutes=body.reminder_minutes,
    )
    return _settings_out(row)


@router.get("/estates/{estate}/notifications", response_model=list[Delivery], responses=NO_ESTATE)
async def notifications(
    estate: EstatePath,
    conn: ConnDep,
    _: EstateAdmin,
    alarm: Annotated[int | None, Query(ge=1, le=2**62, description="one alarm's")] = None,
    since: Annotated[Instant | None, Query(description="RFC 3339, with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """The delivery log: every attempt, newest first, with its outcome (no secrets)."""
    await _estate(conn, estate)
    return await repository.deliveries(conn, estate, alarm, since, limit)
