"""Figures latency: `/metrics` and `/daily` over a year, next to naive SQL on raw events.

    python -m bench.api            # FENLEI_DATABASE_URL names the server (services.env)
    python -m bench.api --baseline edffe67 [--pairs 3] [-n 60]   # against a commit

Creates a scratch database `fenlei_bench_api` on that server, migrates it and loads:

- `bench-000`: one estate-year (2025) of ~1,200 households and ~700k drops, stored as
  raw events *and* rollups, so the naive queries over `events` can run beside the API;
- `bench-001`..`bench-019`: 19 more estate-years, bench-000's rollups copied (the API
  never reads events; the naive baseline is measured on bench-000);
- `bench-3yr`: bench-000's rollups for 2025 and shifted back 365 and 730 days, to
  compare 2025's figures with one and with three years of history.

Drops are generated in SQL on the server (INSERT ... SELECT, faster than COPY from
Python) and the rollups (daily_category, household_days, household_months) are
counted from exactly those drops by the ingester's own rollup function
(`fenlei_add_drops`, deploy/sql/idempotent/); the ingest path itself is benchmarked
by `bench/ingest.py`. Every random draw depends on the day, the household and the
drop, so no two days are alike. The API runs under uvicorn in this process and is
called over loopback HTTP with a bearer token.
The registry is in migration 0016's tables (households, household_memberships,
household_spells; see REGISTRY). Writes bench/results/api.md and drops the scratch
database. `--baseline REF` runs only the API cases, for the commit REF and for this
checkout alternately, and writes bench/results/api-baseline.md: see bench/api_baseline.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.auth.repository import create_token
from api.auth.tokens import Role
from api.main import create_api
from api.settings import ApiSettings
from deploy.migrate import migrate

RESULTS = Path(__file__).parent / "results" / "api.md"
BENCH_DB = "fenlei_bench_api"
HOUSEHOLDS = 1_200
# Households per building and per building group (楼组) in the generated registry.
PER_BUILDING, PER_GROUP = 60, 10
YEAR = ("2025-01-01", "2025-12-31")
THREE_YEARS = ("2023-01-01", "2025-12-31")
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")

# One row per drop. Per household and local day, 0-3 drops (mean ~1.6: ~700k a year for
# 1,200 households); 5% anonymous; 90% inside the 07-09 / 18-20 windows.
# Every random() draw refers to the day, the household and the drop (`+ ... * 0`), and
# memoize is off while generating (`load_estate`): otherwise PostgreSQL may compute a
# lateral subquery once per distinct outer value and reuse it, making every day alike.
GENERATE = """
CREATE TEMP TABLE gen AS
SELECT %(estate)s::text AS estate_id, d.day::date AS day,
       ((d.day + CASE WHEN x.r2 < 0.45 THEN time '07:00' + x.r * interval '2 hours'
                      WHEN x.r2 < 0.90 THEN time '18:00' + x.r * interval '2 hours'
                      ELSE time '00:00' + x.r * interval '24 hours' END)
        AT TIME ZONE 'Asia/Shanghai') AS ts,
       CASE WHEN x.r3 < 0.45 THEN 'wet' WHEN x.r3 < 0.80 THEN 'dry'
            WHEN x.r3 < 0.95 THEN 'recyclable' WHEN x.r3 < 0.96 THEN 'hazardous'
            ELSE 'construction' END AS category,
       100 + (x.r4 * 1500)::int AS weight_g,
       CASE WHEN x.r5 < 0.05 THEN NULL ELSE 'h' || lpad(h.n::text, 4, '0') END AS household,
       format('%%s-%%s-%%s', d.day::date, h.n, k.i) AS event_id
-- ::date: generate_series over dates yields timestamptz, which would shift local times.
FROM (SELECT g::date AS day, g::date - date '2000-01-01' AS dn
      FROM generate_series(%(start)s::date, %(end)s::date, interval '1 day') AS g) AS d
CROSS JOIN generate_series(1, %(households)s) AS h(n)
CROSS JOIN LATERAL generate_series(1, (random() * 3.2 + h.n * 0 + d.dn * 0)::int) AS k(i)
CROSS JOIN LATERAL (SELECT random() + z AS r, random() + z AS r2, random() + z AS r3,
                           random() + z AS r4, random() + z AS r5
                    FROM (SELECT k.i * 0 + h.n * 0 + d.dn * 0 AS z) AS zero) AS x
