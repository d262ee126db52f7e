"""From a bin's overflow to a person, every component real (issue #16's first test).

A device (a stock paho client with the login the API issued for its bin) publishes an
overflow alarm at QoS 1 through the real broker; the real `fenlei ingest` stores it,
the real `fenlei alarms` opens the record and the real `fenlei notify` tells the
volunteer on duty over a WeCom-format robot, then the committee over a webhook when
nobody acknowledged within escalate_minutes (1, the setting's minimum). A second bin's
overflow, acknowledged by the volunteer on duty (their own token) before that, is
never escalated. The robots are loopback HTTP sinks recording each request and when it
arrived; what is checked is what they received against the inputs (the volunteer's
phone, the bins published, the minutes set), and the delivery log against the sinks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

with warnings.catch_warnings():
    # As tests/api/conftest.py: Starlette's TestClient warns about httpx at import.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app
from ingest.contract import events_topic
from simulators.broker import Broker
from tests.api.conftest import SECRET, make_token
from tests.fix_data import wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import canary
from tests.notify.sinks import HttpSink, Received, http_sink

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ESTATE, ROOM = "jjq", "r1"
BASE = f"/api/v1/estates/{ESTATE}"
KEY = "e2e-channel-key-" + "x" * 32
ROBOT_KEY = "e2e-wecom-robot-key-5f3c"
VOLUNTEER_PHONE = "13800001111"
PROPERTY_PHONE = "13900002222"
UNACKED, ACKED = "b-ov1", "b-ov2"
LATENCY_S = 5.0
ESCALATE_MINUTES = 1  # the setting's minimum
# The alarms an overflow event with a 97.5 % reading opens, with their words: the
# overflow alone, since a `fill_high` for the same bin would only repeat it.
KINDS = {"overflow": "满溢"}
EXPECTED = [(b, k) for b in (UNACKED, ACKED) for k in KINDS]


# -- a device --------------------------------------------------------------------------


class Device:
    """A stock paho MQTT v5 client as a bin: connects with its login, publishes QoS 1."""

    def __init__(self, services: Services, client_id: str, username: str, password: str) -> None:
        self.host, self.port = services.mqtt_host_port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.connected = threading.Event()
        self.pubacks: dict[int, tuple[float, ReasonCode]] = {}
        self.acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish

    def _on_connect(self, c: Any, u: Any, f: Any, reason: ReasonCode, p: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_publish(self, c: Any, u: Any, mid: int, reason: ReasonCode, p: Any) -> None:
        with self.acked:
            self.pubacks[mid] = (time.time(), reason)
            self.acked.notify_all()

    def __enter__(self) -> Device:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(10), "the broker refused the device's login"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, body: dict[str, Any]) -> float:
        """Publish at QoS 1; the time.time() of its PUBACK (a refusal fails the test)."""
        info = self.client.publish(topic, orjson.dumps(body), qos=1)
        with self.acked:
            assert self.acked.wait_for(lambda: info.mid in self.pubacks, 10), "no PUBACK"
            at, reason = self.pubacks[info.mid]
        assert not reason.is_failure and reason.value == 0, f"publish refused: {reason}"
        return at


# -- processes -------------------------------------------------------------------------


class Proc:
    """One `fenlei <command>` subprocess with the services' database, stopped by PID."""

    def __init__(self, services: Services, home: Path, command: str, **env: str) -> None:
        self.command = command
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
        self.env.update(
            {
                "FENLEI_DATABASE_URL": services.database_url,
                "FENLEI_HOME": str(home),
                "FENLEI_LOG_LEVEL": "INFO",
                **env,
            }
        )
        self.log_path = home / f"{command}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fenlei", self.command],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        return self

    def stop(self) -> int | None:
        """SIGTERM to its PID (SIGKILL after 20 s); its exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def procs() -> Iterator[list[Proc | IngestProcess]]:
    """Every process the test starts; each stopped by its PID afterwards."""
    started: list[Proc | IngestProcess] = []
    yield started
    for p in reversed(started):
        if isinstance(p, IngestProcess):
            if p.proc is not None:
                p.kill()
        else:
            p.stop()


# -- the API ---------------------------------------------------------------------------


@pytest.fixture
def api(db_url: str, services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The composed app (its admin MQTT client when the broker gives one: it issues
    the bins' logins), the channel key `fenlei notify` is given too, an admin token."""
    monkeypatch.setenv("FENLEI_CHANNEL_KEY", KEY)
    extra: dict[str, Any] = {}
    if services.admin is not None:
        extra = {
            "mqtt_url": services.mqtt_url,
            "admin_mqtt_username": services.admin.username,
            "admin_mqtt_password": services.admin.password,
        }
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=4, **extra),
        DashboardSettings(session_secret=SECRET),
    )
    with TestClient(app) as client:
        if services.admin is not None:
            assert app.state.broker.wait_ready(10), "the API's admin MQTT client did not connect"
        client.headers.update(make_token(db_url, Role.admin, [ESTATE]))
        yield client


