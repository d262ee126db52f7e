"""`fenlei simulate` end to end: it registers through the API, and its truth file
matches the figures the API computes from what the ingester stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from simulators.broker import Broker
from tests.fix_data import scalar
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.simulators.api_server import ApiServer
from tests.simulators.helpers import (
    assert_api_equals_truth,
    rejections_by_reason,
    start_ingester,
    stored_by_kind,
)

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

# A refused login ends the run at once (paho alone would retry for ever).
REFUSED_WITHIN_S = 30.0


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


def cli_env(db_url: str, services: Services, home: Path) -> dict[str, str]:
    """The environment of a `fenlei simulate` run: these services (URLs, CA, the shared
    simulator login), nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(services.env())
    env.update(FENLEI_DATABASE_URL=db_url, FENLEI_HOME=str(home))
    return env


@pytest.mark.integration
def test_simulate_publishes_what_its_truth_says(
    services: Services,
    db_url: str,
    broker: Broker,
    api: ApiServer,
    tmp_path: Path,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    start_ingester(db_url, broker, ingest_factory)
    # The token comes from the environment, as an installer's script would pass it.
    env = {**cli_env(db_url, services, tmp_path), "FENLEI_API_TOKEN": api.token}
    # Each bin gets its own login from the API and connects with it, over TLS: a
    # publish under the wrong login would be refused and fail the run.
    done = simulate("--no-progress", "--tls", "--api", api.base_url, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stored and checked"), done.stdout
    logins = scalar(
        db_url,
        "SELECT count(*) FROM mqtt_accounts JOIN bins USING (bin_key)"
        " WHERE estate_id = 'cli-est' AND kind = 'device' AND client_id = username",
    )
    assert logins == scalar(db_url, "SELECT count(*) FROM bins WHERE estate_id = 'cli-est'")
    truth = json.loads((tmp_path / "simulate" / "cli-est-truth.json").read_text())
    assert truth["figures"]["households_total"] == 60
    assert_api_equals_truth(api, "cli-est", date(2026, 4, 1), date(2026, 4, 4), truth["figures"])
    assert stored_by_kind(db_url, "cli-est") == truth["stored"]["by_kind"]
    assert truth["faults"]["rejections"], "the run had malformed payloads to quarantine"
    assert rejections_by_reason(db_url) == truth["faults"]["rejections"]


@pytest.mark.integration
def test_scale_mode_publishes_many_estates_at_the_target_rate(
    services: Services,
    db_url: str,
    broker: Broker,
    api: ApiServer,
    tmp_path: Path,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    start_ingester(db_url, broker, ingest_factory)
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
            "--api",
            api.base_url,
            "--token",
            api.token,
        ],
        env=cli_env(db_url, services, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "stored by the ingester" in done.stdout, done.stdout
    truth = json.loads((tmp_path / "simulate" / "scale-x3-truth.json").read_text())
    ids = [estate["estate"]["id"] for estate in truth["estates"]]
    assert ids == ["scale-001", "scale-002", "scale-003"]
    day = date(2026, 4, 4)
    for estate in truth["estates"]:
        assert_api_equals_truth(api, estate["estate"]["id"], day, day, estate["figures"])
    assert rejections_by_reason(db_url) == {}


@pytest.mark.integration
def test_simulate_refused_by_the_broker_stops_with_a_clear_error(
    services: Services, db_url: str, tmp_path: Path
) -> None:
    wrong = "not-the-sim-password"
    env = {**cli_env(db_url, services, tmp_path), "FENLEI_SIM_MQTT_PASSWORD": wrong}
    started = time.monotonic()
    done = simulate("--no-progress", "--no-wait", env=env)
    assert done.returncode != 0
    assert "refused the connection" in done.stderr and "0x8" in done.stderr, done.stderr
    assert wrong not in done.stderr + done.stdout
    assert time.monotonic() - started < REFUSED_WITHIN_S, "it gave up instead of retrying"
