"""Storage growth: bytes per stored event, indexes and rollups included, and a city-year.

    python -m bench.storage                      # 10 M events (FENLEI_DATABASE_URL: the server)
    python -m bench.storage --events 100000 --results /tmp/storage.md    # a quick check

Creates a scratch database `fenlei_bench_storage` on that server, migrates it
(deploy/migrate.py) and stores a year of generated events the way the ingester stores
them (ingest/sql/store_batch.sql): each event's key in `event_keys`, the event in the
`events` hypertable, its drop counted into the rollups by the ingester's own function
`fenlei_add_drops` (deploy/sql/idempotent/02_rollups.sql), one batch per day for all
estates, in time order, so the indexes grow as they do under the ingester. Then it
measures every table a stored event touches (hypertable_size for `events`, its
chunks' tables, TOAST and indexes included; pg_total_relation_size for the others),
drops the raw events older than 90 days with deploy/retention.py and measures again.
Writes bench/results/storage.md and drops the scratch database.

The shape, from README.md and docs/ (stated in the results as assumptions):
- an estate of 600 households (Shanghai: ~8 M households in ~13,000 estates) with one
  refuse room of five bins, one per category (README: Jiangjiaqiao's 1,200 households
  have two rooms of five bins);
- per household and day 0-4 drops, uniform over 0..3 with 4 a little rarer (mean 1.92;
  the simulator's households come 5.5 days a week with ~2 bags a visit: ~1.9), 5 %
  anonymous, 90 % inside the 07-09 / 18-20 windows; a drop carries weight, fill level,
  household and seq, as the simulator's bins send it;
- every bin sends a fill reading every 15 minutes (docs/alarms.md: the simulator's
  rhythm), with battery level and seq: 96 a bin a day.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy.migrate import migrate
from deploy.retention import drop_raw_events

RESULTS = Path(__file__).parent / "results" / "storage.md"
BENCH_DB = "fenlei_bench_storage"
HOUSEHOLDS = 600  # per estate
BINS = ("wet", "dry", "recyclable", "hazardous", "construction")  # one room, one bin each
READINGS_PER_BIN_DAY = 96  # a fill reading every 15 minutes
DROPS_PER_HOUSEHOLD_DAY = (0 + 1 + 2 + 3) / 4.8 + 4 * 0.8 / 4.8  # floor(random() * 4.8)
EVENTS_PER_ESTATE_DAY = HOUSEHOLDS * DROPS_PER_HOUSEHOLD_DAY + len(BINS) * READINGS_PER_BIN_DAY
FIRST_DAY = date(2025, 1, 1)
RETENTION_DAYS = 90
# The city (issue #17): Shanghai's estates and households.
CITY_ESTATES, CITY_HOUSEHOLDS = 13_000, 8_000_000
# Per-stored-event tables (grow with events) and rollups (grow with household-days).
TABLES = ("events", "event_keys", "daily_category", "household_days", "household_months")
ROLLUPS = TABLES[2:]

REGISTRY = """
INSERT INTO estates (id, name, households_total)
SELECT e, e, %(households)s FROM unnest(%(estates)s::text[]) AS e;
INSERT INTO rooms (estate_id, id) SELECT e, 'r1' FROM unnest(%(estates)s::text[]) AS e;
INSERT INTO bins (estate_id, room_id, id, category)
SELECT e, 'r1', 'b-' || c, c FROM unnest(%(estates)s::text[]) AS e, unnest(%(bins)s::text[]) AS c;
INSERT INTO buildings (estate_id, id)
SELECT e, b::text FROM unnest(%(estates)s::text[]) AS e,
       generate_series(1, (%(households)s + 59) / 60) AS b;
INSERT INTO households (estate_id, id)
SELECT e, format('%%s-%%s-%%s%%s', e, (n - 1) / 60 + 1, (n - 1) %% 60 / 15 + 1,
                 lpad(((n - 1) %% 15 + 1)::text, 2, '0'))
