"""The acknowledgement protocol from the device side, and a broker SIGKILLed mid-backlog.

The device side is checked against a stock paho client that records what reaches the
broker, with watermarks published by the test itself (the ingester's login). The
crash tests kill the session's own Mosquitto (the project's launcher) right after it
acknowledged a burst it had not saved yet, restart it, and count the stored copies
per (bin, event_id) against the simulator's ground truth.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from deploy import services as launcher
from deploy.settings import ServicesSettings
from ingest.contract import BinAddress, stored_topic
from simulators.broker import Broker, Login
from simulators.crash import Tally, tally
from simulators.delivery import FaultPlan, Message
from simulators.devices import Fleet, client_id
from simulators.estate import EstateSpec
from simulators.link import Resend
from simulators.probe import StoreProbe
from simulators.publisher import Publisher
from simulators.simulation import Simulation
from simulators.watermark import DeviceOptions, EventBuffer, Watermark, parse_watermark
from tests.fix_data import register as register_rows
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services
from tests.fix_stream import canary, last_summary
from tests.simulators.api_server import ApiServer
from tests.simulators.helpers import issue_logins, register, rejections_by_reason

DAY = date(2026, 5, 4)

# -- the buffer alone --------------------------------------------------------------------


def wire(seq: int) -> bytes:
    return orjson.dumps({"event_id": f"e-{seq}", "seq": seq})


def test_a_watermark_drops_what_it_covers_and_only_that() -> None:
    buf = EventBuffer(limit=100)
    for seq in (1, 2, 4, 3, 5, 6):  # one pair out of order, as on the wire
        buf.add(seq, f"e-{seq}", wire(seq))
    buf.add(3, "e-3", wire(3))  # a redelivered copy is one event
    assert buf.cover(Watermark(4, "e-4", "")) == 4
    assert buf.seqs() == [5, 6] and buf.watermark == 4
    assert buf.cover(Watermark(2, "e-2", "")) == 0, "an older watermark changes nothing"
    assert buf.watermark == 4
    assert buf.above() == [(5, wire(5)), (6, wire(6))], "kept byte for byte"
    # A watermark naming another event for a seq held here is about something else.
    assert buf.cover(Watermark(6, "other", "")) == 0
    assert buf.seqs() == [5, 6] and buf.mismatched == 1


def test_a_full_buffer_forgets_its_oldest_events() -> None:
    buf = EventBuffer(limit=3)
    for seq in range(1, 6):
        buf.add(seq, f"e-{seq}", wire(seq))
    assert buf.seqs() == [3, 4, 5]
    assert buf.forgotten == 2


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"seq": 0, "event_id": "a"}',
        b'{"seq": true, "event_id": "a"}',
        b'{"seq": 1.0, "event_id": "a"}',
        b'{"seq": 9007199254740992, "event_id": "a"}',
        b'{"seq": 3, "event_id": "NOT AN ID"}',
        b'{"seq": 3}',
    ],
)
def test_anything_but_a_watermark_is_ignored(payload: bytes) -> None:
    assert parse_watermark(payload) is None


def test_a_watermark_parses() -> None:
    mark = parse_watermark(
        b'{"seq": 7, "event_id": "20260504-00007", "at": "2026-05-04T01:00:00Z"}'
    )
    assert mark == Watermark(7, "20260504-00007", "2026-05-04T01:00:00Z")


def test_seqs_count_every_event_of_a_bin_from_1_and_repeat_with_the_seed() -> None:
    def seqs(seed: int) -> dict[str, list[int]]:
        sim = Simulation(EstateSpec().scaled(30, "seqs"), seed, DAY, date(2026, 5, 6))
        out: dict[str, list[int]] = {}
        for day in sim.days():
            for m in sim.day(day):
                for e in m.stored:
                    out.setdefault(e.address.bin, []).append(e.seq)
        return out

    first = seqs(3)
    for bin_seqs in first.values():
        assert bin_seqs == list(range(1, len(bin_seqs) + 1)), "+1 per event, over days"
    assert first == seqs(3)


def test_a_device_keeps_its_events_as_sent_so_a_resend_changes_nothing() -> None:
    # Skewed clocks and offline arrays included: what the bin keeps (and would resend)
    # is what it sent, not the events rebuilt with corrected clocks.
    plan = FaultPlan(duplicate=0.05, out_of_order=0.05, offline=0.3, malformed=0.05, clock_skew=0.3)
    sim = Simulation(EstateSpec().scaled(60, "as-sent"), 4, DAY, date(2026, 5, 6), plan)
    skewed = 0
    seen: dict[tuple[str, int], dict[str, object]] = {}
    for day in sim.days():
        for m in sim.day(day):
            if not m.events:
                continue  # a redelivered copy, garbage, a disconnect
            doc = orjson.loads(m.payload)
            assert list(m.events) == (doc if isinstance(doc, list) else [doc]), "as sent"
            for e in m.events:
                assert isinstance(e["seq"], int)
                first = seen.setdefault((m.address.bin, e["seq"]), dict(e))
                assert first == e, "one seq, one content"
            skewed += len(m.events) - len(m.stored)
    assert skewed > 0, "some events were sent with a skewed clock"


# -- the device side against the real broker --------------------------------------------


@dataclass
class Watcher:
    """A stock paho client recording every event payload that reaches the broker."""

    services: Services
    topic: str
    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        host, port = self.services.mqtt_host_port
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        if self.services.ingest is not None:  # the ingester's login reads every bin
            c.username_pw_set(self.services.ingest.username, self.services.ingest.password)
        subscribed = threading.Event()
        c.on_connect = lambda cl, *_: cl.subscribe(self.topic, qos=1)
        c.on_subscribe = lambda *_: subscribed.set()
        c.on_message = self._on_message
        c.connect(host, port)
        c.loop_start()
        assert subscribed.wait(10), "the watcher subscribed"
        self.client = c

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        doc = orjson.loads(msg.payload)
        with self.lock:
            for e in doc if isinstance(doc, list) else [doc]:
                self.got.append((msg.topic.split("/")[4], e))

    def since(self, n: int) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return self.got[n:]

    def count(self) -> int:
        with self.lock:
            return len(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ingest_broker(services: Services) -> Broker:
    """The broker as fenlei's ingester (the only login that may publish watermarks)."""
    login = services.ingest
    return Broker(services.mqtt_url, None, Login(login.username, login.password) if login else None)


