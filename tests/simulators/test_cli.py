"""`fenlei simulate` end to end: its truth file matches what the ingester stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from simulators.delivery import FaultPlan
from simulators.estate import EstateSpec
from simulators.simulation import Simulation
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.simulators.helpers import db_figures, register_sql, rejections_by_reason, start_ingester

ARGS = [
    "--estate",
    "cli-est",
    "--households",
    "60",
    "--days",
    "4",
    "--end",
    "2026-04-04",
    "--seed",
    "77",
    "--malformed",
    "0.02",
    "--duplicates",
    "0.02",
    "--offline",
    "0.2",
]


def simulate(*extra: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fenlei", "simulate", *ARGS, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dry_run_is_reproducible(tmp_path: Path) -> None:
    env = {**os.environ, "FENLEI_HOME": str(tmp_path)}
    first = simulate("--dry-run", "--truth", str(tmp_path / "a.json"), env=env)
    second = simulate("--dry-run", "--truth", str(tmp_path / "b.json"), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


@pytest.mark.integration
def test_simulate_publishes_what_its_truth_says(
    services: Services,
    db_url: str,
    mqtt_url: str,
    tmp_path: Path,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    plan = FaultPlan(duplicate=0.02, malformed=0.02, offline=0.2)
    sim = Simulation(
        EstateSpec().scaled(60, "cli-est"), 77, date(2026, 4, 1), date(2026, 4, 4), plan
    )
    register_sql(db_url, sim.estate)
    start_ingester(db_url, mqtt_url, ingest_factory)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(FENLEI_DATABASE_URL=db_url, FENLEI_MQTT_URL=mqtt_url, FENLEI_HOME=str(tmp_path))
    done = simulate("--no-progress", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stored and checked"), done.stdout
    truth = json.loads((tmp_path / "simulate" / "cli-est-truth.json").read_text())
    f = truth["figures"]
    got = db_figures(db_url, "cli-est", date(2026, 4, 1), date(2026, 4, 4))
    assert (got["households_active"], got["drops"]) == (f["households_active"], f["drops"])
    assert got["wet_share"] == pytest.approx(f["wet_share"], abs=1e-12)
    assert rejections_by_reason(db_url) == truth["faults"]["rejections"]


@pytest.mark.integration
def test_scale_mode_publishes_many_estates_at_the_target_rate(
    services: Services,
    db_url: str,
    mqtt_url: str,
    tmp_path: Path,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    for i in range(3):
        spec = EstateSpec().scaled(20, f"scale-{i + 1:03d}")
        register_sql(db_url, Simulation(spec, 5 + i, date(2026, 4, 4), date(2026, 4, 4)).estate)
    start_ingester(db_url, mqtt_url, ingest_factory)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(FENLEI_DATABASE_URL=db_url, FENLEI_MQTT_URL=mqtt_url, FENLEI_HOME=str(tmp_path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fenlei",
            "simulate",
            "--estate",
            "scale",
            "--estates",
            "3",
            "--households",
            "20",
            "--days",
            "1",
            "--end",
            "2026-04-04",
            "--seed",
            "5",
            "--rate",
            "400",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "stored by the ingester" in done.stdout, done.stdout
    truth = json.loads((tmp_path / "simulate" / "scale-x3-truth.json").read_text())
    for estate in truth["estates"]:
        got = db_figures(db_url, estate["estate"]["id"], date(2026, 4, 4), date(2026, 4, 4))
        assert got["drops"] == estate["figures"]["drops"]
    assert rejections_by_reason(db_url) == {}
