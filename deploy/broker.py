"""The local broker's accounts: fenlei's own three logins plus the devices in the database.

Mosquitto's dynamic-security plugin reads its JSON file only when the broker starts and
rewrites the whole file after every command, so the file is written only while the
broker is stopped: by `fenlei services up` before it starts the broker, and by `sync`
(`fenlei devices sync`), which stops the broker, writes, and starts it again. Persistent
sessions and their queues survive that restart (mosquitto saves them on SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from deploy.dynsec import Account, Kind, document
from fenlei.errors import ServiceError
from fenlei.passwords import ITERATIONS, hash_password, new_password, new_salt

if TYPE_CHECKING:
    from deploy.settings import ServicesSettings

log = logging.getLogger(__name__)

# The uid:gid the eclipse-mosquitto image runs its broker as (compose, k8s).
IMAGE_OWNER = "1883:1883"

INGEST_USERNAME = "fenlei-ingest"
ADMIN_USERNAME = "fenlei-admin"
SIM_USERNAME = "fenlei-sim"
# username -> (kind, bound client id). fenlei's own logins run several clients at once
# (ingesters on a shared subscription, bench publishers, the API's and the CLI's admin
# clients), so none is bound to one id; devices always are, so no device can take
# an id of these.
OWN_ACCOUNTS: dict[str, tuple[Kind, str | None]] = {
    INGEST_USERNAME: ("ingest", None),
    ADMIN_USERNAME: ("admin", None),
    SIM_USERNAME: ("sim", None),
}
# services.env names of each own account's (username, password) variables.
ENV_NAMES = {
    INGEST_USERNAME: ("FENLEI_INGEST_MQTT_USERNAME", "FENLEI_INGEST_MQTT_PASSWORD"),
    ADMIN_USERNAME: ("FENLEI_ADMIN_MQTT_USERNAME", "FENLEI_ADMIN_MQTT_PASSWORD"),
    SIM_USERNAME: ("FENLEI_SIM_MQTT_USERNAME", "FENLEI_SIM_MQTT_PASSWORD"),
}

DEVICE_ACCOUNTS_SQL = """
SELECT a.username, a.client_id, a.password_hash, a.salt, a.iterations,
       b.estate_id, b.room_id, b.id
FROM mqtt_accounts a JOIN bins b USING (bin_key)
WHERE a.kind = 'device'
ORDER BY a.username
"""


def new_own_passwords(existing: Mapping[str, str] | None = None) -> dict[str, str]:
    """Passwords of fenlei's own accounts: the existing ones kept, missing ones made."""
    existing = existing or {}
    return {name: existing.get(name) or new_password() for name in OWN_ACCOUNTS}


def own_accounts(passwords: Mapping[str, str]) -> list[Account]:
    """fenlei's own accounts, hashed afresh (the plaintext lives only in services.env)."""
    accounts = []
    for name, (kind, client_id) in OWN_ACCOUNTS.items():
        salt = new_salt()
        accounts.append(
            Account(
                username=name,
                kind=kind,
                password_hash=hash_password(passwords[name], salt, ITERATIONS),
                salt=salt,
                iterations=ITERATIONS,
                client_id=client_id,
            )
        )
    return accounts


