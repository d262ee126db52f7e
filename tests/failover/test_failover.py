"""The primary dies mid-stream; Patroni promotes the replica; the ingester finds it.

etcd and two Patroni nodes (deploy.patroni), the real Mosquitto and the real ingester
(`python -m ingest`) with a libpq multi-host URL (target_session_attrs=read-write). A
stock paho client publishes at QoS 1 and records what the broker acknowledged; the
primary's postmaster is SIGKILLed mid-stream. Counted on the new primary, per
(bin, event_id): every acknowledged event present (0 lost) and none twice (0
duplicated), with the time from the kill to the first event committed there.

Set FENLEI_FAILOVER_FIGURES to a file to get the figures as JSON lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from deploy import patroni
from tests.failover.fix_cluster import Cluster, Stream, counts, readyz, stored, wait_stored
from tests.fix_ingest import IngestProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(
        not (shutil.which("patroni") and shutil.which("etcd")),
        reason="Patroni and etcd not installed (deploy/local/install-system.sh --with-failover)",
    ),
]

STREAM_RATE = 300.0  # events per second, one per message
STREAM_S = 15.0
KILL_AFTER_S = 4.0
BURST = 6_000
WAIT_S = 120.0


def figure(name: str, **values: Any) -> None:
    line = json.dumps({"figure": name, **values})
    print(line)
    path = os.environ.get("FENLEI_FAILOVER_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def settle(url: str, prefix: str, n: int, quiet_s: float = 10.0) -> None:
    """Until `n` events of the stream are stored, or the count stops growing for
    `quiet_s` (a lost event never comes), bounded by WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = stored(url, prefix)
        if now >= n:
            return
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.1)


def ready(c: Cluster, sync: bool) -> None:
    """A healthy cluster in the wanted mode, and the ingester storing."""
    patroni._wait(lambda: patroni.healthy(c.state), WAIT_S, "both nodes up (a rejoin)")
    patroni.set_synchronous_mode(c.settings, c.state, sync)

    # Checked on the leader itself, not through Patroni's view, which can say so a
    # moment before the leader has reloaded its synchronous_standby_names.
    def standby_names() -> str | None:
        with psycopg.connect(c.leader_url()) as conn:
            row = conn.execute("SHOW synchronous_standby_names").fetchone()
        return None if row is None else str(row[0])

    patroni._wait(
        lambda: (names := standby_names()) is not None and bool(names) == sync,
        WAIT_S,
        f"the leader's synchronous_standby_names {'set' if sync else 'empty'}",
    )
    prefix = f"canary-{uuid.uuid4().hex[:6]}"
    canary = Stream(c.services, prefix)
    try:
        deadline = time.monotonic() + WAIT_S
        i = 0
        # Republished until stored: the ingester may not have subscribed yet.
        while stored(c.url, prefix) < 1:
            assert time.monotonic() < deadline, (
                f"the ingester stores nothing:\n{c.ingester.log()[-3000:]}"
            )
            canary.publish(i)
            i += 1
            time.sleep(0.5)
    finally:
        canary.close()


def test_ingest_throughput_with_and_without_synchronous_replication(cluster: Cluster) -> None:
    """The cost of synchronous_mode: the same backlog drained with it off and on, three
    times each, alternating. The ingester is paused (SIGSTOP) while the burst is
    published, so the figure is the ingester's and the database's, not the publisher's."""
    proc = cluster.ingester.proc
    assert proc is not None
    rates: dict[str, list[float]] = {"async": [], "sync": []}
    for round_ in range(3):
        for sync in (False, True):
            ready(cluster, sync)
            prefix = f"burst{round_}{'s' if sync else 'a'}-{uuid.uuid4().hex[:6]}"
            stream = Stream(cluster.services, prefix)
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                stream.run(BURST, rate=None)
                stream.wait_acked(30.0)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
                stream.close()
            assert len(stream.acked) == BURST
            took = wait_stored(cluster.url, prefix, BURST, WAIT_S)
            assert took is not None, f"{prefix}: {stored(cluster.url, prefix)} of {BURST} stored"
            rows = counts(cluster.leader_url(), prefix)
            assert len(rows) == BURST and set(rows.values()) == {1}
            rates["sync" if sync else "async"].append(BURST / took)
    figure(
        "ingest_throughput",
        burst=BURST,
        async_events_per_s=[round(r) for r in rates["async"]],
        sync_events_per_s=[round(r) for r in rates["sync"]],
        load=os.getloadavg(),
    )


@pytest.mark.parametrize("sync", [True, False], ids=["synchronous", "asynchronous"])
def test_primary_killed_mid_stream(cluster: Cluster, sync: bool) -> None:
    fail_over(cluster, sync, "default backoff")


