"""Figures from a streaming replica (FENLEI_DATABASE_READ_URL), the primary when it lags.

`Reads.run(fn)` runs a read-only `fn(conn)` on the replica's pool while the replica is
within FENLEI_READ_MAX_LAG_S of the primary, otherwise on the primary's pool; a replica
that fails (stopped, unreachable, no free connection in time) costs that request a
retry on the primary, never an error. Writes never come here: they take the primary's
connection (`api.deps.ConnDep`) as before.

The lag is not measured per request. A sampler (one task per process, its own two
connections, every FENLEI_READ_LAG_CHECK_S) asks the primary how far its WAL has gone
and the replica how far it has replayed; requests read the last answer.

The lag is an upper bound on how stale the replica is, the smaller of two:

- the time since the primary's WAL position was one the replica has now replayed (the
  sampler remembers its recent samples of the primary's position); 0 when it has
  replayed the primary's current position. An idle primary writes no WAL, so a replica
  that has caught up stays at 0 however long ago the last transaction was (which is
  why `now() - pg_last_xact_replay_timestamp()` alone would not do);
- `now() - pg_last_xact_replay_timestamp()`: what the replica lacks was committed after
  the last transaction it replayed (same machine or synchronised clocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.listen import stop_tasks

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Pool = AsyncConnectionPool[psycopg.AsyncConnection[object]]
Clock = Callable[[], float]

# What the sampler asks each side: LSNs as byte offsets (bigint) for plain comparison.
PRIMARY_SQL = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"
REPLICA_SQL = """
SELECT pg_is_in_recovery(),
       (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint,
       (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
"""
# The same for a primary and every physical copy of it: FENLEI_DATABASE_READ_URL naming
# another cluster's replica (a stale services.env, say) is never read from.
SYSID_SQL = "SELECT system_identifier FROM pg_control_system()"
# A status this many check intervals old is not trusted (the sampler is stuck).
STALE_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """The last measurement: whether reads go to the replica, and why (not)."""

    configured: bool
    use: bool
    lag_s: float | None = None
    detail: str | None = None
    measured_at: float = 0.0


NOT_CONFIGURED = ReplicaStatus(configured=False, use=False, detail="no FENLEI_DATABASE_READ_URL")


class LagTracker:
    """The lag rule, without I/O: samples of the primary's WAL position, the replica's."""

    def __init__(self, max_lag_s: float, keep_s: float) -> None:
        self.max_lag_s = max_lag_s
        self.keep_s = keep_s
        # (the primary's LSN, when it was read), oldest first.
        self._samples: deque[tuple[int, float]] = deque()

    def primary_at(self, lsn: int, at: float) -> None:
        """The primary's WAL position `lsn`, read at `at` (monotonic seconds)."""
        self._samples.append((lsn, at))
        # Keep at least one sample older than the bound: it proves a lag past it.
        while len(self._samples) > 1 and self._samples[1][1] < at - self.keep_s:
            self._samples.popleft()

    def lag(self, replay_lsn: int | None, xact_age_s: float | None, now: float) -> float | None:
        """The upper bound on the replica's staleness (seconds); None when unknown."""
        bounds: list[float] = []
        if replay_lsn is not None and self._samples:
            if replay_lsn >= self._samples[-1][0]:
                return 0.0
            reached = [at for lsn, at in self._samples if lsn <= replay_lsn]
            if reached:
                bounds.append(now - reached[-1])
            else:
                # Behind even the oldest sample kept: at least that far behind.
                bounds.append(max(now - self._samples[0][1], xact_age_s or 0.0))
        if xact_age_s is not None:
            bounds.append(max(xact_age_s, 0.0))
        return min(bounds) if bounds else None

    def status(self, replay_lsn: int | None, xact_age_s: float | None, now: float) -> ReplicaStatus:
        lag = self.lag(replay_lsn, xact_age_s, now)
        if lag is None:
            return ReplicaStatus(True, False, None, "lag unknown", now)
        if lag > self.max_lag_s:
            return ReplicaStatus(True, False, lag, f"lag over {self.max_lag_s:g} s", now)
        return ReplicaStatus(True, True, lag, None, now)


@dataclass
class ReadCounts:
    """How reads went since the process started (for /readyz and the tests)."""

    replica: int = 0
    primary: int = 0
    fallbacks: int = 0


def _retryable(exc: BaseException) -> bool:
    """A replica failure worth a retry on the primary: not the query's own timeout."""
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.QueryCanceled
    )


async def _one(conn: Conn, query: str) -> tuple[Any, ...] | None:
    cur = await conn.execute(query)
    return await cur.fetchone()


class Reads:
    """Where read-only figure queries run: the replica's pool or the primary's."""

    def __init__(
        self,
        primary: Pool,
        replica: Pool | None = None,
        *,
        primary_url: str = "",
        replica_url: str = "",
        max_lag_s: float = 5.0,
        check_interval_s: float = 1.0,
        replica_timeout_s: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.primary_url = primary_url
        self.replica_url = replica_url
        self.check_interval_s = check_interval_s
        self.replica_timeout_s = replica_timeout_s
        self.clock = clock
        self.tracker = LagTracker(max_lag_s, keep_s=max_lag_s + 2 * check_interval_s)
        self.counts = ReadCounts()
        self._status = (
            NOT_CONFIGURED
            if replica is None
            else ReplicaStatus(True, False, None, "not measured yet", clock())
        )
        self._task: asyncio.Task[None] | None = None
        self._conns: dict[str, Conn] = {}
        self._checking: asyncio.Task[None] | None = None
        # Each sampler connection's cluster (None: not allowed to read it).
        self._sysids: dict[str, int | None] = {}

    @property
    def status(self) -> ReplicaStatus:
        """The last measurement, `use` false once it is too old to trust."""
        status = self._status
        if status.use and self.clock() - status.measured_at > STALE_INTERVALS * max(
            self.check_interval_s, self.replica_timeout_s
        ):
            return replace(status, use=False, detail="lag not measured lately")
        return status

    def set_status(self, status: ReplicaStatus) -> None:
        self._status = status

    async def run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """`fn(conn)` on the replica when it is current enough, else (or when the
        replica fails) on the primary. `fn` must only read."""
        if self.replica is not None and self.status.use:
            try:
                async with self.replica.connection(timeout=self.replica_timeout_s) as conn:
                    result = await fn(conn)
                self.counts.replica += 1
                return result
            except Exception as exc:
                if not _retryable(exc):
                    raise
                self.counts.fallbacks += 1
                log.warning("read replica failed (%s): reading from the primary", exc)
                self._status = ReplicaStatus(
                    True, False, self._status.lag_s, type(exc).__name__, self.clock()
                )
                self._check_idle()
        async with self.primary.connection() as conn:
            result = await fn(conn)
        self.counts.primary += 1
        return result

    def _check_idle(self) -> None:
        """Drop the replica pool's dead idle connections (after a restart every one
        is), in the background: else each would cost a later read its own fallback."""
        if self.replica is None or (self._checking is not None and not self._checking.done()):
            return
        self._checking = asyncio.create_task(self._check_pool(self.replica))

    @staticmethod
    async def _check_pool(pool: Pool) -> None:
        try:
            await pool.check()
        except Exception as exc:  # a check that fails leaves the next sample to decide
            log.debug("read pool check failed: %s", exc)

    # The sampler.

    async def _conn(self, name: str, url: str) -> Conn:
        conn = self._conns.get(name)
        if conn is None or conn.closed or conn.broken:
            conn = await psycopg.AsyncConnection.connect(
                url,
                autocommit=True,
                connect_timeout=max(1, round(self.replica_timeout_s)),
                application_name=f"fenlei-api-lag-{name}",
            )
            self._conns[name] = conn
        return conn

    async def _sysid(self, name: str, conn: Conn, timeout: float) -> int | None:
        if name not in self._sysids:
            try:
                row = await asyncio.wait_for(_one(conn, SYSID_SQL), timeout)
                self._sysids[name] = int(row[0]) if row else None
            except psycopg.errors.InsufficientPrivilege:
                self._sysids[name] = None  # a login without pg_read_all_settings: unchecked
        return self._sysids[name]

    async def _drop(self, name: str) -> None:
        self._sysids.pop(name, None)
        conn = self._conns.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def sample(self) -> ReplicaStatus:
        """Measure once: the primary's position, then the replica's."""
        timeout = self.replica_timeout_s + 1.0
        try:
            conn = await asyncio.wait_for(self._conn("primary", self.primary_url), timeout)
            await self._sysid("primary", conn, timeout)
            at = self.clock()
            row = await asyncio.wait_for(_one(conn, PRIMARY_SQL), timeout)
            assert row is not None
            self.tracker.primary_at(int(row[0]), at)
        except Exception as exc:  # an unreachable primary leaves the replay-time bound
            await self._drop("primary")
            log.debug("lag sampler: primary not read (%s)", exc)
        try:
            conn = await asyncio.wait_for(self._conn("replica", self.replica_url), timeout)
            sysid = await self._sysid("replica", conn, timeout)
            row = await asyncio.wait_for(_one(conn, REPLICA_SQL), timeout)
            assert row is not None
        except Exception as exc:
            await self._drop("replica")
            self._status = ReplicaStatus(True, False, None, type(exc).__name__, self.clock())
            self._check_idle()  # the pool's connections died with it, most likely
            return self._status
        in_recovery, replay_lsn, _receive_lsn, xact_age = row
        primary_sysid = self._sysids.get("primary")
        if sysid is not None and primary_sysid is not None and sysid != primary_sysid:
            status = ReplicaStatus(True, False, None, "not a copy of the primary", self.clock())
        elif not in_recovery:
            # Promoted, or pointed at a primary: its data may have parted from ours.
            status = ReplicaStatus(True, False, None, "not a replica", self.clock())
        else:
            replay = None if replay_lsn is None else int(replay_lsn)
            age = None if xact_age is None else float(xact_age)
            status = self.tracker.status(replay, age, self.clock())
        if status.use and not self._status.use:
            status = await self._pool_ready(status)
        self._status = status
        return status

    async def _pool_ready(self, status: ReplicaStatus) -> ReplicaStatus:
        """Before reads go (back) to the replica: its pool gives a connection. After a
        restart the pool may still be waiting out its reconnection backoff, and each
        read would wait for it and then fall back."""
        assert self.replica is not None
        try:
            async with self.replica.connection(timeout=self.replica_timeout_s) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            return replace(status, use=False, detail=f"read pool: {type(exc).__name__}")
        return status

    async def _loop(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # the sampler must outlive anything
                log.exception("lag sampler failed")
            await asyncio.sleep(self.check_interval_s)

    def start(self) -> None:
        if self.replica is not None and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="fenlei-read-lag")

    async def stop(self) -> None:
        # Bounded: a shutdown never hangs on a sampler stuck in a connect.
        await stop_tasks([t for t in (self._task, self._checking) if t is not None])
        self._task = self._checking = None
        for name in list(self._conns):
            await self._drop(name)