def has_accounts_table(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """False before `fenlei migrate` created mqtt_accounts."""
    row = conn.execute("SELECT to_regclass('mqtt_accounts') IS NOT NULL").fetchone()
    return bool(row and row[0])


def device_accounts(conn: psycopg.Connection[tuple[object, ...]]) -> list[Account]:
    """Every device login in the database, with the bin it speaks for."""
    rows = conn.execute(DEVICE_ACCOUNTS_SQL).fetchall()
    return [
        Account(
            username=str(username),
            kind="device",
            password_hash=str(pw_hash),
            salt=str(salt),
            iterations=int(str(iterations)),
            client_id=str(client_id),
            bin=(str(estate), str(room), str(bin_id)),
        )
        for username, client_id, pw_hash, salt, iterations, estate, room, bin_id in rows
    ]


def load_accounts(database_url: str, passwords: Mapping[str, str]) -> list[Account]:
    """Own accounts plus the database's devices (none yet before the first migrate)."""
    with psycopg.connect(database_url) as conn:
        devices = device_accounts(conn) if has_accounts_table(conn) else []
    return own_accounts(passwords) + devices


def write_document(
    path: Path, accounts: Iterable[Account], owner: tuple[int, int] | None = None
) -> None:
    """Write the plugin's file atomically: 0600 in a 0700 directory, both owned by `owner`.

    The broker (user mosquitto) must own both: it saves by writing `<file>.new` and
    renaming it over the file. Never call this while the broker runs.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(document(accounts), fh, indent=1)
    if owner is not None:
        os.chown(path.parent, *owner)
        os.chown(tmp, *owner)
    tmp.replace(path)


def mark_applied(database_url: str, accounts: Iterable[Account]) -> int:
    """Set broker_applied on the rows whose current hash is the one the broker loaded."""
    devices = [a for a in accounts if a.kind == "device"]
    if not devices:
        return 0
    with psycopg.connect(database_url) as conn:
        # Matching the hash too: a row rotated since it was read stays pending.
        cur = conn.execute(
            "UPDATE mqtt_accounts a SET broker_applied = true"
            " FROM unnest(%s::text[], %s::text[]) AS w(username, password_hash)"
            " WHERE a.username = w.username AND a.password_hash = w.password_hash",
            ([a.username for a in devices], [a.password_hash for a in devices]),
        )
        return cur.rowcount


def sync(settings: ServicesSettings, database_url: str) -> int:
    """Rebuild the local broker's accounts from the database; returns the device count.

    Stops the broker this FENLEI_HOME started (by its pid), writes the file, starts it
    again on the same ports. Takes ~0.1 s; clients reconnect (paho does so by itself).
    """
    # Imported here: the launcher imports this module for the file it writes on `up`.
    from deploy import services

    state = services.read_state(settings)
    if state is None:
        raise ServiceError(
            f"no local broker in {settings.home_dir}: run 'fenlei services up' "
            "(an external broker is synchronised by its own means)."
        )
    accounts = load_accounts(database_url, state.mqtt_passwords)
    services.stop_mosquitto(settings, state)
    services.start_mosquitto(settings, state, accounts)
    services.write_state(settings, state)
    applied = mark_applied(database_url, accounts)
    count = sum(1 for a in accounts if a.kind == "device")
    log.info("broker synchronised: %d device accounts loaded, %d marked applied", count, applied)
    return count


def passwords_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The own accounts' passwords from FENLEI_*_MQTT_PASSWORD (compose, k8s Secret).

    An account whose variable is unset gets a random password nobody knows, so the
    login exists but cannot be used.
    """
    given = {name: environ.get(var, "") for name, (_, var) in ENV_NAMES.items()}
    return new_own_passwords({name: pw for name, pw in given.items() if pw})


def _owner(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    return int(uid), int(gid or uid)


def main(argv: list[str] | None = None) -> int:
    """`python -m deploy.broker`: a container broker's accounts file (and certificates).

    For compose's and k8s's init step, before the broker starts: reads the devices from
    FENLEI_DATABASE_URL and the own passwords from the environment.
    """
    from deploy import tls

    parser = argparse.ArgumentParser(prog="python -m deploy.broker", description=main.__doc__)
    parser.add_argument("--dynsec", type=Path, required=True, help="dynamic-security.json")
    parser.add_argument("--owner", default=IMAGE_OWNER, help="uid:gid the broker runs as")
    parser.add_argument("--tls-dir", type=Path, help="make a local CA and server cert here")
    parser.add_argument("--ca-key-dir", type=Path, help="where the CA key stays (not the broker)")
    parser.add_argument(
        "--hosts",
        default=",".join(tls.SERVER_HOSTS),
        help="comma-separated names and addresses the server certificate is for",
    )
    args = parser.parse_args(argv)
    owner = _owner(args.owner) if os.geteuid() == 0 else None
    database_url = os.environ.get("FENLEI_DATABASE_URL")
    if not database_url:
        raise SystemExit("FENLEI_DATABASE_URL is not set")
    if args.tls_dir is not None:
        hosts = tuple(h.strip() for h in args.hosts.split(",") if h.strip())
        tls.ensure(args.tls_dir, owner, args.ca_key_dir, hosts)
    accounts = load_accounts(database_url, passwords_from_env(os.environ))
    write_document(args.dynsec, accounts, owner)
    applied = mark_applied(database_url, accounts)
    print(f"wrote {args.dynsec}: {len(accounts)} accounts ({applied} device rows applied)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
