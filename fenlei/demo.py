"""`fenlei demo`: services, migrations, ingester, API, a Jiangjiaqiao-like estate with its
volunteer team (fenlei.demo_team), live.

Everything it starts (ingester, API, the simulated bins, and the local services when
they were not running before) it stops on Ctrl-C or when a child dies; `--keep-services`
leaves the services up. The ingester and the API
run as `fenlei ingest` / `fenlei api` child processes, and the simulated estate talks to
them only as bins and an installer would: MQTT, and the registry API over HTTP.

Only argparse and the standard library are imported at module level (the command
table imports this to build the parser); `run` imports the rest.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fenlei.errors import FenleiError
from simulators.arguments import add_run_arguments

if TYPE_CHECKING:
    from deploy.settings import ServicesSettings
    from simulators.devices import Fleet
    from simulators.settings import SimulatorSettings
    from simulators.simulation import Simulation

log = logging.getLogger(__name__)

# The demo's own estate: reset on every run, so never use this id for a real one.
DEMO_ESTATE = "jjq-demo"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# How often the live demo looks whether its ingester and API still run.
CHILD_CHECK_S = 1.0
# Figures match when equal to 4 decimal places (the API issue's acceptance bar).
MATCH_PLACES = 4


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Arguments of `fenlei demo`."""
    if name != "demo":
        raise ValueError(f"fenlei.demo does not provide {name!r}")
    add_run_arguments(parser)
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="stop after the backfill and the figures (for tests)",
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=8000,
        help="port of the API it starts (default %(default)s; 0: any)",
    )
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=None,
        help="end the live simulation after this many seconds",
    )
    parser.add_argument(
        "--services",
        choices=["local", "env"],
        default="local",
        help="local: start the project's own services (default); env: "
        "use FENLEI_DATABASE_URL / FENLEI_MQTT_URL as they are",
    )
    parser.add_argument(
        "--keep-services",
        action="store_true",
        help="leave the services running at the end even when the demo started them "
        "(by default it stops what it started, and leaves what was already running)",
    )
    parser.add_argument(
        "--no-team",
        action="store_true",
        help="register no volunteer team (volunteers, watch slots, rosters, check-ins)",
    )


def run(args: argparse.Namespace) -> int:
    """Run `fenlei demo`, with settings read once from FENLEI_* variables."""
    from deploy.settings import ServicesSettings
    from simulators.settings import SimulatorSettings

    return run_demo(args, ServicesSettings(), SimulatorSettings())


class Children:
    """Subprocesses started by the demo, each logging to a file, stopped in reverse."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Path:
        """Start `fenlei <argv>` logging to ``<log_dir>/<name>.log``; return that path."""
        path = self.log_dir / f"{name}.log"
        out: IO[bytes] = path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "fenlei", *argv],
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        self.procs.append((name, proc))
        return path

    def check(self) -> None:
        """Fail, pointing at its log, if a child has exited."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise FenleiError(
                    f"the {name} process exited with {proc.returncode}; "
                    f"see {self.log_dir / (name + '.log')}"
                )

    def stop(self) -> None:
        """SIGTERM each child, newest first; kill what does not stop in time."""
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", name, STOP_TIMEOUT_S)
                    proc.kill()
                    proc.wait()
        self.procs.clear()


