"""EMQX's authentication and authorization queries (deploy/emqx/emqx.conf) on a real
fenlei database, with devices made through fenlei's own API.

No EMQX runs here (not packaged for this machine; no Docker engine). What EMQX does
with the rows is done here after its source (emqx_passwd.erl, emqx_topic.erl, the
authz rule matcher), independently of fenlei's code: the password check is
hex(PBKDF2-HMAC(mac_fun, password, salt, iterations, dk_length)) compared with the row's
password_hash, with the algorithm's parameters read from the same config file EMQX
reads; the queries run as the role EMQX logs in with, their `${...}` placeholders sent
as parameters of unknown type, as EMQX's prepared statements do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from deploy.emqx.accounts import write_own_logins
from fenlei.app import create_app
from tests.api.conftest import SECRET, make_token

pytestmark = pytest.mark.integration

EMQX_CONF = Path(__file__).resolve().parents[2] / "deploy" / "emqx" / "emqx.conf"
EMQX_ROLE = "fenlei_emqx"
ESTATE, ROOM = "clu", "r1"
BASE = f"/api/v1/estates/{ESTATE}"
PLACEHOLDER = re.compile(r"\$\{(username|clientid)\}")


# --- what EMQX reads from its config ------------------------------------------------


def _block(text: str, start: str) -> str:
    """The text of the first `{...}` block after `start` (balanced braces)."""
    at = text.index(start)
    open_at = text.index("{", at)
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at : i + 1]
    raise AssertionError(f"unbalanced block after {start!r}")


def _query(block: str) -> str:
    match = re.search(r'^\s*query\s*=\s*"(.*)"\s*$', block, re.MULTILINE)
    assert match, "no query"
    return match.group(1)


def _setting(block: str, key: str) -> str:
    match = re.search(rf"^\s*{key}\s*=\s*(\S+)\s*$", block, re.MULTILINE)
    assert match, key
    return match.group(1).strip('"')


CONF = EMQX_CONF.read_text()
AUTHN = _block(CONF, "authentication = [")
AUTHZ = _block(CONF, "authorization {")
ALGORITHM = _block(AUTHN, "password_hash_algorithm")
AUTHN_QUERY = _query(AUTHN)
AUTHZ_QUERY = _query(AUTHZ)


def _as_params(query: str) -> str:
    """EMQX's `${name}` placeholders as psycopg's named parameters."""
    return PLACEHOLDER.sub(lambda m: f"%({m.group(1)})s", query)


# --- what EMQX does with the rows -----------------------------------------------------


def emqx_pbkdf2_check(row: tuple[Any, ...], password: str) -> bool:
    """emqx_passwd:check_pass({pbkdf2, MacFun, Salt, Iterations, DKLength}, Hash, Pw)."""
    assert _setting(ALGORITHM, "name") == "pbkdf2"
    password_hash, salt = row[0], row[1]
    key = hashlib.pbkdf2_hmac(
        _setting(ALGORITHM, "mac_fun"),
        password.encode(),
        salt.encode(),
        int(_setting(ALGORITHM, "iterations")),
        int(_setting(ALGORITHM, "dk_length")),
    )
    return hmac.compare_digest(key.hex(), password_hash)


def emqx_topic_match(name: str, topic_filter: str) -> bool:
    """emqx_topic:match/2: `name` (a topic, or a client's filter) against a rule's filter."""
    if name.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    words, filter_words = name.split("/"), topic_filter.split("/")

    def match(n: list[str], f: list[str]) -> bool:
        if not f:
            return not n
        if f == ["#"]:
            return True
        if not n:
            return False
        return (f[0] == "+" or f[0] == n[0]) and match(n[1:], f[1:])

    return match(words, filter_words)


def shared_real_topic(topic: str) -> str:
    """emqx_topic:get_shared_real_topic: `$share/<group>/<filter>` is authorized as <filter>."""
    if topic.startswith("$share/"):
        return topic.split("/", 2)[2]
    return topic


def emqx_authorize(rows: list[tuple[Any, ...]], action: str, topic: str) -> bool:
    """The source's rows in order, first match wins, `no_match = deny`."""
    assert _setting(AUTHZ, "no_match") == "deny"
    real = shared_real_topic(topic)
    for permission, rule_action, rule_topic in rows:
        if rule_action in (action, "all") and emqx_topic_match(real, rule_topic):
            return bool(permission == "allow")
    return False


# --- a fenlei database with devices ---------------------------------------------------


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    """The API without a broker admin login (as under EMQX), one estate with two bins."""
    settings = ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2)
    app = create_app(settings, DashboardSettings(session_secret=SECRET))
    with TestClient(app) as client:
        client.headers.update(make_token(db_url, Role.admin))
        body = {"name": "Cluster", "timezone": "Asia/Shanghai", "households_total": 10}
        assert client.put(BASE, json=body).status_code in (200, 201)
        assert client.put(f"{BASE}/rooms/{ROOM}").status_code in (200, 201)
        for bin_id, category in (("b-wet", "wet"), ("b-dry", "dry")):
            response = client.put(f"{BASE}/rooms/{ROOM}/bins/{bin_id}", json={"category": category})
            assert response.status_code in (200, 201), response.text
        yield client