FROM unnest(%(estates)s::text[]) AS e, generate_series(1, %(households)s) AS n;
INSERT INTO household_memberships (estate_id, household_id, valid_from, building_id)
SELECT estate_id, id, '-infinity', split_part(id, '-', 2) FROM households;
INSERT INTO household_spells (estate_id, household_id, enrolled_on)
SELECT estate_id, id, %(first)s::date FROM households;
CREATE TEMP TABLE binmap AS
SELECT row_number() OVER (ORDER BY id) AS en, id AS estate_id FROM estates;
CREATE TEMP TABLE bin_of AS
SELECT m.en, m.estate_id, b.category, b.bin_key
FROM binmap m JOIN bins b ON b.estate_id = m.estate_id;
"""

# One day's events of every estate, in the shape store_batch.sql inserts them. Every
# random() draw refers to the estate, household and drop (`+ ... * 0`), and memoize is
# off, so PostgreSQL cannot compute a lateral subquery once and reuse it.
DAY = """
CREATE TEMP TABLE day_events AS
WITH drops AS (
    SELECT e.n AS en,
           ((%(day)s::date + CASE WHEN x.r2 < 0.45 THEN time '07:00' + x.r * interval '2 hours'
                                  WHEN x.r2 < 0.90 THEN time '18:00' + x.r * interval '2 hours'
                                  ELSE time '00:00' + x.r * interval '24 hours' END)
            AT TIME ZONE 'Asia/Shanghai') AS ts,
           CASE WHEN x.r3 < 0.45 THEN 'wet' WHEN x.r3 < 0.80 THEN 'dry'
                WHEN x.r3 < 0.95 THEN 'recyclable' WHEN x.r3 < 0.96 THEN 'hazardous'
                ELSE 'construction' END AS category,
           'drop' AS kind,
           100 + (x.r4 * 1500)::int AS weight_g,
           round((x.r6 * 100)::numeric, 1)::real AS fill_pct,
           CASE WHEN x.r5 < 0.05 THEN NULL
                ELSE format('%%s-%%s-%%s%%s', 'e' || lpad(e.n::text, 5, '0'), (h.n - 1) / 60 + 1,
                            (h.n - 1) %% 60 / 15 + 1, lpad(((h.n - 1) %% 15 + 1)::text, 2, '0'))
           END AS household,
           NULL::real AS battery_pct
    FROM generate_series(1, %(estates)s) AS e(n)
    CROSS JOIN generate_series(1, %(households)s) AS h(n)
    CROSS JOIN LATERAL generate_series(1, floor(random() * 4.8 + h.n * 0 + e.n * 0)::int) AS k(i)
    CROSS JOIN LATERAL (SELECT random() + z AS r, random() + z AS r2, random() + z AS r3,
                               random() + z AS r4, random() + z AS r5, random() + z AS r6
                        FROM (SELECT k.i * 0 + h.n * 0 + e.n * 0 AS z) AS zero) AS x
),
readings AS (
    SELECT e.n AS en,
           (%(day)s::date + q.i * interval '15 minutes') AT TIME ZONE 'Asia/Shanghai'
               + random() * interval '30 seconds' AS ts,
           c AS category, 'fill' AS kind, NULL::integer AS weight_g,
           round((random() * 100)::numeric, 1)::real AS fill_pct,
           NULL::text AS household,
           round((20 + random() * 80)::numeric, 1)::real AS battery_pct
    FROM generate_series(1, %(estates)s) AS e(n)
    CROSS JOIN unnest(%(bins)s::text[]) AS c
    CROSS JOIN generate_series(0, 95) AS q(i)
),
alle AS (SELECT * FROM drops UNION ALL SELECT * FROM readings)
SELECT a.ts, b.bin_key, b.estate_id, a.category, a.kind, a.weight_g, a.fill_pct, a.household,
       a.battery_pct,
       -- The simulator's event ids: the device's day and its count that day.
       to_char(%(day)s::date, 'YYYYMMDD') || '-'
           || lpad((row_number() OVER w)::text, 5, '0') AS event_id,
       %(dn)s::bigint * 100000 + row_number() OVER w AS seq
FROM alle a JOIN bin_of b ON b.en = a.en AND b.category = a.category
WINDOW w AS (PARTITION BY b.bin_key ORDER BY a.ts)
"""
# store_batch.sql's order: keys claimed in key order, events inserted by bin and ts,
# the drops counted into the rollups; received a moment after the device's ts.
STORE = [
    """
    INSERT INTO event_keys (bin_key, event_id, ts, seq)
    SELECT bin_key, event_id, ts, seq FROM day_events ORDER BY bin_key, event_id
    """,
    """
    INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,
                        fill_pct, household, alarm, battery_pct, seq, received_at)
    SELECT ts, bin_key, event_id, estate_id, category, kind, weight_g, fill_pct, household,
           NULL, battery_pct, seq, ts + interval '2 seconds'
    FROM day_events ORDER BY bin_key, ts
    """,
    """
    SELECT fenlei_add_drops(array_agg(estate_id), array_agg(ts), array_agg(category),
                            array_agg(weight_g), array_agg(household))
    FROM day_events WHERE kind = 'drop'
    """,
    "DROP TABLE day_events",
]

# hypertable_detailed_size sums the chunks (the parent itself is empty).
EVENTS_SIZE = """
SELECT d.table_bytes + coalesce(d.toast_bytes, 0), d.index_bytes, d.total_bytes,
       (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'events')
