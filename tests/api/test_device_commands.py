"""The device-account logic that needs no broker or database. Pure."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest

from api.devices import commands
from api.devices.commands import CreateOutcome
from api.devices.service import device_account
from fenlei.broker_url import BrokerAddress, parse_broker_url
from fenlei.devices import CSV_COLUMNS, csv_cell, csv_safe_password, write_csv
from fenlei.passwords import hash_password, new_salt

SALT = new_salt()
ACCOUNT = device_account(17, "jjq", "r1", "b-wet", hash_password("pw", SALT), SALT)


def test_a_device_is_bound_to_its_own_client_id_and_topics() -> None:
    assert ACCOUNT.username == ACCOUNT.client_id == commands.device_username(17) == "bin-17"
    role, client = commands.create_commands(ACCOUNT, "s3cret")
    assert role["command"] == "createRole" and role["rolename"] == "bin-17"
    assert {a["topic"] for a in role["acls"]} == {
        "fenlei/v1/jjq/r1/b-wet/events",
        "fenlei/v1/jjq/r1/b-wet/status",
        "fenlei/v1/jjq/r1/b-wet/stored",
    }
    assert client == {
        "command": "createClient",
        "username": "bin-17",
        "password": "s3cret",
        "roles": [{"rolename": "bin-17"}],
        "clientid": "bin-17",
    }


def test_revoking_deletes_the_login_and_its_role() -> None:
    assert commands.revoke_commands("bin-17") == [
        {"command": "deleteClient", "username": "bin-17"},
        {"command": "deleteRole", "rolename": "bin-17"},
    ]


def test_redact_hides_every_password_and_leaves_the_original() -> None:
    original = [
        *commands.create_commands(ACCOUNT, "s3cret"),
        commands.set_password_command("bin-17", "other"),
    ]
    clean = commands.redact(original)
    text = json.dumps(clean)
    assert "s3cret" not in text and "other" not in text and commands.REDACTED in text
    assert original[1]["password"] == "s3cret"


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        ([{}, {}], CreateOutcome(False, False)),
        ([{"error": "Role already exists"}, {}], CreateOutcome(True, False)),
        (
            [{"error": "Role already exists"}, {"error": "Client already exists"}],
            CreateOutcome(True, True),
        ),
        (
            [{"error": "Out of memory"}, {}],
            CreateOutcome(False, False, "createRole: Out of memory"),
        ),
        (
            [{}, {"error": "Bad clientid"}],
            CreateOutcome(False, False, "createClient: Bad clientid"),
        ),
    ],
)
def test_reading_create_replies(replies: list[dict[str, str]], expected: CreateOutcome) -> None:
    assert commands.read_create(replies) == expected


def test_an_existing_login_gets_its_acls_reset_and_its_password_set() -> None:
    steps = commands.followups(CreateOutcome(True, True), ACCOUNT, "new")
    assert [s["command"] for s in steps] == ["modifyRole", "setClientPassword"]
    assert steps[0]["acls"] == commands.create_commands(ACCOUNT, "new")[0]["acls"]
    assert commands.followups(CreateOutcome(False, False), ACCOUNT, "new") == []


def test_not_found_counts_as_revoked() -> None:
    assert (
        commands.revoke_done([{"error": "Client not found"}, {"error": "Role not found"}]) is None
    )
    assert commands.revoke_done([{}, {}]) is None
    assert commands.revoke_done([{"command": "deleteClient", "error": "Boom"}, {}]) == (
        "deleteClient: Boom"
    )


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("mqtt://127.0.0.1:1884", "127.0.0.1", 1884, False),
        ("tcp://broker", "broker", 1883, False),
        ("mqtts://broker.example", "broker.example", 8883, True),
        ("mqtts://127.0.0.1:9883", "127.0.0.1", 9883, True),
    ],
)
def test_broker_urls(url: str, host: str, port: int, tls: bool) -> None:
    assert parse_broker_url(url) == BrokerAddress(host, port, tls)


def test_a_bad_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        parse_broker_url("http://user:hunter2@broker")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-x", "@SUM(A1)", "\tx"])
def test_formula_cells_are_defused(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell


def test_plain_cells_are_kept() -> None:
    assert csv_cell("bin-17") == "bin-17" and csv_cell(None) == ""


def test_csv_passwords_never_need_escaping() -> None:
    assert all(csv_cell(p) == p for p in (csv_safe_password() for _ in range(500)))


def test_the_csv_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "creds.csv"
    row = {
        "estate": "e",
        "room": "r",
        "bin": "-b",
        "username": "bin-1",
        "password": "p",
        "client_id": "bin-1",
    }
    write_csv(path, [row])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(CSV_COLUMNS) and rows[0]["bin"] == "'-b"
    with pytest.raises(FileExistsError):
        write_csv(path, [row])