def ok(response: Any, *codes: int) -> Any:
    assert response.status_code in (codes or (200, 201)), response.text
    return response.json()


def set_up_estate(
    api: TestClient, db_url: str, duty: HttpSink, committee: HttpSink
) -> dict[str, str]:
    """Estate, room, bins, the volunteer on duty at the room now, the property contact,
    escalation after a minute, and the two channels; the volunteer's headers."""
    ok(api.put(BASE, json={"name": "金家桥", "timezone": "Asia/Shanghai", "households_total": 100}))
    ok(api.put(f"{BASE}/rooms/{ROOM}"))
    for bin_id in ("b-dry", UNACKED, ACKED):  # b-dry: the canary's bin
        category = "dry" if bin_id == "b-dry" else "wet"
        ok(api.put(f"{BASE}/rooms/{ROOM}/bins/{bin_id}", json={"category": category}))
    wang = ok(
        api.post(f"{BASE}/volunteers", json={"name": "王阿姨", "contact": "王阿姨 138-0000-1111"})
    )
    li = ok(api.post(f"{BASE}/volunteers", json={"name": "李叔叔", "contact": "13700003333"}))
    # The shift running now, as the roster stores one (its generator works on watch
    # slots of local days, which would tie the test to the hour it runs at).
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=3)
    with psycopg.connect(db_url, autocommit=True) as conn:
        shift = conn.execute(
            "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end, starts_at,"
            " ends_at) VALUES (%s, %s, %s, '07:00', '11:00', %s, %s) RETURNING id",
            (ESTATE, ROOM, start.date(), start, end),
        ).fetchone()
        past = conn.execute(
            "INSERT INTO shifts (estate_id, room_id, day, local_start, local_end, starts_at,"
            " ends_at) VALUES (%s, %s, %s, '07:00', '11:00', %s, %s) RETURNING id",
            (ESTATE, ROOM, start.date(), now - timedelta(hours=6), now - timedelta(hours=2)),
        ).fetchone()
        assert shift is not None and past is not None
        # 李叔叔's shift at the room ended two hours ago: he is not mentioned.
        conn.execute(
            "INSERT INTO assignments (shift_id, volunteer_id) VALUES (%s, %s), (%s, %s)",
            (shift[0], wang["id"], past[0], li["id"]),
        )
    ok(
        api.put(
            f"{BASE}/notification-settings",
            json={
                "property_name": "绿城物业",
                "property_phone": PROPERTY_PHONE,
                "escalate_minutes": ESCALATE_MINUTES,
                "reminder_minutes": 30,
            },
        )
    )
    ok(
        api.post(
            f"{BASE}/notification-channels",
            json={
                "name": "值班群",
                "kind": "wecom",
                "audience": "duty",
                "url": f"{duty.url}/cgi-bin/webhook/send?key={ROBOT_KEY}",
            },
        ),
        201,
    )
    ok(
        api.post(
            f"{BASE}/notification-channels",
            json={
                "name": "居委会",
                "kind": "webhook",
                "audience": "committee",
                "url": f"{committee.url}/hook",
            },
        ),
        201,
    )
    return {"Authorization": f"Bearer {wang['token']}"}


