"""Mosquitto dynamic-security commands and how to read their replies. Pure.

The plugin accepts plaintext passwords only (no command takes a hash in 2.0.11), so
the commands that create or rotate a login carry the password: `redact` is what any
log line, exception or debug print of a command goes through.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deploy.dynsec import Account, acls, role_name

Command = dict[str, Any]
Reply = Mapping[str, Any]
REDACTED = "******"
# Mosquitto 2.0.11's dynamic-security error strings that mean "already in that state".
ALREADY_EXISTS = "already exists"
NOT_FOUND = "not found"


def device_username(bin_key: int) -> str:
    """A device's username and client id: short, stable, never reused, no `/ + #`."""
    return f"bin-{bin_key}"


def create_commands(account: Account, password: str) -> list[Command]:
    """createRole (with the account's ACLs) then createClient holding that role."""
    client: Command = {
        "command": "createClient",
        "username": account.username,
        "password": password,
        "roles": [{"rolename": role_name(account)}],
    }
    if account.client_id is not None:
        client["clientid"] = account.client_id
    return [
        {"command": "createRole", "rolename": role_name(account), "acls": acls(account)},
        client,
    ]


def set_password_command(username: str, password: str) -> Command:
    """setClientPassword: also kicks the login's open session at once."""
    return {"command": "setClientPassword", "username": username, "password": password}


def revoke_commands(username: str) -> list[Command]:
    """deleteClient (kicks the open session at once) and the device's own role."""
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": username},
    ]


def redact(commands: Sequence[Command]) -> list[Command]:
    """A copy of `commands` with every password replaced, fit for a log line."""
    clean = copy.deepcopy(list(commands))
    for command in clean:
        if "password" in command:
            command["password"] = REDACTED
    return clean


def error_of(reply: Reply) -> str | None:
    """The reply's error text, or None when the command succeeded."""
    error = reply.get("error")
    return str(error) if error else None


def modify_role_command(account: Account) -> Command:
    """modifyRole replacing the role's ACLs with the account's (kicks its holders)."""
    return {"command": "modifyRole", "rolename": role_name(account), "acls": acls(account)}


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """What createRole + createClient did, and what must follow."""

    # Already on the broker (a rotation, a retry, or a leftover): the ACLs are reset
    # to the database's and the password is set instead.
    role_exists: bool
    client_exists: bool
    error: str | None = None


def read_create(replies: Sequence[Reply]) -> CreateOutcome:
    """Interpret the replies to `create_commands` (role first, then client)."""
    role_error, client_error = (error_of(r) for r in replies)
    role_exists = role_error is not None and ALREADY_EXISTS in role_error.lower()
    client_exists = client_error is not None and ALREADY_EXISTS in client_error.lower()
    if role_error and not role_exists:
        return CreateOutcome(False, False, f"createRole: {role_error}")
    if client_error and not client_exists:
        return CreateOutcome(role_exists, False, f"createClient: {client_error}")
    return CreateOutcome(role_exists, client_exists)


def followups(outcome: CreateOutcome, account: Account, password: str) -> list[Command]:
    """The commands that make an existing role and login match the database."""
    commands = [modify_role_command(account)] if outcome.role_exists else []
    if outcome.client_exists:
        commands.append(set_password_command(account.username, password))
    return commands


def revoke_done(replies: Sequence[Reply]) -> str | None:
    """None when the login and its role are gone ("not found" counts), else the error."""
    for reply in replies:
        error = error_of(reply)
        if error and NOT_FOUND not in error.lower():
            return f"{reply.get('command')}: {error}"
    return None
