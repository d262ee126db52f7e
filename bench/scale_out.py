"""Several ingesters on one `$share` group: throughput, how the stream splits, and the
exactly-once counts for 1, 2 and 3 members; then one member of three killed (SIGKILL)
and what happens to the messages in its session until it returns.

    python -m bench.scale_out                  # 60,000 messages per run
    python -m bench.scale_out --events 3000    # a quick check

Like bench.ingest, every run drains a backlog of N QoS-1 messages (one ~200-byte event
each, over 100 bins) that 4 publishers queued at the local Mosquitto (services.env;
consumers log in as `fenlei-ingest`, publishers as `fenlei-sim`) while the members'
persistent sessions were disconnected, so publishers and consumers do not share the
cores. Mosquitto splits a shared subscription's messages among the group's sessions as
they are published, connected or not, so each member's session holds its part of the
backlog. The members are `python -m ingest` processes with fixed client ids and one
share group (FENLEI_CLIENT_ID, FENLEI_SHARE_GROUP), on a scratch database
`fenlei_bench_scale` (dropped afterwards).

Writes the "## Several ingesters" section of bench/results/scale-out.md (other sections,
such as failover figures, are kept), with /proc/loadavg before and after each run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.ingest import (
    Target,
    drop_session,
    local_target,
    messages,
    publish_backlog,
    reset,
    scratch_database,
)
from bench.worktree import describe_checkout
from ingest.fastclient import describe_mqtt_path

RESULTS = Path(__file__).parent / "results" / "scale-out.md"
SECTION = "## Several ingesters"
SCALE_DB = "fenlei_bench_scale"
DEFAULT_EVENTS = 60_000
MEMBER_COUNTS = (1, 2, 3)
# The kill lands once this share of the backlog is stored: all members busy.
KILL_AT = 1 / 6
# Stored count unchanged this long: the live members have nothing more to store.
SETTLED_S = 5.0
DRAIN_TIMEOUT_S = 600.0
TOTALS = re.compile(r"ingest totals: messages=(\d+) stored=(\d+) duplicates=(\d+)")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass(frozen=True)
class Counts:
    """The stored stream against what the publishers had acknowledged."""

    rows: int
    keys: int  # distinct (bin, event_id)
    span_s: float  # first to last commit

    def lost(self, acked: int) -> int:
        return acked - self.keys

    @property
    def duplicated(self) -> int:
        return self.rows - self.keys


def counts(url: str) -> Counts:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (bin_key, event_id)),"
            " extract(epoch FROM max(received_at) - min(received_at)) FROM events"
        ).fetchone()
    assert row is not None
    return Counts(int(row[0]), int(row[1]), float(row[2] or 0))


@dataclass
class Member:
    """One `python -m ingest` of the group, restartable under its fixed client id."""

    client_id: str
    group: str
    target: Target
    db_url: str
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0
    cpu_s: float = 0.0  # user + system CPU of the last run, read just before it stopped
    startup_cpu_s: float = 0.0  # the same for a run that only started and subscribed
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.logs / f"{self.client_id}.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
        env.update(
            FENLEI_DATABASE_URL=self.db_url,
            FENLEI_CLIENT_ID=self.client_id,
            FENLEI_SHARE_GROUP=self.group,
            FENLEI_METRICS_PORT="0",
            FENLEI_LOG_LEVEL="INFO",
            FENLEI_HOME="/nonexistent",
            **self.target.consumer_env(),
        )
        self.runs += 1
        # One log per process run: its last totals line is that run's share.
        self.log_path = self.logs / f"{self.client_id}.{self.runs}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingest"], env=env, stdout=log, stderr=log
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def subscribed(self) -> bool:
        return "subscribed to $share/" in self.log()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.cpu_s = process_cpu_s(self.proc.pid)
            self.proc.send_signal(sig)
        self.proc.wait(60)
        self.proc = None

    def stored(self) -> int:
        """Events this run of the member stored (its final totals line)."""
        found = TOTALS.findall(self.log())
        return int(found[-1][1]) if found else 0


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime and stime fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(what: str, done: Callable[[], bool], timeout: float = DRAIN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def settled(url: str) -> Counts:
    """Counts once the stored rows have not changed for SETTLED_S."""
    last, since = counts(url).rows, time.monotonic()
    while time.monotonic() - since < SETTLED_S:
        time.sleep(0.25)
        now = counts(url).rows
        if now != last:
            last, since = now, time.monotonic()
    return counts(url)


def group_of(k: int, target: Target, db_url: str, logs: Path) -> list[Member]:
    """k members whose sessions exist (subscribed once, then stopped)."""
    tag = uuid.uuid4().hex[:6]
    members = [
        Member(f"bench-so-{tag}-{i}", f"bench-so-{tag}", target, db_url, logs) for i in range(k)
    ]
    for m in members:
        m.start()
    wait("the members' subscriptions", lambda: all(m.subscribed() for m in members), 60)
    for m in members:
        m.stop()
        m.startup_cpu_s = m.cpu_s
    return members


def end_sessions(members: list[Member], target: Target) -> None:
    for m in members:
        m.stop()
        drop_session(target, m.client_id)


@dataclass
class Run:
    members: int
    acked: int
    counts: Counts
    shares: list[int]
    cpu_s: list[float]
    load_before: str
    load_after: str

    @property
    def rate(self) -> float:
        return self.counts.rows / self.counts.span_s if self.counts.span_s else 0.0


def drain(k: int, n: int, target: Target, db_url: str, logs: Path) -> Run:
    """k members drain an n-message backlog split among their sessions."""
    load_before = loadavg()
    members = group_of(k, target, db_url, logs)
    try:
        reset(db_url)
        publish_backlog(target.publish, messages(f"k{k}", n))  # raises unless all acked
        for m in members:
            m.start()
        wait(f"{n} events", lambda: counts(db_url).keys >= n)
        for m in members:
            m.stop()
        result = counts(db_url)
        shares = [m.stored() for m in members]
        cpu = [max(0.0, m.cpu_s - m.startup_cpu_s) for m in members]
    finally:
        end_sessions(members, target)
    return Run(k, n, result, shares, cpu, load_before, loadavg())


@dataclass
class Kill:
    acked: int
    stored_at_kill: int
    live_stored: int  # stored by the two live members once settled
    held: int  # acknowledged but not stored while the member was dead
    later: int  # published while it was dead
    later_held: int  # of those, how many waited for it
    back_s: float  # from the restart to the last commit
    final: Counts
    shares: list[int]
    load_before: str
    load_after: str


def kill_one(n: int, target: Target, db_url: str, logs: Path) -> Kill:
    """Three members drain a backlog; one is SIGKILLed, more is published while it is
    dead, and then it comes back under its client id."""
    load_before = loadavg()
    members = group_of(3, target, db_url, logs)
    victim = members[2]
    try:
        reset(db_url)
        publish_backlog(target.publish, messages("kill", n))
        for m in members:
            m.start()
        wait("the kill point", lambda: counts(db_url).rows >= n * KILL_AT)
        victim.stop(signal.SIGKILL)
        at_kill = counts(db_url).rows
        first = settled(db_url)
        # Published while the member is dead: does its session still get a part?
        later = n // 3
        publish_backlog(target.publish, messages("later", later))
        mid = settled(db_url)
        later_stored = mid.keys - first.keys
        acked = n + later
        restarted = time.time()
        victim.start()
        wait("the dead member's backlog", lambda: counts(db_url).keys >= acked)
        final = settled(db_url)
        for m in members:
            m.stop()
        with psycopg.connect(db_url) as conn:
            last = conn.execute(
                "SELECT extract(epoch FROM max(received_at)) FROM events"
            ).fetchone()
        back_s = float(last[0]) - restarted if last and last[0] else 0.0
        shares = [m.stored() for m in members]
    finally:
        end_sessions(members, target)
    return Kill(
        acked=acked,
        stored_at_kill=at_kill,
        live_stored=mid.keys,
        held=acked - mid.keys,
        later=later,
        later_held=later - later_stored,
        back_s=back_s,
        final=final,
        shares=shares,
        load_before=load_before,
        load_after=loadavg(),
    )


def section(n: int, command: str, runs: list[Run], kill: Kill | None) -> str:
    base = runs[0].rate if runs and runs[0].rate else 0.0
    rows = [
        f"| {r.members} | {r.acked:,} | {r.counts.rows:,} | {r.counts.lost(r.acked)} | "
        f"{r.counts.duplicated} | {r.rate:,.0f} | {r.rate / base:.2f} | "
        f"{' / '.join(f'{s:,}' for s in r.shares)} | "
        f"{' + '.join(f'{c:.2f}' for c in r.cpu_s)} = {sum(r.cpu_s):.2f} | "
        f"{sum(r.cpu_s) / r.counts.rows * 1e6:.0f} | {r.load_before} → {r.load_after} |"
        for r in runs
    ]
    lines = [
        SECTION,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores shared with other work), checkout {describe_checkout()}; "
        f"command: `{command}`. MQTT path: {describe_mqtt_path()}.",
        "",
        f"Each run drains a backlog of {n:,} QoS-1 messages (one event each, 100 bins) that "
        "4 publishers queued at the local Mosquitto for the group's persistent sessions; "
        "events/s from the first to the last commit. Lost and duplicated count rows per "
        "(bin, event_id) against the messages the broker had acknowledged to the "
        "publishers. Shares are the events each member stored (its final `ingest totals` "
        "line). Member CPU is each process's user + system time, less what a run that "
        "only started and subscribed took, "
        "and CPU per event their sum over the rows: the work divides among the members "
        "when that stays flat, whatever the rates do on shared cores. The load is "
        "/proc/loadavg (1, 5, 15 min) before → after the run: the machine's 2 cores "
        "are shared with other people's tests, so these figures are noisy and the "
        "ratios between runs say more than the rates.",
        "",
        "| members | acknowledged | rows | lost | duplicated | events/s | × one member "
        "| events per member | member CPU s | CPU µs per event | load before → after |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |",
        *rows,
        "",
    ]
    if kill:
        lines += [
            "### One member of three killed (SIGKILL)",
            "",
            f"Three members drain a {n:,}-message backlog; at {kill.stored_at_kill:,} stored, "
            "one is killed with SIGKILL (no DISCONNECT, its last PUBACKs never sent); once "
            f"the two live members have nothing left to store, {kill.later:,} more messages "
            "are published; then the dead member is started again under the same client id.",
            "",
            "| | |",
            "| --- | ---: |",
            f"| acknowledged to the publishers | {kill.acked:,} |",
            f"| stored while the member was dead (two live members) | {kill.live_stored:,} |",
            f"| held in the dead member's session (not stored, not redispatched) | {kill.held:,} |",
            f"| of the {kill.later:,} published after the kill, held for the dead member | "
            f"{kill.later_held:,} ({kill.later_held / kill.later:.0%}) |",
            f"| from its restart to the last commit | {kill.back_s:.1f} s |",
            f"| after it returned: lost / duplicated | {kill.final.lost(kill.acked)} / "
            f"{kill.final.duplicated} |",
            f"| events per member (the returned member's run only) | "
            f"{' / '.join(f'{s:,}' for s in kill.shares)} |",
            f"| load before → after | {kill.load_before} → {kill.load_after} |",
            "",
            "Mosquitto (2.0) goes on assigning a dead member its round-robin part of the new "
            "messages and keeps them, with what it had in flight, in that member's "
            "persistent session until the same client id returns (or the session expires: "
            "FENLEI_SESSION_EXPIRY_S, 7 days, after which Mosquitto discards them). The "
            "live members do not take them over. So: every member keeps a stable client id "
            "and is brought back (the StatefulSet in deploy/k8s/ingest.yaml, pod names "
            "ingest-0, ingest-1, …), and a member is never removed for good while its "
            "session holds messages. EMQX behaves differently: it can redispatch a dead "
            "member's in-flight shared messages to the rest of the group when the session "
            "ends (emqx/emqx#7807); that is not measured here.",
            "",
        ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace the section in `path` (up to the next `## ` heading), keeping the rest."""
    old = path.read_text() if path.exists() else "# Scale-out benchmark\n\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        rest = "\n\n" + old[nxt + 1 :] if nxt >= 0 else ""
        new = old[:start] + text.rstrip("\n") + rest
    path.write_text(new.rstrip("\n") + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="backlog per run")
    ap.add_argument("--no-kill", action="store_true", help="skip the killed-member run")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    from fenlei.env import load_services_env

    load_services_env()
    base_url = os.environ.get("FENLEI_DATABASE_URL")
    if not base_url or not os.environ.get("FENLEI_MQTT_URL"):
        raise SystemExit("run `fenlei services up` first (or set FENLEI_DATABASE_URL/MQTT_URL)")
    shown = [a for a in sys.argv[1:] if not a.startswith("--results")]
    if "--results" in sys.argv[1:]:  # and its value: where this run wrote, not how
        at = sys.argv.index("--results")
        shown = sys.argv[1:at] + sys.argv[at + 2 :]
    command = " ".join(["python -m bench.scale_out", *shown])
    target = local_target()
    db_url = scratch_database(base_url, SCALE_DB)
    runs: list[Run] = []
    kill: Kill | None = None
    with tempfile.TemporaryDirectory(prefix="fenlei-bench-scale-") as logs:
        try:
            for k in MEMBER_COUNTS:
                print(f"{k} member(s) draining {args.events:,} messages…", flush=True)
                runs.append(drain(k, args.events, target, db_url, Path(logs)))
                r = runs[-1]
                print(
                    f"    {r.rate:,.0f} events/s, shares {r.shares}, CPU s {sum(r.cpu_s):.2f}",
                    flush=True,
                )
            if not args.no_kill:
                print("3 members, one killed and brought back…", flush=True)
                kill = kill_one(args.events, target, db_url, Path(logs))
                print(f"    held {kill.held:,}, back in {kill.back_s:.1f} s", flush=True)
        finally:
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {SCALE_DB} WITH (FORCE)")
    write_section(args.results, section(args.events, command, runs, kill))
    print(args.results.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