"""
# The rollups of the generated drops, by the one definition the ingester uses too.
ROLLUPS = [
    """
    SELECT fenlei_add_drops(array_agg(estate_id), array_agg(ts), array_agg(category),
                            array_agg(weight_g), array_agg(household))
    FROM gen
    """
]
RAW_EVENTS = """
INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g, household)
SELECT g.ts, b.bin_key, g.event_id, g.estate_id, g.category, 'drop', g.weight_g, g.household
FROM gen g JOIN bins b ON b.estate_id = g.estate_id AND b.id = 'b-' || g.category
ORDER BY g.ts
"""
# The registry (migration 0016's tables): every household has one membership, in
# building (n - 1) / 60 + 1 and group 1..6 of it, since before records ('-infinity', as
# 0016 carries households over) in odd buildings and since the data's first day in even
# ones (as the API records a new household); 19 in 20 are enrolled, from one of the
# first 90 days, and 1 in 100 left on day 200. On every day of 2025 that is the state
# the bench loaded before #13, so the figures and the cases are the same.
REGISTRY = """
INSERT INTO estates (id, name, households_total) VALUES (%(estate)s, %(estate)s, %(total)s);
INSERT INTO rooms (estate_id, id) VALUES (%(estate)s, 'r1');
INSERT INTO bins (estate_id, room_id, id, category)
SELECT %(estate)s, 'r1', 'b-' || c, c FROM unnest(%(categories)s::text[]) AS c;
INSERT INTO buildings (estate_id, id)
SELECT %(estate)s, b::text FROM generate_series(1, %(households)s / %(per_building)s) AS b;
INSERT INTO households (estate_id, id)
SELECT %(estate)s, 'h' || lpad(n::text, 4, '0') FROM generate_series(1, %(households)s) AS n;
INSERT INTO household_memberships (estate_id, household_id, valid_from, building_id,
                                   building_group_id)
SELECT %(estate)s, 'h' || lpad(n::text, 4, '0'),
       CASE WHEN ((n - 1) / %(per_building)s) %% 2 = 0 THEN '-infinity'::date
            ELSE %(start)s::date END,
       ((n - 1) / %(per_building)s + 1)::text,
       ((n - 1) / %(per_building)s + 1)::text || '-'
           || ((n - 1) %% %(per_building)s / %(per_group)s + 1)
FROM generate_series(1, %(households)s) AS n;
INSERT INTO household_spells (estate_id, household_id, enrolled_on, left_on)
SELECT %(estate)s, 'h' || lpad(n::text, 4, '0'), %(start)s::date + (n %% 90),
       CASE WHEN n %% 50 = 0 THEN %(start)s::date + 200 END
FROM generate_series(1, %(households)s) AS n
WHERE n %% 20 <> 0;
"""

# The naive way: straight from the raw events, local days computed per row (by the
# one local-day rule, which the planner inlines to the bare AT TIME ZONE expression).
NAIVE_METRICS = """
WITH e AS (SELECT timezone FROM estates WHERE id = %(estate)s),
drops AS (
    SELECT ev.category, ev.weight_g, ev.household
    FROM events ev, e
    WHERE ev.estate_id = %(estate)s AND ev.kind = 'drop'
      AND fenlei_local_day(ev.ts, e.timezone) BETWEEN %(from)s AND %(to)s
),
enrolled AS (
    SELECT household_id AS id FROM household_spells
    WHERE estate_id = %(estate)s AND enrolled_on <= %(to)s
      AND (left_on IS NULL OR left_on > %(to)s)
)
SELECT count(*) AS drops,
       (SELECT count(*) FROM enrolled) AS enrolled,
       (SELECT count(DISTINCT household) FROM drops WHERE household IN (SELECT id FROM enrolled))
           AS active,
       sum(weight_g) FILTER (WHERE category = 'wet') AS wet_g,
       sum(weight_g) FILTER (WHERE category <> 'construction') AS household_g
FROM drops
"""
NAIVE_DAILY = """
SELECT fenlei_local_day(ev.ts, e.timezone) AS day, count(*) AS drops,
       count(DISTINCT ev.household) AS households,
       sum(ev.weight_g) FILTER (WHERE ev.category = 'wet') AS wet_g
FROM events ev JOIN estates e ON e.id = ev.estate_id
WHERE ev.estate_id = %(estate)s AND ev.kind = 'drop'
  AND fenlei_local_day(ev.ts, e.timezone) BETWEEN %(from)s AND %(to)s
