"""Running the evaluator's tick from a synchronous test, and reading alarm rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg

from api.alarms.evaluator import TickResult, tick
from api.alarms.settings import AlarmSettings


def run_tick(db_url: str, now: datetime | None = None) -> TickResult:
    async def go() -> TickResult:
        conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
        try:
            return await tick(conn, AlarmSettings(database_url=db_url), now)
        finally:
            await conn.close()

    return asyncio.run(go())


def alarms(db_url: str, where: str = "true") -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(f"SELECT * FROM alarms WHERE {where} ORDER BY id")
        return cur.fetchall()


def now_iso(offset_s: float = 0.0) -> str:
    return datetime.fromtimestamp(datetime.now(UTC).timestamp() + offset_s, UTC).isoformat()
