"""The `fenlei` command: one entry point, one subcommand per job.

Handlers import their package lazily so `fenlei services up` works before the
heavier dependencies (pandas, plotly) are even imported.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from fenlei import logs
from fenlei.env import load_services_env
from fenlei.errors import FenleiError

log = logging.getLogger("fenlei.cli")


def _database_url() -> str:
    url = os.environ.get("FENLEI_DATABASE_URL")
    if not url:
        raise FenleiError(
            "FENLEI_DATABASE_URL is not set and no services.env was found: "
            "run 'fenlei services up' or export FENLEI_DATABASE_URL."
        )
    return url


def cmd_services(args: argparse.Namespace) -> int:
    if args.patroni:
        # etcd and two Patroni nodes instead of the one PostgreSQL (docs in deploy/patroni.py).
        from deploy import patroni

        return patroni.main([args.action])
    from deploy import services
    from deploy.settings import ServicesSettings

    settings = ServicesSettings()
    if args.action == "up":
        state = services.up(settings, replica=args.replica)
        # The password is in services.env (0600); a terminal or a CI log is no place for it.
        print(f"postgres  {state.database_url(settings).replace(state.pg_password, '***')}")
        if state.replica_port:
            read_url = state.read_database_url(settings).replace(state.pg_password, "***")
            print(f"replica   {read_url} (FENLEI_DATABASE_READ_URL)")
        print(f"mosquitto {state.mqtt_url()} (fenlei's own services)")
        print(f"mqtts     {state.mqtts_url()} (devices; CA in services.env)")
        print(f"env       {settings.home_dir / 'services.env'}")
    elif args.action == "down":
        stopped = services.down(settings)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        report = services.status(settings)
        if args.json:
            print(json.dumps(report, indent=2))
        elif not report["services"]:
            print(f"no services in {report['home']} (run 'fenlei services up')")
        else:
            for name, info in report["services"].items():
                state_word = "running" if info["running"] else "stopped"
                pid = info["pid"] if info["running"] else "-"
                print(f"{name:<10}{state_word:<9}pid {pid!s:<8}{info['url']}")
                if info.get("mqtts_url"):
                    print(f"{'':<27}{info['mqtts_url']}")
                if info.get("replay_lag_bytes") is not None:
                    print(f"{'':<27}replay lag {info['replay_lag_bytes']} bytes of WAL")
                if "refused_connections" in info:
                    denied = info["denied_publishes"]
                    print(
                        f"{'':<27}refused connections {info['refused_connections']}, "
                        f"denied publishes {'not logged' if denied is None else denied}"
                    )
            return 0 if all(i["running"] for i in report["services"].values()) else 3
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from deploy.migrate import migrate

    applied = migrate(_database_url())
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


# Subcommands owned by the packages: (name, module, help). Each module is cheap to
# import and has `add_arguments(name, parser)` and `run(args) -> int`; the heavy
# imports happen inside `run`.
PACKAGE_COMMANDS = (
    ("ingest", "ingest.cli", "MQTT → TimescaleDB ingester (until SIGTERM)"),
    ("alarms", "api.alarms.cli", "alarm evaluator: device and derived alarms (until SIGTERM)"),
    ("rejected", "ingest.replay", "the quarantine: replay rejected events once fixable"),
    ("retention", "deploy.retention", "drop raw events older than FENLEI_RAW_RETENTION_DAYS"),
    ("api", "fenlei.serve", "HTTP API, dashboards and volunteer pages (uvicorn)"),
    ("token", "api.cli", "create or revoke API tokens"),
    ("registry", "api.cli", "import a committee's household sheet (CSV/Excel)"),
    ("notify", "api.notify.cli", "send alarms to the estates' channels; the delivery log"),
    ("devices", "fenlei.devices", "per-bin MQTT logins: provision in bulk, sync the broker"),
    ("simulate", "simulators.cli", "simulated estates publishing like real bins"),
    ("demo", "fenlei.demo", "everything at once: services, a simulated estate, ingest, API"),
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="fenlei", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("services", help="local Mosquitto and PostgreSQL + TimescaleDB")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.add_argument(
        "--patroni",
        action="store_true",
        help="a Patroni cluster on loopback (etcd + two PostgreSQL nodes) instead of the one"
        " PostgreSQL; the broker still comes from a plain `fenlei services up`",
    )
    p.add_argument(
        "--replica",
        action="store_true",
        help="up: also a streaming read replica of the database (kept on later `up`s)",
    )
    p.set_defaults(func=cmd_services)

    p = sub.add_parser("migrate", help="apply the database migrations")
    p.set_defaults(func=cmd_migrate)

    for name, module_name, helptext in PACKAGE_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue  # that package's command is not built yet
        p = sub.add_parser(name, help=helptext)
        module.add_arguments(name, p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(verbose=args.verbose)
    # An operator's view of a stuck command (a demo that will not stop, a hung import):
    # `kill -USR1 <pid>` prints every thread's stack on stderr without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    load_services_env()
    try:
        return int(args.func(args))
    except FenleiError as exc:
        print(f"fenlei: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