def device_for(api: TestClient, services: Services, bin_id: str) -> Device:
    """The bin's own login from the API when the broker lets it issue one, else the
    simulators' shared login (which may publish as any bin)."""
    if services.admin is None:
        assert services.sim is not None
        return Device(
            services,
            f"sim-{bin_id}-{uuid.uuid4().hex[:6]}",
            services.sim.username,
            services.sim.password,
        )
    body = ok(api.post(f"{BASE}/rooms/{ROOM}/bins/{bin_id}/credentials"), 201)
    assert body["broker_applied"] is True, body
    return Device(services, body["client_id"], body["username"], body["password"])


def overflow(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ts": datetime.now(UTC).isoformat(),
        "kind": "alarm",
        "alarm": "overflow",
        "fill_pct": 97.5,
    }


def first_seen(db_url: str, event_id: str) -> tuple[float, datetime]:
    """Poll until the event's row is visible: (time.time() when seen, its received_at)."""
    deadline = time.monotonic() + LATENCY_S
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT received_at FROM events WHERE event_id = %s", (event_id,)
            ).fetchone()
            if row is not None:
                return time.time(), row[0]
            assert time.monotonic() < deadline, f"event {event_id} not stored within 5 s"
            time.sleep(0.02)


def about(hit: Received) -> tuple[str, str]:
    """The (bin, kind) a robot's message is about: robots get text, not the alarm's id."""
    title = hit.body["text"]["content"].splitlines()[0]
    bins = [b for b in (UNACKED, ACKED) if f"{b}号桶" in title]
    kinds = [k for k, word in KINDS.items() if word in title]
    return (bins[0] if len(bins) == 1 else "?", kinds[0] if len(kinds) == 1 else "?")


