"""LISTEN on a PostgreSQL channel and wake a task on every notice.

A notice is a hint, never the truth: it is lost while the listening connection is
down, so whoever waits on the event also wakes on a timer, and the event is set once
after every (re)connect so that anything committed meanwhile is looked at.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

log = logging.getLogger(__name__)
# Seconds before the listening connection is opened again after it failed.
RELISTEN_S = 2.0
# Seconds a shutdown waits for its background tasks.
STOP_TIMEOUT_S = 5.0


async def listen_forever(
    database_url: str,
    channel: str,
    wake: asyncio.Event,
    application_name: str,
    relisten_s: float = RELISTEN_S,
) -> None:
    """Set `wake` at every notice on `channel` (and after each connect) until cancelled.

    A cancel that a library swallows (or turns into a connection error) while waiting for
    notices must still end the loop: the task's pending cancellation is checked on every
    round, so stopping never waits for a reconnect that goes on forever."""
    task = asyncio.current_task()
    while task is None or not task.cancelling():
        try:
            async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True, application_name=application_name
            ) as conn:
                # The channel is one of the project's constants, never user input.
                await conn.execute(f"LISTEN {channel}")
                wake.set()
                async for _ in conn.notifies():
                    wake.set()
        except (psycopg.Error, OSError) as exc:
            if task is not None and task.cancelling():
                break
            log.warning("listening on %s failed (%s); retrying", channel, type(exc).__name__)
        await asyncio.sleep(relisten_s)
    raise asyncio.CancelledError


async def stop_tasks(tasks: list[asyncio.Task[None]], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Cancel `tasks` and wait for them, at most `timeout_s`: a shutdown never hangs on
    a task that does not end (it is logged and left to the loop's own end)."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        log.warning("task %s did not stop within %.0f s", task.get_name(), timeout_s)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("task %s ended with %s", task.get_name(), type(task.exception()).__name__)
