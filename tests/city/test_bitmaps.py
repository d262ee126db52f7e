"""The household bitmaps (migration 0024) against pandas over the raw drops and spells.

Drops go in through the rollups' own function (`fenlei_add_drops`) in several batches,
households appearing over time (so bitmaps of one estate differ in length); the
registry has history (late enrolments, departures, re-enrolments) and changes after
the drops were counted (backdated spells added, ended, deleted, a household deleted).
For random periods, mid-month edges included, the estates' figures by the bitmaps
(`ESTATES_BITS_SQL`) equal pandas over the drops and spells, and the queries before the
bitmaps; again after a rebuild of the rollups.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from psycopg.rows import dict_row

from api.metrics import repository

pytestmark = pytest.mark.integration

CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
ZONES = {"sh": "Asia/Shanghai", "ny": "America/New_York", "e3": "Asia/Shanghai"}
START = date(2025, 12, 20)
DAYS = 110  # into April: several month ends, partial months at both ends


def _registry(conn: psycopg.Connection[Any], rng: random.Random) -> list[tuple[Any, ...]]:
    """Estates, households and spells (estate, household, enrolled_on, left_on)."""
    spells: list[tuple[Any, ...]] = []
    for estate, zone in ZONES.items():
        conn.execute(
            "INSERT INTO estates (id, name, households_total, timezone) VALUES (%s, %s, 80, %s)",
            (estate, estate, zone),
        )
        conn.execute("INSERT INTO buildings (estate_id, id) VALUES (%s, '1')", (estate,))
        for n in range(60):
            hid = f"h{n:02d}"
            conn.execute("INSERT INTO households (estate_id, id) VALUES (%s, %s)", (estate, hid))
            conn.execute(
                "INSERT INTO household_memberships (estate_id, household_id, valid_from,"
                " building_id) VALUES (%s, %s, '-infinity', '1')",
                (estate, hid),
            )
            if rng.random() < 0.1:
                continue  # never enrolled
            on = START + timedelta(days=rng.randrange(-30, DAYS))
            left = on + timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.3 else None
            spells.append((estate, hid, on, left))
            if left is not None and rng.random() < 0.5:
                spells.append((estate, hid, left + timedelta(days=rng.randrange(0, 20)), None))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO household_spells (estate_id, household_id, enrolled_on, left_on)"
            " VALUES (%s, %s, %s, %s)",
            spells,
        )
    return spells


def _drops(rng: random.Random, n: int) -> pd.DataFrame:
    rows = []
    base = datetime.combine(START, datetime.min.time(), UTC)
    for _ in range(n):
        # Households 60..69 are tokens the registry does not know; later ones appear late.
        hh = rng.randrange(70)
        rows.append(
            {
                "estate_id": rng.choice(list(ZONES)),
                "ts": base + timedelta(seconds=rng.randrange(DAYS * 86400)),
                "category": rng.choice(CATEGORIES),
                "weight_g": rng.randrange(50, 3000),
                "household": None if rng.random() < 0.1 else f"h{hh:02d}",
            }
        )
    df = pd.DataFrame(rows)
    df["day"] = [
        t.astimezone(ZoneInfo(ZONES[e])).date()
        for t, e in zip(df["ts"], df["estate_id"], strict=True)
    ]
    return df


def _add(conn: psycopg.Connection[Any], df: pd.DataFrame) -> None:
    conn.execute(
        "SELECT fenlei_add_drops(%s, %s, %s, %s, %s)",
        (
            list(df["estate_id"]),
            list(df["ts"]),
            list(df["category"]),
            [int(w) for w in df["weight_g"]],
            [h if isinstance(h, str) else None for h in df["household"]],
        ),
    )


def _expected(
    drops: pd.DataFrame, spells: list[tuple[Any, ...]], start: date, end: date
) -> dict[str, tuple[int, int, int, int]]:
    """Per estate: (enrolled on end, active, drops, wet grams), from the raw rows."""
    out = {}
    for estate in ZONES:
        enrolled = {
            h
            for e, h, on, left in spells
            if e == estate and on <= end and (left is None or left > end)
        }
        d = drops[(drops["estate_id"] == estate) & (drops["day"] >= start) & (drops["day"] <= end)]
        active = set(d["household"].dropna()) & enrolled
        wet = int(d.loc[d["category"] == "wet", "weight_g"].sum())
        out[estate] = (len(enrolled), len(active), len(d), wet)
    return out


def _got(conn: psycopg.Connection[Any], sql: str, start: date, end: date) -> dict[str, Any]:
    params = {"estates": list(ZONES), **repository.period_params(start, end)}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, params).fetchall()
    return {
        r["estate"]: (r["households_enrolled"], r["households_active"], r["drops"], r["wet_g"])
        for r in rows
    }


def _periods(rng: random.Random, n: int) -> list[tuple[date, date]]:
    out = [
        (date(2026, 1, 1), date(2026, 1, 31)),  # a whole month
        (date(2026, 1, 31), date(2026, 2, 1)),  # two edge days, no whole month
        (date(2025, 12, 1), date(2026, 4, 30)),  # past the data at both ends
        (date(2026, 2, 28), date(2026, 2, 28)),  # one day, a month's last
        (date(2025, 11, 1), date(2025, 11, 30)),  # before any bitmap
    ]
    for _ in range(n):
        a = START + timedelta(days=rng.randrange(-10, DAYS))
        out.append((a, a + timedelta(days=rng.randrange(0, 100))))
    return out


def _check(conn: psycopg.Connection[Any], drops: pd.DataFrame, spells: list[Any], rng: Any) -> int:
    checked = 0
    for start, end in _periods(rng, 25):
        want = _expected(drops, spells, start, end)
        got = _got(conn, repository.ESTATES_BITS_SQL, start, end)
        assert got == want, (start, end)
        assert _got(conn, repository.probes_sql(start, end), start, end) == want, (start, end)
        checked += 1
    return checked


def test_bitmaps_equal_pandas_through_registry_changes(db_url: str) -> None:
    rng = random.Random(17)
    with psycopg.connect(db_url, autocommit=True) as conn:
        spells = _registry(conn, rng)
        drops = _drops(rng, 6000)
        # Batches in time order, as an ingester would, and one late batch out of order.
        drops = drops.sort_values("ts").reset_index(drop=True)
        late = drops.sample(500, random_state=3)
        ontime = drops.drop(late.index)
        for part in range(6):
            _add(conn, ontime.iloc[part::6])
        _add(conn, late)
        assert _check(conn, drops, spells, rng) == 30

        # Registry changes after the drops: backdated, inside bitmapped months.
        estate, hid, on, _left = next(s for s in spells if s[3] is None and s[0] == "sh")
        ended = on + timedelta(days=5)
        conn.execute(
            "UPDATE household_spells SET left_on = %s WHERE estate_id = %s"
            " AND household_id = %s AND enrolled_on = %s",
            (ended, estate, hid, on),
        )
        spells = [
            (e, h, o, ended if (e, h, o) == (estate, hid, on) else lf) for e, h, o, lf in spells
        ]
        gone = next(s for s in spells if s[0] == "ny")
        conn.execute(
            "DELETE FROM household_spells WHERE estate_id = %s AND household_id = %s"
            " AND enrolled_on = %s",
            gone[:3],
        )
        spells.remove(gone)
        # A token with drops but no registry entry joins, enrolled since before the data.
        conn.execute("INSERT INTO households (estate_id, id) VALUES ('e3', 'h65')")
        conn.execute(
            "INSERT INTO household_spells (estate_id, household_id, enrolled_on)"
            " VALUES ('e3', 'h65', '2025-12-01')"
        )
        spells.append(("e3", "h65", date(2025, 12, 1), None))
        # A household deleted with its history (its drops stay as an unknown token's).
        conn.execute("DELETE FROM households WHERE estate_id = 'e3' AND id = 'h03'")
        spells = [s for s in spells if s[:2] != ("e3", "h03")]
        assert _check(conn, drops, spells, rng) == 30

        # More drops after the changes, new households among them (wider bitmaps).
        more = _drops(rng, 1500)
        more["household"] = [
            None if h is None else f"n{rng.randrange(200)}" for h in more["household"]
        ]
        _add(conn, more)
        drops = pd.concat([drops, more], ignore_index=True)
        assert _check(conn, drops, spells, rng) == 30

        # A rebuild from household_days gives the same bitmaps.
        before = conn.execute(
            "SELECT estate_id, day, active FROM household_day_bits ORDER BY 1, 2"
        ).fetchall()
        conn.execute("SELECT fenlei_rebuild_household_months(%s)", (list(ZONES),))
        after = conn.execute(
            "SELECT estate_id, day, active FROM household_day_bits ORDER BY 1, 2"
        ).fetchall()
        width: dict[str, int] = dict(
            conn.execute("SELECT * FROM household_ordinal_next").fetchall()
        )

        def padded(rows: list[Any]) -> list[Any]:
            return [(e, d, a.ljust(width[e], "0")) for e, d, a in rows]

        assert padded(before) == padded(after)
        assert _check(conn, drops, spells, rng) == 30
