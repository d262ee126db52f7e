"""Keep one `fenlei_ingest_estate_events` series per estate with registered bins.

The writer counts an estate's events as they come. This makes the series of every
registered estate exist (at 0) from the ingester's start, so an estate that was already
silent before a restart still has a series for FenleiEstateSilent
(deploy/monitoring/alerts.yaml) to find, and drops the series of estates that left the
registry, which would otherwise alert forever. Cardinality: the registered estates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import psycopg

from ingest import metrics, sql

log = logging.getLogger(__name__)

# The registry changes rarely; a new estate's first event creates its series anyway.
REFRESH_EVERY_S = 300.0
RETRY_S = 30.0


def counted_estates() -> set[str]:
    """The estates that have a series now."""
    return {
        sample.labels["estate"]
        for family in metrics.ESTATE_EVENTS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def keep_series(estates: Iterable[str]) -> None:
    """Make the series of `estates` exist and remove every other one."""
    wanted = set(estates)
    for gone in counted_estates() - wanted:
        metrics.ESTATE_EVENTS.remove(gone)
    for estate in wanted:
        metrics.ESTATE_EVENTS.labels(estate=estate)


class EstateSeries:
    """Refreshes the series from the registry every REFRESH_EVERY_S, between batches."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due = 0.0

    def tick(self, conn: psycopg.Connection) -> None:
        """Refresh if due; never raises for a database error (logged, retried later)."""
        now = self._clock()
        if now < self._due:
            return
        try:
            with conn.transaction():
                rows = conn.execute(sql.load("registered_estates")).fetchall()
        except psycopg.Error as exc:
            if not conn.closed and not conn.broken:
                conn.rollback()
            log.warning(
                "could not read the registered estates, retrying in %.0f s: %s",
                RETRY_S,
                type(exc).__name__,
            )
            self._due = now + RETRY_S
            return
        keep_series(r[0] for r in rows)
        self._due = now + REFRESH_EVERY_S
