"""The streaming replica's configuration: what the primary needs, what the copy runs with.

Pure text and names; `deploy.services` does the processes. The replica is a physical
copy (`pg_basebackup -R`): the same databases, logins and TimescaleDB, read-only, kept
current by streaming the primary's WAL through a replication slot.
"""

from __future__ import annotations

from pathlib import Path

# The login the replica streams with: REPLICATION, nothing else (not a superuser).
REPLICATION_ROLE = "fenlei_replication"
# A physical slot: the primary keeps the WAL the replica has not received yet, so a
# replica that was stopped for a while catches up instead of needing a new copy.
SLOT = "fenlei_replica"
APPLICATION_NAME = "fenlei_replica"
# pg_hba.conf line for the replication login over loopback (initdb's defaults already
# allow `replication all` there; this one says so for this login, whatever the defaults).
HBA_LINE = f"host replication {REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256"
HBA_MARK = "# fenlei: the streaming replica"

PRIMARY_SETTINGS = (
    # PostgreSQL 15's defaults, stated: a replica needs them.
    "wal_level = replica",
    "max_wal_senders = 10",
    "max_replication_slots = 10",
    # A slot whose replica is gone for good would keep WAL without bound; past this
    # the slot is given up (the replica then needs a new copy) and the disk is safe.
    "max_slot_wal_keep_size = 8GB",
)


def conninfo(primary_port: int, passfile: Path) -> str:
    """The replica's `primary_conninfo` (the password is in the passfile)."""
    return (
        f"host=127.0.0.1 port={primary_port} user={REPLICATION_ROLE} "
        f"passfile={passfile} application_name={APPLICATION_NAME}"
    )


def replica_conf(port: int, socket_dir: Path, primary_port: int, passfile: Path) -> str:
    """The replica's fenlei.conf (it replaces the primary's copy, included the same way)."""
    return "\n".join(
        [
            "# Written by `fenlei services up --replica` on every start of the replica.",
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{socket_dir}'",
            "shared_preload_libraries = 'timescaledb'",
            "timescaledb.telemetry_level = off",
            "max_connections = 200",
            "shared_buffers = 256MB",
            "work_mem = 32MB",
            "max_wal_size = 4GB",
            # Here, not in postgresql.auto.conf: the primary's port may change on `up`.
            f"primary_conninfo = '{conninfo(primary_port, passfile)}'",
            f"primary_slot_name = '{SLOT}'",
            "hot_standby = on",
            # Tells the primary which rows the replica's queries still read, so its vacuum
            # keeps them: figure queries are not cancelled by a conflict with recovery.
            "hot_standby_feedback = on",
            "log_min_messages = warning",
            "",
        ]
    )


def strip_auto_conf(text: str) -> str:
    """postgresql.auto.conf without the lines `pg_basebackup -R` wrote (fenlei.conf has
    them, with the current port): auto.conf is read last and would win."""
    keep = [
        line
        for line in text.splitlines()
        if not line.strip().startswith(("primary_conninfo", "primary_slot_name"))
    ]
    return "\n".join(keep) + "\n"
