"""One side of `python -m bench.api --baseline`: one commit's migrations, loader and API,
driven over a pipe by bench/api_baseline.py (not run by hand).

    PYTHONPATH=<checkout> python -P bench/api_side.py --root <checkout> --database NAME

With `-P` and that PYTHONPATH, `bench.api`, `api` and `deploy` are the checkout's (a
baseline commit's worktree, or this one): this file imports nothing else of the bench,
which an older commit may not have, and refuses to run if they come from elsewhere.
It creates the scratch database NAME on FENLEI_DATABASE_URL's server, migrates it with
the checkout's migrations, loads it with the checkout's `bench.api` loader (with a
fixed seed, so two sides generate the same drops from the same generator), serves the
checkout's API in this process under uvicorn (`bench.api.serve`, as `python -m
bench.api` does, with the client in the same process) and answers commands, one JSON
line each on stdin, on the original stdout (anything else printed goes to stderr):

    {"op": "time", "calls": [[path, params], ...], "n": N, "warmup": W}
        -> {"samples": [ms, ...]}       a sample: the GETs one after another
    {"op": "bodies", "calls": [[path, params], ...]} -> {"bodies": [json, ...]}
    {"op": "check"} -> {"check": bool, "api": [...], "naive": [...]}
        the API's /metrics of the first estate against the checkout's naive SQL
    {"op": "quit"} (or end of input) -> drops the database and exits

Its first line is {"ready": {"load_s": s, "drops": {...}, "sizes": {...}}}; a failure
is {"error": "..."}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

# The generator's random() draws from this seed on both sides.
SEED = 0.13


def _check_origin(root: Path, *modules: Any) -> None:
    for module in modules:
        origin = Path(module.__file__).resolve()
        if not origin.is_relative_to(root):
            raise RuntimeError(f"{module.__name__} is {origin}, not from {root}")


def _load(bench_api: Any, conn: psycopg.Connection[Any], estates: list[str]) -> Any:
    """The checkout's own `load`; commits before #13 had its steps inline in `_run`."""
    if hasattr(bench_api, "load"):
        return bench_api.load(conn, estates)
    drops = {estates[0]: bench_api.load_estate(conn, estates[0], bench_api.YEAR)}
    bench_api.copy_estates(conn, estates[1:], estates[0], 0)
    for e in estates[1:]:
        drops[e] = drops[estates[0]]
    bench_api.copy_estates(conn, ["bench-3yr"], estates[0], 2)
    drops["bench-3yr"] = 3 * drops[estates[0]]
    conn.execute("VACUUM ANALYZE")
    sizes = dict(
        conn.execute(
            "SELECT 'events', count(*) FROM events UNION ALL "
            "SELECT 'household_days', count(*) FROM household_days UNION ALL "
            "SELECT 'household_months', count(*) FROM household_months UNION ALL "
            "SELECT 'daily_category', count(*) FROM daily_category"
        ).fetchall()
    )
    return drops, sizes


def serve_commands(args: argparse.Namespace, out: IO[str]) -> None:
    import api
    import bench
    import deploy

    # Before anything else is imported: a commit without one of them would mix checkouts.
    _check_origin(args.root, api, bench, deploy)
    import bench.api as bench_api
    import deploy.migrate
    from api.auth.repository import create_token
    from api.auth.tokens import Role

    def say(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    server_url = os.environ["FENLEI_DATABASE_URL"]
    url = bench_api._with_db(server_url, args.database)
    deploy.migrate.migrate(url)
    estates = [f"bench-{i:03d}" for i in range(args.estates)]
    with psycopg.connect(url, autocommit=True) as conn:
        t = time.monotonic()
        conn.execute("SELECT setseed(%s)", (SEED,))
        drops, sizes = _load(bench_api, conn, estates)
        load_s = time.monotonic() - t
        _, token = create_token(conn, Role.admin, name="bench")
    server, base = bench_api.serve(url)
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    say({"ready": {"load_s": load_s, "drops": drops, "sizes": sizes}})
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                break
            if cmd["op"] == "time":
                calls = [(path, params) for path, params in cmd["calls"]]

                def run(calls: list[tuple[str, dict[str, Any]]] = calls) -> None:
                    for path, params in calls:  # as bench.api's `fetch`
                        r = client.get(path, params=params)
                        r.raise_for_status()
                        r.json()

                say({"samples": bench_api.timed(run, cmd["n"], cmd["warmup"])})
            elif cmd["op"] == "bodies":
                bodies = []
                for path, params in cmd["calls"]:
                    r = client.get(path, params=params)
                    r.raise_for_status()
                    bodies.append(r.json())
                say({"bodies": bodies})
            elif cmd["op"] == "check":
                year = bench_api.YEAR
                period = {"from": year[0], "to": year[1]}
                r = client.get(f"/api/v1/estates/{estates[0]}/metrics", params=period)
                r.raise_for_status()
                m = r.json()
                with psycopg.connect(url) as conn:
                    naive = conn.execute(
                        bench_api.NAIVE_METRICS, {"estate": estates[0], **period}
                    ).fetchone()
                assert naive is not None
                share = float(naive[3]) / float(naive[4])
                ok = (
                    m["drops"] == naive[0]
                    and m["households_enrolled"] == naive[1]
                    and m["households_active"] == naive[2]
                    and abs(m["wet_share"] - share) < 1e-12
                )
                say(
                    {
                        "check": ok,
                        "api": [
                            m["drops"],
                            m["households_enrolled"],
                            m["households_active"],
                            m["wet_share"],
                        ],
                        "naive": [naive[0], naive[1], naive[2], share],
                    }
                )
            else:
                raise ValueError(f"unknown command {cmd!r}")
    finally:
        client.close()
        server.should_exit = True
        # Let the API close its pool and listener before the database is dropped.
        deadline = time.monotonic() + 10
        for thread in threading.enumerate():
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the checkout measured")
    parser.add_argument("--database", required=True, help="its scratch database")
    parser.add_argument("--estates", type=int, default=20)
    args = parser.parse_args()
    args.root = args.root.resolve()
    # The protocol keeps the real stdout; prints (ours, uvicorn's, the loader's) go to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server_url = os.environ["FENLEI_DATABASE_URL"]
    try:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {args.database}")
        serve_commands(args, out)
        return 0
    except Exception:
        out.write(json.dumps({"error": traceback.format_exc()}) + "\n")
        out.flush()
        return 1
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")


if __name__ == "__main__":
    raise SystemExit(main())
