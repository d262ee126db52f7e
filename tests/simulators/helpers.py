"""Registering a simulated estate through the API, and reading what the product made of it.

The figures are read from the real API (``/metrics`` and ``/daily``) and compared with
the simulator's ground truth, which is plain Python over the events it sent; raw
counts (events by kind, quarantine by reason) come straight from the tables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
import psycopg
import pytest

from ingest.contract import BinAddress, events_topic
from simulators.broker import Broker, Login
from simulators.publisher import Publisher
from simulators.registry_client import RegistryClient
from simulators.simulation import Simulation
from tests.fix_data import register as register_rows
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.simulators.api_server import ApiServer

# Figures are ratios of the same integers on both sides: equal but for float rounding.
EXACT = 1e-12


def register(api: ApiServer, *sims: Simulation) -> None:
    """Register the simulated estates as an installer would: the registry API."""
    with RegistryClient(api.base_url, api.token) as client:
        for sim in sims:
            client.register(sim.estate)


def issue_logins(api: ApiServer, sim: Simulation) -> dict[BinAddress, Login]:
    """Every bin's own MQTT login, issued by the API as an installer would get it."""
    with RegistryClient(api.base_url, api.token) as client:
        return client.issue_logins(sim.estate)


def start_ingester(
    db_url: str, broker: Broker, ingest_factory: Callable[..., IngestProcess]
) -> IngestProcess:
    """A running, subscribed ingester logging JSON totals often (for duplicate counts)."""
    register_rows(db_url, estate="canary", rooms={"r1": {"b-dry": "dry"}})
    proc = ingest_factory(FENLEI_LOG_FORMAT="json", FENLEI_SUMMARY_INTERVAL_S="0.1").start()
    _canary(db_url, broker)
    return proc


def _canary(db_url: str, broker: Broker) -> None:
    """Republish one event on the canary estate until stored: the ingester is subscribed."""
    key = f"canary-{uuid.uuid4().hex[:8]}"
    body = orjson.dumps(
        {"event_id": key, "ts": "2026-03-23T08:00:00+08:00", "kind": "drop", "weight_g": 1}
    )

    def probe() -> object:
        with Publisher(broker, f"test-canary-{key}") as pub:
            pub.publish(events_topic("canary", "r1", "b-dry"), body)
            pub.flush()
        return scalar(db_url, "SELECT count(*) FROM events WHERE event_id = %s", (key,))

    wait_for(probe, lambda c: c == 1, 60, interval=0.5, what="the canary event")


def totals(proc: IngestProcess) -> dict[str, Any]:
    """The ingester's latest logged totals (messages, stored, duplicates, rejected)."""
    last: dict[str, Any] = {}
    for line in proc.log().splitlines():
        if line.startswith("{") and '"duplicates"' in line:
            doc = orjson.loads(line)
            if doc.get("logger") == "fenlei.summary":
                last = doc
    return last


def settled_totals(proc: IngestProcess) -> dict[str, Any]:
    """Totals once they stop changing (late canary redeliveries included)."""
    time.sleep(1.0)
    return wait_for(lambda: totals(proc), lambda t: bool(t), what="an ingest summary")


def assert_api_equals_truth(
    api: ApiServer, estate: str, start: date, end: date, truth: dict[str, Any]
) -> None:
    """The API's figures of ``[start, end]`` equal the ground truth's ``figures``."""
    got = api.get(
        f"/estates/{estate}/metrics", **{"from": start.isoformat(), "to": end.isoformat()}
    )
    counts = ("households_total", "households_enrolled", "households_active", "drops")
    assert {k: got[k] for k in counts} == {k: truth[k] for k in counts}
    for key in (
        "coverage",
        "participation_rate",
        "wet_share",
        "wet_share_of_wet_dry",
        "in_window_share",
    ):
        assert got[key] == pytest.approx(truth[key], abs=EXACT), key
    assert got["kg"] == pytest.approx(truth["kg"], abs=EXACT)
    daily = api.get(
        f"/estates/{estate}/daily", **{"from": start.isoformat(), "to": end.isoformat()}
    )
    rows = {row["day"]: row for row in daily["days"]}
    assert len(rows) == (end - start).days + 1, "every day of the period is present"
    want = {d["day"]: d for d in truth["daily"]}
    for day, row in rows.items():
        if day not in want:  # no drop at all that day
            assert row["drops"] == 0, day
            continue
        w = want[day]
        for key in ("drops", "households_active", "households_enrolled"):
            assert row[key] == w[key], (day, key)
        assert row["participation_rate"] == pytest.approx(w["participation_rate"], abs=EXACT)
        assert row["kg"] == pytest.approx(w["kg"], abs=EXACT), day
    assert set(want) <= set(rows)


def stored_by_kind(db_url: str, estate: str) -> dict[str, int]:
    """Rows in ``events`` of the estate, by kind (a raw count of what was stored)."""
    with psycopg.connect(db_url) as conn:
        return dict(
            conn.execute(
                "SELECT kind, count(*)::int FROM events WHERE estate_id = %s GROUP BY kind",
                (estate,),
            ).fetchall()
        )


def rejections_by_reason(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return dict(
            conn.execute(
                "SELECT reason, count(*)::int FROM rejected_messages"
                " WHERE estate_id IS DISTINCT FROM 'canary'"
                " GROUP BY reason"
            ).fetchall()
        )
