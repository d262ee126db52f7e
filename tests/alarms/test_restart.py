"""SIGKILL of `fenlei alarms` mid-run and a restart: no open alarm lost or duplicated.

Real broker, ingester and evaluator processes; the check is the count of what the test
published per (bin, kind), not anything the evaluator computed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ingest.contract import events_topic
from simulators.broker import Broker
from tests.alarms.helpers import alarms, now_iso
from tests.fix_data import register, scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import TOPIC_DRY, canary, count, publish

pytestmark = pytest.mark.integration
BINS = ["k-1", "k-2", "k-3", "k-4"]
KINDS = ["overflow", "odour", "tilt"]


class Evaluator:
    def __init__(self, services: Services, log_dir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
        self.env.update(
            {
                "FENLEI_DATABASE_URL": services.database_url,
                "FENLEI_ALARM_INTERVAL_S": "0.05",
                "FENLEI_LOG_LEVEL": "INFO",
                "FENLEI_HOME": str(log_dir),
            }
        )
        self.log_path = log_dir / "alarms.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fenlei", "alarms"], env=self.env, stdout=log, stderr=log
            )

    def stop(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self.proc = None
        return code


@pytest.fixture
def evaluator(services: Services, tmp_path: Path) -> Iterator[Evaluator]:
    ev = Evaluator(services, tmp_path)
    yield ev
    if ev.proc is not None:
        ev.stop(signal.SIGKILL)


def test_sigkill_and_restart_neither_lose_nor_duplicate(
    db_url: str,
    broker: Broker,
    ingest_factory: object,
    evaluator: Evaluator,
) -> None:
    register(db_url, rooms={"r1": {"b-dry": "dry"}, "r2": {b: "wet" for b in BINS}})
    ingest: IngestProcess = ingest_factory().start()  # type: ignore[operator]
    canary(db_url, broker)
    rng = random.Random(16)
    published: Counter[tuple[str, str]] = Counter()
    done = threading.Event()

    def publisher() -> None:
        for round_no in range(40):
            batch: list[tuple[str, object]] = []
            for i in range(25):
                b, k = rng.choice(BINS), rng.choice(KINDS)
                published[(b, k)] += 1
                batch.append(
                    (
                        events_topic("jjq", "r2", b),
                        {
                            "event_id": f"k-{round_no}-{i}",
                            "ts": now_iso(-200 + round_no),
                            "kind": "alarm",
                            "alarm": k,
                        },
                    )
                )
            publish(broker, batch)
            time.sleep(0.05)
        done.set()

    evaluator.start()
    thread = threading.Thread(target=publisher)
    thread.start()
    kills = 0
    while not done.is_set():
        time.sleep(rng.uniform(0.2, 0.6))
        evaluator.stop(signal.SIGKILL)
        kills += 1
        evaluator.start()
    thread.join()
    total = sum(published.values())
    wait_for(lambda: count(db_url, "kind = 'alarm'"), lambda c: c == total, what="all stored")

    def per_key() -> dict[tuple[str, str], list[int]]:
        out: dict[tuple[str, str], list[int]] = {}
        for r in alarms(db_url):
            out.setdefault((str(r["bin_id"]), str(r["kind"])), []).append(int(r["repeats"]))
        return out

    want = {key: [n] for key, n in published.items()}
    wait_for(per_key, lambda got: got == want, timeout=30, what="one record per key")
    evaluator.stop(signal.SIGKILL)
    evaluator.start()
    time.sleep(1.0)
    assert per_key() == want
    assert {r["state"] for r in alarms(db_url)} == {"open"}
    assert kills >= 3
    assert evaluator.stop(signal.SIGTERM) == 0
    ingest.stop()


@pytest.mark.slow
def test_offline_in_real_time_within_n_minutes_and_30_s(
    db_url: str, broker: Broker, ingest_factory: object, evaluator: Evaluator
) -> None:
    """The running evaluator on the wall clock: a bin that stops sending is offline
    within offline_minutes + 30 s of its last message, and back when it sends again."""
    register(db_url)
    ingest: IngestProcess = ingest_factory().start()  # type: ignore[operator]
    canary(db_url, broker)  # b-dry's last message
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO alarm_settings (estate_id, offline_minutes, offline_window_minutes)"
            " VALUES ('jjq', 1, 1)"
        )
    last = scalar(db_url, "SELECT last_seen FROM bins WHERE id = 'b-dry'")
    assert isinstance(last, datetime)
    evaluator.env["FENLEI_ALARM_INTERVAL_S"] = "1"
    evaluator.start()
    rows = wait_for(
        lambda: alarms(db_url, "kind = 'offline' AND bin_id = 'b-dry'"),
        lambda r: len(r) == 1,
        timeout=120,
        interval=0.5,
        what="the offline alarm",
    )
    assert rows[0]["opened_at"] - last <= timedelta(minutes=1, seconds=30)
    assert rows[0]["opened_at"] - last >= timedelta(minutes=1)
    assert alarms(db_url, "kind = 'offline' AND bin_id = 'b-wet'") == []  # never sent
    publish(
        broker,
        [(TOPIC_DRY, {"event_id": "back", "ts": now_iso(), "kind": "drop", "weight_g": 250})],
    )
    wait_for(
        lambda: alarms(db_url, "kind = 'offline' AND bin_id = 'b-dry'")[0]["state"],
        lambda s: s == "resolved",
        timeout=30,
        what="offline resolved",
    )
    assert evaluator.stop(signal.SIGTERM) == 0
    ingest.stop()
