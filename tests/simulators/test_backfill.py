"""A backfilled month through the real broker, ingester and API equals the simulator's truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from ingest.contract import BinAddress
from simulators.broker import Broker, Login
from simulators.delivery import FaultPlan
from simulators.devices import Fleet
from simulators.estate import EstateSpec
from simulators.probe import StoreProbe
from simulators.runner import backfill
from simulators.simulation import Simulation
from tests.fix_data import scalar
from tests.fix_ingest import IngestProcess
from tests.simulators.api_server import ApiServer
from tests.simulators.helpers import (
    assert_api_equals_truth,
    issue_logins,
    register,
    rejections_by_reason,
    settled_totals,
    start_ingester,
    stored_by_kind,
    totals,
)

pytestmark = pytest.mark.integration


def run(sim: Simulation, db_url: str, broker: Broker, logins: dict[BinAddress, Login]) -> None:
    """Backfill with every bin connected as itself (its own login and client id)."""
    probe = StoreProbe(db_url, sim.estate.id)
    try:
        with Fleet(broker, list(sim.devices.values()), logins) as fleet:
            stats = backfill(sim, fleet, probe, progress=False)
    finally:
        probe.close()
    assert stats.confirmed, "the ingester stored and quarantined everything in time"


def assert_stored_equals_truth(sim: Simulation, db_url: str, api: ApiServer) -> dict[str, Any]:
    """The API's figures and the stored rows are what the ground truth says."""
    truth = sim.ground_truth()
    figures: dict[str, Any] = truth["figures"]  # type: ignore[assignment]
    assert_api_equals_truth(api, sim.estate.id, sim.start, sim.end, figures)
    assert stored_by_kind(db_url, sim.estate.id) == truth["stored"]["by_kind"]  # type: ignore[index]
    return figures


def test_backfilled_month_equals_ground_truth(
    db_url: str, broker: Broker, api: ApiServer, ingest_factory: Callable[..., IngestProcess]
) -> None:
    sim = Simulation(EstateSpec().scaled(100, "sim-month"), 11, date(2026, 3, 1), date(2026, 3, 30))
    register(api, sim)
    logins = issue_logins(api, sim)
    assert {login.client_id for login in logins.values()} == {
        login.username for login in logins.values()
    }, "device logins are bound to their own client id"
    start_ingester(db_url, broker, ingest_factory)
    run(sim, db_url, broker.as_login(None), logins)
    f = assert_stored_equals_truth(sim, db_url, api)
    assert 0.85 < f["participation_rate"] <= 1.0
    assert f["households_enrolled"] > f["households_active"] > 0
    assert rejections_by_reason(db_url) == {}


def test_faults_produce_exactly_the_announced_rejections_and_duplicates(
    db_url: str, broker: Broker, api: ApiServer, ingest_factory: Callable[..., IngestProcess]
) -> None:
    plan = FaultPlan(
        duplicate=0.03, out_of_order=0.03, offline=0.15, malformed=0.01, clock_skew=0.05, silent=1
    )
    sim = Simulation(
        EstateSpec().scaled(100, "sim-faults"), 12, date(2026, 6, 1), date(2026, 6, 10), plan
    )
    register(api, sim)
    logins = issue_logins(api, sim)
    proc = start_ingester(db_url, broker, ingest_factory)
    before = settled_totals(proc)
    run(sim, db_url, broker.as_login(None), logins)
    faults: dict[str, Any] = sim.ground_truth()["faults"]  # type: ignore[assignment]
    assert rejections_by_reason(db_url) == faults["rejections"]
    assert_stored_equals_truth(sim, db_url, api)
    proc.stop()
    after = totals(proc)
    assert after["duplicates"] - before["duplicates"] == faults["duplicates"] > 0
    assert after["rejected"] - before["rejected"] == faults["rejections_total"]
    silent = faults["silent_bins"][0]
    assert (
        scalar(
            db_url,
            "SELECT online FROM bins WHERE id = %s AND estate_id = %s",
            (silent, sim.estate.id),
        )
        is False
    ), "the silent bin's last will was applied"