def publish_watermark(services: Services, address: BinAddress, mark: Watermark) -> None:
    body = orjson.dumps({"seq": mark.seq, "event_id": mark.event_id, "at": mark.at})
    with Publisher(ingest_broker(services), f"test-wm-{uuid.uuid4().hex[:8]}") as pub:
        pub.publish(stored_topic(address.estate, address.room, address.bin), body, retain=True)
        pub.flush()
        pub.check_denied()


def take_over(broker: Broker, address: BinAddress) -> None:
    """Connect with the bin's client id and leave: the broker drops the bin's own
    connection (session taken over), and the bin reconnects by itself."""
    with Publisher(broker, client_id(address)):
        pass


def sent_events(messages: list[Message]) -> dict[str, list[dict[str, object]]]:
    """Every event the messages carry as sent, by bin."""
    out: dict[str, list[dict[str, object]]] = {}
    for m in messages:
        for e in m.events:
            out.setdefault(m.address.bin, []).append(e)
    return out


@pytest.fixture
def small_sim() -> Simulation:
    return Simulation(EstateSpec().scaled(30, f"wm-{uuid.uuid4().hex[:6]}"), 8, DAY, DAY)


@pytest.mark.integration
def test_devices_read_the_watermark_and_resend_exactly_what_is_above_it(
    services: Services, broker: Broker, small_sim: Simulation
) -> None:
    sim = small_sim
    watcher = Watcher(services, f"fenlei/v1/{sim.estate.id}/+/+/events")
    messages = sim.day(DAY)
    events = sent_events(messages)
    covered, mismatched, untouched = sorted(events, key=lambda b: -len(events[b]))[:3]
    address = {d.address.bin: d.address for d in sim.devices.values()}
    k = 10
    mark = Watermark(k, str(events[covered][k - 1]["event_id"]), "2026-05-04T00:00:00Z")
    # Retained before the bins connect: each reads its own on connecting.
    publish_watermark(services, address[covered], mark)
    try:
        with Fleet(broker, list(sim.devices.values())) as fleet:
            link = fleet.links[address[covered]]
            buf = link.buffer
            assert buf is not None
            wait_for(lambda: buf.watermark, lambda w: w == k, 10, what="the retained watermark")
            for m in messages:
                fleet.publish(m)
            fleet.flush()
            n = len(events[covered])
            assert buf.seqs() == list(range(1, n + 1)), "it keeps all it sent"
            # A live watermark (the ingester after a commit) drops what it covers.
            publish_watermark(services, address[covered], mark)
            wait_for(buf.seqs, lambda s: s == list(range(k + 1, n + 1)), 10)
            other = fleet.links[address[mismatched]].buffer
            assert other is not None
            publish_watermark(services, address[mismatched], Watermark(3, "not-its-event", ""))
            wait_for(lambda: other.mismatched, lambda c: c == 1, 10)
            assert len(other) == len(events[mismatched]), "a foreign watermark is ignored"

            before = watcher.count()
            for b in (covered, mismatched):
                take_over(broker, address[b])
            for b in (covered, mismatched):
                assert fleet.links[address[b]].pub.wait_connections(2, 30)
            fleet.wait_reconnected(1)
            fleet.flush()
            time.sleep(0.5)  # the watcher's copies of the last resend
            resent = watcher.since(before)
    finally:
        watcher.close()
    assert link.resends == [Resend(2, k, tuple(range(k + 1, n + 1)))]
    by_bin: dict[str, list[dict[str, Any]]] = {}
    for b, e in resent:
        by_bin.setdefault(b, []).append(e)
    # Above the watermark, all of it, unchanged: same event_id, same seq, same content.
    assert by_bin[covered] == events[covered][k:]
    assert by_bin[mismatched] == events[mismatched]
    assert untouched not in by_bin, "a bin that did not reconnect resends nothing"


