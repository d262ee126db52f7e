"""`fenlei notify`: the dispatcher until SIGTERM; `fenlei notify log`: the delivery log.

Cheap to import (argparse only); `run` imports the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `fenlei notify`."""
    if name != "notify":
        raise ValueError(f"api.notify.cli does not provide {name!r}")
    parser.description = (
        "Send alarms to the estates' channels (webhook, WeCom, DingTalk, email) until"
        " SIGTERM, or print the delivery log. Needs FENLEI_DATABASE_URL and"
        " FENLEI_CHANNEL_KEY (the API's)."
    )
    parser.add_argument("action", nargs="?", choices=["run", "log"], default="run")
    parser.add_argument("--estate", help="log: the estate (required)")
    parser.add_argument("--alarm", type=int, help="log: only this alarm's deliveries")
    parser.add_argument("--limit", type=int, default=50, help="log: rows (default 50)")
    parser.add_argument("--json", action="store_true", help="log: JSON lines")


def _database_url() -> str:
    from fenlei.errors import ConfigError

    url = os.environ.get("FENLEI_DATABASE_URL")
    if not url:
        raise ConfigError(
            "FENLEI_DATABASE_URL is not set and no services.env was found: "
            "run 'fenlei services up' or export FENLEI_DATABASE_URL."
        )
    return url


async def _serve(database_url: str) -> int:
    from api.notify.dispatcher import Dispatcher
    from api.notify.settings import NotifySettings, channel_key
    from api.notify.vault import Vault

    settings = NotifySettings()
    vault = Vault(channel_key(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Dispatcher(database_url, vault, settings) as dispatcher:
        print("fenlei notify: dispatching (SIGTERM stops)", file=sys.stderr, flush=True)
        await dispatcher.run(stop)
    return 0


async def _log(database_url: str, args: argparse.Namespace) -> int:
    import psycopg

    from api.notify import repository
    from fenlei.errors import ConfigError

    if not args.estate or not re.fullmatch(r"[a-z0-9-]{1,64}", args.estate):
        raise ConfigError("fenlei notify log needs --estate <estate id>")
    limit = max(1, min(int(args.limit), 10_000))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        rows = await repository.deliveries(conn, args.estate, args.alarm, None, limit)
    for r in rows:
        if args.json:
            print(json.dumps({**r, "at": r["at"].isoformat()}, ensure_ascii=False))
        else:
            mark = "ok  " if r["ok"] else "FAIL"
            alarm = r["alarm_id"] if r["alarm_id"] is not None else "-"
            print(
                f"{r['at']:%Y-%m-%d %H:%M:%S%z} {mark} alarm {alarm} {r['step']:<10}"
                f" {r['channel_name']} #{r['attempt']} {r['detail']}"
            )
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch until SIGTERM, or print the log."""
    url = _database_url()
    if args.action == "log":
        return asyncio.run(_log(url, args))
    return asyncio.run(_serve(url))
