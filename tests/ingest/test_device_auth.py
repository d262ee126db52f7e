"""Device identity end to end: real broker (dynamic security), the real API issuing
logins, the real ingester and database.

Device logins are made as an installer makes them: ``POST …/bins/{bin}/credentials``
on a running `fenlei api`, which applies them on the broker through its admin client.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from pydantic import SecretStr

from ingest.contract import events_topic, status_topic
from ingest.settings import IngestSettings
from simulators.broker import Broker, Login
from simulators.publisher import BrokerRefused, Publisher
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import canary, count, drop, sim_broker
from tests.simulators.api_server import ApiServer, serve

pytestmark = pytest.mark.integration

# MQTT 5 reason codes at or above this are failures (PUBACK, CONNACK).
FAILURE = 0x80
# A refused client must give up, not retry: it raises well within this.
GIVE_UP_WITHIN_S = 5.0
OWN, OTHER = ("jjq", "r1", "b-dry"), ("jjq", "r1", "b-wet")


@pytest.fixture
def api(services: Services, db_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    """`fenlei api` with the admin login, so the logins it issues reach the broker."""
    home = tmp_path / "api"
    home.mkdir()
    with serve(db_url, home, services.env()) as server:
        yield server


def issue(api: ApiServer, estate: str, room: str, bin_id: str) -> Login:
    """A device login from the API (201), as an installer gets it."""
    r = httpx.post(
        f"{api.base_url}/api/v1/estates/{estate}/rooms/{room}/bins/{bin_id}/credentials",
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=30.0,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return Login(body["username"], body["password"], body["client_id"])


def device(services: Services, login: Login, *, tls: bool = False) -> Publisher:
    """A connected publisher with the device's own login and bound client id."""
    broker = sim_broker(services, tls=tls).as_login(login)
    assert login.client_id is not None
    pub = Publisher(broker, login.client_id)
    pub.connect()
    return pub


def bin_state(db_url: str, bin_id: str) -> tuple[object, ...]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT online, battery_pct, last_seen FROM bins WHERE id = %s", (bin_id,)
        ).fetchone()
    return tuple(row) if row else ()


def test_a_device_publishes_only_as_itself(
    running: IngestProcess, db_url: str, services: Services, api: ApiServer
) -> None:
    login = issue(api, *OWN)
    assert login.client_id == login.username and login.username.startswith("bin-")
    before = bin_state(db_url, "b-wet")
    pub = device(services, login)
    try:
        own = pub.publish(events_topic(*OWN), orjson.dumps(drop("own-1")))
        forged = pub.publish(events_topic(*OTHER), orjson.dumps(drop("forged-1", weight_g=9999)))
        status = pub.publish(
            status_topic(*OTHER), orjson.dumps({"online": True, "battery_pct": 1}), retain=True
        )
        pub.flush()
        assert own not in pub.denied
        assert pub.denied[forged].value >= FAILURE, pub.denied
        assert pub.denied[status].value >= FAILURE, pub.denied
    finally:
        pub.close()
    wait_for(lambda: count(db_url, "event_id = 'own-1'"), lambda c: c == 1, what="own event")
    # A later event through the same ingester is stored: anything forged before it
    # would have been handled by now.
    canary(db_url, sim_broker(services))
    other = "bin_key = (SELECT bin_key FROM bins WHERE id = 'b-wet')"
    assert count(db_url, other) == 0
    assert count(db_url, "event_id = 'forged-1'") == 0
    assert count(db_url, "topic LIKE '%/b-wet/%'", table="rejected_messages") == 0
    assert bin_state(db_url, "b-wet") == before, "the other bin's status is unchanged"


def test_anonymous_and_wrong_passwords_are_refused_and_not_retried(
    running: IngestProcess, services: Services, api: ApiServer
) -> None:
    login = issue(api, *OWN)
    anonymous = sim_broker(services).as_login(None)
    wrong = sim_broker(services).as_login(Login(login.username, "not-the-password"))
    for broker, cid in ((anonymous, "test-anonymous"), (wrong, login.client_id or "")):
        started = time.monotonic()
        pub = Publisher(broker, cid)
        with pytest.raises(BrokerRefused, match=r"0x8[67]") as refused:
            pub.connect()
        assert time.monotonic() - started < GIVE_UP_WITHIN_S
        assert "not-the-password" not in str(refused.value)
        assert pub.refused is not None and pub.refused.value >= FAILURE