def test_an_overflow_reaches_the_volunteer_on_duty_once_then_the_committee(
    api: TestClient,
    db_url: str,
    services: Services,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
    procs: list[Proc | IngestProcess],
    tmp_path: Path,
) -> None:
    with http_sink() as duty, http_sink() as committee:
        volunteer = set_up_estate(api, db_url, duty, committee)
        ingest = ingest_factory()
        procs.append(ingest)
        ingest.start()
        canary(db_url, broker)  # the ingester is subscribed
        # Their intervals as shipped (FENLEI_ALARM_INTERVAL_S 2, FENLEI_NOTIFY_POLL_S 5,
        # the notifier woken by the evaluator's notice):
        # the 5 s is the deployment's, not a test's tuning.
        evaluator = Proc(services, tmp_path, "alarms")
        notifier = Proc(
            services,
            tmp_path,
            "notify",
            FENLEI_CHANNEL_KEY=KEY,
            FENLEI_NOTIFY_PRIVATE_NETWORKS="127.0.0.0/8",  # the sinks are on loopback
        )
        for child in (evaluator, notifier):
            procs.append(child.start())
        # Up (imports done, the dispatcher's pool open), then past a first tick and poll:
        # the latency measured is the running system's, not a start-up's.
        wait_for(lambda: "evaluating every" in evaluator.log(), bool, 60, what="fenlei alarms")
        wait_for(lambda: "dispatching" in notifier.log(), bool, 60, what="fenlei notify")
        time.sleep(1.5)
        assert duty.got() == [] and committee.got() == []

        pubacks: dict[str, float] = {}
        seen: dict[str, tuple[float, datetime]] = {}
        for bin_id in (UNACKED, ACKED):
            with device_for(api, services, bin_id) as device:
                event_id = f"ov-{bin_id}"
                pubacks[bin_id] = device.publish(
                    events_topic(ESTATE, ROOM, bin_id), overflow(event_id)
                )
                seen[bin_id] = first_seen(db_url, event_id)

        # The volunteer on duty hears of each alarm within 5 s of its event's PUBACK:
        # the overflow, once (its 97.5 % reading opens no second, nearly-full alarm).
        wait_for(
            lambda: Counter(about(h) for h in duty.got()),
            lambda c: c == Counter(EXPECTED),
            timeout=LATENCY_S + 1,
            interval=0.05,
            what="the duty robot's two messages",
        )
        sent = {about(h): h for h in duty.got()}
        latency = {k: round(h.at - pubacks[k[0]], 3) for k, h in sent.items()}
        after_seen = {k: round(h.at - seen[k[0]][0], 3) for k, h in sent.items()}
        print(f"\nPUBACK -> duty robot (s): {latency}\nrow seen -> duty robot (s): {after_seen}")
        assert all(0 < s < LATENCY_S for s in latency.values()), latency

        # The volunteer on duty acknowledges the second bin's alarms with their own token.
        rows = {(r["bin"], r["kind"]): r for r in ok(api.get(f"{BASE}/alarms"))}
        assert set(rows) == set(EXPECTED)
        assert all(r["detail"].get("fill_pct") == 97.5 for r in rows.values()), rows
        for kind in KINDS:
            acked = ok(
                api.post(
                    f"/api/v1/alarms/{rows[(ACKED, kind)]['id']}/acknowledge", headers=volunteer
                )
            )
            assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "王阿姨"

        # In WeCom's format, the volunteer on duty (and the property contact) mentioned.
        for (_, kind), hit in sent.items():
            assert hit.path == f"/cgi-bin/webhook/send?key={ROBOT_KEY}"
            assert hit.body["msgtype"] == "text"
            text = hit.body["text"]
            assert text["mentioned_mobile_list"] == [VOLUNTEER_PHONE, PROPERTY_PHONE]
            assert f"{KINDS[kind]} (97.5%)" in text["content"], text["content"]
            assert "王阿姨" in text["content"] and "绿城物业" in text["content"]
            assert "李叔叔" not in text["content"]  # his shift is over

        # Not acknowledged: the committee is told a minute after the open message, once
        # per alarm of the first bin, never of the second.
        wait_for(
            lambda: len(committee.got()),
            lambda n: n >= len(KINDS),
            timeout=ESCALATE_MINUTES * 60 + 15,
            interval=0.2,
            what="the escalations",
        )
        time.sleep(4.0)  # several more polls and ticks: nothing else goes out
        escalated = committee.got()
        duty_total = len(duty.got())

    by_id = {r["id"]: key for key, r in rows.items()}
    assert Counter(by_id[h.body["alarm"]["id"]] for h in escalated) == Counter(
        {(UNACKED, kind): 1 for kind in KINDS}
    ), [h.body for h in escalated]
    for hit in escalated:
        key = by_id[hit.body["alarm"]["id"]]
        waited = hit.at - sent[key].at
        # Due escalate_minutes after the open step was due (the open's own send, a few
        # ms, is the second of slack below).
        assert ESCALATE_MINUTES * 60 - 1 <= waited < ESCALATE_MINUTES * 60 + LATENCY_S, waited
        assert (hit.body["step"], hit.body["audience"]) == ("escalate", "committee")
        assert hit.body["alarm"]["bin"] == UNACKED and hit.body["alarm"]["kind"] == key[1]
        assert KINDS[key[1]] in hit.body["title"]
    assert duty_total == len(EXPECTED)  # one per alarm: no reminder, no second open

    # One record per (bin, kind), in the states the test brought them to.
    with psycopg.connect(db_url) as conn:
        records = conn.execute(
            "SELECT bin_id, kind, count(*), min(state) FROM alarms GROUP BY bin_id, kind"
            " ORDER BY bin_id, kind"
        ).fetchall()
    assert records == [
        (UNACKED, "overflow", 1, "open"),
        (ACKED, "overflow", 1, "acknowledged"),
    ]

    # The delivery log says what the sinks received: per alarm, step and channel.
    logged: Counter[tuple[tuple[str, str], str, str, bool]] = Counter()
    for key, row in rows.items():
        for d in ok(api.get(f"{BASE}/notifications", params={"alarm": row["id"]})):
            logged[(key, d["step"], d["channel_name"], d["ok"])] += 1
            assert d["delivery_state"] == "sent"
    received = Counter((k, "open", "值班群", True) for k in sent) + Counter(
        (by_id[h.body["alarm"]["id"]], "escalate", "居委会", True) for h in escalated
    )
    assert logged == received
    for p in procs:
        code = p.stop()
        assert code == 0, f"{getattr(p, 'command', 'ingest')} exited {code}"
