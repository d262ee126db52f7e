"""The local broker enforces the accounts: against the real Mosquitto the launcher started.

Device accounts are made the way operators make them: a row in `mqtt_accounts`, then
`deploy.broker.sync` (what `fenlei devices sync` runs) rewrites the broker's file and
restarts it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import socket
import ssl
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from deploy import broker, tls
from deploy import services as launcher
from deploy.settings import ServicesSettings
from fenlei.passwords import ITERATIONS, hash_password, new_password, new_salt
from ingest.contract import events_topic, status_topic, stored_topic
from tests.deploy.mqttprobe import NOT_AUTHORIZED, Probe, tls_refused
from tests.fix_services import MqttLogin, Services

pytestmark = pytest.mark.integration

ESTATE, ROOM = "authz", "r1"


@dataclass(frozen=True)
class Device:
    username: str
    password: str
    bin_id: str

    def topics(self) -> tuple[str, str, str]:
        return (
            events_topic(ESTATE, ROOM, self.bin_id),
            status_topic(ESTATE, ROOM, self.bin_id),
            stored_topic(ESTATE, ROOM, self.bin_id),
        )


def _launcher(services: Services) -> ServicesSettings:
    if not isinstance(services.launcher_settings, ServicesSettings):
        pytest.skip("needs the project's own launcher (sync restarts its broker by pid)")
    return services.launcher_settings


def _port(url: str | None) -> int:
    assert url is not None
    return int(url.rsplit(":", 1)[1])


def _login(login: MqttLogin | None) -> MqttLogin:
    assert login is not None, "the services carry fenlei's own logins"
    return login


def _add_device(database_url: str, bin_id: str) -> Device:
    """A bin and its device row, as the API makes them (only the hash is stored)."""
    password, salt = new_password(), new_salt()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO estates (id, name, households_total) VALUES (%s, 'Auth', 1)"
            " ON CONFLICT DO NOTHING",
            (ESTATE,),
        )
        conn.execute(
            "INSERT INTO rooms (estate_id, id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (ESTATE, ROOM),
        )
        row = conn.execute(
            "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, %s, %s, 'wet')"
            " ON CONFLICT (estate_id, room_id, id) DO UPDATE SET category = 'wet'"
            " RETURNING bin_key",
            (ESTATE, ROOM, bin_id),
        ).fetchone()
        assert row is not None
        username = f"bin-{row[0]}"
        conn.execute(
            "INSERT INTO mqtt_accounts (username, client_id, kind, bin_key, password_hash,"
            " salt, iterations) VALUES (%s, %s, 'device', %s, %s, %s, %s)",
            (username, username, row[0], hash_password(password, salt), salt, ITERATIONS),
        )
    return Device(username, password, bin_id)


def _delete_device(database_url: str, device: Device) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM mqtt_accounts WHERE username = %s", (device.username,))


@pytest.fixture(scope="module")
def devices(services: Services) -> Iterator[tuple[Device, Device]]:
    """Two bins' devices, loaded into the running broker by `sync`."""
    settings = _launcher(services)
    one = _add_device(services.database_url, f"b-{uuid.uuid4().hex[:8]}")
    two = _add_device(services.database_url, f"b-{uuid.uuid4().hex[:8]}")
    assert broker.sync(settings, services.database_url) >= 2
    yield one, two
    for device in (one, two):
        _delete_device(services.database_url, device)


def _connect(services: Services, client_id: str, login: MqttLogin | Device | None) -> int | None:
    probe = Probe(
        _port(services.mqtt_url),
        client_id,
        login.username if login else None,
        login.password if login else None,
    )
    code = probe.connect()
    if code == 0:
        probe.close()
    return code


def test_anonymous_and_wrong_password_are_refused(services: Services) -> None:
    sim = _login(services.sim)
    assert _connect(services, "anon", None) == NOT_AUTHORIZED
    assert _connect(services, "wrong", MqttLogin(sim.username, "not-" + sim.password)) == (
        NOT_AUTHORIZED
    )
    assert _connect(services, "unknown", MqttLogin("nobody", sim.password)) == NOT_AUTHORIZED
    assert _connect(services, f"sim-{uuid.uuid4().hex[:6]}", sim) == 0


def test_sim_publishes_events_of_any_bin_but_not_stored(services: Services) -> None:
    sim = _login(services.sim)
    probe = Probe(
        _port(services.mqtt_url), f"sim-{uuid.uuid4().hex[:6]}", sim.username, sim.password
    )
    assert probe.connect() == 0
    try:
        assert probe.publish(events_topic("any", "room", "bin")) < 0x80
        assert probe.publish(stored_topic("any", "room", "bin")) == NOT_AUTHORIZED
        assert probe.publish("$CONTROL/dynamic-security/v1") == NOT_AUTHORIZED
    finally:
        probe.close()