FROM hypertable_detailed_size('events') d
"""
TABLE_SIZE = """
SELECT pg_table_size(%(t)s::regclass), pg_indexes_size(%(t)s::regclass),
       pg_total_relation_size(%(t)s::regclass), NULL
"""


@dataclass(frozen=True)
class Size:
    table: str
    rows: int
    heap: int
    indexes: int
    total: int
    chunks: int | None


def _with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)  # type: ignore[arg-type]


def plan(events: int) -> tuple[int, int]:
    """(estates, days) for about `events` events: a year of whole estates when there
    are enough events for one, else fewer days of one estate."""
    year = EVENTS_PER_ESTATE_DAY * 365
    if events >= year:
        return max(1, round(events / year)), 365
    return 1, max(1, round(events / EVENTS_PER_ESTATE_DAY))


def estate_ids(estates: int) -> list[str]:
    return [f"e{n:05d}" for n in range(1, estates + 1)]


def load(
    conn: psycopg.Connection[Any],
    estates: int,
    days: int,
    first: date = FIRST_DAY,
    households: int = HOUSEHOLDS,
) -> dict[str, float]:
    """The registry and `days` days of events from `first` for `estates` estates of
    `households` households each; returns the seconds spent in each step."""
    spent = dict.fromkeys(["generate", "event_keys", "events", "rollups", "drop"], 0.0)
    params: dict[str, Any] = {
        "estates": estate_ids(estates),
        "households": households,
        "bins": list(BINS),
        "first": first,
    }
    # The generator's row estimates are wild (10 M for 20 k), and JIT compiling each
    # day's statement for them took seconds of a day's ~0.1 s of work.
    conn.execute("SET jit = off")
    for statement in REGISTRY.split(";")[:-1]:
        conn.execute(statement, params)
    for dn in range(days):
        day = first + timedelta(days=dn)
        with conn.transaction():
            conn.execute("SET LOCAL enable_memoize = off")
            t = time.monotonic()
            conn.execute(
                DAY,
                {
                    "day": day,
                    "dn": dn + 1,
                    "estates": estates,
                    "households": households,
                    "bins": list(BINS),
                },
            )
            spent["generate"] += time.monotonic() - t
            for step, sql in zip(list(spent)[1:], STORE, strict=True):
                t = time.monotonic()
                conn.execute(sql)
                spent[step] += time.monotonic() - t
        if (dn + 1) % 30 == 0:
            took = ", ".join(f"{k} {v:.0f} s" for k, v in spent.items())
            print(f"  {dn + 1} days stored ({took}; load {loadavg()})", flush=True)
    return spent


def measure(conn: psycopg.Connection[Any]) -> dict[str, Size]:
    """Rows, heap (with TOAST), indexes and total bytes of every table in TABLES."""
    conn.execute("VACUUM ANALYZE")
    sizes = {}
    for t in TABLES:
        sql = EVENTS_SIZE if t == "events" else TABLE_SIZE
        row = conn.execute(sql, {"t": t}).fetchone()
        count = conn.execute(f"SELECT count(*) FROM {t}").fetchone()
        assert row is not None and count is not None
        heap, indexes, total, chunks = row
        sizes[t] = Size(t, int(count[0]), int(heap), int(indexes), int(total), chunks)
    return sizes


def loadavg() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split(" ")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="about this many events")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    from fenlei.env import load_services_env

    load_services_env()
    server_url = os.environ["FENLEI_DATABASE_URL"]
    started = time.monotonic()
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    url = _with_db(server_url, BENCH_DB)
    try:
        return run(url, args.events, args.results, started)
    finally:
        if not args.keep:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def run(url: str, events: int, results: Path, started: float) -> int:
    migrate(url)
    estates, days = plan(events)
    loads = {"start": loadavg()}
    print(f"{estates} estates x {days} days (~{estates * days * EVENTS_PER_ESTATE_DAY:,.0f})")
    with psycopg.connect(url, autocommit=True) as conn:
        t = time.monotonic()
        spent = load(conn, estates, days)
        load_s = time.monotonic() - t
        loads["loaded"] = loadavg()
        full = measure(conn)
        last = FIRST_DAY + timedelta(days=days)  # midnight after the last day, UTC
        now = datetime(last.year, last.month, last.day, tzinfo=UTC)
        kept: dict[str, Size] | None = None
        dropped = 0
        if days > RETENTION_DAYS:
            outcome = drop_raw_events(conn, RETENTION_DAYS, now=now)
            dropped = len(outcome.chunks)
            kept = measure(conn)
        # The rollups are upserted batch after batch (a household's month row once a
        # day here, once a visit under the ingester), so they hold dead space that
        # VACUUM frees for reuse but does not return; rewritten, they show their floor.
        for rollup in ROLLUPS:
            conn.execute(f"VACUUM FULL {rollup}")
        compact = {k: v.total for k, v in measure(conn).items() if k in ROLLUPS}
        loads["measured"] = loadavg()
    text = report(
        full,
        kept,
        compact,
        dropped,
        estates,
        days,
        spent,
        load_s,
        loads,
        time.monotonic() - started,
    )
    results.write_text(text, encoding="utf-8")
    print(text)
    return 0


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def _tb(n: float) -> str:
    return f"{n / 1e12:,.2f}"


def report(
    full: dict[str, Size],
    kept: dict[str, Size] | None,
    compact: dict[str, int],
    dropped: int,
    estates: int,
    days: int,
    spent: dict[str, float],
    load_s: float,
    loads: dict[str, str],
    total_s: float,
) -> str:
    n = full["events"].rows
    households = estates * HOUSEHOLDS
    # The bench is a fraction of a city-year: per household-year for everything but
    # daily_category (per estate-day), whose rows grow with estates.
    year_scale = 365 / days
    city_h = CITY_HOUSEHOLDS / households * year_scale
    city_e = CITY_ESTATES / estates * year_scale
    scale = {t: (city_e if t == "daily_category" else city_h) for t in TABLES}
    city_events = n * city_h
    rows = [
        "| table | rows | heap+TOAST MB | indexes MB | total MB | bytes per event | "
        "bytes per row | city-year TB | compacted MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in TABLES:
        s = full[t]
        rows.append(
            f"| {t}{f' ({s.chunks} chunks)' if s.chunks else ''} | {s.rows:,} | {_mb(s.heap)} | "
            f"{_mb(s.indexes)} | {_mb(s.total)} | {s.total / n:,.1f} | "
            f"{s.total / max(1, s.rows):,.1f} | {_tb(s.total * scale[t])} | "
            f"{_mb(compact[t]) if t in compact else ''} |"
        )
    total = sum(full[t].total for t in TABLES)
    city_total = sum(full[t].total * scale[t] for t in TABLES)
    rollups = sum(full[t].total for t in TABLES[2:])
    city_rollups = sum(full[t].total * scale[t] for t in TABLES[2:])
    rows.append(
        f"| **all** | | | | {_mb(total)} | **{total / n:,.1f}** | | **{_tb(city_total)}** | |"
    )
    raw = full["events"].total
    keys = full["event_keys"].total
    # Documented, not measured: Timescale's compression docs say chunks shrink by more
    # than 90 % (hypercore: typically 90-98 %). Only the events chunks compress; the
    # newest chunk stays uncompressed while it is written.
    compressed = {ratio: (raw * (1 - ratio) + keys + rollups) / n for ratio in (0.90, 0.95, 0.98)}
    compressed_rows = [
        f"| {r:.0%} smaller | {b:,.1f} | {_tb(b * city_events)} |" for r, b in compressed.items()
    ]
    retention = ""
    if kept is not None:
        kept_total = sum(kept[t].total for t in TABLES)
        kept_raw = kept["events"]
        retention = f"""