class ChildWatch(threading.Thread):
    """Ends the live simulation (sets `stop`) as soon as a child of the demo exits:
    an ingester killed from outside must not leave the bins publishing into nothing."""

    def __init__(self, children: Children, stop: threading.Event) -> None:
        super().__init__(name="fenlei-demo-watch", daemon=True)
        self.children, self.stop = children, stop
        self.done = threading.Event()
        self.failure: str | None = None

    def run(self) -> None:
        while not self.done.wait(CHILD_CHECK_S):
            try:
                self.children.check()
            except FenleiError as exc:
                self.failure = str(exc)
                self.stop.set()
                return


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(
    what: str, done: Callable[[], bool], children: Children, timeout: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        children.check()
        if time.monotonic() > deadline:
            raise FenleiError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def run_demo(
    args: argparse.Namespace, services_settings: ServicesSettings, sim_settings: SimulatorSettings
) -> int:
    """Bring everything up, backfill, print the figures, then go live until stopped."""
    from deploy import services
    from deploy.migrate import migrate
    from fenlei.demo_inbox import Inbox, add_channels
    from fenlei.demo_team import setup_team
    from simulators.broker import Broker
    from simulators.delivery import FaultPlan
    from simulators.devices import Fleet
    from simulators.probe import StoreProbe
    from simulators.registry_client import RegistryClient
    from simulators.runner import backfill
    from simulators.simulation import Simulation
    from simulators.steps import period, print_stats, run_live, spec_from, truth_path

    started_services = False
    if args.services == "local":
        # Stop at the end only what this demo started: services someone else brought
        # up (`fenlei services up`, an earlier demo kept running) stay as they were.
        started_services = not any(services.is_running(services_settings).values())
        print("starting services (Mosquitto, PostgreSQL + TimescaleDB) ...", flush=True)
        state = services.up(services_settings)
        # What `services.env` exports: URLs, the CA, fenlei's own broker logins.
        service_env = services.env_values(services_settings, state)
    else:
        if not sim_settings.database_url or not sim_settings.mqtt_url_given:
            raise FenleiError("--services env needs FENLEI_DATABASE_URL and FENLEI_MQTT_URL")
        service_env = {}
    # The children are configured like any `fenlei` process: through FENLEI_* variables
    # (the ingester reads FENLEI_INGEST_MQTT_*, the API's admin client FENLEI_ADMIN_MQTT_*).
    env = {**os.environ, **service_env}
    db_url, mqtt_url = env["FENLEI_DATABASE_URL"], env["FENLEI_MQTT_URL"]
    migrate(db_url)
    env.setdefault("FENLEI_METRICS_PORT", "0")
    # A development server: `fenlei api` makes up its session secret and pseudonym key
    # (without FENLEI_DEV it refuses to start without them).
    env.setdefault("FENLEI_DEV", "1")
    env.setdefault("FENLEI_CLIENT_ID", "fenlei-demo-ingest")
    # The bins connect as real ones would: over TLS when the broker offers it, each
    # with the login the API issues for it.
    bins_broker = Broker(
        env.get("FENLEI_MQTTS_URL") or mqtt_url, env.get("FENLEI_MQTT_CA_FILE") or None
    )
    children = Children(services_settings.home_dir / "demo")
    inbox = Inbox(services_settings.home_dir / "demo").start()
    fleet: Fleet | None = None
    sim: Simulation | None = None
    try:
        ingest_log = children.start("ingest", ["ingest"], {**env, "FENLEI_LOG_LEVEL": "INFO"})
        _wait(
            "the ingester connecting to the broker",
            lambda: "connected" in ingest_log.read_text(errors="replace"),
            children,
        )
        port = _free_port(args.api_port) if args.api_port else _free_port(0)
        base = f"http://127.0.0.1:{port}"
        children.start("api", ["api", "--host", "127.0.0.1", "--port", str(port)], env)
        _wait(f"the API answering at {base}", lambda: _healthy(f"{base}/healthz"), children)
        # The alarm evaluator: the simulated bins' overflows (and the derived alarms)
        # reach the overview's banner and the volunteers' phone pages.
        children.start("alarms", ["alarms"], env)
        token = _admin_token(env)

        spec = spec_from(args.households, DEMO_ESTATE)
        start, end = period(spec, args.days, None)
        sim = Simulation(spec, args.seed, start, end, FaultPlan())
        if args.events:
            sim.events_out = Path(args.events).open("wb")  # noqa: SIM115 (closed below)
        reset_estate(db_url, spec.id)
        with RegistryClient(base, token) as client:
            client.register(sim.estate)
            logins = client.issue_logins(sim.estate)
            time.sleep(1.0)  # the ingester's subscription is acknowledged by now
            probe = StoreProbe(db_url, spec.id)
            fleet = Fleet(bins_broker, list(sim.devices.values()), logins)
            fleet.connect()
            try:
                stats = backfill(sim, fleet, probe, progress=not args.no_progress)
            finally:
                probe.close()
            path = truth_path(args.truth, sim_settings.home_dir, spec.id)
            sim.write_truth(path)
            print_stats(stats, path)
            computed = client.metrics(spec.id, start.isoformat(), end.isoformat())
        team = None if args.no_team else setup_team(base, token, sim.estate, args.seed, db_url)
        figures = sim.ground_truth()["figures"]
        assert isinstance(figures, dict)
        print()
        print(
            f"dashboard  {base}/dashboards/estates/{spec.id}?from={start}&to={end}"
            "  (sign in with the token)"
        )
        print(team.volunteer_line if team else f"volunteer  {base}/volunteer")
        print(f"API        {base}/docs")
        print(f"metrics    {base}/api/v1/estates/{spec.id}/metrics?from={start}&to={end}")
        print(f"token      {token}")
        kept = "stopped at the end" if started_services and not args.keep_services else "kept"
        print(f"services   {db_url.split('@')[-1]} · {mqtt_url}  ({kept})")
        print(f"bins       {len(logins)} MQTT logins issued by the API, over {bins_broker.url}")
        if team:
            print(team.summary_line)
        print(
            f"inbox      {inbox.base}  (the 值班群 and 居委会 webhooks: each message"
            " `fenlei notify` sends them is printed as a notice line)"
        )
        print()
        ok = print_figures(figures, computed)
        # The dispatcher, once the team is on the roster: its messages mention whoever
        # is on duty at the alarm's room now.
        add_channels(base, token, spec.id, inbox)
        # The inbox is on loopback, which channels reach only where allowed.
        inbox_env = {**env, "FENLEI_NOTIFY_PRIVATE_NETWORKS": "127.0.0.1/32"}
        children.start("notify", ["notify"], inbox_env)
        if not args.no_live:
            stop = threading.Event()
            if args.live_seconds:
                threading.Timer(args.live_seconds, stop.set).start()
            watcher = ChildWatch(children, stop)
            watcher.start()
            try:
                run_live(sim, fleet, end + timedelta(days=1), args.speed, path, stop)
            finally:
                watcher.done.set()
            if watcher.failure is not None:
                # Simulating on with nothing stored would look like a working demo.
                print(f"fenlei demo: {watcher.failure}; stopping", file=sys.stderr, flush=True)
                return 1
        return 0 if ok else 2
    finally:
        if fleet is not None:
            fleet.close()
        children.stop()
        inbox.close()
        if sim is not None and sim.events_out is not None:
            sim.events_out.close()
        if started_services and not args.keep_services:
            stopped = services.down(services_settings)
            print("stopped the services it started: " + (", ".join(stopped) or "none"))


def reset_estate(db_url: str, estate: str) -> None:
    """Forget a previous demo run: its events, quarantine, rollups, registry rows and
    volunteer team (with the team's tokens).

    A run over another period draws other events under the same ids; kept, they would
    be counted beside the new ones. Only the demo's own estate is touched.
    """
    import psycopg

    with psycopg.connect(db_url, application_name="fenlei-demo") as conn:
        # The team's volunteer tokens outlive their volunteers (the key points from the
        # volunteer to the token): a previous run's must not act on the new estate.
        conn.execute(
            "DELETE FROM api_tokens WHERE id IN"
            " (SELECT token_id FROM volunteers WHERE estate_id = %s)",
            (estate,),
        )
        conn.execute("DELETE FROM events WHERE estate_id = %s", (estate,))
        # The keys too: a bin whose events are keyed cannot be deleted (migration 0013).
        conn.execute(
            "DELETE FROM event_keys WHERE bin_key IN"
            " (SELECT bin_key FROM bins WHERE estate_id = %s)",
            (estate,),
        )
        conn.execute("DELETE FROM rejected_messages WHERE estate_id = %s", (estate,))
        conn.execute("DELETE FROM estates WHERE id = %s", (estate,))  # cascades


def _admin_token(env: dict[str, str]) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fenlei",
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "fenlei demo",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise FenleiError(f"could not create an admin token: {done.stderr.strip()[-500:]}")
    return lines[-1].strip()


def print_figures(expected: dict[str, Any], computed: dict[str, Any]) -> bool:
    """Print the three figures, expected (ground truth) next to computed (the API)."""
    rows = [
        ("coverage", "coverage"),
        ("participation rate", "participation_rate"),
        ("wet-waste share", "wet_share"),
    ]
    print(f"{'figure':<20}{'expected':>12}{'computed':>12}")
    ok = True
    for label, key in rows:
        want, got = expected.get(key), computed.get(key)
        same = (
            want is not None
            and got is not None
            and round(float(want), MATCH_PLACES) == round(float(got), MATCH_PLACES)
        )
        ok = ok and same
        print(f"{label:<20}{_pct(want):>12}{_pct(got):>12}  {'=' if same else '≠'}")
    print(f"{'drops':<20}{expected.get('drops')!s:>12}{computed.get('drops')!s:>12}")
    return ok


def _pct(value: object) -> str:
    return f"{float(value) * 100:.2f}%" if isinstance(value, int | float) else "-"
