"""What Mosquitto does with a share-group member's session, seen with plain paho clients:
the broker behaviour behind the operating rule (bring each member back) and behind the
only safe way to remove one for good (resume, unsubscribe, drain, end the session).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.contract import EVENTS_SUBSCRIPTION
from simulators.broker import Broker
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import TOPIC_DRY, last_summary
from tests.scaleout.streams import (
    assert_exactly_once,
    canary,
    end_session,
    publish_all,
    stream,
    tally,
    wait_settled,
)

pytestmark = pytest.mark.integration


class Member:
    """A persistent-session subscriber of one share group that acknowledges all it gets."""

    def __init__(self, broker: Broker, login: tuple[str, str] | None, client_id: str) -> None:
        self.broker, self.login, self.client_id = broker, login, client_id
        self.got: list[bytes] = []
        self._lock = threading.Lock()
        self.client: mqtt.Client | None = None

    def connect(self, filt: str, *, subscribe: bool) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.login:
            client.username_pw_set(*self.login)
        done = threading.Event()

        def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
            if subscribe:
                c.subscribe([(filt, SubscribeOptions(qos=1))])
            else:
                c.unsubscribe(filt)

        def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.got.append(bytes(msg.payload))
            c.ack(msg.mid, msg.qos)

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_subscribe = lambda *a: done.set()
        client.on_unsubscribe = lambda *a: done.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        host, port = self.broker.host_port
        client.connect(host, port, clean_start=False, properties=props)
        client.loop_start()
        assert done.wait(10), f"{self.client_id}: no SUBACK/UNSUBACK"
        self.client = client

    def disconnect(self) -> None:
        assert self.client is not None
        self.client.disconnect()  # reason Normal: the session stays (expiry 3600 s)
        self.client.loop_stop()
        self.client = None

    def count(self) -> int:
        with self._lock:
            return len(self.got)


@pytest.fixture
def members(services: Services, broker: Broker) -> Iterator[tuple[Member, Member, str]]:
    login = (services.ingest.username, services.ingest.password) if services.ingest else None
    tag = uuid.uuid4().hex[:6]
    a, b = (Member(broker, login, f"leave-{tag}-{x}") for x in "ab")
    yield a, b, f"$share/leave-{tag}/{EVENTS_SUBSCRIPTION}"
    for m in (a, b):
        if m.client is not None:
            m.disconnect()
        end_session(broker, m.client_id, login)


def settle(m: Member, quiet_s: float = 1.0) -> int:
    last, since = m.count(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.1)
        if m.count() != last:
            last, since = m.count(), time.monotonic()
    return last


def test_an_absent_member_s_part_waits_in_its_session_and_leaving_loses_nothing(
    broker: Broker, members: tuple[Member, Member, str]
) -> None:
    a, b, filt = members
    a.connect(filt, subscribe=True)
    b.connect(filt, subscribe=True)
    b.disconnect()
    first = [(TOPIC_DRY, f"first-{i}".encode()) for i in range(40)]
    acked = publish_all(broker, first)
    # The absent member still gets its round-robin part, kept in its session: the
    # connected member is not given it.
    a_alone = settle(a)
    assert 0 < a_alone < acked, a_alone

    # Leaving for good: resume the session and unsubscribe. What the session holds is
    # still delivered; the group's new messages go to the others only.
    b.connect(filt, subscribe=False)
    wait_for(b.count, lambda n: n >= acked - a_alone, 10, what="the absent member's part")
    later = [(TOPIC_DRY, f"later-{i}".encode()) for i in range(40)]
    acked += publish_all(broker, later)
    wait_for(a.count, lambda n: n >= a_alone + len(later), 10, what="the later stream")
    settle(b)
    assert not [p for p in b.got if p.startswith(b"later-")]
    delivered = a.got + b.got
    assert sorted(delivered) == sorted(body for _, body in first + later)  # once each


def test_a_retiring_ingester_drains_its_session_and_is_given_nothing_new(
    db_url: str,
    services: Services,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    """Scaling down without loss: the retiring member resumes its session with
    FENLEI_LEAVE_GROUP, stores what waited for it, and the new stream goes to the rest."""
    register(db_url)
    tag = uuid.uuid4().hex[:6]
    group = f"retire-{tag}"
    ids = [f"retire-{tag}-{x}" for x in "ab"]
    started: list[IngestProcess] = []

    def member(client_id: str, **env: str) -> IngestProcess:
        proc = ingest_factory(FENLEI_SHARE_GROUP=group, FENLEI_CLIENT_ID=client_id, **env)
        started.append(proc.start())
        return proc

    try:
        stay, retiring = member(ids[0]), member(ids[1])
        for _ in range(2):
            canary(db_url, broker)
        assert retiring.stop() == 0
        acked = publish_all(broker, stream("before", 3_000))
        alive = wait_settled(lambda: tally(db_url, "before").keys, quiet_s=3.0)
        waiting = acked - alive
        assert waiting > 0
        leaving = member(ids[1], FENLEI_LEAVE_GROUP="true")
        wait_for(lambda: tally(db_url, "before").keys, lambda k: k >= acked, 60, what="drain")
        later = publish_all(broker, stream("after", 3_000))
        wait_for(lambda: tally(db_url, "after").keys, lambda k: k >= later, 60, what="new")
        wait_settled(lambda: tally(db_url, "after").rows, quiet_s=3.0)
        assert leaving.stop() == 0 and stay.stop() == 0
        assert_exactly_once(db_url, "before", acked)
        assert_exactly_once(db_url, "after", later)
        # The leaving member stored exactly what had waited for it, none of the new.
        assert last_summary(leaving)["stored"] == waiting
    finally:
        for proc in started:
            if proc.proc is not None:
                proc.stop()
        login = (services.ingest.username, services.ingest.password) if services.ingest else None
        for client_id in ids:
            end_session(broker, client_id, login)