@pytest.mark.integration
def test_legacy_devices_resend_nothing_after_a_reconnect(
    services: Services, broker: Broker, small_sim: Simulation
) -> None:
    sim = small_sim
    watcher = Watcher(services, f"fenlei/v1/{sim.estate.id}/+/+/events")
    messages = sim.day(DAY)
    some = messages[0].address
    try:
        with Fleet(
            broker, list(sim.devices.values()), options=DeviceOptions(resend=False)
        ) as fleet:
            for m in messages:
                fleet.publish(m)
            fleet.flush()
            time.sleep(0.5)
            before = watcher.count()
            take_over(broker, some)
            assert fleet.links[some].pub.wait_connections(2, 30)
            fleet.wait_reconnected(1)
            fleet.flush()
            time.sleep(1.0)
            assert fleet.links[some].buffer is None
            assert watcher.since(before) == []
            assert fleet.resends() == []
    finally:
        watcher.close()


# -- the crash ---------------------------------------------------------------------------

CRASH_DAYS = (date(2026, 5, 1), date(2026, 5, 4))
# Short, so the legacy run sees its gaps declared lost within the test.
GAP_TIMEOUT_S = 3.0


def launcher_settings(services: Services) -> ServicesSettings:
    if not isinstance(services.launcher_settings, ServicesSettings):
        pytest.skip("needs the project's own launcher to SIGKILL and restart Mosquitto")
    return services.launcher_settings