def test_primary_killed_with_a_shorter_ingest_backoff(cluster: Cluster) -> None:
    """The ingester's backoff decides most of the recovery time: FENLEI_RETRY_MAX_S=1
    (same client id: the broker session carries on)."""
    old = cluster.ingester
    assert old.stop() == 0
    cluster.ingester = IngestProcess(
        cluster.services,
        cluster.home / "ingest",
        FENLEI_CLIENT_ID=old.client_id,
        FENLEI_RETRY_MAX_S="1",
    ).start()
    fail_over(cluster, True, "FENLEI_RETRY_MAX_S=1")


def fail_over(cluster: Cluster, sync: bool, backoff: str) -> None:
    """Stream, SIGKILL the primary's postmaster, count on the new primary, report."""
    ready(cluster, sync)
    s, state = cluster.settings, cluster.state
    old = patroni.leader(state)
    assert old is not None
    postmaster = patroni.postmaster_pid(s, state.node(old))
    assert postmaster is not None
    prefix = f"fo{'s' if sync else 'a'}-{uuid.uuid4().hex[:6]}"
    stream = Stream(cluster.services, prefix)
    total = int(STREAM_RATE * STREAM_S)
    publisher = threading.Thread(target=stream.run, args=(total, STREAM_RATE), daemon=True)
    probes: list[tuple[float, float, int]] = []  # (sent, answered, status)
    probing = threading.Event()

    def probe_api() -> None:
        while not probing.is_set():
            sent = time.monotonic()
            code = readyz(cluster.api_port)
            probes.append((sent, time.monotonic(), code))
            time.sleep(0.1)

    prober = threading.Thread(target=probe_api, daemon=True)
    try:
        prober.start()
        publisher.start()
        time.sleep(KILL_AFTER_S)
        killed_wall, killed = time.time(), time.monotonic()
        os.kill(postmaster, signal.SIGKILL)
        new = None
        while new in (None, old):
            assert time.monotonic() - killed < WAIT_S, "the replica was not promoted"
            time.sleep(0.05)
            new = patroni.leader(state)
        promoted_s = time.monotonic() - killed
        publisher.join(STREAM_S + 30.0)
        assert not publisher.is_alive(), "the publisher did not finish"
        stream.wait_acked(30.0)
    finally:
        probing.set()
        prober.join(10.0)
        stream.close()
    assert new is not None and new != old
    # The API: a probe may fail (a pooled connection to the dead primary) or wait for
    # a connection until the new primary takes it; it is back with the first success
    # sent after the last failure.
    after = [(sent - killed, done - killed, code) for sent, done, code in probes if sent >= killed]
    assert after and after[-1][2] == 200, f"the API is not ready again: {after[-5:]}"
    failed = [sent for sent, _, code in after if code != 200]
    last_failure = max(failed, default=0.0)
    api_back_s = min(done for sent, done, code in after if code == 200 and sent >= last_failure)
    api_longest_probe_s = max(done - sent for sent, done, _ in after)
    new_url = state.node_url(s, state.node(new))
    # Everything the broker acknowledged is eventually stored (the ingester holds
    # unacknowledged what it could not commit): waited for, bounded.
    settle(new_url, prefix, len(stream.acked))
    rows = counts(new_url, prefix)
    present = {e for _, e in rows}
    lost = sorted(stream.acked - present)
    duplicated = sum(1 for n in rows.values() if n > 1)
    with psycopg.connect(new_url) as conn:
        first = conn.execute(
            "SELECT extract(epoch FROM min(received_at)) FROM events"
            " WHERE event_id LIKE %s AND received_at > to_timestamp(%s)",
            (f"{prefix}-%", killed_wall),
        ).fetchone()
    assert first is not None and first[0] is not None, "nothing committed after the kill"
    recovery_s = float(first[0]) - killed_wall
    backs = re.findall(r"database back after ([0-9.]+) s", cluster.ingester.log())
    figure(
        "failover",
        synchronous_mode=sync,
        ingest_backoff=backoff,
        published=total,
        acknowledged=len(stream.acked),
        refused=stream.refused,
        stored=len(rows),
        lost=len(lost),
        duplicated=duplicated,
        promoted_s=round(promoted_s, 2),
        recovery_s=round(recovery_s, 2),
        ingester_outage_s=float(backs[-1]) if backs else None,
        api_back_s=round(api_back_s, 2),
        api_longest_probe_s=round(api_longest_probe_s, 2),
        api_failed_probes=len(failed),
        old_primary=old,
        new_primary=new,
        load=os.getloadavg(),
    )
    assert cluster.ingester.proc is not None and cluster.ingester.proc.poll() is None, (
        "the ingester exited"
    )
    assert stream.refused == 0
    assert len(stream.acked) == total
    assert duplicated == 0
    assert recovery_s < 60.0
    assert api_back_s < 60.0
    if sync:
        assert lost == [], f"{len(lost)} acknowledged events lost, e.g. {lost[:5]}"
