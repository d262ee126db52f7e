"""Issue, rotate and revoke device logins: the database first, then the broker.

The database is the source of truth and commits first. The broker is told afterwards
through the admin client; when it cannot be (no admin credentials, broker down, no
reply in time) the credential still stands, `broker_applied` stays false and
`fenlei devices sync` rebuilds the broker's view from the database. Revocations are
queued by a trigger and drained here, so nothing revoked is forgotten.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from api.devices import repository as repo
from api.devices.broker import AdminClient, BrokerUnavailable
from api.devices.commands import (
    create_commands,
    device_username,
    error_of,
    followups,
    read_create,
    revoke_commands,
    revoke_done,
)
from api.errors import NotFound
from api.registry import repository as registry
from api.settings import ApiSettings
from deploy.dynsec import Account
from fenlei.broker_url import parse_broker_url
from fenlei.passwords import ITERATIONS, hash_password, new_password, new_salt

log = logging.getLogger(__name__)
# Revocations claimed per transaction: each costs the broker a file save (~0.25 s at
# 10k devices), and the claimed rows stay locked until the batch is done.
DRAIN_BATCH = 20
SYNC_HINT = "run `fenlei devices sync` to apply it"


def admin_client(settings: ApiSettings) -> AdminClient | None:
    """The API's admin client, or None (logged) when no admin login is configured."""
    if not settings.admin_mqtt_username or settings.admin_mqtt_password is None:
        log.warning(
            "FENLEI_ADMIN_MQTT_USERNAME/PASSWORD are not set: device credentials are stored"
            " but not applied on the broker until `fenlei devices sync`"
        )
        return None
    return AdminClient(
        parse_broker_url(settings.mqtt_url),
        settings.admin_mqtt_username,
        settings.admin_mqtt_password.get_secret_value(),
        client_id=settings.admin_mqtt_client_id or f"fenlei-admin-{secrets.token_hex(4)}",
        ca_file=settings.mqtt_ca_file,
        timeout_s=settings.broker_timeout_s,
    )


def device_account(
    bin_key: int, estate: str, room: str, bin_id: str, password_hash: str, salt: str
) -> Account:
    """The dynamic-security view of a bin's login (username = client id = bin-<key>)."""
    username = device_username(bin_key)
    return Account(
        username,
        "device",
        password_hash,
        salt,
        ITERATIONS,
        client_id=username,
        bin=(estate, room, bin_id),
    )


async def apply(broker: AdminClient | None, account: Account, password: str) -> bool:
    """Create the login on the running broker, or reset its ACLs and password if it exists.

    Setting the password is the rotation: the broker kicks the open session at once.
    The role's ACLs are reset too, so a leftover role (a restored database reusing a
    username) cannot grant another bin's topics.
    True when the broker confirmed; False (and a warning, never the password) otherwise.
    """
    if broker is None:
        log.warning("login %s is stored but not on the broker: %s", account.username, SYNC_HINT)
        return False
    try:
        outcome = read_create(await broker.run(create_commands(account, password)))
        error = outcome.error
        then = followups(outcome, account, password)
        if error is None and then:
            replies = await broker.run(then)
            error = next((e for e in map(error_of, replies) if e is not None), None)
    except BrokerUnavailable as exc:
        error = str(exc)
    if error is not None:
        log.warning(
            "login %s is stored but the broker did not apply it (%s): %s",
            account.username,
            error,
            SYNC_HINT,
        )
        return False
    return True


async def issue(
    conn: repo.Conn, broker: AdminClient | None, estate: str, room: str, bin_id: str
) -> dict[str, Any]:
    """Create or rotate the bin's login; the only place its password is ever returned."""
    found = await registry.get_bin(conn, estate, room, bin_id)
    password, salt = new_password(), new_salt()
    password_hash = hash_password(password, salt, ITERATIONS)
    account = device_account(found["bin_key"], estate, room, bin_id, password_hash, salt)
    async with repo.issuing(conn, found["bin_key"]):
        await repo.put_device(
            conn, found["bin_key"], account.username, password_hash, salt, ITERATIONS
        )
        applied = await apply(broker, account, password)
        if applied:
            await repo.mark_applied(conn, account.username, password_hash)
    return {
        "username": account.username,
        "password": password,
        "client_id": account.client_id,
        "broker_applied": applied,
    }


async def info(conn: repo.Conn, estate: str, room: str, bin_id: str) -> dict[str, Any]:
    """The bin's login metadata; NotFound for an unknown bin or one without a login."""
    found = await registry.get_bin(conn, estate, room, bin_id)
    row = await repo.get_info(conn, found["bin_key"])
    if row is None:
        raise NotFound(f"bin {bin_id!r} has no credentials (POST them first)")
    return row


async def revoke(
    conn: repo.Conn, broker: AdminClient | None, estate: str, room: str, bin_id: str
) -> None:
    """Delete the bin's login, then drain the queue so the broker drops it now."""
    found = await registry.get_bin(conn, estate, room, bin_id)
    if await repo.delete_device(conn, found["bin_key"]) is None:
        raise NotFound(f"bin {bin_id!r} has no credentials")
    await drain(conn, broker)


async def drain(conn: repo.Conn, broker: AdminClient | None) -> int:
    """Execute queued revocations on the broker; how many were done.

    Stops at the first one the broker does not confirm: it stays queued for the next
    drain (on reconnect, on NOTIFY, periodically).
    """
    if broker is None or not broker.ready:
        return 0
    total = 0
    while True:
        async with conn.transaction():
            rows = await repo.claim_revocations(conn, DRAIN_BATCH)
            done = [r["id"] for r in rows if r["reissued"]]
            failed = False
            for row in (r for r in rows if not r["reissued"]):
                try:
                    error = revoke_done(await broker.run(revoke_commands(row["username"])))
                except BrokerUnavailable as exc:
                    error = str(exc)
                if error is not None:
                    log.warning(
                        "revoking %s on the broker failed (%s); retrying later",
                        row["username"],
                        error,
                    )
                    failed = True
                    break
                done.append(row["id"])
            if done:
                await repo.forget_revocations(conn, done)
        total += len(done)
        if failed or len(rows) < DRAIN_BATCH:
            return total
