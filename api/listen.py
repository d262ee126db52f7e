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


async def listen_forever(
    database_url: str,
    channel: str,
    wake: asyncio.Event,
    application_name: str,
    relisten_s: float = RELISTEN_S,
) -> None:
    """Set `wake` at every notice on `channel` (and after each connect) until cancelled."""
    while True:
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
            log.warning("listening on %s failed (%s); retrying", channel, type(exc).__name__)
        await asyncio.sleep(relisten_s)
