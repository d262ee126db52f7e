"""Row helpers every repository uses: run one query and read dict rows back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
Params = Sequence[Any] | dict[str, Any]


async def fetch_one(conn: Conn, query: str, params: Params) -> Row | None:
    """The first row of `query` as a dict, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def fetch_all(conn: Conn, query: str, params: Params) -> list[Row]:
    """Every row of `query` as dicts."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()