def keys_of(messages: list[Message]) -> set[tuple[str, str]]:
    return {(m.address.bin, str(e.wire["event_id"])) for m in messages for e in m.stored}


def seqs_of(messages: list[Message]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for m in messages:
        for e in m.stored:
            out.setdefault(m.address.bin, set()).add(e.seq)
    return out


def send(fleet: Fleet, messages: list[Message]) -> None:
    for m in messages:
        fleet.publish(m)
    fleet.flush()


def wait_saved_after(settings: ServicesSettings, moment: float) -> float:
    """Wait for the broker's next autosave after ``moment`` (time.time()); its mtime."""
    saved = wait_for(
        lambda: launcher.broker_saved_at(settings) or 0.0,
        lambda at: at > moment,
        timeout=settings.mqtt_autosave_interval_s * 3 + 5,
        what="the broker's autosave",
    )
    return saved


@dataclass
class CrashRun:
    """What one crash run sent, resent and left stored."""

    sim: Simulation
    days: list[list[Message]]  # the messages of each of the four days
    resends: list[tuple[BinAddress, Resend]]
    stored: Counter[tuple[str, str]]
    ingester: IngestProcess  # still running, restarted after the crash

    @property
    def burst(self) -> list[Message]:
        return self.days[2]

    def totals(self) -> dict[str, int]:
        """Stop the ingester; its totals since the restart."""
        assert self.ingester.stop(signal.SIGTERM) == 0
        return last_summary(self.ingester)


def crash_run(
    services: Services,
    db_url: str,
    broker: Broker,
    api: ApiServer,
    ingest_factory: Callable[..., IngestProcess],
    options: DeviceOptions,
    expect: Callable[[Simulation, list[list[Message]]], set[tuple[str, str]]],
) -> CrashRun:
    """Day 1 stored with the ingester running; the ingester stopped; day 2 queued at the
    broker and saved by its autosave; day 3 queued, acknowledged and, before the next
    autosave, the broker SIGKILLed; the broker restarted and the ingester with it; day 4.
    Returns once the stored keys equal ``expect(sim, days)``."""
    settings = launcher_settings(services)
    sim = Simulation(EstateSpec().scaled(400, f"crash-{uuid.uuid4().hex[:6]}"), 21, *CRASH_DAYS)
    days = [sim.day(d) for d in sim.days()]
    assert len(days) == 4 and all(days)
    register(api, sim)
    logins = issue_logins(api, sim)  # each bin its own login: it may read only its watermark
    register_rows(db_url)  # the canary's estate
    proc = ingest_factory(FENLEI_SEQ_GAP_TIMEOUT_S=str(GAP_TIMEOUT_S)).start()
    canary(db_url, broker)
    probe = StoreProbe(db_url, sim.estate.id)
    assert sim.first_ts is not None and sim.last_ts is not None
    first, last = sim.first_ts, sim.last_ts

    def stored() -> Counter[tuple[str, str]]:
        return probe.keys(first, last)

    try:
        with Fleet(broker.as_login(None), list(sim.devices.values()), logins, options) as fleet:
            send(fleet, days[0])
            wait_for(lambda: set(stored()), lambda k: k == keys_of(days[0]), what="day 1")
            if options.resend:
                # The ingester's watermarks reach the bins and free their buffers.
                wait_for(
                    lambda: sum(len(b) for b in buffers(fleet)),
                    lambda n: n == 0,
                    30,
                    what="day 1 covered by the watermarks",
                )
            assert proc.stop(signal.SIGTERM) == 0  # its session stays, queueing
            send(fleet, days[1])
            saved = wait_saved_after(settings, time.time())  # day 2 is on the broker's disk
            send(fleet, days[2])  # acknowledged by the broker, only in its memory
            assert launcher.kill_broker(settings) is not None
            assert launcher.broker_saved_at(settings) == saved, (
                "the broker saved between the burst and the kill: the burst took longer "
                "than its autosave interval"
            )
            launcher.up(settings)
            fleet.wait_reconnected(2, 60)
            resends = fleet.resends()
            proc.start()
            send(fleet, days[3])
            want = expect(sim, days)
            wait_for(lambda: set(stored()), lambda k: k == want, 120, what="the stored events")
            time.sleep(1.0)  # any late copy would be stored by now
            keys = stored()
    finally:
        probe.close()
        # Later tests need the session's broker, whatever happened here.
        if not launcher.is_running(settings)["mosquitto"]:
            launcher.up(settings)
    return CrashRun(sim, days, resends, keys, proc)


def buffers(fleet: Fleet) -> list[EventBuffer]:
    return [link.buffer for link in fleet.links.values() if link.buffer is not None]


def everything(sim: Simulation, days: list[list[Message]]) -> set[tuple[str, str]]:
    return set(sim.truth.keys)


def all_but_the_burst(sim: Simulation, days: list[list[Message]]) -> set[tuple[str, str]]:
    return set(sim.truth.keys) - keys_of(days[2])


@pytest.mark.integration
def test_sigkilled_broker_with_a_backlog_loses_and_duplicates_nothing_when_devices_resend(
    services: Services,
    db_url: str,
    broker: Broker,
    api: ApiServer,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    run = crash_run(services, db_url, broker, api, ingest_factory, DeviceOptions(), everything)
    t: Tally = tally(run.sim.truth.keys, run.stored)
    assert (len(t.lost), len(t.duplicated), len(t.unexpected)) == (0, 0, 0), t.as_json()
    assert t.expected == run.sim.truth.stored_events == sum(len(keys_of(d)) for d in run.days)
    # Each bin resent once, after the restart, exactly what was above the watermark
    # it read: all of days 2 and 3 (day 1 was covered before the crash).
    above = seqs_of(run.days[1] + run.days[2])
    assert {a.bin: set(r.seqs) for a, r in run.resends} == above
    assert all(r.connection == 2 for _, r in run.resends)
    # The burst reached the restarted ingester only through the resends: of what was
    # resent, all but the burst had reached it already (day 2, in its saved queue).
    resent = sum(len(r.seqs) for _, r in run.resends)
    assert run.totals()["duplicates"] == resent - len(keys_of(run.burst)) > 0
    assert rejections_by_reason(db_url) == {}, "no copy differed from the stored one"


@pytest.mark.integration
def test_sigkilled_broker_with_legacy_devices_reports_the_gap_of_exactly_the_missing_seqs(
    services: Services,
    db_url: str,
    broker: Broker,
    api: ApiServer,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    run = crash_run(
        services,
        db_url,
        broker,
        api,
        ingest_factory,
        DeviceOptions(resend=False),
        all_but_the_burst,
    )
    assert run.resends == []
    t = tally(run.sim.truth.keys, run.stored)
    assert set(t.lost) == keys_of(run.burst), "the crash lost the burst, all of it"
    assert not t.duplicated and not t.unexpected
    # The simulator's own record: seqs the broker acknowledged in the burst and that
    # never reached the database. The ingester can tell a seq is missing only when
    # a higher one of the bin is stored (day 4).
    burst = seqs_of(run.burst)
    after = {b: max(s) for b, s in seqs_of(run.days[3]).items()}
    expected = {b: sorted(s for s in seqs if s < after.get(b, 0)) for b, seqs in burst.items()}
    expected = {b: s for b, s in expected.items() if s}
    assert expected, "some bins have a gap to report"

    def reported() -> dict[str, list[int]]:
        r = httpx.get(
            f"{api.base_url}/api/v1/estates/{run.sim.estate.id}/bins",
            headers={"Authorization": f"Bearer {api.token}"},
            timeout=30.0,
        )
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()
        out: dict[str, list[int]] = {}
        for row in rows:
            lost = [s for g in row["seq_gaps"] for s in range(g["from_seq"], g["to_seq"] + 1)]
            assert row["seq_lost"] == len(lost), row
            if lost:
                out[row["id"]] = sorted(lost)
        return out

    got = wait_for(
        reported, lambda r: r == expected, GAP_TIMEOUT_S * 10, 0.5, what="the reported gaps"
    )
    assert got == expected
    assert run.totals()["duplicates"] == 0, "nothing was resent"


# -- `fenlei simulate --broker-crash` ----------------------------------------------------

CLI_ARGS = ["--households", "200", "--days", "4", "--end", "2026-05-08", "--seed", "31"]


def simulate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fenlei", "simulate", "--no-progress", *CLI_ARGS, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def cli_env(services: Services, db_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    return {**env, **services.env(), "FENLEI_DATABASE_URL": db_url, "FENLEI_HOME": str(home)}


@pytest.mark.integration
def test_broker_crash_refuses_a_broker_the_launcher_cannot_restart(
    services: Services, db_url: str, tmp_path: Path
) -> None:
    settings = launcher_settings(services)
    # No `fenlei services` in this home: nothing it could restart.
    done = simulate(
        "--estate", "refused", "--broker-crash", env=cli_env(services, db_url, tmp_path)
    )
    assert done.returncode == 1
    assert "none was started there" in done.stderr, done.stderr
    # The launcher's home, but the bins pointed at another broker.
    env = {**cli_env(services, db_url, settings.home_dir), "FENLEI_MQTT_URL": "mqtt://127.0.0.1:9"}
    done = simulate("--estate", "refused", "--broker-crash", env=env)
    assert done.returncode == 1
    assert "which is not the broker" in done.stderr, done.stderr
    done = simulate("--estate", "refused", "--broker-crash", "--no-wait", env=env)
    assert done.returncode == 1 and "FENLEI_DATABASE_URL" in done.stderr, done.stderr
    assert scalar(db_url, "SELECT count(*) FROM estates WHERE id = 'refused'") == 0


@pytest.mark.integration
def test_simulate_broker_crash_kills_restarts_and_counts_per_bin_and_event(
    services: Services,
    db_url: str,
    broker: Broker,
    api: ApiServer,
    tmp_path: Path,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    settings = launcher_settings(services)
    register_rows(db_url)
    ingest_factory().start()
    canary(db_url, broker)
    before = launcher.read_state(settings)
    assert before is not None and before.mqtt_pid
    env = {**cli_env(services, db_url, settings.home_dir), "FENLEI_API_TOKEN": api.token}
    truth_file, events_file = tmp_path / "truth.json", tmp_path / "events.jsonl"
    try:
        done = simulate(
            "--estate",
            "cli-crash",
            "--broker-crash",
            "--api",
            api.base_url,
            "--truth",
            str(truth_file),
            "--events",
            str(events_file),
            env=env,
        )
    finally:
        if not launcher.is_running(settings)["mosquitto"]:
            launcher.up(settings)
    assert done.returncode == 0, done.stdout + done.stderr
    after = launcher.read_state(settings)
    assert after is not None and after.mqtt_pid != before.mqtt_pid, "the broker was restarted"
    assert f"killed (pid {before.mqtt_pid})" in done.stdout, done.stdout
    assert "0 lost, 0 duplicated, 0 unexpected" in done.stdout, done.stdout
    report = orjson.loads(truth_file.read_bytes())["broker_crash"]
    assert report["killed_pid"] == before.mqtt_pid
    assert report["per_bin_event"]["lost"] == report["per_bin_event"]["duplicated"] == 0
    # Checked again here, from the events file the run wrote, not from its report.
    want = {
        (e["bin"], e["event_id"]) for e in map(orjson.loads, events_file.read_bytes().splitlines())
    }
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT b.id, e.event_id, count(*) FROM events e JOIN bins b USING (bin_key)"
            " WHERE e.estate_id = 'cli-crash' GROUP BY 1, 2"
        ).fetchall()
    assert {(b, ev): n for b, ev, n in rows} == dict.fromkeys(want, 1)
