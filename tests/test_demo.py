"""`fenlei demo` comes up, backfills, and its figures equal its ground truth."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fenlei.demo
from deploy.settings import ServicesSettings
from fenlei.cli import build_parser
from fenlei.errors import FenleiError
from simulators.settings import SimulatorSettings
from tests.fix_services import Services

# Services up (already), migrate, ingester, API, token, 3 days of 100 households.
DEMO_TIMEOUT_S = 180
# Ctrl-C: the bins' goodbyes (10 s at most), then the ingester and the API (SIGTERM).
STOP_WITHIN_S = 45


def test_demo_takes_the_documented_options() -> None:
    args = build_parser().parse_args(
        ["demo", "--days", "3", "--households", "100", "--seed", "7", "--speed", "10", "--no-live"]
    )
    assert args.func is fenlei.demo.run
    assert (args.days, args.households, args.seed, args.speed, args.no_live) == (
        3,
        100,
        7,
        10.0,
        True,
    )
    defaults = build_parser().parse_args(["demo"])
    assert (defaults.days, defaults.households, defaults.no_live) == (30, 1200, False)
    assert (defaults.services, defaults.api_port) == ("local", 8000)


def test_demo_on_given_services_needs_both_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FENLEI_MQTT_URL", raising=False)
    args = build_parser().parse_args(["demo", "--services", "env"])
    with pytest.raises(FenleiError, match="FENLEI_MQTT_URL"):
        fenlei.demo.run_demo(
            args,
            ServicesSettings(home=tmp_path),
            SimulatorSettings(database_url="postgresql://nowhere/fenlei", home=tmp_path),
        )


@pytest.mark.integration
@pytest.mark.slow
def test_demo_comes_up_and_computes_the_expected_figures(
    services: Services, db_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    # The services' URLs, CA and fenlei's own logins (ingest, admin for the API, sim).
    env.update(services.env())
    env.update(
        FENLEI_DATABASE_URL=db_url,
        FENLEI_HOME=str(tmp_path),
        FENLEI_CLIENT_ID="test-demo-ingest",
        FENLEI_SESSION_EXPIRY_S="0",
    )
    truth = tmp_path / "truth.json"
    # Twice, as a user runs `make demo` again: the second run forgets the first's estate
    # (its keyed events included) before it registers it anew, and goes live until Ctrl-C.
    run_demo_once(env, truth)
    run_demo_live_then_ctrl_c(env, truth)
    run_demo_live_then_kill_its_ingester(env, truth)


def demo_argv(truth: Path, *extra: str) -> list[str]:
    return [
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
        "--no-progress",
        "--api-port",
        "0",
        "--truth",
        str(truth),
        *extra,
    ]


def run_demo_once(env: dict[str, str], truth: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        demo_argv(truth, "--no-live"),
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    check_output(done.stdout)
    figures = json.loads(truth.read_text())["figures"]
    assert figures["households_total"] == 100
    assert elapsed < DEMO_TIMEOUT_S


def check_output(out: str) -> None:
    for label in ("coverage", "participation rate", "wet-waste share"):
        line = next(li for li in out.splitlines() if li.startswith(label))
        assert line.rstrip().endswith("="), line  # expected equals computed
    assert re.search(r"^token\s+\S+$", out, re.M), out
    assert "/docs" in out


def children_of(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def run_demo_live_then_ctrl_c(env: dict[str, str], truth: Path) -> None:
    """Ctrl-C on a live demo stops it and the ingester and API it started, promptly."""
    err_path = truth.parent / "demo-live.err"  # a file: a full pipe would stall the demo
    with err_path.open("wb") as err_file:
        proc = subprocess.Popen(
            demo_argv(truth),
            env=env,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
            # A terminal's Ctrl-C: SIGINT at its default even where the test runner was
            # started in the background (a shell's `&` makes its jobs ignore SIGINT).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    started_children: list[int] = []
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        for line in proc.stdout:  # the demo prints line by line, flushed
            lines.append(line)
            if line.startswith("live from") or time.monotonic() > deadline:
                break
        out = "".join(lines)
        assert "live from" in out, out + err_path.read_text(errors="replace")
        check_output(out)
        started_children = children_of(proc.pid)
        assert len(started_children) == 2, started_children  # the ingester and the API
        time.sleep(2.0)  # live publishing under way
        proc.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        rest, _ = proc.communicate(timeout=STOP_WITHIN_S)
        err = err_path.read_text(errors="replace")
        assert time.monotonic() - stopped < STOP_WITHIN_S
        assert proc.returncode in (0, 130), rest + err
        assert not [p for p in started_children if Path(f"/proc/{p}").exists()], err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in started_children:  # never leave the demo's ingester or API behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def run_demo_live_then_kill_its_ingester(env: dict[str, str], truth: Path) -> None:
    """An ingester killed from outside ends the live demo, which says why (it must not
    go on simulating with nothing stored)."""
    err_path = truth.parent / "demo-killed.err"
    with err_path.open("wb") as err_file:
        proc = subprocess.Popen(
            demo_argv(truth), env=env, stdout=subprocess.PIPE, stderr=err_file, text=True
        )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("live from"):
                break
        ingesters = [
            p
            for p in children_of(proc.pid)
            if b"ingest" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        ]
        assert len(ingesters) == 1, children_of(proc.pid)
        os.kill(ingesters[0], signal.SIGKILL)
        proc.communicate(timeout=STOP_WITHIN_S)
        err = err_path.read_text(errors="replace")
        assert proc.returncode == 1, err
        assert "the ingest process exited" in err and "stopping" in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
