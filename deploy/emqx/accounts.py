"""fenlei's own EMQX logins as rows of mqtt_accounts (EMQX reads logins from there).

With Mosquitto the launcher keeps fenlei's own logins in the broker's file; EMQX reads
every login from the database (view emqx_authn), so `fenlei-ingest` and `fenlei-sim`
need rows. `python -m deploy.emqx.accounts` (compose's emqx-init, k8s's Job) writes
them from FENLEI_INGEST_MQTT_PASSWORD / FENLEI_SIM_MQTT_PASSWORD after the migration:
a row whose stored hash already matches its password is left alone (so restarts do
not rotate anything), a changed password is re-hashed, an unset one removes the row.
With --tls-dir it also makes the local CA and EMQX's server certificate (deploy/tls.py).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

import psycopg

from deploy.broker import ENV_NAMES, INGEST_USERNAME, OWN_ACCOUNTS, SIM_USERNAME
from fenlei.passwords import ITERATIONS, hash_password, new_salt, verify_password

# The emqx/emqx image runs EMQX as uid/gid 1000; it must read the server key.
EMQX_OWNER = (1000, 1000)
# fenlei-admin sends Mosquitto dynamic-security commands: nothing to do under EMQX.
EMQX_LOGINS = (INGEST_USERNAME, SIM_USERNAME)

UPSERT_SQL = """
INSERT INTO mqtt_accounts (username, kind, password_hash, salt, iterations, broker_applied)
VALUES (%(username)s, %(kind)s, %(password_hash)s, %(salt)s, %(iterations)s, true)
ON CONFLICT (username) DO UPDATE
SET password_hash = EXCLUDED.password_hash, salt = EXCLUDED.salt,
    iterations = EXCLUDED.iterations, rotated_at = now(), broker_applied = true
"""
STORED_SQL = "SELECT salt, iterations, password_hash FROM mqtt_accounts WHERE username = %s"
DELETE_SQL = "DELETE FROM mqtt_accounts WHERE username = %s"


def write_own_logins(database_url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Bring the own logins' rows in line with `environ`; returns what happened to each."""
    outcome: dict[str, str] = {}
    with psycopg.connect(database_url) as conn:
        for username in EMQX_LOGINS:
            kind, _client_id = OWN_ACCOUNTS[username]
            password = environ.get(ENV_NAMES[username][1], "")
            row = conn.execute(STORED_SQL, (username,)).fetchone()
            if not password:
                if row is not None:
                    conn.execute(DELETE_SQL, (username,))
                outcome[username] = "removed" if row is not None else "absent"
                continue
            # Same password, hashed with the count EMQX is configured for: keep it.
            if (
                row is not None
                and int(row[1]) == ITERATIONS
                and verify_password(password, row[0], ITERATIONS, row[2])
            ):
                outcome[username] = "unchanged"
                continue
            salt = new_salt()
            conn.execute(
                UPSERT_SQL,
                {
                    "username": username,
                    "kind": kind,
                    "password_hash": hash_password(password, salt, ITERATIONS),
                    "salt": salt,
                    "iterations": ITERATIONS,
                },
            )
            outcome[username] = "written"
    return outcome


def main(argv: list[str] | None = None) -> int:
    """`python -m deploy.emqx.accounts [--tls-dir DIR --ca-key-dir DIR --hosts a,b]`."""
    from deploy import tls

    parser = argparse.ArgumentParser(prog="python -m deploy.emqx.accounts", description=__doc__)
    parser.add_argument("--tls-dir", help="make a local CA and EMQX's server cert here")
    parser.add_argument("--ca-key-dir", help="where the CA key stays (never mounted in EMQX)")
    parser.add_argument("--hosts", default=",".join(tls.SERVER_HOSTS))
    args = parser.parse_args(argv)
    database_url = os.environ.get("FENLEI_DATABASE_URL")
    if not database_url:
        raise SystemExit("FENLEI_DATABASE_URL is not set")
    if args.tls_dir:
        owner = EMQX_OWNER if os.geteuid() == 0 else None
        hosts = tuple(h.strip() for h in args.hosts.split(",") if h.strip())
        ca_dir = Path(args.ca_key_dir) if args.ca_key_dir else None
        tls.ensure(Path(args.tls_dir), owner, ca_dir, hosts)
    for username, what in write_own_logins(database_url, os.environ).items():
        print(f"{username}: {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
