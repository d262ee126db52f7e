"""`fenlei rejected replay`: re-ingest quarantined events through the parser and the writer.

Each quarantined row is parsed again as it is stored (the offending event re-encoded, or
the raw payload, perhaps cut to 4 KiB) with ``now`` = the time it was received, and the
events are stored by the ingester's own ``Writer``: dedupe on (bin, event_id) holds,
rollups count each event once, and what is refused again is quarantined again with its
new reason and detail. Rows are read in chunks, in arrival order; per chunk:

1. mark the rows (``replaying_since``): they no longer count against the cap, so the
   rejections replacing them have room;
2. store the chunk's events (one writer transaction, committed);
3. delete the chunk's rows.

A replay that dies between 2 and 3 leaves its rows (marked) in the quarantine; the next
replay stores nothing from them twice: their events come back as duplicates. Rows of
status topics are not replayed (a status is the state of a moment). Rows the replay's
own re-rejections add are not read again in the same run.

Only argparse, the standard library and the pure ``ingest.contract`` are imported at
module level (every `fenlei` command imports this module to build its parser); `run`
imports the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

# Pure and light (no I/O, no database driver).
from ingest.contract import Reason

if TYPE_CHECKING:
    from ingest.batcher import Message
    from ingest.settings import IngestSettings
    from ingest.writer import BatchResult, Writer

# Reasons a later try can turn into stored events: the registry changed (the bin was
# registered, its category corrected). Any other reason the same parser gives the same
# bytes again, unless the ingester's rules changed (future_timestamp is judged against
# the time of receipt, conflicting_duplicate never succeeds: the first stored copy counts).
DEFAULT_REASONS = ("unknown_bin", "category_mismatch")
ALL_REASONS = tuple(str(r) for r in Reason)
# Rows per chunk: one writer batch each.
CHUNK_ROWS = 1_000
PROGRESS_EVERY_S = 2.0
# Lock conflicts with a running ingester resolve on an immediate retry (as in service.py).
RETRIES_AT_ONCE = 5

DESCRIPTION = f"""\
Re-ingest quarantined events through the ingester's parser and writer, e.g. the
unknown_bin events of a bin registered since. Dedupe holds: an event already stored
comes back as a duplicate and is not counted twice. Replayed rows leave the quarantine;
rows refused again are replaced by their new rejection. Status messages are not replayed.

Default reasons: {", ".join(DEFAULT_REASONS)} (the registry may have changed since). Other
reasons are refused again by the same rules unless the ingester changed (a fix in the
parser, a higher FENLEI_FUTURE_TOLERANCE_S); conflicting_duplicate never succeeds.

Settings from FENLEI_* variables (FENLEI_DATABASE_URL, FENLEI_FUTURE_TOLERANCE_S,
FENLEI_REJECTED_CAP). The report goes to stdout, progress to stderr.
"""


def _timestamp(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an RFC 3339 time") from None
    if ts.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no offset: write e.g. 2026-03-23T00:00:00+08:00"
        )
    return ts


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Declare `fenlei rejected replay`."""
    actions = parser.add_subparsers(dest="action", required=True)
    p = actions.add_parser(
        "replay",
        help="re-ingest quarantined events (default: unknown_bin, category_mismatch)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--reason",
        action="append",
        choices=(*ALL_REASONS, "all"),
        metavar="R",
        help=f"replay rows of this reason (repeatable; 'all': every one; default: "
        f"{', '.join(DEFAULT_REASONS)})",
    )
    p.add_argument("--estate", metavar="E", help="only rows of this estate")
    p.add_argument(
        "--since",
        metavar="T",
        type=_timestamp,
        help="only rows received at or after T (RFC 3339 with offset)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="read and parse only: report what would be offered to the writer",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=CHUNK_ROWS,
        metavar="N",
        help=f"rows per writer batch (default {CHUNK_ROWS})",
    )


