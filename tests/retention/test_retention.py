"""Raw-event retention (deploy/retention.py): dropping old events chunks keeps every figure.

The figures come from the rollups, so after the raw events of a period are dropped the
API still answers for it, exactly: checked against the API's own answers before the
drop and against pandas over the raw events read before they were dropped. The dedupe
keys stay too, so an old event resent after the drop is still not counted twice.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest

from api.auth.tokens import Role
from api.settings import ApiSettings
from bench.storage import estate_ids, load
from dashboards.settings import DashboardSettings
from deploy import retention
from fenlei.app import create_app
from ingest import sql as ingest_sql
from tests.api.conftest import make_token

with warnings.catch_warnings():
    # As tests/api/conftest.py: Starlette's TestClient warns about httpx at import.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

FIRST = date(2025, 1, 1)
DAYS = 130
ESTATES = 2
HOUSEHOLDS = 30
KEEP_DAYS = 90
# The day after the last day, midnight UTC: "now" for the retention run.
NOW = datetime.combine(FIRST + timedelta(days=DAYS), time(0), UTC)
TZ = ZoneInfo("Asia/Shanghai")
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
PERIODS = {
    "all": (FIRST, FIRST + timedelta(days=DAYS - 1)),
    # Wholly before the cutoff: no raw event of it is left after the drop.
    "dropped": (FIRST, FIRST + timedelta(days=29)),
}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=2),
        DashboardSettings(session_secret="retention-test-secret"),
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def loaded(db_url: str) -> pd.DataFrame:
    """The generated events stored as the ingester stores them; returns the drops, read
    from the events table before anything is dropped."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        load(conn, ESTATES, DAYS, FIRST, households=HOUSEHOLDS)
        rows = conn.execute(
            "SELECT estate_id, ts, category, weight_g, household FROM events WHERE kind = 'drop'"
        ).fetchall()
    df = pd.DataFrame(rows, columns=["estate_id", "ts", "category", "weight_g", "household"])
    local = [t.astimezone(TZ) for t in df["ts"]]
    df["day"] = [t.date() for t in local]
    df["in_window"] = [
        time(7) <= t.time() < time(9) or time(18) <= t.time() < time(20) for t in local
    ]
    return df


def _figures(client: TestClient, headers: dict[str, str]) -> dict[tuple[str, str, str], Any]:
    out = {}
    for estate in estate_ids(ESTATES):
        for name, (start, end) in PERIODS.items():
            params = {"from": start.isoformat(), "to": end.isoformat()}
            for route in ("metrics", "daily"):
                r = client.get(f"/api/v1/estates/{estate}/{route}", params=params, headers=headers)
                assert r.status_code == 200, r.text
                out[(estate, name, route)] = r.json()
    return out


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _expected(df: pd.DataFrame) -> dict[str, Any]:
    """The registry-independent figures of some drops, and households active among them
    (every generated household is enrolled from the first day)."""
    g = {c: int(df.loc[df["category"] == c, "weight_g"].sum()) for c in CATEGORIES}
    household_g = g["dry"] + g["wet"] + g["recyclable"] + g["hazardous"]
    return {
        "drops": len(df),
        "households_active": df["household"].nunique(),
        "kg": {c: v / 1000 for c, v in g.items()},
        "wet_share": _ratio(g["wet"], household_g),
        "in_window_share": _ratio(int(df["in_window"].sum()), len(df)),
    }


