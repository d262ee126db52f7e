"""The dispatcher (`fenlei notify`): plans alarms' steps and delivers the outbox.

Each cycle:

1. plan: every alarm that may need a step (`repository.alarms_to_plan`) goes through
   `routing.next_steps`; a new step is stored with one outbox row per channel of its
   audiences, its message composed now (who is on duty now is who is mentioned).
2. deliver: due outbox rows are sent, several at once (a slow or dead channel holds
   one slot, the others go on). Each is claimed with FOR UPDATE SKIP LOCKED in its own
   transaction, sent, and its log row written and its state set in that transaction.
   A failure is retried with exponential backoff up to `notify_max_attempts`, then the
   delivery is `failed`; every attempt is in the delivery log.

Exactly once per (alarm, step, channel): the plan and outbox keys make each delivery
exist once, and a delivery is marked sent with its log row. The one window: a crash
(or a lost database connection) after the channel accepted a message and before that
transaction commits leaves the row pending, and it is sent once more after the
restart. So a delivery is sent at least once and, per crash, at most once extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from api.alarms.repository import NOTIFY_CHANNEL
from api.listen import listen_forever, stop_tasks
from api.notify import channels, repository
from api.notify.messages import Message, Person, Property, compose
from api.notify.routing import DEFAULT_URGENT, AlarmView, Policy, moot, next_steps
from api.notify.settings import NotifySettings
from api.notify.vault import SecretUnreadable, Vault
from api.rows import Row

log = logging.getLogger(__name__)
APPLICATION_NAME = "fenlei-notify"
Clock = Callable[[], datetime]
# Deliveries looked at per cycle; the rest wait for the next one.
BATCH = 100
PRUNE_EVERY = timedelta(hours=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def policy_of(row: Row) -> Policy:
    """An alarm row's estate settings (the defaults where the estate has none)."""
    urgent = row.get("urgent_kinds")
    return Policy(
        timezone=row["timezone"],
        escalate_minutes=row["escalate_minutes"] or 10,
        reminder_minutes=row["reminder_minutes"] or 30,
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        urgent_kinds=frozenset(urgent) if urgent is not None else DEFAULT_URGENT,
        send_resolved=row["send_resolved"] if row["send_resolved"] is not None else True,
    )


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Return when `stop` or `wake` is set, or after `timeout` seconds."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def backoff(settings: NotifySettings, attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, ...): doubling, capped."""
    seconds = settings.notify_backoff_s * 2 ** (attempt - 1)
    return timedelta(seconds=min(seconds, settings.notify_backoff_max_s))


