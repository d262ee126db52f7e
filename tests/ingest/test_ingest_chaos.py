"""No loss under failure: SIGKILL, a database outage, a burst while the ingester is down."""

from __future__ import annotations

import signal
import time

import pytest

from deploy import services as launcher
from deploy.settings import ServicesSettings
from simulators.broker import Broker
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import (
    assert_exactly_once,
    canary,
    count,
    events_payloads,
    last_summary,
    publish_in_background,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigkill_while_messages_are_queued_loses_and_duplicates_nothing(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    n = 20_000
    sender = publish_in_background(broker, events_payloads("kill", n))
    wait_for(
        lambda: count(db_url, "event_id LIKE 'kill-%'"),
        lambda c: c >= 3_000,
        what="part of the stream stored",
    )
    running.kill()
    stored_at_kill = count(db_url, "event_id LIKE 'kill-%'")
    time.sleep(1.0)  # the stream keeps arriving at the broker meanwhile
    running.start()
    sender.join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'kill-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream after the restart",
    )
    time.sleep(1.0)  # let any redelivery land, to be sure it is not stored twice
    assert stored_at_kill < n, "the kill happened mid-stream"
    assert_exactly_once(db_url, "kill", n)


def test_database_outage_of_20_s_loses_nothing(
    services: Services, running: IngestProcess, db_url: str, broker: Broker
) -> None:
    if not isinstance(services.launcher_settings, ServicesSettings):
        pytest.skip("needs the project's own launcher to stop and start PostgreSQL")
    n = 8_000
    sender = publish_in_background(broker, events_payloads("outage", n), rate_per_s=250)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'outage-%'"),
        lambda c: c >= 500,
        what="the stream flowing",
    )
    launcher.stop_postgres(services.launcher_settings)
    time.sleep(20)
    launcher.up(services.launcher_settings)
    sender.join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'outage-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream after the database returned",
    )
    assert_exactly_once(db_url, "outage", n)
    assert "database unavailable" in running.log()
    assert "database back" in running.log()
    assert running.proc is not None and running.proc.poll() is None, "the ingester kept running"


def test_burst_of_50k_while_the_ingester_is_down_is_not_dropped_by_the_broker(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    assert running.stop(signal.SIGTERM) == 0
    n = 50_000
    publish_in_background(broker, events_payloads("burst", n)).join(300)
    running.start()
    wait_for(
        lambda: count(db_url, "event_id LIKE 'burst-%'"),
        lambda c: c >= n,
        timeout=240,
        what="the whole burst",
    )
    assert_exactly_once(db_url, "burst", n)
    # Every message was acknowledged: a restart gets no redelivery of the burst.
    assert running.stop(signal.SIGTERM) == 0
    running.start()
    canary(db_url, broker)
    assert running.stop(signal.SIGTERM) == 0
    # Only the canary's copies arrived, not the burst again.
    assert last_summary(running)["messages"] < 100


def test_sigterm_mid_stream_flushes_and_exits_cleanly(
    running: IngestProcess, db_url: str, broker: Broker
) -> None:
    n = 15_000
    sender = publish_in_background(broker, events_payloads("term", n))
    wait_for(
        lambda: count(db_url, "event_id LIKE 'term-%'"),
        lambda c: c >= 2_000,
        what="part of the stream stored",
    )
    assert running.stop(signal.SIGTERM) == 0
    running.start()
    sender.join(300)
    wait_for(
        lambda: count(db_url, "event_id LIKE 'term-%'"),
        lambda c: c >= n,
        timeout=180,
        what="the whole stream",
    )
    assert_exactly_once(db_url, "term", n)
    assert scalar(db_url, "SELECT count(*) FROM rejected_messages") == 0
