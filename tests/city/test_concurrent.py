"""Two ingest batches numbering the same new households at once (the counter row lock).

Batch A numbers households while its transaction is open; batch B, for the same estate
and households, waits on the estate's counter row, then finds them numbered (its own
numbers for them are left unused). Both batches' drops count, each household once.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from api.metrics import repository

pytestmark = pytest.mark.integration


def _add(conn: psycopg.Connection[Any], households: list[str], hour: int) -> None:
    ts = datetime(2026, 5, 10, hour, tzinfo=UTC)
    n = len(households)
    conn.execute(
        "SELECT fenlei_add_drops(%s, %s, %s, %s, %s)",
        (["e1"] * n, [ts] * n, ["wet"] * n, [100] * n, households),
    )


def test_concurrent_batches_number_each_household_once(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as setup:
        setup.execute("INSERT INTO estates (id, name, households_total) VALUES ('e1', 'E', 9)")
        setup.execute(
            "INSERT INTO households (estate_id, id) SELECT 'e1', 'h' || n"
            " FROM generate_series(1, 6) AS n"
        )
        setup.execute(
            "INSERT INTO household_spells (estate_id, household_id, enrolled_on)"
            " SELECT 'e1', 'h' || n, '2026-01-01' FROM generate_series(1, 6) AS n"
        )
    a = psycopg.connect(db_url)
    b = psycopg.connect(db_url)
    try:
        _add(a, ["t1", "t2", "h1"], 1)  # A's transaction stays open
        done = threading.Event()

        def batch_b() -> None:
            _add(b, ["t2", "t3", "h2"], 2)
            b.commit()
            done.set()

        worker = threading.Thread(target=batch_b)
        worker.start()
        assert not done.wait(1.0), "B should wait for A's counter row"
        a.commit()
        worker.join(10)
        assert done.is_set()
    finally:
        a.close()
        b.close()
    with psycopg.connect(db_url, autocommit=True) as conn:
        numbered = conn.execute(
            "SELECT household, count(*) FROM household_ordinals WHERE estate_id = 'e1'"
            " GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        assert numbered == []
        ordinals = [r[0] for r in conn.execute("SELECT ordinal FROM household_ordinals")]
        assert len(ordinals) == len(set(ordinals)) == 6 + 3  # registry 6, tokens t1..t3
        row = conn.execute(
            repository.ESTATES_BITS_SQL,
            {"estates": ["e1"], **repository.period_params(date(2026, 5, 1), date(2026, 5, 31))},
        ).fetchone()
        assert row is not None
        # Enrolled: h1..h6; active among them: h1 and h2 (the tokens are not enrolled).
        assert (row[3], row[4], row[5]) == (6, 2, 6)
