"""Counting refusals in Mosquitto 2.0.11's log (pure; the wording is checked for real in
test_broker_auth.py)."""

from __future__ import annotations

from deploy.brokerlog import BrokerLogCounts, count_refusals

# Lines as Debian's mosquitto 2.0.11 writes them (notice level, plus debug for the denial).
LOG = """\
1796122955: New connection from 127.0.0.1:47642 on port 60583.
1796122955: Client <unknown> disconnected, not authorised.
1796122955: New connection from 127.0.0.1:47650 on port 60583.
1796122955: Client bin-4 disconnected, not authorised.
1796122955: New client connected from 127.0.0.1:47660 as sim-1 (p5, c1, k60, u'fenlei-sim').
1796122972: Denied PUBLISH from bin-4 (d0, q1, r0, m1, 'fenlei/v1/a/b/c/stored', ... (1 bytes))
1796122972: Sending PUBACK to bin-4 (m1, rc135)
1796122972: Received PUBLISH from sim-1 (d0, q1, r0, m2, 'fenlei/v1/a/b/c/events', ... (1 bytes))
1796122951: OpenSSL Error[0]: error:0A000126:SSL routines::unexpected eof while reading
1796122955: Client sim-1 disconnected.
"""


def test_counts_refused_logins_and_denied_publishes() -> None:
    assert count_refusals(LOG.splitlines()) == BrokerLogCounts(
        refused_connections=2, denied_publishes=1
    )


def test_ordinary_traffic_counts_nothing() -> None:
    lines = [ln for ln in LOG.splitlines() if "not authorised" not in ln and "Denied" not in ln]
    assert count_refusals(lines) == BrokerLogCounts()
    assert count_refusals([]) == BrokerLogCounts(0, 0)