@dataclass
class ReplayReport:
    """What a replay read, stored and had refused again."""

    reasons: list[str]
    matched: int = 0  # rows matching the filter when the replay started
    rows_read: int = 0
    events_valid: int = 0  # events the parser accepted (offered to the writer)
    events_stored: int = 0
    duplicates: int = 0
    rejected_again: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report for people, one figure a line."""
        head = "dry run: nothing written" if self.dry_run else "replayed"
        out = [
            f"{head} (reasons: {', '.join(self.reasons)})",
            f"rows read        {self.rows_read:>9,}",
        ]
        if self.dry_run:
            out.append(f"events parsed    {self.events_valid:>9,}")
        else:
            out.append(f"events stored    {self.events_stored:>9,}")
            out.append(f"duplicates       {self.duplicates:>9,}")
        out.append(f"rejected again   {sum(self.rejected_again.values()):>9,}")
        out += [f"  {reason:<15}{n:>9,}" for reason, n in sorted(self.rejected_again.items())]
        return out


def replay(
    settings: IngestSettings,
    reasons: Sequence[str] = DEFAULT_REASONS,
    estate: str | None = None,
    since: datetime | None = None,
    *,
    dry_run: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Replay the quarantined events rows matching the filter; see the module docstring.

    Raises psycopg errors (rows not yet replayed stay in the quarantine, a chunk that was
    stored but not removed comes back as duplicates on the next run).
    """
    import psycopg

    from ingest import sql
    from ingest.batcher import Message
    from ingest.payload import parse_events
    from ingest.writer import Writer

    report = ReplayReport(list(reasons), dry_run=dry_run)
    filters: dict[str, object] = {"reasons": list(reasons), "estate": estate, "since": since}
    writer = Writer(
        settings.database_url, application_name="fenlei-replay", rejected_cap=settings.rejected_cap
    )
    with psycopg.connect(
        settings.database_url, application_name="fenlei-replay", connect_timeout=5
    ) as conn:
        matched, upto = conn.execute(sql.load("quarantine_replay_range"), filters).fetchone()  # type: ignore[misc]
        conn.commit()
        report.matched = int(matched)
        after = 0
        try:
            while True:
                rows = conn.execute(
                    sql.load("quarantine_replay_read"),
                    {**filters, "after": after, "upto": upto, "limit": chunk_rows},
                ).fetchall()
                conn.commit()
                if not rows:
                    break
                after = rows[-1][0]
                if not dry_run:
                    marked = conn.execute(
                        sql.load("quarantine_replay_mark"), {"ids": [r[0] for r in rows]}
                    ).fetchall()
                    conn.commit()
                    present = {m[0] for m in marked}
                    # Rows pruned or replayed by someone else meanwhile are not read.
                    rows = [r for r in rows if r[0] in present]
                batch: list[Message] = []
                for _id, received_at, topic, _reason, payload in rows:
                    parsed = parse_events(
                        topic, bytes(payload), received_at, settings.future_tolerance_s
                    )
                    batch.append(Message(0, 1, time.monotonic(), parsed.events, parsed.rejections))
                report.rows_read += len(rows)
                if dry_run:
                    for msg in batch:
                        report.events_valid += len(msg.events)
                        for r in msg.rejections:
                            _add(report.rejected_again, str(r.reason), 1)
                elif batch:
                    result = _store(writer, batch)
                    conn.execute(sql.load("quarantine_replay_done"), {"ids": [r[0] for r in rows]})
                    conn.commit()
                    report.events_valid += result.events_valid
                    report.events_stored += result.stored
                    report.duplicates += result.duplicates
                    for reason, n in result.rejected.items():
                        _add(report.rejected_again, reason, n)
                if progress is not None:
                    progress(report)
        finally:
            writer.close()
    return report


def _store(writer: Writer, batch: list[Message]) -> BatchResult:
    """Writer.store with the service's immediate retry of lock conflicts."""
    import psycopg

    for attempt in range(RETRIES_AT_ONCE):
        try:
            return writer.store(batch)
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if attempt == RETRIES_AT_ONCE - 1:
                raise
    raise AssertionError("unreachable")


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


class _Progress:
    """Progress on stderr, at most every PROGRESS_EVERY_S."""

    def __init__(self) -> None:
        self._next = time.monotonic() + PROGRESS_EVERY_S

    def __call__(self, report: ReplayReport) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + PROGRESS_EVERY_S
        print(
            f"replay: {report.rows_read:,}/{report.matched:,} rows, "
            f"{report.events_stored:,} stored, {sum(report.rejected_again.values()):,} "
            "rejected again",
            file=sys.stderr,
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    """Run `fenlei rejected replay` from parsed arguments."""
    import os

    import psycopg
    import pydantic

    from fenlei.errors import ConfigError, FenleiError
    from ingest.settings import IngestSettings

    if not os.environ.get("FENLEI_DATABASE_URL"):
        raise ConfigError(
            "FENLEI_DATABASE_URL is not set and no services.env was found: "
            "run 'fenlei services up' or export FENLEI_DATABASE_URL."
        )
    try:
        settings = IngestSettings()  # type: ignore[call-arg]  # database_url from the env
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid FENLEI_* settings: {exc}") from None
    if args.chunk_rows < 1:
        raise ConfigError("--chunk-rows must be at least 1")
    chosen = args.reason or list(DEFAULT_REASONS)
    reasons = list(ALL_REASONS) if "all" in chosen else list(dict.fromkeys(chosen))
    print(f"replay: reading quarantined rows ({', '.join(reasons)})", file=sys.stderr)
    try:
        report = replay(
            settings,
            reasons,
            args.estate,
            args.since,
            dry_run=args.dry_run,
            chunk_rows=args.chunk_rows,
            progress=_Progress(),
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FenleiError(
            f"the database went away ({first}); rows not yet replayed stay in the "
            "quarantine: run the replay again"
        ) from None
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0
