"""`fenlei rejected replay`: quarantined events re-ingested once they can be stored."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import psycopg
import pytest

from ingest import quarantine
from ingest.batcher import Message
from ingest.contract import Event, Reason, Rejection, check_registered, events_topic, status_topic
from ingest.payload import parse_events
from ingest.replay import ALL_REASONS, ReplayReport, replay
from ingest.settings import IngestSettings
from ingest.writer import Writer
from simulators.broker import Broker
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_stream import canary, count, drop, publish

pytestmark = pytest.mark.integration

NEW_TOPIC = events_topic("jjq", "r1", "b-new")  # registered only after its events came
NOW = datetime(2026, 3, 25, tzinfo=UTC)


def sent_drops(prefix: str, n: int, seed: int = 7) -> list[dict[str, object]]:
    """Drops over three local days; :30 s, so none falls on a window's edge."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 21, 16, 0, 30, tzinfo=UTC)  # 22 March 00:00:30 in Shanghai
    out = []
    for i in range(n):
        ts = start + timedelta(minutes=rng.randrange(3 * 24 * 60))
        extra = {"household": f"h-{rng.randrange(12)}"} if rng.random() < 0.7 else {}
        out.append(
            drop(f"{prefix}-{i}", ts=ts.isoformat(), weight_g=rng.randrange(50, 3000), **extra)
        )
    return out


def as_events(topic: str, wire: list[dict[str, object]]) -> list[Event]:
    parsed = parse_events(topic, orjson.dumps(wire), NOW)
    assert not parsed.rejections
    return parsed.events


def unknown_bin(events: list[Event]) -> list[Rejection]:
    """What the writer quarantines for events of a bin not registered."""
    found = [check_registered(e, None) for e in events]
    return [r for r in found if r is not None]


def quarantined(db_url: str, rejections: list[Rejection]) -> None:
    """Quarantine as the writer does."""
    with psycopg.connect(db_url) as conn:
        quarantine.store(conn, rejections, 1_000)


