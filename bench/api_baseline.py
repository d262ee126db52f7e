"""`python -m bench.api --baseline REF`: bench.api's API cases at the commit REF and at
this checkout, alternately, with the ratio new/old of each.

Each side is its own process (bench/api_side.py) running its own commit's migrations,
loader (`bench.api` of that commit, with one fixed seed, so both get the same drops)
and API code, on its own scratch database (`fenlei_bench_api_base`, `_new`) on
FENLEI_DATABASE_URL's server. The two load at the same time (about as long as one
`python -m bench.api` load). Then, --pairs times, every case is timed on both sides
taking turns every 10 requests (A B A B ..., base first in odd pairs and new first in
even ones), so both see the same machine load and neither is always the one after a
switch; -n requests per case, side and pair (the sequential case: n/5, >= 10, samples, one
a turn). Per case the samples of all pairs are pooled into each side's p50/p95; the
goal (issue #13) is every case within 1.10 of the baseline at p50. Last, each side
checks its API's /metrics against its own naive SQL on raw events. Writes
bench/results/api-baseline.md, keeping its hand-written "## Notes" section.

`--against REF2` (a development aid, not in --help) measures REF2 instead of this
checkout: two fixed commits, e.g. to see the noise of the method on two sides whose
figures' code is the same.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.api import PERIOD, Case, api_cases, pct
from bench.worktree import REPO, describe_checkout, worktree

RESULTS = Path(__file__).parent / "results" / "api-baseline.md"
SIDE = Path(__file__).parent / "api_side.py"
NOTES_HEADING = "## Notes"
GOAL = 1.10
DEFAULT_N, DEFAULT_ESTATES = 60, 20
# The sides take turns every this many requests (a sample of the sequential case, 20
# requests, is one turn), so a burst of other work on the machine hits both.
BLOCK_REQUESTS = 10
# Untimed calls before each later turn of a case (its first turn has the case's own
# warm-up): one request for the one-request cases, none for the sequential one.
REWARM = {True: 1, False: 0}


@dataclass
class Side:
    """A running api_side.py and what it answered."""

    label: str
    what: str
    database: str
    proc: subprocess.Popen[str]
    ready: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    pair_p50: dict[str, list[float]] = field(default_factory=dict)

    def ask(self, msg: dict[str, Any] | None) -> dict[str, Any]:
        """Send `msg` (None: only read) and return the answer; a side's error ends the run."""
        assert self.proc.stdin and self.proc.stdout
        if msg is not None:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.label} side ({self.what}) exited: see its output above")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise SystemExit(f"the {self.label} side ({self.what}) failed:\n{answer['error']}")
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()  # this process's own child, by its pid
                self.proc.wait(30)


def start(label: str, what: str, root: Path, estates: int) -> Side:
    database = f"fenlei_bench_api_{label}"
    pythonpath = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-P",  # no script directory on the path: bench.api etc. come from `root`
            str(SIDE),
            "--root",
            str(root),
            "--database",
            database,
            "--estates",
            str(estates),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    return Side(label, what, database, proc)


