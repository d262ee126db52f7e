"""Three ingesters on one `$share` group, one killed (SIGKILL) while the stream flows.

Mosquitto keeps what it had sent the dead member (in flight, unacknowledged) and what
it goes on queueing for it in that member's persistent session: nothing is
redispatched to the live members. Nothing is lost either, as long as the member comes
back with the same client id before its session expires; this is the operating rule
(stable client ids, a StatefulSet that restarts each member) that these tests hold.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from simulators.broker import Broker
from tests.fix_data import register, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.scaleout.streams import (
    Background,
    assert_exactly_once,
    canary,
    end_session,
    stream,
    tally,
    wait_settled,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 9_000
RATE_PER_S = 1_500.0


def test_a_killed_member_s_share_waits_in_its_session_and_drains_when_it_returns(
    db_url: str,
    services: Services,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    register(db_url)
    tag = uuid.uuid4().hex[:6]
    group = f"scaleout-{tag}"
    ids = [f"scaleout-{tag}-{i}" for i in range(3)]

    started: list[IngestProcess] = []

    def member(client_id: str) -> IngestProcess:
        proc = ingest_factory(FENLEI_SHARE_GROUP=group, FENLEI_CLIENT_ID=client_id).start()
        started.append(proc)
        return proc

    members = [member(cid) for cid in ids]
    try:
        for _ in members:
            canary(db_url, broker)
        publisher = Background(broker, stream("kill", N), RATE_PER_S)
        # A sixth of the stream stored: the members are busy, the victim has in flight.
        wait_for(lambda: tally(db_url, "kill").rows, lambda r: r >= N // 6, 120, what="flow")
        members[2].kill()
        acked = publisher.join()
        # The two live members store all they are given, then nothing more arrives.
        wait_settled(lambda: tally(db_url, "kill").rows, quiet_s=5.0)
        before = tally(db_url, "kill")
        assert before.duplicated() == 0
        held = before.lost(acked)
        # The dead member's session holds its share: not lost, not redispatched.
        assert held > 0, "nothing waited for the killed member"
        print(f"killed member's session held {held} of {acked} acknowledged messages")

        back = member(ids[2])  # same client id: resumes the session
        wait_for(lambda: tally(db_url, "kill").keys, lambda k: k >= acked, 120, what="backlog")
        wait_settled(lambda: tally(db_url, "kill").rows, quiet_s=3.0)
        assert_exactly_once(db_url, "kill", acked)
        assert "session present: True" in back.log()
    finally:
        # Stopped first: a clean start under a live member's id would take its session over.
        for proc in started:
            if proc.proc is not None:
                proc.stop()
        login = (services.ingest.username, services.ingest.password) if services.ingest else None
        for proc_id in ids:
            end_session(broker, proc_id, login)


def test_a_member_that_does_not_return_before_its_session_expires_loses_its_part(
    db_url: str,
    services: Services,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    """The other side of the rule, with a 2-second session expiry instead of a week's:
    Mosquitto discards the expired session's queue, and nobody else is given it."""
    register(db_url)
    tag = uuid.uuid4().hex[:6]
    group = f"scaleout-{tag}"
    ids = [f"scaleout-{tag}-{i}" for i in range(3)]
    started: list[IngestProcess] = []

    def member(client_id: str) -> IngestProcess:
        proc = ingest_factory(
            FENLEI_SHARE_GROUP=group, FENLEI_CLIENT_ID=client_id, FENLEI_SESSION_EXPIRY_S="2"
        ).start()
        started.append(proc)
        return proc

    members = [member(cid) for cid in ids]
    try:
        for _ in members:
            canary(db_url, broker)
        members[2].kill()
        n = 3_000
        acked = Background(broker, stream("gone", n), 0).join()
        alive = wait_settled(lambda: tally(db_url, "gone").keys, quiet_s=3.0)
        assert 0 < alive < acked
        time.sleep(4.0)  # past the expiry: Mosquitto drops the session and its queue
        back = member(ids[2])
        wait_for(lambda: "subscribed to" in back.log(), bool, 30, what="the returned member")
        after = wait_settled(lambda: tally(db_url, "gone").keys, quiet_s=3.0)
        assert "session present: False" in back.log()
        assert after == alive, "the expired session's part came back after all"
        assert tally(db_url, "gone").lost(acked) == acked - alive > 0
    finally:
        for proc in started:
            if proc.proc is not None:
                proc.stop()
        login = (services.ingest.username, services.ingest.password) if services.ingest else None
        for proc_id in ids:
            end_session(broker, proc_id, login)
