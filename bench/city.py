"""Figures at the city's scale (#17): the household bitmaps against the queries before them.

    python -m bench.city                    # 13,000 estates x June, 500 of them a year
    python -m bench.city --estates 300 --district 50 -n 5    # a quick check

Uses FENLEI_DATABASE_URL (or services.env) when set, else starts its own PostgreSQL +
TimescaleDB with the launcher the tests use (deploy/services.py, in a temporary home,
stopped at the end). In a scratch database `fenlei_bench_city` it generates, directly
in SQL, a registry of ~1,130 households per estate (enrolment spells from the first 90
days of 2025, 1 in 20 never enrolled, 1 in 50 leaving on 20 July) and the rollups the
figures read: household_months and daily_category for June 2025 in every estate, and
for all of 2025 in the district's estates. Day bitmaps come from household_months'
day bits, so both paths read the same drops. The bitmaps (migration 0024) are then
built by the rollups' own rebuild function (`fenlei_rebuild_household_bits`).

Each case runs the figures of its estates by the bitmaps (`ESTATES_BITS_SQL`) and by
the queries before them (`probes_sql`), alternately in one run, checks that both give
the same rows, and records p50/p95 with the 1-minute load average from /proc/loadavg
beside them. The city case includes what the district view does with the rows (the
totals of api.metrics.service and the ranking by participation rate). Writes
bench/results/city.md and drops the scratch database.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from api.metrics import repository, service
from deploy.migrate import migrate

RESULTS = Path(__file__).parent / "results" / "city.md"
BENCH_DB = "fenlei_bench_city"
CHUNK = 500  # estates per generating / rebuilding statement

GOALS = {
    "district year": 300.0,  # p95, ms
    "city June": 2000.0,
}

ESTATES = """
CREATE TABLE gen_estates AS
SELECT i, 'c' || lpad(i::text, 5, '0') AS id, 800 + (i * 7919) %% 661 AS hh,
       i < %(district)s AS district
FROM generate_series(0, %(estates)s - 1) AS i;
INSERT INTO estates (id, name, households_total) SELECT id, id, hh + 40 FROM gen_estates;
"""
# One chunk of estates: households, spells, household_months, daily_category.
CHUNK_SQL = [
    """
    INSERT INTO households (estate_id, id)
    SELECT g.id, 'h' || lpad(n::text, 4, '0')
    FROM gen_estates g, generate_series(1, g.hh) AS n
    WHERE g.i >= %(lo)s AND g.i < %(hi)s
    """,
    """
    INSERT INTO household_spells (estate_id, household_id, enrolled_on, left_on)
    SELECT g.id, 'h' || lpad(n::text, 4, '0'), date '2025-01-01' + (n %% 90),
           CASE WHEN n %% 50 = 0 THEN date '2025-07-20' END
    FROM gen_estates g, generate_series(1, g.hh) AS n
    WHERE g.i >= %(lo)s AND g.i < %(hi)s AND n %% 20 <> 0
    """,
    # Day bits from hashes of (estate, household, month): most households drop on about a
    # quarter of the days, 3 in 10 on about one day in 32, 1 in 10 never. OFFSET 0 keeps
    # each subquery whole: flattened, the planner would compute the hashes once per
    # reference (6 times) and `extract` (numeric) 36 times per row.
    """
    INSERT INTO household_months (estate_id, month, household, days, drops, dry_g, wet_g,
                                  recyclable_g, hazardous_g, construction_g)
    SELECT id, month, household, days, c, 400 * c, 300 * c, 100 * c, 0, 0
    FROM (
        SELECT id, month, household, days, bit_count(days::bit(32)) AS c
        FROM (
            SELECT g.id, m.month, 'h' || lpad(n::text, 4, '0') AS household,
                   (hashint8extended(k, 1) & hashint8extended(k, 2)
                    & CASE WHEN n %% 10 < 3
                           THEN hashint8extended(k, 3) & hashint8extended(k, 4)
                                & hashint8extended(k, 5)
                           ELSE -1 END
                    & m.mask)::integer AS days
            FROM gen_estates g
            CROSS JOIN LATERAL (
                SELECT make_date(2025, mo, 1) AS month, mo,
                       (1::bigint << extract(day FROM make_date(2025, mo, 1)
                                                      + interval '1 month - 1 day')::int)
                       - 1 AS mask
                FROM generate_series(CASE WHEN g.district THEN 1 ELSE 6 END,
                                     CASE WHEN g.district THEN 12 ELSE 6 END) AS mo
                OFFSET 0
            ) AS m
            CROSS JOIN generate_series(1, g.hh) AS n
            -- mo = extract(month FROM m.month)
            CROSS JOIN LATERAL (SELECT (g.i::bigint * 10000 + n) * 16 + m.mo AS k OFFSET 0)
                AS kk
            WHERE g.i >= %(lo)s AND g.i < %(hi)s AND n %% 10 <> 9
            OFFSET 0
        ) AS x
        WHERE days <> 0
        OFFSET 0
    ) AS y
    """,
    """
    INSERT INTO daily_category (estate_id, day, category, drops, weight_g, identified_drops,
                                in_window_drops)
    SELECT g.id, d::date, c, n, 350 * n, n * 9 / 10, n / 2
    FROM gen_estates g
    CROSS JOIN LATERAL generate_series(
        CASE WHEN g.district THEN date '2025-01-01' ELSE date '2025-06-01' END,
        CASE WHEN g.district THEN date '2025-12-31' ELSE date '2025-06-30' END,
        interval '1 day') AS d
    CROSS JOIN unnest(ARRAY['dry', 'wet', 'recyclable', 'hazardous', 'construction']) AS c
    CROSS JOIN LATERAL (SELECT g.hh / 5 + (abs(hashtext(g.id || d::text || c)) %% 50) AS n)
        AS nn
    WHERE g.i >= %(lo)s AND g.i < %(hi)s
    """,
]
TRIGGERS = ("household_spells_bits_insert",)
# The tables the chunks load. Their foreign keys are checked row by row on insert (a
# query per row, more than half of the load's time); dropped for the load and added
# again afterwards, as they were, which checks all rows at once.
LOADED = ("households", "household_spells", "household_months", "daily_category")
FOREIGN_KEYS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE contype = 'f' AND conrelid = ANY (%s::regclass[])
ORDER BY array_position(%s::regclass[], conrelid), conname
"""


