"""The cluster deployment's database scripts on real PostgreSQL servers (this machine's
PostgreSQL 15 binaries, no containers): deploy/emqx/db-primary-init.sh sets up a
primary the way the image's first start would, deploy/emqx/db-replica.sh copies it and
runs as a streaming replica, and the writers' and the API's multi-host URLs (the ones
in compose and k8s, with these servers' addresses) land on the primary and the replica.

As the image's pg_hba would, the primary here allows no replication connection until
the init script adds its line (initdb's default replication lines are removed).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCRIPTS = Path(__file__).resolve().parents[2] / "deploy" / "emqx"
PASSWORDS = {
    "POSTGRES_PASSWORD": "owner-pw-1234",
    "FENLEI_REPLICATION_PASSWORD": "repl-pw-5678",
    "FENLEI_EMQX_DB_PASSWORD": "emqx-pw-9012",
}
WITHIN_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: the image's servers run as its postgres user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def wait_until_ready(port: int, sockets: Path) -> None:
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"no server on {port} within {WITHIN_S} s")


@dataclass
class Pair:
    primary_port: int
    replica_port: int
    sockets: Path

    def url(self, port: int, user: str = "fenlei", password: str | None = None) -> str:
        pw = password or PASSWORDS["POSTGRES_PASSWORD"]
        return f"postgresql://{user}:{pw}@127.0.0.1:{port}/fenlei"


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL 15 binaries (or runuser) are not installed")
    if os.geteuid() == 0:
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres system user")
    root = Path(tempfile.mkdtemp(prefix="fenlei-replica-", dir="/tmp"))
    root.chmod(0o755)
    sockets, primary, replica, bin_dir = (root / n for n in ("run", "primary", "replica", "bin"))
    for d in (sockets, replica, bin_dir):
        d.mkdir()
    # What the image's `exec docker-entrypoint.sh postgres "$@"` ends in, data present.
    entrypoint = bin_dir / "docker-entrypoint.sh"
    entrypoint.write_text(f'#!/bin/sh\nshift\nexec {PG_BIN}/postgres -D "$PGDATA" "$@"\n')
    entrypoint.chmod(0o755)
    if os.geteuid() == 0:
        for path in (root, sockets, replica, bin_dir):
            os.chown(path, pg_user.pw_uid, pg_user.pw_gid)
    ports = Pair(free_port(), free_port(), sockets)
    server_opts = f"-k {sockets} -c listen_addresses=127.0.0.1"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{PG_BIN}:{os.environ['PATH']}",
        **PASSWORDS,
    }
    replica_proc: subprocess.Popen[bytes] | None = None
    replica_log = (root / "replica.log").open("wb")
    try:
        pwfile = root / "pwfile"
        pwfile.write_text(PASSWORDS["POSTGRES_PASSWORD"] + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pg_user.pw_uid, pg_user.pw_gid)
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(primary),
                    "-U",
                    "fenlei",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-locale",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        hba = primary / "pg_hba.conf"
        hba.write_text(
            "".join(
                line
                for line in hba.read_text().splitlines(keepends=True)
                if "replication" not in line
            )
        )
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(primary),
                    "-w",
                    "-l",
                    str(root / "primary.log"),
                    "-o",
                    f"-p {ports.primary_port} {server_opts}",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "createdb"),
                    "-h",
                    str(sockets),
                    "-p",
                    str(ports.primary_port),
                    "-U",
                    "fenlei",
                    "fenlei",
                ]
            ),
            check=True,
            capture_output=True,
        )
        # The image runs the init script against its temporary server, then restarts it
        # (so the pg_hba line counts): here a reload does the same.
        init_env = {
            **env,
            "POSTGRES_USER": "fenlei",
            "POSTGRES_DB": "fenlei",
            "PGDATA": str(primary),
            "PGHOST": str(sockets),
            "PGPORT": str(ports.primary_port),
        }
        subprocess.run(
            as_postgres(["sh", str(SCRIPTS / "db-primary-init.sh")]),
            check=True,
            capture_output=True,
            env=init_env,
        )
        subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(primary), "reload"]),
            check=True,
            capture_output=True,
        )
        replica_env = {
            **env,
            "PGDATA": str(replica / "data"),
            "FENLEI_PRIMARY_HOST": "127.0.0.1",
            "FENLEI_PRIMARY_PORT": str(ports.primary_port),
        }
        replica_proc = subprocess.Popen(
            as_postgres(
                [
                    "sh",
                    str(SCRIPTS / "db-replica.sh"),
                    "-p",
                    str(ports.replica_port),
                    "-k",
                    str(sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ]
            ),
            env=replica_env,
            stdout=replica_log,
            stderr=subprocess.STDOUT,
        )
        wait_until_ready(ports.replica_port, sockets)
        yield ports
    finally:
        if replica_proc is not None:
            replica_proc.terminate()
            try:
                replica_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                replica_proc.kill()
        replica_log.close()
        subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(primary), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def one(url: str, sql: str) -> object:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


def test_the_replica_streams_what_the_primary_commits(pair: Pair) -> None:
    primary, replica = pair.url(pair.primary_port), pair.url(pair.replica_port)
    assert one(replica, "SELECT pg_is_in_recovery()") is True
    assert one(primary, "SELECT pg_is_in_recovery()") is False
    assert one(primary, "SELECT active FROM pg_replication_slots WHERE slot_name = 'replica1'")
    with psycopg.connect(primary, autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (42)")
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        try:
            if one(replica, "SELECT max(n) FROM probe") == 42:
                break
        except psycopg.errors.UndefinedTable:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("the row did not reach the replica")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        one(replica, "INSERT INTO probe VALUES (1) RETURNING n")


def test_emqx_logs_in_with_its_own_password_as_a_member_of_fenlei_emqx(pair: Pair) -> None:
    url = pair.url(pair.primary_port, "emqx", PASSWORDS["FENLEI_EMQX_DB_PASSWORD"])
    assert one(url, "SELECT pg_has_role('emqx', 'fenlei_emqx', 'member')") is True
    assert (
        one(url, "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = 'emqx'") is False
    )
    with pytest.raises(psycopg.OperationalError):
        one(pair.url(pair.primary_port, "emqx", "wrong"), "SELECT 1")


def test_the_writers_url_finds_the_primary_and_the_readers_the_replica(pair: Pair) -> None:
    # The compose/k8s URLs' shape, with these servers' addresses: writers list the
    # primary first, readers the replica first; both must also work the other way
    # round (after a promotion, or with the replica away).
    pw = PASSWORDS["POSTGRES_PASSWORD"]
    p, r = pair.primary_port, pair.replica_port

    def url(first: int, second: int, attrs: str) -> str:
        return (
            f"postgresql://fenlei:{pw}@127.0.0.1:{first},127.0.0.1:{second}/fenlei"
            f"?target_session_attrs={attrs}"
        )

    in_recovery = "SELECT pg_is_in_recovery()"
    assert one(url(p, r, "read-write"), in_recovery) is False
    assert one(url(r, p, "read-write"), in_recovery) is False  # skips the standby
    assert one(url(r, p, "prefer-standby"), in_recovery) is True
    assert one(url(p, r, "prefer-standby"), in_recovery) is True  # looks for a standby
    closed = free_port()
    assert one(url(closed, p, "prefer-standby"), in_recovery) is False  # replica away
