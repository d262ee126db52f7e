"""A backfilled month through the real broker and ingester equals the simulator's truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from simulators.delivery import FaultPlan
from simulators.devices import Fleet
from simulators.estate import EstateSpec
from simulators.probe import StoreProbe
from simulators.runner import backfill
from simulators.simulation import Simulation
from tests.fix_data import scalar
from tests.fix_ingest import IngestProcess
from tests.simulators.helpers import (
    db_figures,
    register_sql,
    rejections_by_reason,
    settled_totals,
    start_ingester,
    totals,
)

pytestmark = pytest.mark.integration


def run(sim: Simulation, db_url: str, mqtt_url: str) -> None:
    probe = StoreProbe(db_url, sim.estate.id)
    try:
        with Fleet(mqtt_url, list(sim.devices.values())) as fleet:
            stats = backfill(sim, fleet, probe, progress=False)
    finally:
        probe.close()
    assert stats.confirmed, "the ingester stored and quarantined everything in time"


def assert_figures_equal_truth(sim: Simulation, db_url: str) -> dict[str, Any]:
    truth = sim.ground_truth()
    f: dict[str, Any] = truth["figures"]  # type: ignore[assignment]
    got = db_figures(db_url, sim.estate.id, sim.start, sim.end)
    for key in ("households_total", "households_enrolled", "households_active", "drops"):
        assert got[key] == f[key], key
    for key in ("coverage", "participation_rate", "wet_share", "in_window_share"):
        assert got[key] == pytest.approx(f[key], abs=1e-12), key
    assert {c: g for c, g in got["grams"].items() if g} == {
        c: g for c, g in f["grams"].items() if g
    }
    assert got["daily_grams"] == {d["day"]: round(sum(d["kg"].values()) * 1000) for d in f["daily"]}
    assert got["by_kind"] == truth["stored"]["by_kind"]  # type: ignore[index]
    return f


def test_backfilled_month_equals_ground_truth(
    db_url: str, mqtt_url: str, ingest_factory: Callable[..., IngestProcess]
) -> None:
    sim = Simulation(EstateSpec().scaled(100, "sim-month"), 11, date(2026, 3, 1), date(2026, 3, 30))
    register_sql(db_url, sim.estate)
    start_ingester(db_url, mqtt_url, ingest_factory)
    run(sim, db_url, mqtt_url)
    f = assert_figures_equal_truth(sim, db_url)
    assert 0.85 < f["participation_rate"] <= 1.0
    assert rejections_by_reason(db_url) == {}


def test_faults_produce_exactly_the_announced_rejections_and_duplicates(
    db_url: str, mqtt_url: str, ingest_factory: Callable[..., IngestProcess]
) -> None:
    plan = FaultPlan(
        duplicate=0.03, out_of_order=0.03, offline=0.15, malformed=0.01, clock_skew=0.05, silent=1
    )
    sim = Simulation(
        EstateSpec().scaled(100, "sim-faults"), 12, date(2026, 6, 1), date(2026, 6, 10), plan
    )
    register_sql(db_url, sim.estate)
    proc = start_ingester(db_url, mqtt_url, ingest_factory)
    before = settled_totals(proc)
    run(sim, db_url, mqtt_url)
    faults: dict[str, Any] = sim.ground_truth()["faults"]  # type: ignore[assignment]
    assert rejections_by_reason(db_url) == faults["rejections"]
    assert_figures_equal_truth(sim, db_url)
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
