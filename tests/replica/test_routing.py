"""The read routing without services: the lag rule, the choice of pool, the fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from api.read_pool import LagTracker, Reads, ReplicaStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakePool:
    """A pool whose connections are its name; `fail` makes it raise instead."""

    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name = name
        self.fail = fail
        self.requests = 0
        self.checks = 0

    async def check(self) -> None:
        self.checks += 1

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[str]:
        self.requests += 1
        if self.fail is not None:
            raise self.fail
        yield self.name


async def which(conn: Any) -> str:
    return str(conn)


def make(
    replica_fail: BaseException | None = None, max_lag_s: float = 5.0
) -> tuple[Reads, FakePool, FakePool, Clock]:
    clock = Clock()
    primary, replica = FakePool("primary"), FakePool("replica", replica_fail)
    reads = Reads(primary, replica, max_lag_s=max_lag_s, clock=clock)  # type: ignore[arg-type]
    return reads, primary, replica, clock


# -- the lag rule -------------------------------------------------------------------------


def test_caught_up_replica_has_no_lag_however_old_its_last_transaction() -> None:
    """An idle primary: the replica replayed all its WAL; the last commit was long ago."""
    t = LagTracker(max_lag_s=5, keep_s=7)
    t.primary_at(1_000, at=100.0)
    assert t.lag(replay_lsn=1_000, xact_age_s=3_600.0, now=100.5) == 0.0
    assert t.status(1_000, 3_600.0, 100.5).use


def test_lag_is_time_since_the_primary_was_where_the_replica_is() -> None:
    t = LagTracker(max_lag_s=5, keep_s=7)
    for i in range(10):  # the primary writes 100 bytes of WAL a second
        t.primary_at(1_000 + 100 * i, at=100.0 + i)
    # Replayed up to where the primary was at t=104 (LSN 1,400), asked at t=109.2.
    assert t.lag(replay_lsn=1_450, xact_age_s=None, now=109.2) == pytest.approx(5.2)
    # The last replayed commit is a tighter bound when there is one.
    assert t.lag(replay_lsn=1_450, xact_age_s=2.0, now=109.2) == pytest.approx(2.0)
    assert not t.status(1_450, None, 109.2).use
    assert t.status(1_850, None, 109.2).use  # at t=108's position: 1.2 s


def test_replica_behind_every_kept_sample_is_at_least_that_old() -> None:
    t = LagTracker(max_lag_s=5, keep_s=7)
    for i in range(30):
        t.primary_at(10_000 + 100 * i, at=100.0 + i)
    # Paused long ago: behind the oldest sample kept (older ones are forgotten).
    lag = t.lag(replay_lsn=5_000, xact_age_s=None, now=130.0)
    assert lag is not None and lag > 5
    status = t.status(5_000, None, 130.0)
    assert not status.use and status.detail == "lag over 5 s"


def test_unknown_lag_is_not_used() -> None:
    t = LagTracker(max_lag_s=5, keep_s=7)
    assert t.lag(None, None, now=1.0) is None
    assert not t.status(None, None, 1.0).use
    # No primary sample (primary unreachable): the replay-time bound alone decides.
    assert t.lag(replay_lsn=10, xact_age_s=1.5, now=1.0) == 1.5


# -- the choice of pool -------------------------------------------------------------------


def test_reads_go_to_the_replica_only_while_it_is_current() -> None:
    reads, _, _, clock = make()
    assert asyncio.run(reads.run(which)) == "primary"  # not measured yet
    reads.set_status(ReplicaStatus(True, True, 0.3, None, clock.now))
    assert asyncio.run(reads.run(which)) == "replica"
    reads.set_status(ReplicaStatus(True, False, 9.0, "lag over 5 s", clock.now))
    assert asyncio.run(reads.run(which)) == "primary"
    assert (reads.counts.replica, reads.counts.primary) == (1, 2)


def test_a_measurement_too_old_is_not_trusted() -> None:
    reads, _, _, clock = make()
    reads.set_status(ReplicaStatus(True, True, 0.0, None, clock.now))
    clock.now += 10  # the sampler is stuck: its last "current" says nothing now
    assert not reads.status.use
    assert asyncio.run(reads.run(which)) == "primary"


@pytest.mark.parametrize(
    "failure", [psycopg.OperationalError("server closed the connection"), PoolTimeout("busy")]
)
def test_a_failing_replica_costs_a_retry_on_the_primary(failure: Exception) -> None:
    reads, _, replica, clock = make(replica_fail=failure)
    reads.set_status(ReplicaStatus(True, True, 0.0, None, clock.now))

    async def twice() -> tuple[str, str]:
        first = await reads.run(which)
        # Marked down at once: the next read does not try the replica again.
        second = await reads.run(which)
        await asyncio.sleep(0)  # the idle connections' check runs
        await reads.stop()
        return first, second

    assert asyncio.run(twice()) == ("primary", "primary")
    assert reads.counts.fallbacks == 1
    assert replica.requests == 1
    assert replica.checks == 1
    assert reads.status.detail == type(failure).__name__


def test_a_query_timeout_is_not_retried() -> None:
    """The query's own statement timeout: the primary would take as long."""
    reads, primary, _, clock = make(replica_fail=psycopg.errors.QueryCanceled("timeout"))
    reads.set_status(ReplicaStatus(True, True, 0.0, None, clock.now))
    with pytest.raises(psycopg.errors.QueryCanceled):
        asyncio.run(reads.run(which))
    assert primary.requests == 0


def test_without_a_replica_everything_reads_the_primary() -> None:
    primary = FakePool("primary")
    reads = Reads(primary)  # type: ignore[arg-type]
    assert not reads.status.configured
    assert asyncio.run(reads.run(which)) == "primary"
