"""`fenlei devices provision|sync`: MQTT logins for many bins at once, and a rebuild.

`provision` gives every bin of an estate (or one room) that has no login yet a fresh
one, in one transaction, and writes them to a CSV file (mode 0600) for the installer:
the only place those passwords ever exist. Then it applies them on the broker: by
dynamic-security commands for a few bins, by one broker restart from the database
(`deploy.broker.sync`) for many, because every command makes Mosquitto rewrite its
whole file (O(n²) for n bins; ~0.25 s per command at 10k devices).

Only argparse is imported at module level; `run` imports the rest.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fenlei.spreadsheet import defused, is_formula

if TYPE_CHECKING:
    from api.devices.broker import AdminClient
    from deploy.dynsec import Account

# Above this many new logins, one broker restart beats one command pair per bin.
BULK_OVER = 200
CSV_COLUMNS = ("estate", "room", "bin", "username", "password", "client_id")
INSERT_DEVICE = """
INSERT INTO mqtt_accounts (username, client_id, kind, bin_key, password_hash, salt, iterations)
VALUES (%s, %s, 'device', %s, %s, %s, %s)
"""


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Declare `fenlei devices provision|sync`."""
    actions = parser.add_subparsers(dest="action", required=True)
    provision = actions.add_parser(
        "provision",
        help="create MQTT logins for every bin without one; written once to a CSV",
        description="Columns: estate, room, bin, username, password, client_id. "
        "The passwords are in that file only (mode 0600); keep it safe, then delete it.",
    )
    provision.add_argument("--estate", required=True)
    provision.add_argument("--room", help="only this refuse room (default: every room)")
    provision.add_argument("--out", required=True, help="the CSV to create (must not exist)")
    provision.add_argument(
        "--bulk-over",
        type=int,
        default=BULK_OVER,
        metavar="N",
        help=f"above N logins restart the broker once instead of commands (default {BULK_OVER})",
    )
    actions.add_parser("sync", help="rebuild the local broker's logins from the database")


def csv_cell(value: object) -> str:
    """A cell no spreadsheet evaluates: a leading formula character gets a `'`."""
    return str(defused("" if value is None else str(value)))


def csv_safe_password() -> str:
    """A password whose cell needs no escaping (so the file holds it exactly)."""
    from fenlei.passwords import new_password

    while True:
        password = new_password()
        if not is_formula(password):
            return password


def write_csv(path: Path, rows: Iterable[Mapping[str, object]]) -> None:
    """Create `path` (0600, never overwriting) with CSV_COLUMNS, formula-safe."""
    import csv
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row[c]) for c in CSV_COLUMNS])
        fh.flush()
        os.fsync(fh.fileno())


def run(args: argparse.Namespace) -> int:
    """Run `fenlei devices <action>`."""
    if args.action == "sync":
        return _sync()
    return _provision(args)


def _database_url() -> str:
    from api.settings import ApiSettings

    return ApiSettings().database_url  # type: ignore[call-arg]  # database_url: env


def _sync() -> int:
    from deploy import broker
    from deploy.settings import ServicesSettings

    count = broker.sync(ServicesSettings(), _database_url())
    print(f"broker rebuilt from the database: {count} device login(s)")
    return 0


def _new_logins(
    bins: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, object]], list[tuple[Account, str]]]:
    """CSV rows and (account, password) pairs for `bins` without a login."""
    from api.devices.service import device_account
    from fenlei.passwords import ITERATIONS, hash_password, new_salt

    rows: list[dict[str, object]] = []
    logins: list[tuple[Account, str]] = []
    for b in bins:
        password, salt = csv_safe_password(), new_salt()
        account = device_account(
            b["bin_key"], b["estate"], b["room"], b["bin"], hash_password(password, salt), salt
        )
        assert account.iterations == ITERATIONS
        logins.append((account, password))
        rows.append(
            {
                **b,
                "username": account.username,
                "password": password,
                "client_id": account.client_id,
            }
        )
    return rows, logins


def _provision(args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    from api.devices import repository
    from api.errors import Invalid, NotFound

    out = Path(args.out)
    if out.exists():
        raise Invalid(f"{out} exists; choose a new file (it would hold the new passwords)")
    url = _database_url()
    with psycopg.connect(url, application_name="fenlei-cli", row_factory=dict_row) as conn:
        if conn.execute("SELECT 1 FROM estates WHERE id = %s", (args.estate,)).fetchone() is None:
            raise NotFound(f"no estate {args.estate!r}")
        # Locks the bins so a bin deleted meanwhile cannot get a login.
        bins = conn.execute(
            repository.BINS_WITHOUT_ACCOUNT + " FOR UPDATE OF b",
            {"estate": args.estate, "room": args.room},
        ).fetchall()
        if not bins:
            print(f"every bin of {args.estate} already has credentials; nothing to do")
            return 0
        rows, logins = _new_logins(bins)
        with conn.cursor() as cur:
            cur.executemany(
                INSERT_DEVICE,
                [
                    (a.username, a.client_id, b["bin_key"], a.password_hash, a.salt, a.iterations)
                    for (a, _), b in zip(logins, bins, strict=True)
                ],
            )
        conn.execute(
            "DELETE FROM mqtt_revocations WHERE username = ANY(%s)",
            ([a.username for a, _ in logins],),
        )
        # The file first: a commit whose passwords nobody has would be worse than none.
        write_csv(out, rows)
        try:
            conn.commit()
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    print(f"{len(rows)} login(s) for {args.estate} written to {out} (mode 0600; shown only there)")
    applied = _apply(url, logins, bulk=len(logins) > args.bulk_over)
    print(
        f"broker: {applied} of {len(logins)} applied"
        + ("" if applied == len(logins) else "; run 'fenlei devices sync' for the rest")
    )
    return 0


def _apply(url: str, logins: Sequence[tuple[Account, str]], bulk: bool) -> int:
    """Apply new logins on the broker: commands, or one restart; how many are applied."""
    import logging

    log = logging.getLogger("fenlei.devices")
    broker = None if bulk else _admin_client()
    if broker is not None:
        try:
            applied = _by_commands(url, broker, logins)
        finally:
            broker.stop()
        if applied == len(logins):
            return applied
        log.warning("the broker applied %d of %d logins by command", applied, len(logins))
    try:
        from deploy import broker as local_broker
        from deploy.settings import ServicesSettings

        local_broker.sync(ServicesSettings(), url)
    except Exception as exc:  # an external broker: its own means apply them
        log.warning("could not rebuild the local broker: %s", exc)
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM mqtt_accounts WHERE broker_applied AND username = ANY(%s)",
            ([a.username for a, _ in logins],),
        ).fetchone()
    return int(row[0]) if row else 0


def _admin_client() -> AdminClient | None:
    """A connected admin client, or None (not configured, or the broker does not answer)."""
    from api.devices.service import admin_client
    from api.settings import ApiSettings

    broker = admin_client(ApiSettings())  # type: ignore[call-arg]  # database_url: env
    if broker is None:
        return None
    broker.start()
    if not broker.wait_ready(broker.timeout_s):
        broker.stop()
        return None
    return broker


def _by_commands(url: str, broker: AdminClient, logins: Sequence[tuple[Account, str]]) -> int:
    import asyncio

    import psycopg

    from api.devices.repository import MARK_APPLIED
    from api.devices.service import apply

    async def apply_all() -> list[Account]:
        return [a for a, password in logins if await apply(broker, a, password)]

    done = asyncio.run(apply_all())
    with psycopg.connect(url) as conn:
        for account in done:
            conn.execute(MARK_APPLIED, (account.username, account.password_hash))
    return len(done)