def compare(
    ref: str,
    pairs: int,
    n: int,
    estates: int,
    against: str | None = None,
    results: Path | None = None,
) -> int:
    """Both sides loaded, `pairs` rounds of every case on each, the results written."""
    started = time.monotonic()
    names = [f"bench-{i:03d}" for i in range(estates)]
    cases = api_cases(names)
    sides: list[Side] = []
    with ExitStack() as stack:
        base_root, base_commit = stack.enter_context(worktree(ref))
        if against:
            new_root, new_commit = stack.enter_context(worktree(against))
            new_what = new_commit
        else:
            new_root, new_what = REPO, describe_checkout()
        print(f"loading base ({base_commit}) and new ({new_what}) at once…", flush=True)
        try:
            sides.append(start("base", base_commit, base_root, estates))
            sides.append(start("new", new_what, new_root, estates))
            for side in sides:
                side.ready = side.ask(None)["ready"]
                print(f"{side.label}: loaded in {side.ready['load_s']:.0f} s", flush=True)
            loads = [os.getloadavg()[0]]
            measure_started = time.monotonic()
            for i in range(pairs):
                order = sides if i % 2 == 0 else sides[::-1]
                for case in cases:
                    got: dict[str, list[float]] = {side.label: [] for side in sides}
                    for j, size in enumerate(blocks(case, n)):
                        warmup = case.warmup if j == 0 else REWARM[len(case.calls) == 1]
                        for side in order:
                            cmd = time_command(case, size, warmup)
                            got[side.label] += side.ask(cmd)["samples"]
                    for side in sides:
                        side.samples.setdefault(case.name, []).extend(got[side.label])
                        side.pair_p50.setdefault(case.name, []).append(pct(got[side.label], 0.5))
                    loads.append(os.getloadavg()[0])
                    ratio = pct(got["new"], 0.5) / pct(got["base"], 0.5)
                    print(f"pair {i + 1}/{pairs} {case.name}: new/base p50 {ratio:.3f}", flush=True)
            measure_s = time.monotonic() - measure_started
            checks = {side.label: side.ask({"op": "check"}) for side in sides}
            differences = {}
            for case in cases:
                cmd = {**time_command(case, 0, 0), "op": "bodies"}
                base_body, new_body = (side.ask(cmd)["bodies"] for side in sides)
                differences[case.name] = first_difference(base_body, new_body)
        finally:
            for side in sides:
                side.stop()
            drop_databases([side.database for side in sides])
    met = write_results(
        results or RESULTS,
        ref,
        against,
        pairs,
        n,
        estates,
        cases,
        sides,
        checks,
        differences,
        loads,
        measure_s,
        time.monotonic() - started,
    )
    return 0 if met and all(c["check"] for c in checks.values()) else 1


