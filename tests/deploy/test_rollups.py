"""The rollup functions (deploy/sql/idempotent/02_rollups.sql) against pandas.

The ingester's end-to-end figures are tested in tests/api; here the function itself,
fed in several calls as batches would, equals a pandas aggregation of the same drops
with local days and windows from zoneinfo.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from psycopg.types.json import Jsonb

pytestmark = pytest.mark.integration

CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
ESTATES = {
    # estate: (time zone, drop windows)
    "sh": ("Asia/Shanghai", [["07:00", "09:00"], ["18:00", "20:00"]]),
    "ny": ("America/New_York", [["06:30", "08:00"]]),
}


def _drops(rng: random.Random, n: int) -> pd.DataFrame:
    start = datetime(2025, 2, 20, tzinfo=UTC)  # spans month ends and New York's DST change
    rows = []
    for _ in range(n):
        estate = rng.choice(list(ESTATES))
        rows.append(
            {
                "estate_id": estate,
                "ts": start + timedelta(seconds=rng.randrange(40 * 86400)),
                "category": rng.choice(CATEGORIES),
                "weight_g": rng.randrange(50, 3000),
                "household": None if rng.random() < 0.1 else f"h{rng.randrange(25)}",
            }
        )
    df = pd.DataFrame(rows)
    zone = df["estate_id"].map(lambda e: ZoneInfo(ESTATES[e][0]))
    local = [t.astimezone(z) for t, z in zip(df["ts"], zone, strict=True)]
    df["day"] = [t.date() for t in local]
    df["in_window"] = [
        any(time.fromisoformat(a) <= t.time() < time.fromisoformat(b) for a, b in ESTATES[e][1])
        for t, e in zip(local, df["estate_id"], strict=True)
    ]
    return df


def _add(conn: psycopg.Connection[Any], df: pd.DataFrame) -> int:
    row = conn.execute(
        "SELECT fenlei_add_drops(%s, %s, %s, %s, %s)",
        (
            list(df["estate_id"]),
            list(df["ts"]),
            list(df["category"]),
            [int(w) for w in df["weight_g"]],
            [h if isinstance(h, str) else None for h in df["household"]],
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _grams(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grams = df.pivot_table(
        index=keys, columns="category", values="weight_g", aggfunc="sum", fill_value=0
    ).reindex(columns=list(CATEGORIES), fill_value=0)
    grams.columns = [f"{c}_g" for c in CATEGORIES]
    return grams


def test_add_drops_in_batches_equals_pandas(db_url: str) -> None:
    df = _drops(random.Random(11), 4000)
    with psycopg.connect(db_url) as conn:
        for estate, (zone, windows) in ESTATES.items():
            conn.execute(
                "INSERT INTO estates (id, name, timezone, households_total, drop_windows)"
                " VALUES (%s, %s, %s, 100, %s)",
                (estate, estate, zone, Jsonb(windows)),
            )
        # Uneven batches, like the ingester's; an empty one counts nothing.
        cuts = [0, 1, 700, 700, 2500, len(df)]
        counted = [_add(conn, df.iloc[a:b]) for a, b in pairwise(cuts)]
        assert counted == [b - a for a, b in pairwise(cuts)]
        daily = pd.DataFrame(
            conn.execute(
                "SELECT estate_id, day, category, drops, weight_g, identified_drops,"
                " in_window_drops FROM daily_category"
            ).fetchall(),
            columns=["estate_id", "day", "category", "drops", "weight_g", "identified", "inw"],
        )
        days = pd.DataFrame(
            conn.execute(
                "SELECT estate_id, day, household, drops, dry_g, wet_g, recyclable_g,"
                " hazardous_g, construction_g FROM household_days"
            ).fetchall(),
            columns=["estate_id", "day", "household", "drops", *(f"{c}_g" for c in CATEGORIES)],
        )
        months_sql = (
            "SELECT estate_id, month, household, days, drops, dry_g, wet_g, recyclable_g,"
            " hazardous_g, construction_g FROM household_months ORDER BY 1, 2, 3"
        )
        months = conn.execute(months_sql).fetchall()
        conn.execute("SELECT fenlei_rebuild_household_months(%s)", (list(ESTATES),))
        rebuilt = conn.execute(months_sql).fetchall()

    want_daily = (
        df.groupby(["estate_id", "day", "category"])
        .agg(
            drops=("weight_g", "size"),
            weight_g=("weight_g", "sum"),
            identified=("household", "count"),
            inw=("in_window", "sum"),
        )
        .sort_index()
    )
    got_daily = daily.set_index(["estate_id", "day", "category"]).sort_index()
    pd.testing.assert_frame_equal(got_daily, want_daily, check_dtype=False)

    known = df[df["household"].notna()]
    keys = ["estate_id", "day", "household"]
    want_days = known.groupby(keys).size().to_frame("drops").join(_grams(known, keys))
    got_days = days.set_index(keys).sort_index()
    pd.testing.assert_frame_equal(got_days, want_days.sort_index(), check_dtype=False)

    known = known.assign(month=[d.replace(day=1) for d in known["day"]])
    mkeys = ["estate_id", "month", "household"]
    bits = known.groupby(mkeys)["day"].agg(
        lambda ds: sum(1 << (d - 1) for d in {x.day for x in ds})  # bit d-1 for day d
    )
    want_months = (
        bits.to_frame("days")
        .join(known.groupby(mkeys).size().to_frame("drops"))
        .join(_grams(known, mkeys))
        .sort_index()
    )
    got_months = pd.DataFrame(months, columns=[*mkeys, *want_months.columns]).set_index(mkeys)
    pd.testing.assert_frame_equal(got_months, want_months, check_dtype=False)
    assert rebuilt == months
