"""Counting what the broker refused, from its log: refused logins and denied publishes.

Pure: lines in, counts out. The local broker logs at notice level with
`connection_messages true`, where Mosquitto 2.0.11 writes one line per refused CONNECT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Mosquitto 2.0.11's wording (measured against Debian's build: tests/deploy/test_broker_auth.py).
REFUSED_CONNECTION = "disconnected, not authorised."
DENIED_PUBLISH = "Denied PUBLISH from "


@dataclass(frozen=True, slots=True)
class BrokerLogCounts:
    """How often the broker said no."""

    refused_connections: int = 0
    denied_publishes: int = 0


def count_refusals(lines: Iterable[str]) -> BrokerLogCounts:
    """Count refused logins and denied publishes in broker log lines."""
    refused = denied = 0
    for line in lines:
        if REFUSED_CONNECTION in line:
            refused += 1
        elif DENIED_PUBLISH in line:
            denied += 1
    return BrokerLogCounts(refused, denied)
