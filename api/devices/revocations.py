"""The API's background drain of `mqtt_revocations` onto the broker.

A revocation is queued by the database (deleting a login, or the bin, room or estate
it belongs to, by any path), so the API learns of it through LISTEN on
`fenlei_mqtt_revocations`. It drains then, after every (re)connect of the admin
client, and every `interval_s` in case a NOTIFY was missed while the listening
connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.devices import service
from api.devices.broker import AdminClient
from api.listen import listen_forever, stop_tasks

log = logging.getLogger(__name__)
CHANNEL = "fenlei_mqtt_revocations"


class RevocationDrainer:
    """Two tasks: one listens for NOTIFYs, one drains when woken (or on a timer)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        broker: AdminClient,
        database_url: str,
        interval_s: float,
    ) -> None:
        self._pool = pool
        self._broker = broker
        self._database_url = database_url
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start both tasks on the running loop; the admin client's connects wake it."""
        loop = asyncio.get_running_loop()

        def wake_from_paho() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._broker.when_ready(wake_from_paho)
        self._tasks = [
            asyncio.create_task(self._listen(), name="fenlei-revocations-listen"),
            asyncio.create_task(self._drain_forever(), name="fenlei-revocations-drain"),
        ]

    async def stop(self) -> None:
        """Cancel both tasks and wait for them (bounded: a shutdown never hangs here)."""
        await stop_tasks(self._tasks)
        self._tasks = []

    async def _listen(self) -> None:
        await listen_forever(self._database_url, CHANNEL, self._wake, "fenlei-api-listen")

    async def _drain_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()
            try:
                async with self._pool.connection() as conn:
                    done = await service.drain(conn, self._broker)
                if done:
                    log.info("revoked %d login(s) on the broker", done)
            except Exception as exc:  # the database may be down; the next wake retries
                log.warning("draining revocations failed: %s", exc)
