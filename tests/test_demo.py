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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
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
    assert defaults.no_team is False
    assert build_parser().parse_args(["demo", "--no-team"]).no_team is True


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
    run_demo_live_then_ctrl_c(env, truth, db_url)
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


def check_output(out: str) -> str:
    """Check what the demo printed; its volunteer sign-in link."""
    for label in ("coverage", "participation rate", "wet-waste share"):
        line = next(li for li in out.splitlines() if li.startswith(label))
        assert line.rstrip().endswith("="), line  # expected equals computed
    assert re.search(r"^token\s+\S+$", out, re.M), out
    assert "/docs" in out
    # The volunteer pages' way in: a one-time sign-in link for 王阿姨 (the first group
    # leader).
    link = re.search(
        r"^volunteer  (http://127\.0\.0\.1:\d+/volunteer/link/\S+)  \(王阿姨, one-time"
        r" sign-in link\)",
        out,
        re.M,
    )
    assert link, out
    assert re.search(r"^team       25 volunteers, \d+ watches", out, re.M), out
    return link[1]


def check_team(out: str, db_url: str) -> None:
    """The team the live demo registered, as its own API answers (the printed token)."""
    base = re.search(r"^dashboard  (http://127\.0\.0\.1:\d+)/", out, re.M)
    token = re.search(r"^token\s+(\S+)$", out, re.M)
    assert base and token, out
    # No volunteer's token is ever printed: the only token line is the admin's.
    others = [li for li in out.splitlines() if not li.startswith("volunteer ")]
    assert len(re.findall(r"fl_[A-Za-z0-9_-]{20,}", "\n".join(others))) == 1, out

    def get(path: str, **params: str) -> Any:
        r = httpx.get(
            f"{base[1]}/api/v1/estates/{fenlei.demo.DEMO_ESTATE}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token[1]}"},
            timeout=30.0,
        )
        assert r.status_code == 200, r.text
        return r.json()

    volunteers = get("/volunteers")
    assert 20 <= len(volunteers) <= 30
    assert len({v["name"] for v in volunteers}) == len(volunteers)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    shifts = get("/roster", **{"from": str(first), "to": str(month_end)})
    this_month = [s for s in shifts if date.fromisoformat(s["day"]) >= today.replace(day=1)]
    assert this_month and all(s["assignees"] for s in this_month)  # the month's roster is out
    assert any(a["checked_in_at"] for s in shifts for a in s["assignees"])
    inspections = get("/inspections", **{"from": str(first), "to": str(today)})
    assert inspections and any(x["mis_sorted"] > 0 for i in inspections for x in i["lines"])
    swaps = get("/swaps", status="open")
    assert len(swaps) == 1
    assert datetime.fromisoformat(swaps[0]["shift"]["starts_at"]) > datetime.now(UTC)
    # A second run replaced the first's team: its volunteer tokens went with it.
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM api_tokens WHERE role = 'volunteer' AND estates = %s",
            ([fenlei.demo.DEMO_ESTATE],),
        ).fetchone()
    assert row is not None and row[0] == len(volunteers)


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


def run_demo_live_then_ctrl_c(env: dict[str, str], truth: Path, db_url: str) -> None:
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
        link = check_output(out)
        # Opening the link shows its confirm page (only the confirm's POST uses it up).
        confirm = httpx.get(link, timeout=30.0)
        assert confirm.status_code == 200 and "王阿姨" in confirm.text, confirm.text[:500]
        check_team(out, db_url)
        started_children = children_of(proc.pid)
        # The ingester, the API, the alarm evaluator and the notifier.
        assert len(started_children) == 4, started_children
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