def test_device_publishes_and_subscribes_only_its_own_topics(
    services: Services, devices: tuple[Device, Device]
) -> None:
    mine, other = devices
    probe = Probe(_port(services.mqtt_url), mine.username, mine.username, mine.password)
    assert probe.connect() == 0
    try:
        events, status, stored = mine.topics()
        other_events, other_status, other_stored = other.topics()
        assert probe.publish(events) < 0x80
        assert probe.publish(status) < 0x80
        assert probe.publish(other_events) == NOT_AUTHORIZED
        assert probe.publish(other_status) == NOT_AUTHORIZED
        assert probe.publish(stored) == NOT_AUTHORIZED
        assert probe.subscribe(stored) == 1  # granted QoS 1
        assert probe.subscribe(other_stored) == NOT_AUTHORIZED
        assert probe.subscribe(events) == NOT_AUTHORIZED
        assert probe.subscribe("fenlei/v1/#") == NOT_AUTHORIZED
    finally:
        probe.close()


def test_device_is_bound_to_its_client_id(
    services: Services, devices: tuple[Device, Device]
) -> None:
    mine, other = devices
    ingest = _login(services.ingest)
    holder = Probe(_port(services.mqtt_url), "fenlei-ingest", ingest.username, ingest.password)
    assert holder.connect() == 0
    try:
        assert _connect(services, "fenlei-ingest", mine) == NOT_AUTHORIZED
        assert _connect(services, other.username, mine) == NOT_AUTHORIZED
        assert _connect(services, mine.username, mine) == 0
        # The refused takeover did not kick the ingester's session.
        assert holder.client.is_connected()
        assert holder.subscribe(events_topic(ESTATE, ROOM, mine.bin_id)) == 1
    finally:
        holder.close()


def test_mqtts_with_the_generated_ca_works(services: Services) -> None:
    sim = _login(services.sim)
    assert services.ca_file is not None
    probe = Probe(
        _port(services.mqtts_url),
        f"sim-tls-{uuid.uuid4().hex[:6]}",
        sim.username,
        sim.password,
        ca_file=str(services.ca_file),
    )
    assert probe.connect() == 0
    try:
        assert probe.publish(events_topic("any", "room", "bin")) < 0x80
    finally:
        probe.close()


def test_plain_mqtt_to_the_tls_port_gets_no_connack(services: Services) -> None:
    sim = _login(services.sim)
    probe = Probe(_port(services.mqtts_url), "plain-to-tls", sim.username, sim.password)
    assert probe.connect() is None


def test_a_client_trusting_another_ca_refuses_the_broker(
    services: Services, tmp_path: Path
) -> None:
    other_ca = tls.ensure(tmp_path / "other").ca_cert
    assert tls_refused(_port(services.mqtts_url), str(other_ca)) is ssl.SSLCertVerificationError
    assert services.ca_file is not None
    assert tls_refused(_port(services.mqtts_url), str(services.ca_file)) is None


def test_secrets_on_disk_have_owner_only_modes(services: Services) -> None:
    settings = _launcher(services)
    home = settings.home_dir
    broker_uid = pwd.getpwnam(launcher.MOSQUITTO_SYSTEM_USER).pw_uid
    expect_uid = broker_uid if os.geteuid() == 0 else os.geteuid()

    def mode_owner(path: Path) -> tuple[int, int]:
        st = path.stat()
        return stat.S_IMODE(st.st_mode), st.st_uid

    dynsec = home / "mosquitto" / "dynsec" / "dynamic-security.json"
    assert mode_owner(dynsec) == (0o600, expect_uid)
    assert mode_owner(dynsec.parent) == (0o700, expect_uid)
    assert mode_owner(home / "tls" / "server.key") == (0o600, expect_uid)
    assert mode_owner(home / "tls" / "ca.key") == (0o600, os.geteuid())
    assert mode_owner(home / "services.env") == (0o600, os.geteuid())
    assert mode_owner(home / "services.json") == (0o600, os.geteuid())
    conf = (home / "mosquitto" / "mosquitto.conf").read_text()
    assert "ca.key" not in conf
    assert "allow_anonymous false" in conf
    # The file holds hashes only: no own password appears in it.
    text = dynsec.read_text()
    for login in (services.ingest, services.admin, services.sim):
        assert login is not None and login.password not in text