## Retention of raw events: {RETENTION_DAYS} days (measured)

`deploy.retention.drop_raw_events(conn, {RETENTION_DAYS}, now=<the day after the last>)`
dropped {dropped} of {full["events"].chunks} chunks (whole 7-day chunks: {kept_raw.rows:,}
events, {kept_raw.rows / n:.0%} of the year, stay); event_keys and the rollups are untouched.

| | events MB | event_keys MB | rollups MB | total MB | bytes per event-year |
| --- | ---: | ---: | ---: | ---: | ---: |
| no retention | {_mb(raw)} | {_mb(keys)} | {_mb(rollups)} | {_mb(total)} | {total / n:,.1f} |
| {RETENTION_DAYS} days | {_mb(kept_raw.total)} | {_mb(kept["event_keys"].total)} | \
{_mb(sum(kept[t].total for t in TABLES[2:]))} | {_mb(kept_total)} | {kept_total / n:,.1f} |

Bytes per event-year = what one year of events occupies once retention has run, divided
by that year's events. City-year with {RETENTION_DAYS}-day retention: \
**{_tb(kept_total * city_h)} TB** (raw events {_tb(kept_raw.total * city_h)} TB at any
time, steady; event_keys {_tb(kept["event_keys"].total * city_h)} TB and rollups
{_tb(city_rollups)} TB a year, growing). The dedupe keys are then the largest part:
exactly-once needs them for as long as a device may resend (see docs/storage.md).
"""
    return f"""# Storage benchmark: bytes per stored event