GROUP BY 1 ORDER BY 1
"""


def _with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)  # type: ignore[arg-type]


def _registry(conn: psycopg.Connection[Any], estate: str, start: str) -> None:
    params = {
        "estate": estate,
        "total": HOUSEHOLDS + 40,
        "categories": list(CATEGORIES),
        "households": HOUSEHOLDS,
        "per_building": PER_BUILDING,
        "per_group": PER_GROUP,
        "start": start,
    }
    for statement in REGISTRY.split(";")[:-1]:
        conn.execute(statement, params)


def load_estate(conn: psycopg.Connection[Any], estate: str, period: tuple[str, str]) -> int:
    """Registry, generated drops → raw events and rollups; returns the drops."""
    params = {"estate": estate, "households": HOUSEHOLDS, "start": period[0], "end": period[1]}
    with conn.transaction():
        _registry(conn, estate, period[0])
        conn.execute("SET LOCAL enable_memoize = off")
        conn.execute(GENERATE, params)
        for sql in ROLLUPS:
            conn.execute(sql, params)
        conn.execute(RAW_EVENTS)
        row = conn.execute("SELECT count(*) FROM gen").fetchone()
        conn.execute("DROP TABLE gen")
    return int(row[0]) if row else 0


COPY_ROLLUPS = [
    """
    INSERT INTO daily_category
    SELECT e, day - %(shift)s, category, drops, weight_g, identified_drops, in_window_drops
    FROM daily_category, unnest(%(estates)s::text[]) AS e WHERE estate_id = %(source)s
    """,
    """
    INSERT INTO household_days
    SELECT e, day - %(shift)s, household, drops, dry_g, wet_g, recyclable_g,
           hazardous_g, construction_g
    FROM household_days, unnest(%(estates)s::text[]) AS e WHERE estate_id = %(source)s
    """,
]
# Shifted days land in other months: the copies' months come from their days.
MONTHS_OF_COPIES = "SELECT fenlei_rebuild_household_months(%(estates)s)"
# The one secondary index of household_days, dropped while copying millions of rows into
# it and built again afterwards (several times faster than maintaining it row by row).
SECONDARY_INDEX = "household_days_household"


def copy_estates(
    conn: psycopg.Connection[Any], estates: list[str], source: str, years_back: int
) -> None:
    """More estates with `source`'s rollups, for this year and `years_back` earlier ones."""
    with conn.transaction():
        indexdef = conn.execute(
            "SELECT pg_get_indexdef(%s::regclass)", (SECONDARY_INDEX,)
        ).fetchone()
        assert indexdef is not None
        conn.execute(f"DROP INDEX {SECONDARY_INDEX}")
        for estate in estates:
            _registry(conn, estate, f"{2025 - years_back}-01-01")
        for back in range(years_back + 1):
            for sql in COPY_ROLLUPS:
                conn.execute(sql, {"estates": estates, "source": source, "shift": back * 365})
        conn.execute(MONTHS_OF_COPIES, {"estates": estates})
        conn.execute(indexdef[0])


