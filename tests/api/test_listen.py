"""LISTEN loops and bounded stops (no services: a refused port stands in for a
database that is down)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

import pytest

from api.listen import listen_forever, stop_tasks


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://x@127.0.0.1:{port}/x?connect_timeout=1"


def test_a_listener_retrying_a_dead_database_stops_at_once_when_cancelled() -> None:
    async def go() -> float:
        wake = asyncio.Event()
        task = asyncio.create_task(
            listen_forever(_refused_url(), "fenlei_test", wake, "t", relisten_s=0.05)
        )
        await asyncio.sleep(0.3)  # several failed rounds
        started = time.monotonic()
        await stop_tasks([task], timeout_s=5.0)
        assert task.cancelled()
        return time.monotonic() - started

    assert asyncio.run(go()) < 1.5


def test_a_task_that_ignores_its_cancel_does_not_hold_the_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def stubborn() -> None:
        # Swallows the first cancel (as a library might), then ends at the next.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        await asyncio.sleep(10)

    async def go() -> float:
        task = asyncio.create_task(stubborn(), name="stubborn")
        await asyncio.sleep(0)
        started = time.monotonic()
        await stop_tasks([task], timeout_s=0.2)
        elapsed = time.monotonic() - started
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return elapsed

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(go()) < 1.0
    assert "task stubborn did not stop within 0 s" in caplog.text
