"""`fenlei demo` comes up, backfills, and its figures equal its ground truth."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fix_services import Services

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Services up (already), migrate, ingester, API, token, 3 days of 100 households.
DEMO_TIMEOUT_S = 180


@pytest.mark.skipif(importlib.util.find_spec("api.cli") is None, reason="api.cli not built yet")
def test_demo_comes_up_and_computes_the_expected_figures(
    services: Services, db_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(
        FENLEI_DATABASE_URL=db_url,
        FENLEI_MQTT_URL=services.mqtt_url,
        FENLEI_HOME=str(tmp_path),
        FENLEI_CLIENT_ID="test-demo-ingest",
        FENLEI_SESSION_EXPIRY_S="0",
    )
    truth = tmp_path / "truth.json"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fenlei",
            "demo",
            "--services",
            "env",
            "--days",
            "3",
            "--households",
            "100",
            "--no-live",
            "--no-progress",
            "--api-port",
            "0",
            "--truth",
            str(truth),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for label in ("coverage", "participation rate", "wet-waste share"):
        line = next(li for li in out.splitlines() if li.startswith(label))
        assert line.rstrip().endswith("="), line  # expected equals computed
    assert re.search(r"^token\s+\S+$", out, re.M), out
    assert "/docs" in out
    figures = json.loads(truth.read_text())["figures"]
    assert figures["households_total"] == 100
    assert elapsed < DEMO_TIMEOUT_S