def test_sync_applies_added_and_removed_devices_and_keeps_queued_messages(
    services: Services,
) -> None:
    settings = _launcher(services)
    ingest, sim = _login(services.ingest), _login(services.sim)
    port = _port(services.mqtt_url)
    queue_id = f"ingest-persist-{uuid.uuid4().hex[:6]}"
    topic = events_topic(ESTATE, ROOM, "queued")

    # A persistent session subscribed, then offline while messages are queued for it.
    sub = Probe(port, queue_id, ingest.username, ingest.password)
    assert sub.connect(clean_start=False) == 0
    assert sub.subscribe(topic) == 1
    sub.close()
    pub = Probe(port, f"sim-{uuid.uuid4().hex[:6]}", sim.username, sim.password)
    assert pub.connect() == 0
    sent = [f'{{"n": {i}}}' for i in range(20)]
    for payload in sent:
        assert pub.publish(topic, payload) < 0x80
    pub.close()

    device = _add_device(services.database_url, f"b-{uuid.uuid4().hex[:8]}")
    assert _connect(services, device.username, device) == NOT_AUTHORIZED
    old_pid = launcher.read_state(settings).mqtt_pid  # type: ignore[union-attr]
    assert broker.sync(settings, services.database_url) >= 1
    new_state = launcher.read_state(settings)
    assert new_state is not None and new_state.mqtt_pid != old_pid
    assert _connect(services, device.username, device) == 0
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute(
            "SELECT broker_applied FROM mqtt_accounts WHERE username = %s", (device.username,)
        ).fetchone()
    assert row == (True,)

    # Restarted within the 5 s autosave: only the save on SIGTERM kept the queue.
    sub = Probe(port, queue_id, ingest.username, ingest.password)
    assert sub.connect(clean_start=False) == 0
    try:
        got = [sub.messages.get(timeout=5).payload.decode() for _ in sent]
    finally:
        sub.close()
    assert got == sent

    _delete_device(services.database_url, device)
    broker.sync(settings, services.database_url)
    assert _connect(services, device.username, device) == NOT_AUTHORIZED


def test_status_counts_refused_connections_from_the_broker_log(services: Services) -> None:
    settings = _launcher(services)
    before = launcher.status(settings)["services"]["mosquitto"]["refused_connections"]
    for i in range(3):
        assert _connect(services, f"anon-{i}", None) == NOT_AUTHORIZED
    after = launcher.status(settings)["services"]["mosquitto"]
    assert after["refused_connections"] == before + 3
    # Denied publishes are counted only when the broker logs at debug level (opt-in).
    assert after["denied_publishes"] is None


def test_a_second_up_while_running_is_a_no_op(services: Services) -> None:
    settings = _launcher(services)
    state = launcher.read_state(settings)
    dynsec = settings.home_dir / "mosquitto" / "dynsec" / "dynamic-security.json"
    before = dynsec.stat().st_mtime_ns
    again = launcher.up(settings)
    assert state is not None
    assert (again.mqtt_pid, again.mqtts_port, again.mqtt_passwords) == (
        state.mqtt_pid,
        state.mqtts_port,
        state.mqtt_passwords,
    )
    assert dynsec.stat().st_mtime_ns == before


def test_raw_tcp_to_the_tls_port_is_reset(services: Services) -> None:
    # The shortest valid MQTT 3.1.1 CONNECT (client id "x"): a TLS listener reads it as a
    # broken handshake and drops the connection without an MQTT answer.
    connect = bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 1]) + b"x"
    with socket.create_connection(("127.0.0.1", _port(services.mqtts_url)), timeout=5) as sock:
        sock.sendall(connect)
        try:
            answer = sock.recv(4)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"\x20"), "a CONNACK came back over plain TCP"


def test_container_init_writes_accounts_and_keeps_the_ca_key_apart(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What compose's broker-init and k8s's init container run (`python -m deploy.broker`)."""
    monkeypatch.setenv("FENLEI_DATABASE_URL", services.database_url)
    monkeypatch.setenv("FENLEI_INGEST_MQTT_PASSWORD", "ingest-secret-from-env")
    monkeypatch.delenv("FENLEI_SIM_MQTT_PASSWORD", raising=False)
    dynsec = tmp_path / "data" / "dynsec" / "dynamic-security.json"
    certs, ca = tmp_path / "certs", tmp_path / "ca"
    argv = ["--dynsec", str(dynsec), "--owner", f"{os.geteuid()}:{os.getegid()}"]
    assert broker.main([*argv, "--tls-dir", str(certs), "--ca-key-dir", str(ca)]) == 0
    assert sorted(p.name for p in certs.iterdir()) == ["ca.crt", "server.crt", "server.key"]
    assert [p.name for p in ca.iterdir()] == ["ca.key"]
    doc = json.loads(dynsec.read_text())
    clients = {c["username"]: c for c in doc["clients"]}
    assert {"fenlei-ingest", "fenlei-admin", "fenlei-sim"} <= clients.keys()
    salt = base64.b64decode(clients["fenlei-ingest"]["salt"])
    key = base64.b64decode(clients["fenlei-ingest"]["password"])
    assert key == hashlib.pbkdf2_hmac("sha512", b"ingest-secret-from-env", salt, ITERATIONS, 64)
    assert "ingest-secret-from-env" not in dynsec.read_text()
