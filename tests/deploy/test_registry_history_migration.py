"""Migration 0016 carries the one-row-per-household registry over unchanged: every
period's enrolled counts and per-building counts are what the old rows said."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest

from api.metrics import repository as metrics
from deploy.migrate import migrate
from tests.fix_scratch import migrate_before

pytestmark = pytest.mark.integration

# (id, building, group, enrolled_on, left_on): enrolled, left, never enrolled, and a
# left_on without an enrolled_on (never enrolled, so never counted).
OLD_ROWS = [
    ("h1", "1", "1-1", date(2026, 1, 5), None),
    ("h2", "1", "1-1", date(2026, 2, 1), date(2026, 3, 10)),
    ("h3", "1", None, None, None),
    ("h4", "2", "2-1", date(2025, 12, 1), None),
    ("h5", "2", "2-1", None, date(2026, 2, 1)),
    ("h6", "2", "2-2", date(2026, 3, 10), date(2026, 3, 10)),
]


def enrolled(day: date, rows: pd.DataFrame) -> pd.DataFrame:
    on = rows["enrolled_on"].notna() & (rows["enrolled_on"] <= day)
    return rows[on & (rows["left_on"].isna() | (rows["left_on"] > day))]


async def figures(url: str, start: date, end: date) -> tuple[list[Any], list[Any], list[Any]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return (
            await metrics.estates_rows(conn, ["e1"], start, end),
            await metrics.daily_rows(conn, "e1", start, end),
            await metrics.building_rows(conn, "e1", start, end),
        )


def test_old_rows_become_one_membership_and_at_most_one_spell(
    scratch_db: str, tmp_path: Path
) -> None:
    migrate_before(scratch_db, "0016", tmp_path)
    with psycopg.connect(scratch_db) as conn:
        conn.execute("INSERT INTO estates (id, name, households_total) VALUES ('e1', 'E', 10)")
        conn.execute("INSERT INTO buildings (estate_id, id) VALUES ('e1', '1'), ('e1', '2')")
        for row in OLD_ROWS:
            conn.execute(
                "INSERT INTO households (estate_id, id, building_id, building_group_id,"
                " enrolled_on, left_on) VALUES ('e1', %s, %s, %s, %s, %s)",
                row,
            )
    assert "0016" in migrate(scratch_db)

    with psycopg.connect(scratch_db) as conn:
        members = conn.execute(
            "SELECT household_id, valid_from = '-infinity', valid_to, building_id,"
            " building_group_id FROM household_memberships ORDER BY household_id"
        ).fetchall()
        spells = conn.execute(
            "SELECT household_id, enrolled_on, left_on FROM household_spells ORDER BY household_id"
        ).fetchall()
    assert members == [(h, True, None, b, g) for h, b, g, _, _ in OLD_ROWS]
    assert spells == [(h, e, lo) for h, _, _, e, lo in OLD_ROWS if e is not None]

    old = pd.DataFrame(OLD_ROWS, columns=["id", "building", "group", "enrolled_on", "left_on"])
    start, end = date(2026, 1, 1), date(2026, 3, 31)
    estates, daily, buildings = asyncio.run(figures(scratch_db, start, end))
    assert estates[0]["households_enrolled"] == len(enrolled(end, old))
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    assert [r["households_enrolled"] for r in daily] == [len(enrolled(d, old)) for d in days]
    per_building = {r["building"]: r for r in buildings if r["is_building"]}
    for building, rows in old.groupby("building"):
        assert per_building[building]["households_registered"] == len(rows)
        assert per_building[building]["households_enrolled"] == len(enrolled(end, rows))
