"""The dynamic-security document builder and fenlei's own accounts (pure)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

import pytest

from deploy import broker
from deploy.dynsec import CONTROL_TOPIC, Account, acls, document
from fenlei.passwords import ITERATIONS, hash_password, new_password, new_salt


def _device(key: int, bin_id: str, password: str = "pw") -> Account:
    salt = new_salt()
    name = f"bin-{key}"
    return Account(
        name, "device", hash_password(password, salt), salt, ITERATIONS, name, ("e", "r", bin_id)
    )


def _doc(accounts: Iterable[Account]) -> Any:
    """The document, typed loosely for reading it back as JSON."""
    return document(accounts)


def _allowed(account: Account, acltype: str) -> set[str]:
    return {str(a["topic"]) for a in acls(account) if a["acltype"] == acltype and a["allow"]}


def test_default_access_denies_everything_but_unsubscribe() -> None:
    doc = document([])
    assert doc["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    assert doc["roles"] == [] and doc["clients"] == [] and doc["groups"] == []


def test_a_device_may_publish_its_own_topics_and_read_only_its_stored_topic() -> None:
    device = _device(7, "b1")
    assert _allowed(device, "publishClientSend") == {
        "fenlei/v1/e/r/b1/events",
        "fenlei/v1/e/r/b1/status",
    }
    assert _allowed(device, "subscribeLiteral") == {"fenlei/v1/e/r/b1/stored"}
    assert _allowed(device, "publishClientReceive") == {"fenlei/v1/e/r/b1/stored"}
    assert _allowed(device, "subscribePattern") == set()


def test_a_device_without_a_bin_is_an_error() -> None:
    with pytest.raises(ValueError):
        acls(Account("bin-1", "device", "00" * 64, "a" * 12, 1, "bin-1"))


def test_each_device_has_its_own_role_and_every_client_role_exists() -> None:
    accounts = [
        *broker.own_accounts(broker.new_own_passwords()),
        _device(1, "b1"),
        _device(2, "b2"),
    ]
    doc = _doc(accounts)
    roles = {r["rolename"]: r for r in doc["roles"]}
    assert {"bin-1", "bin-2", "fenlei-ingest", "fenlei-admin", "fenlei-sim"} == roles.keys()
    for client in doc["clients"]:
        assert {r["rolename"] for r in client["roles"]} <= roles.keys()
    clients = {c["username"]: c for c in doc["clients"]}
    assert clients["bin-1"]["clientid"] == "bin-1"
    # Ingesters share a subscription under several client ids; simulators run many;
    # the API and the CLI each run an admin client.
    assert "clientid" not in clients["fenlei-admin"]
    assert "clientid" not in clients["fenlei-ingest"]
    assert "clientid" not in clients["fenlei-sim"]


def test_client_entries_hold_the_plugins_hash_form_and_never_the_password() -> None:
    password = new_password()
    device = _device(3, "b3", password)
    entry = next(c for c in _doc([device])["clients"])
    salt = base64.b64decode(entry["salt"])
    key = base64.b64decode(entry["password"])
    # Mosquitto drops a client whose salt is not 12 bytes or whose key is not 64.
    assert (len(salt), len(key), entry["iterations"]) == (12, 64, ITERATIONS)
    assert key == hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    assert password not in str(entry)


def test_own_accounts_keep_existing_passwords_and_only_admin_reaches_control() -> None:
    first = broker.new_own_passwords()
    assert set(first) == {"fenlei-ingest", "fenlei-admin", "fenlei-sim"}
    assert broker.new_own_passwords(first) == first
    partial = broker.new_own_passwords({"fenlei-sim": first["fenlei-sim"]})
    assert partial["fenlei-sim"] == first["fenlei-sim"]
    assert partial["fenlei-ingest"] != first["fenlei-ingest"]
    by_kind = {a.kind: a for a in broker.own_accounts(first)}
    assert _allowed(by_kind["admin"], "publishClientSend") == {CONTROL_TOPIC}
    for kind in ("ingest", "sim"):
        assert CONTROL_TOPIC not in _allowed(by_kind[kind], "publishClientSend")
    assert "fenlei/v1/+/+/+/stored" in _allowed(by_kind["ingest"], "publishClientSend")
    assert "fenlei/v1/+/+/+/stored" not in _allowed(by_kind["sim"], "publishClientSend")
