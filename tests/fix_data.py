"""Registry rows and polling helpers for integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import psycopg

T = TypeVar("T")


def register(
    db_url: str,
    estate: str = "jjq",
    rooms: Mapping[str, Mapping[str, str]] | None = None,
    households_total: int = 100,
    timezone: str = "Asia/Shanghai",
) -> None:
    """Insert an estate with rooms and bins ({room: {bin: category}}) directly."""
    rooms = rooms or {"r1": {"b-dry": "dry", "b-wet": "wet"}}
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO estates (id, name, timezone, households_total) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (estate, estate.upper(), timezone, households_total),
        )
        for room, bins in rooms.items():
            conn.execute(
                "INSERT INTO rooms (estate_id, id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (estate, room),
            )
            for bin_id, category in bins.items():
                conn.execute(
                    "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, %s, %s, %s)",
                    (estate, room, bin_id, category),
                )


def scalar(db_url: str, query: str, params: tuple[object, ...] = ()) -> object:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query.encode(), params or None).fetchone()
    return row[0] if row else None


def wait_for(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float = 60.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll `probe` until `done(value)`; on timeout fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        time.sleep(interval)
        value = probe()
    return value
