"""Registering a simulated estate through SQL, and reading what the ingester made of it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
import psycopg

from ingest.contract import events_topic
from simulators.estate import Estate
from simulators.publisher import Publisher
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess


def register_sql(db_url: str, estate: Estate) -> None:
    """The registry rows of ``estate`` (what the API's registry routes would write)."""
    spec = estate.spec
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO estates (id, name, timezone, households_total, drop_windows)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                spec.id,
                spec.name,
                spec.timezone,
                spec.households_total,
                orjson.dumps([list(w) for w in spec.drop_windows]).decode(),
            ),
        )
        buildings = sorted({h.building for h in estate.households})
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO buildings (estate_id, id) VALUES (%s, %s)",
                [(spec.id, b) for b in buildings],
            )
            cur.executemany(
                "INSERT INTO households (estate_id, id, building_id, building_group_id,"
                " enrolled_on) VALUES (%s, %s, %s, %s, %s)",
                [
                    (spec.id, h.id, h.building, h.building_group, h.enrolled_on)
                    for h in estate.households
                ],
            )
            cur.executemany(
                "INSERT INTO rooms (estate_id, id) VALUES (%s, %s)",
                [(spec.id, r) for r in estate.rooms()],
            )
            cur.executemany(
                "INSERT INTO bins (estate_id, room_id, id, category) VALUES (%s, %s, %s, %s)",
                [(spec.id, b.room, b.id, b.category) for b in estate.bins],
            )


def start_ingester(
    db_url: str, mqtt_url: str, ingest_factory: Callable[..., IngestProcess]
) -> IngestProcess:
    """A running, subscribed ingester logging JSON totals often (for duplicate counts)."""
    from tests.fix_data import register

    register(db_url, estate="canary", rooms={"r1": {"b-dry": "dry"}})
    proc = ingest_factory(FENLEI_LOG_FORMAT="json", FENLEI_SUMMARY_INTERVAL_S="0.1").start()
    _canary(db_url, mqtt_url)
    return proc


def _canary(db_url: str, mqtt_url: str) -> None:
    """Republish one event on the canary estate until stored: the ingester is subscribed."""
    key = f"canary-{uuid.uuid4().hex[:8]}"
    body = orjson.dumps(
        {"event_id": key, "ts": "2026-03-23T08:00:00+08:00", "kind": "drop", "weight_g": 1}
    )

    def probe() -> object:
        with Publisher(mqtt_url, f"test-canary-{key}") as pub:
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


def db_figures(db_url: str, estate: str, start: date, end: date) -> dict[str, Any]:
    """The figures from the ingester's rollups and the registry, by the brief's rules."""
    with psycopg.connect(db_url) as conn:
        total, enrolled = conn.execute(
            "SELECT e.households_total, (SELECT count(*) FROM households h"
            "  WHERE h.estate_id = e.id AND h.enrolled_on <= %s)"
            " FROM estates e WHERE e.id = %s",
            (end, estate),
        ).fetchone()  # type: ignore[misc]
        active = conn.execute(
            "SELECT count(DISTINCT d.household) FROM household_days d"
            " JOIN households h ON h.estate_id = d.estate_id AND h.id = d.household"
            " WHERE d.estate_id = %s AND d.day BETWEEN %s AND %s AND h.enrolled_on <= %s",
            (estate, start, end, end),
        ).fetchone()[0]  # type: ignore[index]
        grams: dict[str, int] = dict(
            conn.execute(
                "SELECT category, sum(weight_g)::bigint FROM daily_category"
                " WHERE estate_id = %s AND day BETWEEN %s AND %s GROUP BY category",
                (estate, start, end),
            ).fetchall()
        )
        drops, in_window = conn.execute(
            "SELECT sum(drops)::int, sum(in_window_drops)::int FROM daily_category"
            " WHERE estate_id = %s AND day BETWEEN %s AND %s",
            (estate, start, end),
        ).fetchone()  # type: ignore[misc]
        daily: dict[str, int] = dict(
            conn.execute(
                "SELECT day::text, sum(weight_g)::bigint FROM daily_category"
                " WHERE estate_id = %s AND day BETWEEN %s AND %s GROUP BY day",
                (estate, start, end),
            ).fetchall()
        )
        by_kind: dict[str, int] = dict(
            conn.execute(
                "SELECT kind, count(*) FROM events WHERE estate_id = %s GROUP BY kind", (estate,)
            ).fetchall()
        )
    household_g = sum(grams.get(c, 0) for c in ("dry", "wet", "recyclable", "hazardous"))
    return {
        "households_total": total,
        "households_enrolled": enrolled,
        "households_active": active,
        "coverage": enrolled / total,
        "participation_rate": active / enrolled,
        "wet_share": grams["wet"] / household_g,
        "grams": grams,
        "drops": drops,
        "in_window_share": in_window / drops,
        "daily_grams": daily,
        "by_kind": by_kind,
    }


def rejections_by_reason(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return dict(
            conn.execute(
                "SELECT reason, count(*)::int FROM rejected_messages"
                " WHERE estate_id IS DISTINCT FROM 'canary'"
                " GROUP BY reason"
            ).fetchall()
        )