def load(
    conn: psycopg.Connection[Any], estates: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """All the data: `estates[0]` generated, the others and bench-3yr copied from it;
    returns the drops per estate and the rows per table."""
    drops = {estates[0]: load_estate(conn, estates[0], YEAR)}
    copy_estates(conn, estates[1:], estates[0], 0)
    for e in estates[1:]:
        drops[e] = drops[estates[0]]
    copy_estates(conn, ["bench-3yr"], estates[0], 2)
    drops["bench-3yr"] = 3 * drops[estates[0]]
    conn.execute("VACUUM ANALYZE")
    sizes: dict[str, int] = dict(
        conn.execute(
            "SELECT 'events', count(*) FROM events UNION ALL "
            "SELECT 'household_days', count(*) FROM household_days UNION ALL "
            "SELECT 'household_months', count(*) FROM household_months UNION ALL "
            "SELECT 'daily_category', count(*) FROM daily_category"
        ).fetchall()
    )
    return drops, sizes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str) -> tuple[uvicorn.Server, str]:
    """The API under uvicorn in a thread; returns the server and its base URL."""
    port = _free_port()
    settings = ApiSettings(database_url=url, port=port, pool_min_size=2, pool_max_size=4)
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the API did not become ready")


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    """Milliseconds of `n` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


PERIOD = {"from": YEAR[0], "to": YEAR[1]}


@dataclass(frozen=True)
class Case:
    """One timed case: a sample is its GETs one after another (each over `PERIOD`)."""

    name: str
    calls: tuple[tuple[str, dict[str, Any]], ...]

    def samples(self, n: int) -> int:
        """Timed samples for `-n N`: fewer of the cases that make many requests."""
        return n if len(self.calls) == 1 else max(10, n // 5)

    @property
    def warmup(self) -> int:
        return 3 if len(self.calls) == 1 else 1


def api_cases(estates: list[str]) -> list[Case]:
    """The API cases, in the order they run (`--baseline` times the same ones)."""
    one = estates[0]

    def case(name: str, path: str, **params: Any) -> Case:
        return Case(name, ((path, params),))

    return [
        case("1 estate-year: GET /estates/{e}/metrics", f"/api/v1/estates/{one}/metrics"),
        case("1 estate-year: GET /estates/{e}/daily", f"/api/v1/estates/{one}/daily"),
        case(
            "1 estate-year: GET /estates/{e}/buildings/metrics",
            f"/api/v1/estates/{one}/buildings/metrics",
        ),
        case(
            f"{len(estates)} estate-years: GET /metrics?estate=x{len(estates)}",
            "/api/v1/metrics",
            estate=estates,
        ),
        case(
            "1y history: GET /estates/{e}/metrics (2025)", f"/api/v1/estates/{estates[1]}/metrics"
        ),
        case("3y history: GET /estates/{e}/metrics (2025)", "/api/v1/estates/bench-3yr/metrics"),
        case("1y history: GET /estates/{e}/daily (2025)", f"/api/v1/estates/{estates[1]}/daily"),
        case("3y history: GET /estates/{e}/daily (2025)", "/api/v1/estates/bench-3yr/daily"),
        # The 20 estates' /daily one after another: what a district dashboard would do.
        Case(
            f"{len(estates)} estate-years: GET /daily for each, sequentially",
            tuple((f"/api/v1/estates/{e}/daily", {}) for e in estates),
        ),
    ]


def fetch(client: httpx.Client, path: str, params: dict[str, Any]) -> object:
    r = client.get(path, params={**PERIOD, **params})
    r.raise_for_status()
    return r.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60, help="timed API requests per case")
    parser.add_argument("--naive-n", type=int, default=5, help="timed naive queries per case")
    parser.add_argument("--estates", type=int, default=20)
    parser.add_argument(
        "--baseline",
        metavar="REF",
        default=None,
        help="only the API cases, at git REF and at this checkout alternately, each with "
        "its own migrations, loader and API; results to bench/results/api-baseline.md",
    )
    parser.add_argument("--pairs", type=int, default=3, help="rounds with --baseline (3)")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="where to write the results (default: bench/results/api.md, with --baseline "
        "bench/results/api-baseline.md)",
    )
    # Development aid: REF against a second commit instead of this checkout.
    parser.add_argument("--against", metavar="REF2", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from fenlei.env import load_services_env

    load_services_env()
    if args.baseline:
        from bench.api_baseline import compare

        return compare(args.baseline, args.pairs, args.n, args.estates, args.against, args.results)
    server_url = os.environ["FENLEI_DATABASE_URL"]
    started = time.monotonic()
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    url = _with_db(server_url, BENCH_DB)
    try:
        return _run(url, args, started)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def _run(url: str, args: argparse.Namespace, started: float) -> int:
    migrate(url)
    estates = [f"bench-{i:03d}" for i in range(args.estates)]
    with psycopg.connect(url, autocommit=True) as conn:
        t = time.monotonic()
        drops, sizes = load(conn, estates)
        load_s = time.monotonic() - t
        _, token = create_token(conn, Role.admin, name="bench")
    print(f"loaded {sum(drops.values()):,} drops in {load_s:.0f} s: {sizes}", flush=True)

    server, base = serve(url)
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    one = estates[0]
    results: dict[str, list[float]] = {}
    # The machine is shared: the 1-minute load average after each case goes beside it.
    loads: dict[str, float] = {"start": os.getloadavg()[0]}
    for case in api_cases(estates):

        def run(case: Case = case) -> None:
            for path, params in case.calls:
                fetch(client, path, params)

        results[case.name] = timed(run, case.samples(args.n), case.warmup)
        loads[case.name] = os.getloadavg()[0]
        print(f"{case.name}: p50 {pct(results[case.name], 0.5):.1f} ms", flush=True)

    naive_params = {"estate": one, "from": YEAR[0], "to": YEAR[1]}
    with psycopg.connect(url, autocommit=True) as conn:
        for label, sql in (
            ("naive SQL over raw events: metrics", NAIVE_METRICS),
            ("naive SQL over raw events: daily", NAIVE_DAILY),
        ):

            def naive_call(sql: str = sql) -> object:
                return conn.execute(sql, naive_params).fetchall()

            results[label] = timed(naive_call, args.naive_n, warmup=1)
            loads[label] = os.getloadavg()[0]
            print(f"{label}: p50 {pct(results[label], 0.5):.1f} ms", flush=True)
        naive = conn.execute(NAIVE_METRICS, naive_params).fetchone()
    api_metrics: Any = fetch(client, f"/api/v1/estates/{one}/metrics", {})
    assert naive is not None
    check = (
        api_metrics["drops"] == naive[0]
        and api_metrics["households_enrolled"] == naive[1]
        and api_metrics["households_active"] == naive[2]
        and abs(api_metrics["wet_share"] - naive[3] / naive[4]) < 1e-12
    )
    client.close()
    server.should_exit = True
    write_results(
        args.results or RESULTS,
        results,
        loads,
        sizes,
        drops,
        load_s,
        check,
        time.monotonic() - started,
    )
    return 0 if check else 1


def write_results(
    path: Path,
    results: dict[str, list[float]],
    loads: dict[str, float],
    sizes: dict[str, int],
    drops: dict[str, int],
    load_s: float,
    check: bool,
    total_s: float,
) -> None:
    def p(name: str, q: float) -> float:
        return pct(results[name], q)

    rows = ["| case | n | p50 ms | p95 ms | load after |", "| --- | ---: | ---: | ---: | ---: |"]
    rows += [
        f"| {k} | {len(v)} | {p(k, 0.5):.1f} | {p(k, 0.95):.1f} | {loads[k]:.1f} |"
        for k, v in results.items()
    ]
    naive_m, naive_d = "naive SQL over raw events: metrics", "naive SQL over raw events: daily"
    during = [v for k, v in loads.items() if k != "start"]
    keys = list(results)
    one_m, one_d, _, multi = keys[0], keys[1], keys[2], keys[3]
    r_m = p(keys[5], 0.5) / p(keys[4], 0.5)
    r_d = p(keys[7], 0.5) / p(keys[6], 0.5)
    worst_one = max(p(one_m, 0.95), p(one_d, 0.95))
    goals = [
        f"| one estate-year p95 <= 50 ms | /metrics {p(one_m, 0.95):.1f} ms, /daily "
        f"{p(one_d, 0.95):.1f} ms | {'met' if worst_one <= 50 else 'NOT met'} |",
        f"| {multi.split(':')[0]} p95 <= 500 ms | {p(multi, 0.95):.1f} ms | "
        f"{'met' if p(multi, 0.95) <= 500 else 'NOT met'} |",
        f"| 3y/1y history <= 1.2 (p50) | /metrics {r_m:.2f}, /daily {r_d:.2f} | "
        f"{'met' if max(r_m, r_d) <= 1.2 else 'NOT met'} |",
        f"| API /metrics equals the naive query on raw events | {check} | "
        f"{'met' if check else 'NOT met'} |",
    ]
    ratios = [
        f"| /metrics (API over HTTP vs naive SQL) | {p(naive_m, 0.5) / p(one_m, 0.5):.0f}x | "
        f"{p(naive_m, 0.95) / p(one_m, 0.95):.0f}x |",
        f"| /daily (API over HTTP vs naive SQL) | {p(naive_d, 0.5) / p(one_d, 0.5):.0f}x | "
        f"{p(naive_d, 0.95) / p(one_d, 0.95):.0f}x |",
    ]
    text = f"""# API benchmark: figures latency