@dataclass
class Case:
    name: str
    estates: list[str]
    start: date
    end: date
    n_new: int
    n_old: int
    new: list[float] = field(default_factory=list)
    old: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    same: bool | None = None
    old_timed_out: bool = False


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)  # type: ignore[arg-type]


@contextmanager
def server() -> Iterator[str]:
    """FENLEI_DATABASE_URL, or a PostgreSQL of our own for the run."""
    from fenlei.env import load_services_env

    load_services_env()
    if os.environ.get("FENLEI_DATABASE_URL"):
        yield os.environ["FENLEI_DATABASE_URL"]
        return
    import socket

    from deploy import services as launcher
    from deploy.settings import ServicesSettings

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    home = Path(tempfile.mkdtemp(prefix="fenlei-bench-city-", dir="/tmp"))
    home.chmod(0o755)
    settings = ServicesSettings(
        home=home, pg_port=free_port(), mqtt_port=free_port(), mqtts_port=free_port()
    )
    try:
        state = launcher.up(settings)
        yield state.database_url(settings)
    finally:
        launcher.down(settings)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def scratch_database(server_url: str, keep: bool = False) -> Iterator[str]:
    """A fresh, migrated BENCH_DB on `server_url` (its URL), dropped afterwards unless
    `keep`."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    url = _with_db(server_url, BENCH_DB)
    try:
        migrate(url)
        yield url
    finally:
        if not keep:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def generate(conn: psycopg.Connection[Any], estates: int, district: int) -> dict[str, Any]:
    """The registry and rollups, then the bitmaps by the rebuild function."""
    sizes: dict[str, Any] = {}
    t = time.monotonic()
    for trig in TRIGGERS:
        conn.execute(f"ALTER TABLE household_spells DISABLE TRIGGER {trig}")
    conn.execute("DROP INDEX household_months_household")
    # The registry's exclusion constraint (a GiST index: spells never overlap) costs more
    # than the rest of the load together; the generated spells cannot overlap, and no
    # query here uses it (probes go through the primary key). Dropped for the run.
    for (name,) in conn.execute(
        "SELECT conname FROM pg_constraint"
        " WHERE conrelid = 'household_spells'::regclass AND contype = 'x'"
    ).fetchall():
        conn.execute(f"ALTER TABLE household_spells DROP CONSTRAINT {name}")
    conn.execute("DROP INDEX household_spells_enrolled_on, household_spells_left_on")
    foreign_keys = conn.execute(FOREIGN_KEYS, (list(LOADED), list(LOADED))).fetchall()
    for table, name, _ in foreign_keys:
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for statement in ESTATES.split(";")[:-1]:
        conn.execute(statement, {"estates": estates, "district": district})
    for lo in range(0, estates, CHUNK):
        for sql in CHUNK_SQL:
            conn.execute(sql, {"lo": lo, "hi": lo + CHUNK})
        print(
            f"  generated estates {lo}..{min(lo + CHUNK, estates) - 1}"
            f" at {time.monotonic() - t:.0f} s, load {loadavg()}",
            flush=True,
        )
    # In LOADED's order: household_spells' key references households.
    for table, name, definition in foreign_keys:
        conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    conn.execute(
        "CREATE INDEX household_months_household"
        " ON household_months (estate_id, household, month) INCLUDE (days)"
    )
    conn.execute(
        "CREATE INDEX household_spells_enrolled_on ON household_spells (estate_id, enrolled_on)"
    )
    conn.execute(
        "CREATE INDEX household_spells_left_on ON household_spells (estate_id, left_on)"
        " WHERE left_on IS NOT NULL"
    )
    for trig in TRIGGERS:
        conn.execute(f"ALTER TABLE household_spells ENABLE TRIGGER {trig}")
    # Statistics of what was just loaded (a sample: seconds), so the rebuild's statements
    # are planned for millions of rows rather than for the empty tables of the migration.
    conn.execute(f"ANALYZE {', '.join(LOADED)}")
    sizes["generate_s"] = time.monotonic() - t
    t = time.monotonic()
    ids = [r[0] for r in conn.execute("SELECT id FROM gen_estates ORDER BY i").fetchall()]
    # Day bitmaps only where a case reads mid-month edges: the district's estates.
    for part, with_days in ((ids[:district], True), (ids[district:], False)):
        for lo in range(0, len(part), CHUNK):
            chunk = part[lo : lo + CHUNK]
            conn.execute("SELECT fenlei_rebuild_household_bits(%s, %s)", (chunk, with_days))
            print(
                f"  bitmaps of {len(chunk)} estates (days: {with_days})"
                f" at {time.monotonic() - t:.0f} s",
                flush=True,
            )
    sizes["bitmaps_s"] = time.monotonic() - t
    conn.execute("VACUUM ANALYZE")
    for table in (
        "household_months",
        "daily_category",
        "household_spells",
        "household_ordinals",
        "household_day_bits",
        "household_month_bits",
        "household_enrolled_bits",
        "monthly_category",
    ):
        row = conn.execute(
            f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}"
        ).fetchone()
        assert row is not None
        sizes[table] = (int(row[0]), int(row[1]))
    return sizes


def rows_of(conn: psycopg.Connection[Any], sql: str, case: Case) -> list[dict[str, Any]]:
    """The rows as api.metrics.repository fetches them (the new path without JIT, in a
    transaction, as estates_rows does; the old one as it was)."""
    params = {"estates": case.estates, **repository.period_params(case.start, case.end)}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if sql is repository.ESTATES_BITS_SQL:
            cur.execute(repository.NO_JIT)
        cur.execute(sql, params, prepare=False)
        return cur.fetchall()


def district_view(rows: list[dict[str, Any]], case: Case) -> object:
    """What the district view does with the rows: the totals and the ranking."""
    body = service.multi_metrics(rows, case.start, case.end)
    return sorted(body["estates"], key=lambda e: e["participation_rate"] or 0.0, reverse=True)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run_case(conn: psycopg.Connection[Any], case: Case, old_timeout_s: int) -> None:
    """Warm up (the new path), then new and old alternately; the old path's first timed
    run gives the rows compared (a city-wide old run can take minutes: no warm-up run,
    and a statement timeout, recorded as such)."""
    new_sql, old_sql = repository.ESTATES_BITS_SQL, repository.probes_sql(case.start, case.end)
    new_rows = rows_of(conn, new_sql, case)
    old_rows: list[dict[str, Any]] | None = None

    def old() -> None:
        nonlocal old_rows
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL statement_timeout = '{old_timeout_s}s'")
                rows = rows_of(conn, old_sql, case)
        except psycopg.errors.QueryCanceled:
            case.old_timed_out = True
            return
        district_view(rows, case)
        if old_rows is None:
            old_rows = rows

    for i in range(max(case.n_new, case.n_old)):
        case.load.append(loadavg())
        if i < case.n_new:
            case.new.append(timed(lambda: district_view(rows_of(conn, new_sql, case), case)))
        if i < case.n_old and not case.old_timed_out:
            ms = timed(old)
            if not case.old_timed_out:
                case.old.append(ms)
    case.load.append(loadavg())
    case.same = None if old_rows is None else new_rows == old_rows
    print(
        f"  {case.name}: new p50 {pct(case.new, 50):.0f} ms, old p50 {pct(case.old, 50):.0f} ms"
        f" (timed out: {case.old_timed_out}), same rows: {case.same}",
        flush=True,
    )


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def write(
    cases: list[Case], sizes: dict[str, Any], args: argparse.Namespace, total_s: float
) -> None:
    lines = [
        "# City-scale figures: household bitmaps against the queries before them",
        "",
        f"`python -m bench.city --estates {args.estates} --district {args.district} -n {args.n}`,"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} CPUs,"
        f" shared with other work), PostgreSQL {sizes.get('server_version', '?')}, the run took"
        f" {total_s / 60:.1f} min (generating {sizes['generate_s']:.0f} s, bitmaps"
        f" {sizes['bitmaps_s']:.0f} s).",
        "",
        "Each case: the estates' figures (the rows of `api.metrics.repository`), then what the"
        " district view does with them (totals, ranking by participation). *new* = the"
        " household bitmaps (`ESTATES_BITS_SQL`), *old* = the queries before them"
        " (`probes_sql`), alternately in one run; *same* = both gave identical rows.",
        "",
        "| case | estates | period | new p50 / p95 ms | old p50 / p95 ms | samples new/old |"
        " load (1 min) | same | goal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        goal = GOALS.get(c.name)
        met = ""
        if goal is not None:
            got = pct(c.new, 95)
            met = (
                f"p95 ≤ {goal:.0f} ms: {'met' if got <= goal and c.same is not False else 'missed'}"
            )
        old = (
            f"> {args.old_timeout * 1000:,} (timed out)"
            if c.old_timed_out and not c.old
            else f"{pct(c.old, 50):,.0f} / {pct(c.old, 95):,.0f}"
        )
        same = {True: "yes", False: "NO", None: "not compared (old timed out)"}[c.same]
        lines.append(
            f"| {c.name} | {len(c.estates):,} | {c.start} – {c.end} |"
            f" {pct(c.new, 50):,.0f} / {pct(c.new, 95):,.0f} |"
            f" {old} | {len(c.new)}/{len(c.old)} |"
            f" {min(c.load):.1f}–{max(c.load):.1f} | {same} | {met} |"
        )
    lines += ["", "Rows and sizes (table: rows, total size with indexes):", ""]
    for k, v in sizes.items():
        if isinstance(v, tuple):
            lines.append(f"- `{k}`: {v[0]:,} rows, {v[1] / 2**20:,.1f} MiB")
    lines.append("")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estates", type=int, default=13_000)
    parser.add_argument("--district", type=int, default=500, help="estates with a year")
    parser.add_argument("-n", type=int, default=15, help="timed runs per case (new)")
    parser.add_argument("--old-city-n", type=int, default=2, help="timed old runs, city case")
    parser.add_argument(
        "--old-timeout", type=int, default=300, help="statement timeout of an old run (s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    started = time.monotonic()
    with server() as server_url, scratch_database(server_url, args.keep) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            print(f"generating {args.estates:,} estates, load {loadavg()}", flush=True)
            sizes = generate(conn, args.estates, args.district)
            sizes["server_version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            ids = [r[0] for r in conn.execute("SELECT id FROM gen_estates ORDER BY i")]
            district = ids[: args.district]
            n = args.n
            cases = [
                Case("district year", district, date(2025, 1, 1), date(2025, 12, 31), n, n),
                Case("district mid-month", district, date(2025, 3, 15), date(2025, 9, 14), n, n),
                Case("district June", district, date(2025, 6, 1), date(2025, 6, 30), n, n),
                Case("city June", ids, date(2025, 6, 1), date(2025, 6, 30), n, args.old_city_n),
            ]
            for case in cases:
                run_case(conn, case, args.old_timeout)
        write(cases, sizes, args, time.monotonic() - started)
    return 0 if all(c.same is not False for c in cases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