`python -m bench.storage` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()},
{os.cpu_count()} CPUs, PostgreSQL + TimescaleDB (Apache build) from `fenlei services up`;
the whole run took {total_s:.0f} s, loading {load_s:.0f} s:
{", ".join(f"{k} {v:.0f} s" for k, v in spent.items())}). Scratch database
`{BENCH_DB}`, dropped afterwards. Load (1-minute, /proc/loadavg; the machine is shared):
{loads["start"]} at the start, {loads["loaded"]} after loading,
{loads["measured"]} after measuring.

Data: {estates} estates x {HOUSEHOLDS} households x {days} days from {FIRST_DAY}
= {n:,} events, stored as the ingester stores them (event_keys, events, the rollups by
`fenlei_add_drops`), one batch a day. Sizes after `VACUUM ANALYZE`
(`hypertable_detailed_size` for events, `pg_total_relation_size` for the others;
indexes and TOAST included).

Assumptions (README.md, docs/, simulators/): an estate of {HOUSEHOLDS} households (Shanghai:
{CITY_HOUSEHOLDS:,} households in {CITY_ESTATES:,} estates), one refuse room of
{len(BINS)} bins, one per category; {DROPS_PER_HOUSEHOLD_DAY:.2f} drops per household a day
(5 % anonymous); a fill reading every 15 minutes per bin ({READINGS_PER_BIN_DAY} a day):
{EVENTS_PER_ESTATE_DAY:,.0f} events per estate-day, {EVENTS_PER_ESTATE_DAY / HOUSEHOLDS:.2f}
per household-day. A city-year is then {city_events / 1e9:,.2f} billion events
({city_events / 365 / 86400:,.0f} a second on average). The city-year column scales each
table by households x days (daily_category by estates x days).

## Bytes per stored event, and a city-year (measured, Apache build, no compression)

{chr(10).join(rows)}

Raw events (events + event_keys): {(raw + keys) / n:,.1f} bytes per event; the rollups
add {rollups / n:,.1f} bytes per event (they grow with household-days, not with events:
{full["household_days"].total / max(1, full["household_days"].rows):,.0f} bytes per
household-day). City-year: **{_tb(city_total)} TB** without retention or compression.

"Compacted" is each rollup after `VACUUM FULL`: the sizes above are as grown, after
plain `VACUUM`, holding the dead space their upserts leave (reused by later rows, not
returned); the ingester upserts more often than this one-batch-a-day load, so a
production table sits between the two, nearer the grown figure without VACUUM FULL.

## With TimescaleDB Community compression (documented ratios, NOT measured)

Compression is a Community (TSL) feature: the Apache build this project installs
refuses `ALTER TABLE events SET (timescaledb.compress)` ("functionality not supported
under the current apache license"), so it cannot be measured here. Timescale's
documentation states that compression reduces a chunk's size "by more than 90 %"
(Tiger Data docs, *About compression*) and hypercore "typically 90-98 %" (*Basic
compression with hypercore*). Applied to the events hypertable only (event_keys and
the rollups are plain tables and do not compress; the newest chunk stays
uncompressed while written):

| documented ratio | bytes per event | city-year TB |
| --- | ---: | ---: |
{chr(10).join(compressed_rows)}
{retention}"""


if __name__ == "__main__":
    raise SystemExit(main())