`python -m bench.api` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()},
{os.cpu_count()} CPUs, Python {platform.python_version()}; the whole run took
{total_s:.0f} s). Scratch database `{BENCH_DB}`, dropped afterwards.

Machine load (1-minute load average, `os.getloadavg()`; the machine is shared with
other sessions' runs): {loads["start"]:.1f} when measuring began, {min(during):.1f} to
{max(during):.1f} while measuring, on {os.cpu_count()} CPUs. Absolute latencies move
with that load; the ratio to the naive query, measured in the same minutes, moves less.

Data: {len(drops) - 1} estate-years of 2025 plus one estate with 2023-2025, each
{HOUSEHOLDS:,} households ({sum(drops.values()):,} drops; bench-000 alone
{drops["bench-000"]:,}); rows: {", ".join(f"{k} {v:,}" for k, v in sizes.items())}.
Loaded in {load_s:.0f} s by generating drops in SQL on the server and aggregating the
rollups from exactly those drops (the ingest path is measured by `bench/ingest.py`).
Only bench-000 keeps its raw events, for the naive baseline.

Each API case is a full year (2025-01-01..2025-12-31) over loopback HTTP through
uvicorn with bearer-token auth (one token lookup per request), after 3 warm-up calls.

## Goals

| goal | measured | |
| --- | --- | --- |
{chr(10).join(goals)}

## Against the naive baseline (same run): how many times faster

| case | p50 | p95 |
| --- | ---: | ---: |
{chr(10).join(ratios)}

## All cases

{chr(10).join(rows)}
"""
    path.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    raise SystemExit(main())