def _assert_matches(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for key, value in want.items():
        if isinstance(value, dict):
            _assert_matches(got[key], value, f"{where}.{key}")
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12), f"{where}.{key}"
        else:
            assert got[key] == value, f"{where}.{key}: {got[key]!r} != {value!r}"


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    tables = ("events", "event_keys", "daily_category", "household_days", "household_months")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def test_figures_exact_after_raw_events_are_dropped(
    loaded: pd.DataFrame, client: TestClient, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = make_token(db_url, Role.viewer)
    before = _figures(client, viewer)
    caplog.set_level(logging.INFO, logger="fenlei.audit")
    with psycopg.connect(db_url, autocommit=True) as conn:
        counts = _counts(conn)
        dry = retention.drop_raw_events(conn, KEEP_DAYS, now=NOW, dry_run=True)
        assert _counts(conn) == counts  # a dry run drops nothing
        outcome = retention.drop_raw_events(conn, KEEP_DAYS, now=NOW)
        after_counts = _counts(conn)
        dropped_period = conn.execute(
            "SELECT count(*) FROM events WHERE ts < %s",
            (datetime.combine(PERIODS["dropped"][1] + timedelta(days=1), time(0), TZ),),
        ).fetchone()
        oldest_kept = conn.execute("SELECT min(ts) FROM events").fetchone()
    assert dry.chunks == outcome.chunks and len(outcome.chunks) >= 5
    cutoff = NOW - timedelta(days=KEEP_DAYS)
    assert all(c.end <= cutoff for c in outcome.chunks)
    # Raw events: the old ones gone, at least KEEP_DAYS kept (whole chunks only).
    assert dropped_period == (0,)
    assert oldest_kept is not None and oldest_kept[0] <= cutoff
    assert after_counts["events"] < counts["events"]
    # Keys and rollups untouched.
    assert {k: v for k, v in after_counts.items() if k != "events"} == {
        k: v for k, v in counts.items() if k != "events"
    }
    # The drop is in the audit log.
    audits = [r for r in caplog.records if getattr(r, "audit", None) == "raw_events_dropped"]
    assert len(audits) == 1 and vars(audits[0])["chunks"] == len(outcome.chunks)

    after = _figures(client, viewer)
    assert after == before
    for (estate, name, route), got in after.items():
        start, end = PERIODS[name]
        df = loaded[(loaded["estate_id"] == estate) & loaded["day"].between(start, end)]
        if route == "metrics":
            _assert_matches(got, _expected(df), f"{estate}/{name}/metrics")
        else:
            days = got["days"]
            assert len(days) == (end - start).days + 1
            for d in days:
                one = df[df["day"] == date.fromisoformat(d["day"])]
                want = _expected(one)
                want["identified_drops"] = int(one["household"].notna().sum())
                _assert_matches(d, want, f"{estate}/{name}/{d['day']}")


def test_old_event_resent_after_the_drop_counts_once(loaded: pd.DataFrame, db_url: str) -> None:
    """The keys outlive the raw events: a resend (even with a corrected ts) of an event
    whose chunk was dropped is not stored and not counted again."""
    with psycopg.connect(db_url) as conn:
        retention.drop_raw_events(conn, KEEP_DAYS, now=NOW)
        old = conn.execute(
            "SELECT k.bin_key, k.event_id, k.ts, b.estate_id, b.category FROM event_keys k"
            " JOIN bins b USING (bin_key) WHERE k.ts < %s AND b.category = 'wet'"
            " ORDER BY k.ts LIMIT 1",
            (NOW - timedelta(days=KEEP_DAYS + 7),),
        ).fetchone()
        assert old is not None
        bin_key, event_id, ts, estate, category = old
        assert conn.execute(
            "SELECT count(*) FROM events WHERE bin_key = %s AND event_id = %s", (bin_key, event_id)
        ).fetchone() == (0,)
        rollup = "SELECT sum(drops), sum(weight_g) FROM daily_category WHERE estate_id = %s"
        totals = conn.execute(rollup, (estate,)).fetchone()
        conn.execute(ingest_sql.load("create_staging"))
        conn.execute(
            "INSERT INTO ingest_staging (ts, bin_key, event_id, estate_id, category, kind,"
            " weight_g, household, ord) VALUES (%s, %s, %s, %s, %s, 'drop', 500, 'x', 1)",
            (ts + timedelta(minutes=3), bin_key, event_id, estate, category),
        )
        stored = conn.execute(ingest_sql.load("store_batch")).fetchone()
        assert stored is not None and stored[0] == 0
        assert conn.execute(rollup, (estate,)).fetchone() == totals
        conn.rollback()


@pytest.mark.parametrize(
    ("value", "days"), [(None, None), ("", None), (" 90 ", 90), ("35", 35), ("400", 400)]
)
def test_setting(value: str | None, days: int | None) -> None:
    env = {} if value is None else {retention.SETTING: value}
    assert retention.days_from_env(env) == days


@pytest.mark.parametrize("value", ["abc", "9.5", "7", "34", "-90"])
def test_setting_refused(value: str) -> None:
    with pytest.raises(retention.RetentionError, match=retention.SETTING):
        retention.days_from_env({retention.SETTING: value})


def test_command_does_nothing_when_unset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(retention.SETTING, raising=False)
    monkeypatch.setenv("FENLEI_HOME", "/nonexistent-fenlei-home")
    assert retention.main([]) == 0
    assert "not set" in capsys.readouterr().out


def test_command_refuses_a_short_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(retention.SETTING, "10")
    assert retention.main([]) == 2
    assert "shorter than 35 days" in capsys.readouterr().err


def _drop_every_chunk(db_url: str) -> None:
    """Retention run far in the future: every raw event of the estates is gone."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        retention.drop_raw_events(conn, KEEP_DAYS, now=NOW + timedelta(days=365))
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_bin_with_retained_away_events_cannot_be_deleted(
    loaded: pd.DataFrame, client: TestClient, db_url: str
) -> None:
    """The keys are what keeps a used bin: deleting it is still refused."""
    _drop_every_chunk(db_url)
    admin = make_token(db_url, Role.admin)
    r = client.delete(f"/api/v1/estates/{estate_ids(1)[0]}/rooms/r1/bins/b-wet", headers=admin)
    assert r.status_code == 409, r.text


def test_bin_with_retained_away_events_keeps_its_category(
    loaded: pd.DataFrame, client: TestClient, db_url: str
) -> None:
    _drop_every_chunk(db_url)
    admin = make_token(db_url, Role.admin)
    r = client.put(
        f"/api/v1/estates/{estate_ids(1)[0]}/rooms/r1/bins/b-wet",
        json={"category": "dry"},
        headers=admin,
    )
    assert r.status_code == 409, r.text


def test_command_dry_run_lists_and_keeps(
    loaded: pd.DataFrame,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m deploy.retention --dry-run` against a database: lists, drops nothing
    (today is long after the generated year, so every chunk is due)."""
    monkeypatch.setenv("FENLEI_DATABASE_URL", db_url)
    monkeypatch.setenv("FENLEI_HOME", "/nonexistent-fenlei-home")
    with psycopg.connect(db_url) as conn:
        counts = _counts(conn)
        chunks = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'events'"
        ).fetchone()
    assert retention.main(["--days", "90", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert chunks is not None and f"would drop {chunks[0]} events chunk(s)" in out
    with psycopg.connect(db_url) as conn:
        assert _counts(conn) == counts