def test_a_device_cannot_take_the_ingesters_client_id(
    running: IngestProcess, db_url: str, services: Services, api: ApiServer
) -> None:
    login = issue(api, *OWN)
    squatter = Publisher(sim_broker(services).as_login(login), running.client_id)
    with pytest.raises(BrokerRefused):
        squatter.connect()
    time.sleep(1.0)  # a kicked ingester would log its disconnect by now
    assert "disconnected from broker" not in running.log()
    canary(db_url, sim_broker(services))  # and it keeps storing


def test_the_ingester_stores_over_mqtts_with_the_generated_ca(
    db_url: str, services: Services, api: ApiServer, ingest_factory: Callable[..., IngestProcess]
) -> None:
    assert services.mqtts_url and services.ca_file
    register(db_url)
    proc = ingest_factory(FENLEI_MQTT_URL=services.mqtts_url).start()
    canary(db_url, sim_broker(services, tls=True))
    pub = device(services, issue(api, *OWN), tls=True)
    try:
        pub.publish(events_topic(*OWN), orjson.dumps(drop("over-tls")))
        pub.flush()
        assert pub.denied == {}
    finally:
        pub.close()
    wait_for(lambda: count(db_url, "event_id = 'over-tls'"), lambda c: c == 1, what="TLS event")
    assert "connecting to mqtts://" in proc.log()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_ingester_logs_and_counts_it_without_the_password(
    db_url: str, services: Services, ingest_factory: Callable[..., IngestProcess]
) -> None:
    assert services.ingest is not None
    wrong = "wrong-" + services.ingest.password[::-1]
    port = _free_port()
    proc = ingest_factory(
        FENLEI_INGEST_MQTT_PASSWORD=wrong, FENLEI_METRICS_PORT=str(port), FENLEI_LOG_LEVEL="DEBUG"
    ).start()

    def refusals() -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return 0.0
        lines = [ln for ln in text.splitlines() if ln.startswith("fenlei_ingest_broker_refusals")]
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines if "_created" not in ln)

    wait_for(refusals, lambda n: n >= 1, 30, interval=0.5, what="a counted refusal")
    proc.stop()
    log = proc.log()
    assert "broker refused the connection as fenlei-ingest" in log, log
    assert wrong not in log and services.ingest.password not in log


def test_the_passwords_never_reach_the_ingesters_log(
    running: IngestProcess, db_url: str, services: Services, api: ApiServer
) -> None:
    login = issue(api, *OWN)
    pub = device(services, login)
    try:
        pub.publish(events_topic(*OWN), orjson.dumps(drop("logged")))
        pub.flush()
    finally:
        pub.close()
    wait_for(lambda: count(db_url, "event_id = 'logged'"), lambda c: c == 1, what="the event")
    running.stop()
    log = running.log()
    assert "connected" in log
    assert services.ingest is not None
    for secret in (login.password, services.ingest.password):
        assert secret not in log


def test_the_ingest_settings_hide_the_password() -> None:
    settings = IngestSettings(
        database_url="postgresql://unused",
        mqtt_url="mqtts://broker.example",
        mqtt_username="fenlei-ingest",
        mqtt_password=SecretStr("s3cret-pw"),
    )
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())
    assert settings.mqtt_host_port == ("broker.example", 8883) and settings.mqtt_tls
    with pytest.raises(ValueError, match="must not carry a login"):
        IngestSettings(database_url="x", mqtt_url="mqtt://u:p@host:1883")
    with pytest.raises(ValueError, match="mqtts://"):
        IngestSettings(database_url="x", mqtt_url="http://host")


def test_the_broker_endpoint_parses_tls_urls() -> None:
    assert Broker("mqtts://h").host_port == ("h", 8883) and Broker("mqtts://h").tls
    assert Broker("mqtt://h").host_port == ("h", 1883) and not Broker("tcp://h:1").tls
    assert "pw-secret" not in repr(Login("u", "pw-secret"))
