"""What each MQTT account may do, as a Mosquitto dynamic-security document.

Pure: accounts in, the plugin's JSON document out. The launcher writes it before the
broker starts (`fenlei services up`, `fenlei devices sync`); the API's admin client
sends the same roles as commands while it runs. Mosquitto 2.0.11 does not substitute
`%u`/`%c` in dynamic-security ACLs, so every device has a role of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from fenlei.passwords import dynsec_fields
from ingest.contract import (
    EVENTS_SUBSCRIPTION,
    STATUS_SUBSCRIPTION,
    STORED_TOPICS,
    events_topic,
    status_topic,
    stored_topic,
)

Kind = Literal["device", "ingest", "admin", "sim"]
AclType = Literal[
    "publishClientSend",
    "publishClientReceive",
    "subscribeLiteral",
    "subscribePattern",
    "unsubscribeLiteral",
    "unsubscribePattern",
]
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"


@dataclass(frozen=True, slots=True)
class Account:
    """One MQTT login. `client_id` None: any client id (fenlei's own services only)."""

    username: str
    kind: Kind
    password_hash: str
    salt: str
    iterations: int
    client_id: str | None = None
    # The bin a device account speaks for: (estate, room, bin).
    bin: tuple[str, str, str] | None = None


def _acl(acltype: AclType, topic: str) -> dict[str, object]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def _shared(topic: str) -> str:
    # Shared subscriptions are checked as the whole `$share/<group>/<filter>` string.
    return f"$share/+/{topic}"


def acls(account: Account) -> list[dict[str, object]]:
    """The topics `account` may publish, subscribe to and receive."""
    if account.kind == "device":
        if account.bin is None:
            raise ValueError(f"device account {account.username} has no bin")
        estate, room, bin_id = account.bin
        stored = stored_topic(estate, room, bin_id)
        return [
            _acl("publishClientSend", events_topic(estate, room, bin_id)),
            _acl("publishClientSend", status_topic(estate, room, bin_id)),
            _acl("subscribeLiteral", stored),
            _acl("publishClientReceive", stored),
        ]
    if account.kind == "ingest":
        streams = [EVENTS_SUBSCRIPTION, STATUS_SUBSCRIPTION]
        return [
            *(_acl("subscribePattern", t) for t in streams),
            *(_acl("subscribePattern", _shared(t)) for t in streams),
            *(_acl("publishClientReceive", t) for t in streams),
            _acl("publishClientSend", STORED_TOPICS),
        ]
    if account.kind == "sim":
        # Simulators and benchmarks publish as any bin and read the watermarks.
        return [
            _acl("publishClientSend", EVENTS_SUBSCRIPTION),
            _acl("publishClientSend", STATUS_SUBSCRIPTION),
            _acl("subscribePattern", STORED_TOPICS),
            _acl("publishClientReceive", STORED_TOPICS),
            _acl("subscribePattern", STATUS_SUBSCRIPTION),
            _acl("publishClientReceive", STATUS_SUBSCRIPTION),
        ]
    # admin: the plugin's control topic and its answers.
    return [
        _acl("publishClientSend", CONTROL_TOPIC),
        _acl("subscribeLiteral", CONTROL_RESPONSE_TOPIC),
        _acl("publishClientReceive", CONTROL_RESPONSE_TOPIC),
    ]


def role_name(account: Account) -> str:
    """Devices get a role each; fenlei's own accounts one per kind."""
    return account.username if account.kind == "device" else f"fenlei-{account.kind}"


def client_entry(account: Account) -> dict[str, object]:
    """The `clients[]` entry of `account` (hash only, never a password)."""
    entry: dict[str, object] = {
        "username": account.username,
        "roles": [{"rolename": role_name(account)}],
        **dynsec_fields(account.password_hash, account.salt, account.iterations),
    }
    if account.client_id is not None:
        entry["clientid"] = account.client_id
    return entry


def document(accounts: Iterable[Account]) -> dict[str, object]:
    """The whole dynamic-security document: default deny, one role per rule set."""
    accounts = list(accounts)
    roles: dict[str, dict[str, object]] = {}
    for account in accounts:
        name = role_name(account)
        roles.setdefault(name, {"rolename": name, "acls": acls(account)})
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "groups": [],
        "roles": list(roles.values()),
        "clients": [client_entry(a) for a in accounts],
    }
