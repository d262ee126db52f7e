"""Raw-event retention for the Apache build: drop old `events` chunks, keep the rest.

    python -m deploy.retention                 # once: cron, a systemd timer, a k8s CronJob
    python -m deploy.retention --dry-run       # the chunks it would drop, nothing dropped
    python -m deploy.retention --loop 86400    # or run it as a long-lived loop

FENLEI_RAW_RETENTION_DAYS (unset = off, the default) keeps raw events for that many
days: whole chunks of the `events` hypertable whose time range ends before now minus
that many days are dropped with TimescaleDB's `drop_chunks` (Apache-licensed).
`add_retention_policy`, the scheduled job that would do this inside the database, is a
Community (TSL) function and refuses to run on the Apache build this project installs,
so the operator schedules this command instead. Chunks are 7 days (migration 0001), so
up to 7 days more than the setting are kept; never less.

Kept, whatever the setting: the rollups (daily_category, household_days,
household_months), which every figure of the API and the dashboards is computed from,
so figures of retained-away periods stay exact; and `event_keys`, the dedupe keys:
exactly-once depends on them (a device that resends an old event, even with another
ts, must find its key already claimed), and they are what keeps a bin or an estate
with recorded events from being deleted. What stops working for older periods is
listed in docs/storage.md. Each run that drops something writes an audit record
(`api.auth.audit.record`, logger fenlei.audit).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

log = logging.getLogger("fenlei.retention")

SETTING = "FENLEI_RAW_RETENTION_DAYS"
# The features that read raw events look back at most 28 days (the roster's watch
# coverage, api/roster/service.py LOOKBACK_WEEKS; the forecast 14 days, the alarm
# evaluator minutes), so a shorter setting is refused rather than quietly breaking them.
MIN_DAYS = 35

# Whole chunks only: drop_chunks never cuts a chunk, so `older_than` removes exactly
# the chunks listed here (range_end <= cutoff).
_DUE = """
SELECT format('%%I.%%I', chunk_schema, chunk_name) AS chunk, range_start, range_end,
       pg_total_relation_size(format('%%I.%%I', chunk_schema, chunk_name)::regclass) AS bytes
FROM timescaledb_information.chunks
WHERE hypertable_schema = 'public' AND hypertable_name = 'events' AND range_end <= %(cutoff)s
ORDER BY range_start
"""
_DROP = "SELECT drop_chunks('events', older_than => %(cutoff)s::timestamptz)"


class RetentionError(ValueError):
    """The setting is malformed or too short: nothing was dropped."""


@dataclass(frozen=True)
class Chunk:
    name: str
    start: datetime
    end: datetime
    bytes: int


@dataclass(frozen=True)
class Outcome:
    """What one run dropped (or, with dry_run, would drop)."""

    days: int
    cutoff: datetime
    chunks: tuple[Chunk, ...]
    dry_run: bool

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.chunks)


def days_from_env(environ: dict[str, str] | None = None) -> int | None:
    """The setting: None when unset or empty (retention off); RetentionError when it is
    not a whole number of at least MIN_DAYS."""
    raw = (os.environ if environ is None else environ).get(SETTING, "").strip()
    if not raw:
        return None
    try:
        days = int(raw)
    except ValueError:
        raise RetentionError(f"{SETTING}={raw!r} is not a whole number of days") from None
    return check_days(days)


def check_days(days: int) -> int:
    if days < MIN_DAYS:
        raise RetentionError(
            f"{SETTING}={days} is shorter than {MIN_DAYS} days: the roster's watch coverage "
            "reads 28 days of raw events; nothing was dropped"
        )
    return days


def drop_raw_events(
    conn: psycopg.Connection[Any], days: int, now: datetime | None = None, dry_run: bool = False
) -> Outcome:
    """Drop the events chunks that end before `now - days` (all of them in one
    transaction); the rollups and event_keys are not touched."""
    check_days(days)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    with conn.transaction():
        rows = conn.execute(_DUE, {"cutoff": cutoff}).fetchall()
        chunks = tuple(Chunk(r[0], r[1], r[2], int(r[3])) for r in rows)
        if chunks and not dry_run:
            conn.execute(_DROP, {"cutoff": cutoff})
    outcome = Outcome(days, cutoff, chunks, dry_run)
    if chunks and not dry_run:
        _audit(outcome)
    return outcome


def _audit(outcome: Outcome) -> None:
    # Imported here: the retention module itself needs no API, only its audit log.
    from api.auth.audit import record

    record(
        "raw_events_dropped",
        f"dropped {len(outcome.chunks)} raw event chunk(s) before "
        f"{outcome.cutoff.isoformat(timespec='seconds')} ({outcome.bytes:,} bytes); "
        "rollups and event keys kept",
        retention_days=outcome.days,
        cutoff=outcome.cutoff.isoformat(),
        chunks=len(outcome.chunks),
        bytes_freed=outcome.bytes,
        oldest_dropped=outcome.chunks[0].start.isoformat(),
        newest_dropped_end=outcome.chunks[-1].end.isoformat(),
    )


def describe(outcome: Outcome) -> str:
    verb = "would drop" if outcome.dry_run else "dropped"
    if not outcome.chunks:
        return (
            f"retention {outcome.days} days: no events chunk ends before "
            f"{outcome.cutoff.isoformat(timespec='seconds')}"
        )
    lines = [
        f"retention {outcome.days} days: {verb} {len(outcome.chunks)} events chunk(s) "
        f"ending before {outcome.cutoff.isoformat(timespec='seconds')}, "
        f"{outcome.bytes / 1e6:,.1f} MB"
    ]
    lines += [
        f"  {c.name}  {c.start:%Y-%m-%d} .. {c.end:%Y-%m-%d}  {c.bytes / 1e6:,.1f} MB"
        for c in outcome.chunks
    ]
    return "\n".join(lines)


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """The options, for `python -m deploy.retention` and a `fenlei retention` command
    (fenlei/cli.py's PACKAGE_COMMANDS shape)."""
    del name
    parser.add_argument(
        "--days", type=int, default=None, help=f"override {SETTING} (at least {MIN_DAYS})"
    )
    parser.add_argument("--dry-run", action="store_true", help="list, do not drop")
    parser.add_argument(
        "--loop", type=float, default=None, metavar="SECONDS", help="run again every SECONDS"
    )


def run(args: argparse.Namespace) -> int:
    """Once, or every `--loop` seconds; logging and services.env already set up."""
    try:
        days = check_days(args.days) if args.days is not None else days_from_env()
    except RetentionError as exc:
        print(exc, file=sys.stderr)
        return 2
    if days is None:
        print(f"{SETTING} is not set: raw events are kept forever; nothing to do")
        return 0
    url = os.environ.get("FENLEI_DATABASE_URL")
    if not url:
        print("FENLEI_DATABASE_URL is not set (nor in services.env)", file=sys.stderr)
        return 2
    while True:
        try:
            with psycopg.connect(url, application_name="fenlei-retention") as conn:
                print(describe(drop_raw_events(conn, days, dry_run=args.dry_run)), flush=True)
        except psycopg.Error as exc:
            print(f"retention failed: {exc}", file=sys.stderr)
            if args.loop is None:
                return 1
        if args.loop is None:
            return 0
        time.sleep(args.loop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments("retention", parser)
    args = parser.parse_args(argv)
    from fenlei.env import load_services_env
    from fenlei.logs import configure

    configure()
    load_services_env()
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