class Dispatcher:
    """Plans and delivers; `cycle()` once, `run(stop)` until `stop` is set."""

    def __init__(
        self,
        database_url: str,
        vault: Vault,
        settings: NotifySettings | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings or NotifySettings()
        self.database_url = database_url
        self.vault = vault
        self.clock = clock
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=self.settings.notify_concurrency + 1,
            open=False,
            kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
            name=APPLICATION_NAME,
        )
        self.http = httpx.AsyncClient(timeout=self.settings.notify_timeout_s)
        self._slots = asyncio.Semaphore(self.settings.notify_concurrency)
        self._private = self.settings.private_networks()

    async def __aenter__(self) -> Dispatcher:
        await self.pool.open(wait=True, timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.pool.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle at every notice on `fenlei_alarms` (an alarm opened, acknowledged or
        resolved: see api.alarms.repository.NOTIFY_CHANNEL) and every `notify_poll_s`
        (escalations, reminders and retries fall due by the clock, and a notice is lost
        while the listening connection is down), until `stop`. A failing cycle is logged
        and retried. Once an hour (and at start) the old log rows are pruned."""
        wake = asyncio.Event()
        listener = asyncio.create_task(
            listen_forever(self.database_url, NOTIFY_CHANNEL, wake, APPLICATION_NAME + "-listen"),
            name="fenlei-notify-listen",
        )
        pruned_at: datetime | None = None
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    if pruned_at is None or self.clock() - pruned_at > PRUNE_EVERY:
                        pruned_at = self.clock()
                        await self.prune()
                    await self.cycle()
                except (psycopg.Error, OSError) as exc:
                    log.warning("notify cycle failed, retrying: %s", type(exc).__name__)
                except Exception as exc:  # a bad row must not stop every estate's alarms
                    # The type only: a message could quote a channel's secret.
                    log.error("notify cycle failed unexpectedly (%s), retrying", type(exc).__name__)
                await _first_of(stop, wake, self.settings.notify_poll_s)
        finally:
            await stop_tasks([listener])

    async def prune(self) -> tuple[int, int]:
        """Forget what is older than `notify_log_days`."""
        before = self.clock() - timedelta(days=self.settings.notify_log_days)
        async with self.pool.connection() as conn:
            done = await repository.prune(conn, before)
        if any(done):
            log.info("pruned %d delivery log rows and %d plans", *done)
        return done

    async def cycle(self) -> tuple[int, int]:
        """Plan, then deliver what is due; (steps planned, attempts made)."""
        planned = await self.plan()
        sent = await self.deliver()
        return planned, sent

    async def plan(self) -> int:
        """Store the steps alarms need now; the number stored."""
        now = self.clock()
        count = 0
        async with self.pool.connection() as conn:
            for row in await repository.alarms_to_plan(conn, now):
                view = AlarmView(
                    id=row["id"],
                    kind=row["kind"],
                    state=row["state"],
                    planned=dict(zip(row["steps"], row["dues"], strict=True)),
                    told=row["told"],
                )
                policy = policy_of(row)
                for step in next_steps(view, policy, now):
                    count += await self._plan_step(
                        conn, row, policy, step.name, step.audiences, step.due_at, now
                    )
        return count

    async def _plan_step(
        self,
        conn: psycopg.AsyncConnection[Any],
        row: Row,
        policy: Policy,
        step: str,
        audiences: tuple[str, ...],
        due_at: datetime,
        now: datetime,
    ) -> int:
        people = await repository.on_duty(conn, row["estate_id"], row["room_id"], now)
        duty = [Person(p["name"], p["contact"]) for p in people]
        contact = Property(row["property_name"], row["property_phone"], row["property_email"])
        deliveries = []
        for ch in await repository.channels_for(conn, row["estate_id"], audiences):
            msg = compose(step, ch["audience"], row, row["estate_name"], policy, duty, contact)
            deliveries.append((int(ch["id"]), msg.to_json()))
        done = await repository.plan_step(conn, row["id"], step, due_at, now, deliveries)
        if done:
            log.info(
                "alarm %s: planned %s for %d channels",
                row["id"],
                step,
                len(deliveries),
                extra={"alarm_id": row["id"], "step": step, "channels": len(deliveries)},
            )
        return int(done)

    async def deliver(self) -> int:
        """Send the due deliveries, several at once; the number of attempts made."""
        async with self.pool.connection() as conn:
            ids = await repository.due_deliveries(conn, self.clock(), BATCH)
        results = await asyncio.gather(*(self._deliver_one(i) for i in ids))
        return sum(results)

    async def _deliver_one(self, outbox_id: int) -> int:
        async with self._slots, self.pool.connection() as conn, conn.transaction():
            now = self.clock()
            row = await repository.claim(conn, outbox_id, now)
            if row is None:
                return 0  # sent, cancelled, or held by another dispatcher
            if moot(row["step"], row["alarm_state"]):
                await repository.cancel(conn, outbox_id)
                return 0
            try:
                secret = self.vault.open(row["secret"])
            except SecretUnreadable as exc:
                outcome = channels.Outcome(False, str(exc))
                await repository.finish(conn, row, now, False, outcome.detail, "failed", None)
                log.warning("delivery %s failed for good: %s", outbox_id, outcome.detail)
                return 1
            msg = Message.from_json(row["message"])
            outcome = await channels.send(
                row["kind"],
                row["config"],
                secret,
                msg,
                self.http,
                self.settings.notify_timeout_s,
                self._private,
            )
            attempt = int(row["attempts"]) + 1
            done = self.clock()
            if outcome.ok:
                state, next_due = "sent", None
            elif outcome.final or attempt >= self.settings.notify_max_attempts:
                state, next_due = "failed", None
            else:
                state, next_due = "pending", done + backoff(self.settings, attempt)
            await repository.finish(conn, row, done, outcome.ok, outcome.detail, state, next_due)
        fields = {
            "alarm_id": row["alarm_id"],
            "step": row["step"],
            "channel": row["channel_name"],
            "attempt": attempt,
            "outcome": outcome.detail,
        }
        if outcome.ok:
            log.info(
                "alarm %s %s sent to %s",
                row["alarm_id"],
                row["step"],
                row["channel_name"],
                extra=fields,
            )
        else:
            log.warning(
                "alarm %s %s to %s: attempt %d failed (%s)%s",
                row["alarm_id"],
                row["step"],
                row["channel_name"],
                attempt,
                outcome.detail,
                " - giving up" if state == "failed" else "",
                extra=fields,
            )
        return 1