def blocks(case: Case, n: int) -> list[int]:
    """A pair's samples of `case`, in the blocks the two sides take turns with."""
    total, size = case.samples(n), max(1, BLOCK_REQUESTS // len(case.calls))
    return [min(size, total - k) for k in range(0, total, size)]


def time_command(case: Case, samples: int, warmup: int) -> dict[str, Any]:
    return {
        "op": "time",
        "calls": [[path, {**PERIOD, **params}] for path, params in case.calls],
        "n": samples,
        "warmup": warmup,
    }


def first_difference(base: Any, new: Any, path: str = "") -> str | None:
    """Where two JSON answers first differ (floats to 1e-12), or None."""
    if isinstance(base, dict) and isinstance(new, dict):
        for key in [*base, *(k for k in new if k not in base)]:
            if key not in new or key not in base:
                return f"{path}/{key} only in {'base' if key in base else 'new'}"
            found = first_difference(base[key], new[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(base, list) and isinstance(new, list):
        if len(base) != len(new):
            return f"{path or '/'}: {len(base)} items in base, {len(new)} in new"
        for i, (b, n) in enumerate(zip(base, new, strict=True)):
            found = first_difference(b, n, f"{path}/{i}")
            if found:
                return found
        return None
    numbers = (int, float)
    if (
        isinstance(base, numbers)
        and isinstance(new, numbers)
        and not isinstance(base, bool)
        and not isinstance(new, bool)
    ):
        same = math.isclose(base, new, rel_tol=1e-12, abs_tol=1e-12)
    else:
        same = type(base) is type(new) and base == new
    return None if same else f"{path or '/'}: {base!r} in base, {new!r} in new"


def drop_databases(names: list[str]) -> None:
    """In case a side died before dropping its own."""
    with psycopg.connect(os.environ["FENLEI_DATABASE_URL"], autocommit=True) as admin:
        for name in names:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def write_results(
    path: Path,
    ref: str,
    against: str | None,
    pairs: int,
    n: int,
    estates: int,
    cases: list[Case],
    sides: list[Side],
    checks: dict[str, dict[str, Any]],
    differences: dict[str, str | None],
    loads: list[float],
    measure_s: float,
    total_s: float,
) -> bool:
    base, new = sides
    rows = [
        "| case | n each | base p50 | base p95 | new p50 | new p95 | new/base p50 | "
        "new/base p95 | p50 ratio per pair |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    ratios: dict[str, float] = {}
    for case in cases:
        b, w = base.samples[case.name], new.samples[case.name]
        ratios[case.name] = r50 = pct(w, 0.5) / pct(b, 0.5)
        r95 = pct(w, 0.95) / pct(b, 0.95)
        per_pair = ", ".join(
            f"{y / x:.2f}"
            for x, y in zip(base.pair_p50[case.name], new.pair_p50[case.name], strict=True)
        )
        rows.append(
            f"| {case.name} | {len(b)} | {pct(b, 0.5):.1f} | {pct(b, 0.95):.1f} | "
            f"{pct(w, 0.5):.1f} | {pct(w, 0.95):.1f} | {r50:.3f} | {r95:.3f} | {per_pair} |"
        )
    worst = max(ratios, key=lambda k: ratios[k])
    met = ratios[worst] <= GOAL
    command = f"python -m bench.api --baseline {ref} --pairs {pairs}"
    command += f" -n {n}" if n != DEFAULT_N else ""
    command += f" --estates {estates}" if estates != DEFAULT_ESTATES else ""
    command += f" --against {against}" if against else ""
    data = {side.label: (side.ready["drops"], side.ready["sizes"]) for side in sides}
    same = data["base"] == data["new"]
    drops, sizes = data["new"]

    def check_line(label: str) -> str:
        c = checks[label]
        return f"{label} {'equal' if c['check'] else 'DIFFERENT: ' + json.dumps(c)}"

    differing = {k: v for k, v in differences.items() if v}
    answers = (
        "the same in all the cases."
        if not differing
        else f"the same in {len(cases) - len(differing)} of {len(cases)} cases; differing:\n"
        + "\n".join(f"- {k}: first at {v}" for k, v in differing.items())
    )
    text = f"""# API benchmark against a baseline commit

`{command}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()},
{os.cpu_count()} CPUs, Python {platform.python_version()}; the whole run took
{total_s:.0f} s, of which {measure_s:.0f} s measuring).

- base: {base.what}; new: {new.what}. Each side ran its own commit's migrations,
  loader (`bench.api`) and API code, on its own scratch database (dropped afterwards),
  the API under uvicorn in the side's process with the client beside it, as
  `python -m bench.api` runs it.
- The cases of `python -m bench.api` (each over 2025-01-01..2025-12-31), {pairs} pairs:
  in each, {n} requests per case and side (the sequential case {cases[-1].samples(n)}
  samples of {len(cases[-1].calls)} requests), the sides taking turns every
  {BLOCK_REQUESTS} requests (one sample of the sequential case), base first in odd pairs,
  new first in even ones; the case's warm-up calls before its first turn, one more
  request before each later turn of the one-request cases. p50/p95 over all pairs.
- Data: {estates} estate-years of 2025 plus one with 2023-2025, {sum(drops.values()):,} drops;
  rows: {", ".join(f"{k} {v:,}" for k, v in sizes.items())};
  {"the same on both sides (one seed)" if same else "DIFFERENT on the two sides: " + json.dumps(data)}.
  Loaded at the same time in {base.ready["load_s"]:.0f} s (base) and
  {new.ready["load_s"]:.0f} s (new).
- Machine load (1-minute load average, after each case; the machine is shared, and the
  side measuring adds about 1 of its own; {os.cpu_count()} CPUs): {loads[0]:.1f} when
  measuring began, {min(loads):.1f} to {max(loads):.1f} while measuring, {loads[-1]:.1f} at
  the end.

## Goal

| goal | measured | |
| --- | --- | --- |
| every case within {GOAL:.2f} of the baseline (p50) | worst: {worst} {ratios[worst]:.3f} | {"met" if met else "NOT met"} |
| API /metrics equals the naive query on raw events | {check_line("base")}, {check_line("new")} | {"met" if all(c["check"] for c in checks.values()) else "NOT met"} |

The answers of every case's requests, base against new (the same data):
{answers}

## All cases (ms)

{chr(10).join(rows)}
"""  # noqa: E501
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = old[old.find(NOTES_HEADING) :] if NOTES_HEADING in old else ""
    path.write_text(text + ("\n" + notes if notes else ""), encoding="utf-8")
    print(text)
    return met