def issue(api: TestClient, bin_id: str) -> dict[str, Any]:
    response = api.post(f"{BASE}/rooms/{ROOM}/bins/{bin_id}/credentials")
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def as_emqx(db_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A connection with EMQX's privileges only (SET ROLE to the group its login is in)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (EMQX_ROLE,))
        if exists.fetchone() is None:
            pytest.skip("the test database's user could not create fenlei_emqx (no CREATEROLE)")
        conn.execute(f"SET ROLE {EMQX_ROLE}")
        yield conn


def login(conn: psycopg.Connection[tuple[Any, ...]], username: str, clientid: str) -> Any:
    return conn.execute(
        _as_params(AUTHN_QUERY), {"username": username, "clientid": clientid}
    ).fetchall()


def rules(conn: psycopg.Connection[tuple[Any, ...]], username: str) -> list[tuple[Any, ...]]:
    return conn.execute(_as_params(AUTHZ_QUERY), {"username": username}).fetchall()


# --- the tests ------------------------------------------------------------------------


def test_the_config_hashes_as_fenlei_stores() -> None:
    # The row filter and the algorithm name the same iteration count, and only
    # the placeholders EMQX substitutes are used.
    iterations = _setting(ALGORITHM, "iterations")
    assert f"iterations = {iterations}" in AUTHN_QUERY
    assert set(PLACEHOLDER.findall(AUTHN_QUERY)) == {"username", "clientid"}
    assert set(re.findall(r"\$\{(\w+)\}", AUTHN_QUERY + AUTHZ_QUERY)) <= {"username", "clientid"}
    assert _setting(AUTHZ, "deny_action") == "ignore"


def test_a_device_logs_in_with_its_password_and_client_id_only(
    api: TestClient, as_emqx: psycopg.Connection[tuple[Any, ...]]
) -> None:
    wet, dry = issue(api, "b-wet"), issue(api, "b-dry")
    rows = login(as_emqx, wet["username"], wet["client_id"])
    assert len(rows) == 1
    assert rows[0][2] is False, "no device is a superuser"
    assert emqx_pbkdf2_check(rows[0], wet["password"])
    # One character off (never the same one: a password ending in "x" stayed right).
    wrong = wet["password"][:-1] + ("y" if wet["password"].endswith("x") else "x")
    assert not emqx_pbkdf2_check(rows[0], wrong)
    assert not emqx_pbkdf2_check(rows[0], dry["password"])
    # Another device's client id finds no row: no session stealing across bins.
    assert login(as_emqx, wet["username"], dry["client_id"]) == []
    assert login(as_emqx, "bin-nobody", "bin-nobody") == []


def test_a_rotated_or_revoked_login_stops_at_once(
    api: TestClient, as_emqx: psycopg.Connection[tuple[Any, ...]]
) -> None:
    first = issue(api, "b-wet")
    second = issue(api, "b-wet")  # rotation: a new password for the same login
    row = login(as_emqx, second["username"], second["client_id"])[0]
    assert emqx_pbkdf2_check(row, second["password"])
    assert not emqx_pbkdf2_check(row, first["password"])
    assert api.delete(f"{BASE}/rooms/{ROOM}/bins/b-wet/credentials").status_code in (200, 204)
    assert login(as_emqx, second["username"], second["client_id"]) == []
    assert rules(as_emqx, second["username"]) == []


def test_a_device_may_use_its_own_bins_topics_only(
    api: TestClient, as_emqx: psycopg.Connection[tuple[Any, ...]]
) -> None:
    wet = issue(api, "b-wet")
    issue(api, "b-dry")
    acl = rules(as_emqx, wet["username"])
    own = f"fenlei/v1/{ESTATE}/{ROOM}/b-wet"
    other = f"fenlei/v1/{ESTATE}/{ROOM}/b-dry"
    assert emqx_authorize(acl, "publish", f"{own}/events")
    assert emqx_authorize(acl, "publish", f"{own}/status")
    assert emqx_authorize(acl, "subscribe", f"{own}/stored")
    refused = [
        ("publish", f"{other}/events"),
        ("publish", f"{other}/status"),
        ("publish", f"{own}/stored"),  # only the ingester writes watermarks
        ("publish", f"fenlei/v1/{ESTATE}/{ROOM}/b-wet/other"),
        ("publish", f"fenlei/v1/{ESTATE}/r2/b-wet/events"),
        ("subscribe", f"{own}/events"),
        ("subscribe", f"{other}/stored"),
        ("subscribe", "fenlei/v1/#"),
        ("subscribe", "#"),
        ("subscribe", f"fenlei/v1/{ESTATE}/{ROOM}/+/stored"),
        ("subscribe", f"$share/g/{other}/stored"),
    ]
    for action, topic in refused:
        assert not emqx_authorize(acl, action, topic), (action, topic)


def test_the_ingesters_share_one_group_under_one_login(
    db_url: str, as_emqx: psycopg.Connection[tuple[Any, ...]]
) -> None:
    env = {"FENLEI_INGEST_MQTT_PASSWORD": "ingest-secret-" + "x" * 20}
    assert write_own_logins(db_url, env)["fenlei-ingest"] == "written"
    assert write_own_logins(db_url, env)["fenlei-ingest"] == "unchanged"
    # Three ingesters, three stable client ids, one login.
    for client_id in ("ingest-0", "ingest-1", "ingest-2"):
        rows = login(as_emqx, "fenlei-ingest", client_id)
        assert len(rows) == 1 and emqx_pbkdf2_check(rows[0], env["FENLEI_INGEST_MQTT_PASSWORD"])
        assert not emqx_pbkdf2_check(rows[0], "wrong")
    acl = rules(as_emqx, "fenlei-ingest")
    for stream in ("events", "status"):
        assert emqx_authorize(acl, "subscribe", f"$share/fenlei/fenlei/v1/+/+/+/{stream}")
        assert emqx_authorize(acl, "subscribe", f"fenlei/v1/+/+/+/{stream}")
    assert emqx_authorize(acl, "publish", "fenlei/v1/e/r/b/stored")
    assert not emqx_authorize(acl, "publish", "fenlei/v1/e/r/b/events")
    assert not emqx_authorize(acl, "subscribe", "#")
    # A changed password replaces the hash; an unset one removes the login.
    changed = {"FENLEI_INGEST_MQTT_PASSWORD": "another-" + "y" * 24}
    assert write_own_logins(db_url, changed)["fenlei-ingest"] == "written"
    row = login(as_emqx, "fenlei-ingest", "ingest-0")[0]
    assert emqx_pbkdf2_check(row, changed["FENLEI_INGEST_MQTT_PASSWORD"])
    assert not emqx_pbkdf2_check(row, env["FENLEI_INGEST_MQTT_PASSWORD"])
    assert write_own_logins(db_url, {})["fenlei-ingest"] == "removed"
    assert login(as_emqx, "fenlei-ingest", "ingest-0") == []


def test_emqx_reads_its_two_views_and_nothing_else(
    db_url: str, as_emqx: psycopg.Connection[tuple[Any, ...]]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mqtt_accounts (username, kind, password_hash, salt, iterations)"
            " VALUES ('fenlei-admin', 'admin', repeat('a', 128), 'abcdefghijkl', 1000)"
        )
    # fenlei-admin (Mosquitto's dynamic-security commands) has no EMQX login.
    assert login(as_emqx, "fenlei-admin", "any") == []
    for table in ("mqtt_accounts", "bins", "api_tokens"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_emqx.execute(f"SELECT 1 FROM {table} LIMIT 1")


def test_a_row_hashed_with_another_count_is_refused_not_misread(
    api: TestClient, db_url: str, as_emqx: psycopg.Connection[tuple[Any, ...]]
) -> None:
    wet = issue(api, "b-wet")
    with psycopg.connect(db_url, autocommit=True) as conn:
        salt = "abcdefghijkl"
        key = hashlib.pbkdf2_hmac("sha512", wet["password"].encode(), salt.encode(), 2000, 64)
        conn.execute(
            "UPDATE mqtt_accounts SET iterations = 2000, salt = %s, password_hash = %s"
            " WHERE username = %s",
            (salt, key.hex(), wet["username"]),
        )
    assert login(as_emqx, wet["username"], wet["client_id"]) == []


def test_emqx_init_writes_the_certificate_files_emqx_conf_names(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """compose's emqx-init: the files under --tls-dir are the ones EMQX's TLS listener
    reads (the volume is mounted at the config's directory), the CA key elsewhere."""
    from deploy.emqx.accounts import main

    monkeypatch.setenv("FENLEI_DATABASE_URL", db_url)
    monkeypatch.setenv("FENLEI_INGEST_MQTT_PASSWORD", "p" * 32)
    monkeypatch.delenv("FENLEI_SIM_MQTT_PASSWORD", raising=False)
    certs, ca = tmp_path / "certs", tmp_path / "ca"
    assert main(["--tls-dir", str(certs), "--ca-key-dir", str(ca), "--hosts", "emqx"]) == 0
    assert "fenlei-ingest: written" in capsys.readouterr().out
    ssl = _block(CONF, "listeners.ssl.default")
    for key in ("certfile", "keyfile", "cacertfile"):
        path = Path(_setting(ssl, key))
        assert path.parent == Path("/opt/emqx/etc/certs/fenlei"), key
        assert (certs / path.name).is_file(), key
    assert not list(certs.glob("ca.key")) and (ca / "ca.key").is_file()
