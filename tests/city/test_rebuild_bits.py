"""fenlei_rebuild_household_bits against bitmaps built in Python from the same rows.

Random household_months rows (registry households and tokens the registry does not
know, random day bits, day 31 included) for two estates, then the rebuild: the
ordinals are the registry's ids in order, then the other tokens in order; every day and
month bitmap is exactly (bits and length) the Python bitstring of those ordinals. A
second rebuild after a new token keeps every ordinal and widens the bitmaps.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.integration

MONTHS = (date(2025, 1, 1), date(2025, 2, 1), date(2025, 4, 1))
DAYS_IN = {date(2025, 1, 1): 31, date(2025, 2, 1): 28, date(2025, 4, 1): 30}


def _bitstring(ordinals: set[int], width: int) -> str:
    return "".join("1" if i in ordinals else "0" for i in range(width))


def _fill(
    conn: psycopg.Connection[Any], rng: random.Random, estate: str, tokens: list[str]
) -> list[tuple[str, date, str, int]]:
    rows = []
    for month in MONTHS:
        for hh in tokens:
            if rng.random() < 0.2:
                continue  # no drop that month
            days = 0
            for d in range(DAYS_IN[month]):
                if rng.random() < (0.9 if d == DAYS_IN[month] - 1 else 0.25):
                    days |= 1 << d
            if days:
                rows.append((estate, month, hh, days))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO household_months (estate_id, month, household, days, drops, dry_g,"
            " wet_g, recyclable_g, hazardous_g, construction_g)"
            " VALUES (%s, %s, %s, %s, 1, 0, 0, 0, 0, 0)",
            rows,
        )
    return rows


def _expected(
    rows: list[tuple[str, date, str, int]], ordinals: dict[tuple[str, str], int]
) -> tuple[dict[Any, str], dict[Any, str]]:
    width: dict[str, int] = defaultdict(int)
    for (estate, _), o in ordinals.items():
        width[estate] = max(width[estate], o + 1)
    days: dict[Any, set[int]] = defaultdict(set)
    months: dict[Any, set[int]] = defaultdict(set)
    for estate, month, hh, bits in rows:
        o = ordinals[(estate, hh)]
        months[(estate, month)].add(o)
        for d in range(31):
            if bits >> d & 1:
                days[(estate, month + timedelta(days=d))].add(o)
    return (
        {k: _bitstring(v, width[k[0]]) for k, v in days.items()},
        {k: _bitstring(v, width[k[0]]) for k, v in months.items()},
    )


def _got(conn: psycopg.Connection[Any], table: str, key: str) -> dict[Any, str]:
    return {
        (e, k): str(a)
        for e, k, a in conn.execute(f"SELECT estate_id, {key}, active::text FROM {table}")
    }


def test_rebuild_bits_equal_python_bitstrings(db_url: str) -> None:
    rng = random.Random(1724)
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows: list[tuple[str, date, str, int]] = []
        want_ordinals: dict[tuple[str, str], int] = {}
        for estate, n_registry in (("ra", 37), ("rb", 9)):
            conn.execute(
                "INSERT INTO estates (id, name, households_total) VALUES (%s, %s, 50)",
                (estate, estate),
            )
            registry = [f"h{n:02d}" for n in range(n_registry)]
            others = [f"t{n:02d}" for n in range(6)]
            # Inserted out of order: ordinals follow the ids' order, not insertion's.
            for hid in rng.sample(registry, len(registry)):
                conn.execute(
                    "INSERT INTO households (estate_id, id) VALUES (%s, %s)", (estate, hid)
                )
            rows += _fill(conn, rng, estate, registry + others)
            seen = {r[2] for r in rows if r[0] == estate}
            numbered = registry + sorted(t for t in others if t in seen)
            want_ordinals.update({(estate, h): i for i, h in enumerate(numbered)})

        conn.execute("SELECT fenlei_rebuild_household_bits(%s)", (["ra", "rb"],))
        got_ordinals = {
            (e, h): o
            for e, h, o in conn.execute(
                "SELECT estate_id, household, ordinal FROM household_ordinals"
            )
        }
        assert got_ordinals == want_ordinals
        want_days, want_months = _expected(rows, want_ordinals)
        assert _got(conn, "household_day_bits", "day") == want_days
        assert _got(conn, "household_month_bits", "month") == want_months

        # A new token, then a rebuild: old ordinals kept, the new one last, wider bitmaps.
        conn.execute(
            "INSERT INTO household_months (estate_id, month, household, days, drops, dry_g,"
            " wet_g, recyclable_g, hazardous_g, construction_g)"
            " VALUES ('rb', '2025-02-01', 'a00', 5, 2, 0, 0, 0, 0, 0)"
        )
        rows.append(("rb", date(2025, 2, 1), "a00", 5))
        want_ordinals[("rb", "a00")] = (
            max(o for (e, _), o in want_ordinals.items() if e == "rb") + 1
        )
        conn.execute("SELECT fenlei_rebuild_household_bits(%s)", (["ra", "rb"],))
        got_ordinals = {
            (e, h): o
            for e, h, o in conn.execute(
                "SELECT estate_id, household, ordinal FROM household_ordinals"
            )
        }
        assert got_ordinals == want_ordinals
        want_days, want_months = _expected(rows, want_ordinals)
        assert _got(conn, "household_day_bits", "day") == want_days
        assert _got(conn, "household_month_bits", "month") == want_months
