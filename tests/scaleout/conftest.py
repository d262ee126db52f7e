"""A second MQTT v5 broker implementation for the conformance tests, and session clean-up."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulators.broker import Broker
from tests.fix_ingest import IngestProcess

# rumqttd (the broker compiled into the `iotcore` wheel, a test dependency), MQTT v5 only
# on one loopback listener, no authentication: the conformance tests are about the
# protocol the ingester speaks, not about Mosquitto's dynamic-security plugin.
RUMQTTD_CONFIG = """\
id = 0

[router]
id = 0
max_connections = 1000
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v5.1]
name = "v5-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 262144
    max_inflight_count = 1000
    dynamic_filters = true
"""
START_TIMEOUT_S = 15.0
# What an ingester on the second broker must not carry over from the test services.
MOSQUITTO_ONLY = (
    "FENLEI_INGEST_MQTT_USERNAME",
    "FENLEI_INGEST_MQTT_PASSWORD",
    "FENLEI_MQTT_CA_FILE",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def second_broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh rumqttd per test (sessions of one test never take another's messages)."""
    pytest.importorskip("iotcore", reason="the second broker comes with the test extra (iotcore)")
    port = free_port()
    config = tmp_path / "rumqttd.toml"
    config.write_text(RUMQTTD_CONFIG.format(port=port))
    log = (tmp_path / "rumqttd.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotcore", "--config", str(config), "--log-level", "WARNING"],
        stdout=log,
        stderr=log,
    )
    log.close()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"rumqttd did not start: {(tmp_path / 'rumqttd.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield Broker(f"mqtt://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def second_ingest(
    second_broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> Callable[..., IngestProcess]:
    """An ingester (not yet started) on the second broker, anonymous."""

    def make(**env: str) -> IngestProcess:
        proc = ingest_factory(FENLEI_MQTT_URL=second_broker.url, **env)
        for name in MOSQUITTO_ONLY:
            proc.env.pop(name, None)
        return proc

    return make