def rollups(db_url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with psycopg.connect(db_url) as conn:
        daily = conn.execute(
            "SELECT day::text, drops, weight_g, identified_drops, in_window_drops"
            " FROM daily_category WHERE category = 'wet' ORDER BY 1"
        ).fetchall()
        households = conn.execute(
            "SELECT day::text, household, drops, wet_g FROM household_days ORDER BY 1, 2"
        ).fetchall()
    return daily, households


def expected_rollups(
    sent: list[dict[str, object]],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The wet bin's rollups by pandas over what was published (each event once)."""
    df = pd.DataFrame(sent).drop_duplicates("event_id")
    local = pd.to_datetime(df["ts"], utc=True).dt.tz_convert("Asia/Shanghai")
    df["day"] = local.dt.strftime("%Y-%m-%d")
    minute = local.dt.hour * 60 + local.dt.minute
    df["in_window"] = minute.between(7 * 60, 9 * 60 - 1) | minute.between(18 * 60, 20 * 60 - 1)
    daily = df.groupby("day").agg(
        drops=("event_id", "size"),
        weight_g=("weight_g", "sum"),
        identified=("household", "count"),
        in_window=("in_window", "sum"),
    )
    households = (
        df.dropna(subset=["household"])
        .groupby(["day", "household"])
        .agg(drops=("event_id", "size"), wet_g=("weight_g", "sum"))
    )
    return (
        [
            (
                r["day"],
                int(r["drops"]),
                int(r["weight_g"]),
                int(r["identified"]),
                int(r["in_window"]),
            )
            for r in daily.reset_index().to_dict("records")
        ],
        [
            (r["day"], r["household"], int(r["drops"]), int(r["wet_g"]))
            for r in households.reset_index().to_dict("records")
        ],
    )


def replay_cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env |= {"FENLEI_DATABASE_URL": db_url, "FENLEI_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "fenlei", "rejected", "replay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_replay_stores_quarantined_unknown_bin_events_once_their_bin_is_registered(
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
    tmp_path: Path,
) -> None:
    register(db_url)
    ingest_factory().start()
    canary(db_url, broker)
    sent = sent_drops("late", 300)
    resent = sent[100:130]  # a device resending part of its buffer
    messages: list[tuple[str, object]] = [
        (NEW_TOPIC, orjson.dumps(sent[i : i + 10])) for i in range(0, len(sent), 10)
    ]
    messages += [(NEW_TOPIC, orjson.dumps(e)) for e in resent]
    messages.append((NEW_TOPIC, b"{garbage"))
    publish(broker, messages, raw=True)
    where = f"topic = '{NEW_TOPIC}'"
    wait_for(
        lambda: count(db_url, where, "rejected_messages"),
        lambda n: n >= len(sent) + len(resent) + 1,
        what="the new bin's events quarantined",
    )
    assert count(db_url, f"{where} AND reason = 'unknown_bin'", "rejected_messages") == 330

    register(db_url, rooms={"r1": {"b-new": "wet"}})
    done = replay_cli(db_url, tmp_path, "--reason", "unknown_bin", "--json")
    report = json.loads(done.stdout)
    assert report["rows_read"] == 330
    assert (report["events_stored"], report["duplicates"]) == (300, 30)
    assert report["rejected_again"] == {}

    with psycopg.connect(db_url) as conn:
        per_event: dict[str, int] = dict(
            conn.execute(
                "SELECT e.event_id, count(*) FROM events e JOIN bins b USING (bin_key)"
                " WHERE b.id = 'b-new' GROUP BY 1"
            ).fetchall()
        )
        left = conn.execute(
            "SELECT reason, count(*) FROM rejected_messages WHERE topic = %s GROUP BY 1",
            (NEW_TOPIC,),
        ).fetchall()
        kept = conn.execute(
            "SELECT kept FROM rejected_tally WHERE topic = %s AND reason = 'unknown_bin'",
            (NEW_TOPIC,),
        ).fetchone()
    assert per_event == {e["event_id"]: 1 for e in sent}
    assert rollups(db_url) == expected_rollups(sent)
    assert left == [("bad_json", 1)]  # not a reason replayed by default
    assert kept == (0,)

    again = replay_cli(db_url, tmp_path)  # the default reasons, the report for people
    assert "rows read                0" in again.stdout
    assert "events stored            0" in again.stdout
    assert count(db_url, "event_id LIKE 'late-%'") == 300
    assert rollups(db_url) == expected_rollups(sent)


def test_a_replay_that_died_after_storing_counts_nothing_twice(db_url: str) -> None:
    register(db_url)
    sent = sent_drops("died", 20)
    events = as_events(NEW_TOPIC, sent)
    quarantined(db_url, unknown_bin(events))
    register(db_url, rooms={"r1": {"b-new": "wet"}})
    # The first replay marked its chunk and stored it, then died before removing it.
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE rejected_messages SET replaying_since = now()")
    writer = Writer(db_url)
    assert writer.store([Message(0, 1, 0.0, events)]).stored == 20
    writer.close()
    before = rollups(db_url)
    assert before == expected_rollups(sent)

    report = replay(IngestSettings(database_url=db_url))
    assert (report.rows_read, report.events_stored, report.duplicates) == (20, 0, 20)
    assert rollups(db_url) == before
    assert count(db_url, "true", "rejected_messages") == 0
    assert scalar(db_url, "SELECT kept FROM rejected_tally WHERE reason = 'unknown_bin'") == 0


def test_rows_refused_again_are_replaced_not_piled_up(db_url: str) -> None:
    register(db_url)
    events = as_events(NEW_TOPIC, sent_drops("still", 8))
    truncated = Rejection(NEW_TOPIC, Reason.bad_json, "cut", b"[" + b'{"a": 1},' * 1000)
    quarantined(db_url, [*unknown_bin(events), truncated])
    first_ids = {r[0] for r in _rows(db_url)}
    progress: list[int] = []

    def run() -> ReplayReport:
        return replay(
            IngestSettings(database_url=db_url),
            ["unknown_bin", "bad_json"],
            chunk_rows=3,
            progress=lambda r: progress.append(r.rows_read),
        )

    report = run()  # the bin is still not registered
    assert (report.rows_read, report.events_stored) == (9, 0)
    assert report.rejected_again == {"unknown_bin": 8, "bad_json": 1}
    assert progress == [3, 6, 9]
    rows = _rows(db_url)
    assert sorted(r[1] for r in rows) == ["bad_json"] + ["unknown_bin"] * 8
    assert min(r[0] for r in rows) > max(first_ids)  # replaced, with fresh details
    assert "not registered" in next(r[2] for r in rows if r[1] == "unknown_bin")
    assert next(r[2] for r in rows if r[1] == "bad_json") != "cut"
    again = run()
    assert again.rows_read == 9 and len(_rows(db_url)) == 9
    assert scalar(db_url, "SELECT sum(kept) FROM rejected_tally") == 9


def _rows(db_url: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT id, reason, detail FROM rejected_messages ORDER BY id"
        ).fetchall()


def test_replay_takes_only_the_rows_asked_for(db_url: str) -> None:
    for estate in ("e1", "e2"):
        register(db_url, estate=estate, rooms={"r1": {"b1": "dry"}})
    t1, t2 = events_topic("e1", "r1", "b1"), events_topic("e2", "r1", "b1")
    old = as_events(t1, [drop("old-1")])
    new = as_events(t1, [drop("new-1")])
    other = as_events(t2, [drop("other-1")])
    weight = parse_events(t1, orjson.dumps([drop("w-1", weight_g=-5)]), NOW).rejections
    assert [r.reason for r in weight] == [Reason.bad_weight]
    status = Rejection(status_topic("e1", "r1", "b1"), Reason.bad_type, "x", b'{"online": 1}')
    quarantined(db_url, [*unknown_bin(old + new + other), *weight, status])
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE rejected_messages SET received_at = now() - interval '10 days'"
            " WHERE position(convert_to('\"old-1\"', 'UTF8') in payload) > 0"
        )
    settings = IngestSettings(database_url=db_url)
    since = datetime.now(UTC) - timedelta(days=1)

    dry = replay(settings, list(ALL_REASONS), dry_run=True)
    assert (dry.rows_read, dry.events_valid, dry.rejected_again) == (4, 3, {"bad_weight": 1})
    assert len(_rows(db_url)) == 5 and count(db_url) == 0

    report = replay(settings, ["unknown_bin"], estate="e1", since=since)
    assert (report.rows_read, report.events_stored) == (1, 1)
    assert scalar(db_url, "SELECT string_agg(event_id, ',') FROM events") == "new-1"

    report = replay(settings, list(ALL_REASONS), estate="e1")
    assert (report.rows_read, report.events_stored, report.rejected_again) == (
        2,
        1,
        {"bad_weight": 1},
    )
    left = sorted((r[1], r[2][:20]) for r in _rows(db_url))
    assert [reason for reason, _ in left] == ["bad_type", "bad_weight", "unknown_bin"]
    assert count(db_url, "event_id IN ('new-1', 'old-1')") == 2  # other-1: e2, not asked for
