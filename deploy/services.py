"""The embedded default: Mosquitto and PostgreSQL + TimescaleDB as processes fenlei owns.

Data lives under `$FENLEI_HOME`; `services.json` there records what was started
(ports, pids) so `down` stops exactly that and nothing else, and `services.env`
(0600) holds the URLs and fenlei's own broker credentials every other command reads.

The broker refuses anonymous clients: every login is checked by Mosquitto's
dynamic-security plugin against the file `deploy.broker` writes before each start.
It listens on loopback twice: plain MQTT (fenlei's own services) and mqtts with a
certificate from fenlei's local CA (`deploy.tls`).

`up(replica=True)` also starts a streaming replica of the database (`deploy.replica`
has its configuration): a copy by `pg_basebackup -R` through its own replication login
and slot, on its own port; the API reads figures from it (FENLEI_DATABASE_READ_URL).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from deploy import broker, replica, tls
from deploy.brokerlog import BrokerLogCounts, count_refusals
from deploy.dynsec import Account
from deploy.settings import ServicesSettings
from fenlei.env import SERVICES_ENV, write_env_file
from fenlei.errors import ServiceError

log = logging.getLogger(__name__)

STATE_FILE = "services.json"
# Mosquitto's persistence file in its data dir (`persistence_file`, its default name).
BROKER_STORE = "mosquitto.db"
INSTALLER = Path(__file__).parent / "local" / "install-system.sh"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# PostgreSQL refuses to run as root; Debian's packages create these users.
PG_SYSTEM_USER = "postgres"
MOSQUITTO_SYSTEM_USER = "mosquitto"
STARTUP_ERROR = re.compile(r"(^|: )Error: ")
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"
# Where Debian/Ubuntu (multiarch), other distributions and source builds put the plugin.
DYNSEC_PLUGIN_GLOBS = (
    f"/usr/lib/*-linux-gnu/{DYNSEC_PLUGIN}",
    f"/usr/lib/{DYNSEC_PLUGIN}",
    f"/usr/lib/mosquitto/{DYNSEC_PLUGIN}",
    f"/usr/lib64/{DYNSEC_PLUGIN}",
    f"/usr/local/lib/{DYNSEC_PLUGIN}",
    f"/usr/local/lib/*-linux-gnu/{DYNSEC_PLUGIN}",
)


@dataclass
class ServicesState:
    """What `up` started; persisted as services.json."""

    pg_port: int
    mqtt_port: int
    pg_password: str
    pg_pid: int | None = None
    mqtt_pid: int | None = None
    # 0: recorded by a launcher from before the TLS listener; a port is chosen on `up`.
    mqtts_port: int = 0
    # fenlei's own broker logins (username -> password), made once, kept across `up`s.
    mqtt_passwords: dict[str, str] = field(default_factory=dict)
    # The streaming replica (`up --replica`): 0 while there is none. Once made it is
    # kept: a later `up` starts it again, `down` stops it.
    replica_port: int = 0
    # The replication login's password (role `replica.REPLICATION_ROLE`).
    replica_password: str = ""

    def database_url(self, s: ServicesSettings) -> str:
        return (
            f"postgresql://{s.pg_user}:{self.pg_password}@127.0.0.1:{self.pg_port}/{s.pg_database}"
        )

    def read_database_url(self, s: ServicesSettings) -> str:
        """The replica's URL: the same database and login (it is a copy), its own port."""
        return (
            f"postgresql://{s.pg_user}:{self.pg_password}@127.0.0.1:{self.replica_port}"
            f"/{s.pg_database}"
        )

    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def mqtts_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.mqtts_port}"


def _paths(s: ServicesSettings) -> dict[str, Path]:
    home = s.home_dir
    return {
        "home": home,
        "pg": home / "pg",
        "pgdata": home / "pg" / "data",
        "pgrun": home / "pg" / "run",
        "pglog": home / "pg" / "postgres.log",
        "replica": home / "pg-replica",
        "replicadata": home / "pg-replica" / "data",
        "replicarun": home / "pg-replica" / "run",
        "replicalog": home / "pg-replica" / "postgres.log",
        # The replication login's password, for pg_basebackup and the replica's
        # walreceiver (libpq's passfile: no password on a command line or in a config).
        "replicapass": home / "pg-replica" / "pgpass",
        "mq": home / "mosquitto",
        "mqdata": home / "mosquitto" / "data",
        # In the data dir: mosquitto writes it after dropping to its own user.
        "mqpid": home / "mosquitto" / "data" / "mosquitto.pid",
        "mqconf": home / "mosquitto" / "mosquitto.conf",
        "mqlog": home / "mosquitto" / "mosquitto.log",
        # Its own 0700 directory: the plugin saves by writing `.new` and renaming it.
        "dynsec": home / "mosquitto" / "dynsec" / "dynamic-security.json",
        "tls": home / "tls",
        "state": home / STATE_FILE,
        "env": home / SERVICES_ENV,
    }


def _is_root() -> bool:
    return os.geteuid() == 0


def _pg_bin(s: ServicesSettings, name: str) -> str:
    path = Path(f"/usr/lib/postgresql/{s.pg_major}/bin/{name}")
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise ServiceError(
            f"{name} for PostgreSQL {s.pg_major} not found: install postgresql-{s.pg_major}."
        )
    return found


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_SYSTEM_USER, "--", *cmd] if _is_root() else cmd


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: a port whose old connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _choose_port(preferred: int | None, default: int) -> int:
    for port in (preferred, default):
        if port and _port_free(port):
            return port
    return _free_port()


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _pid_alive(pid: int | None, name: str) -> bool:
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # A zombie has an empty cmdline, so it counts as gone.
    # Guards against a recycled pid that now belongs to something else.
    return name.encode() in cmdline


def read_state(s: ServicesSettings) -> ServicesState | None:
    """The recorded state, or None when `up` never ran in this home."""
    path = _paths(s)["state"]
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(ServicesState)}
    return ServicesState(**{k: v for k, v in data.items() if k in known})


def env_values(s: ServicesSettings, state: ServicesState) -> dict[str, str]:
    """What services.env exports: URLs, the CA, the own accounts' credentials."""
    p = _paths(s)
    values = {
        "FENLEI_DATABASE_URL": state.database_url(s),
        # Only while the replica runs: a stopped one would only cost the API a fallback.
        **(
            {"FENLEI_DATABASE_READ_URL": state.read_database_url(s)}
            if state.replica_port and _replica_running(s, state)
            else {}
        ),
        "FENLEI_MQTT_URL": state.mqtt_url(),
        "FENLEI_MQTTS_URL": state.mqtts_url(),
        "FENLEI_MQTT_CA_FILE": str(tls.files(p["tls"]).ca_cert),
        "FENLEI_MOSQUITTO_DYNSEC_FILE": str(p["dynsec"]),
    }
    for username, (user_var, password_var) in broker.ENV_NAMES.items():
        if username in state.mqtt_passwords:
            values[user_var] = username
            values[password_var] = state.mqtt_passwords[username]
    return values


def write_state(s: ServicesSettings, state: ServicesState) -> None:
    """Record `state` in services.json and services.env (both 0600: they hold secrets)."""
    p = _paths(s)
    tmp = p["state"].with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(p["state"])
    write_env_file(p["env"], env_values(s, state))


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pg_pid(s: ServicesSettings, data_key: str = "pgdata") -> int | None:
    try:
        first = (_paths(s)[data_key] / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, ValueError, IndexError):
        return None


def _replica_running(s: ServicesSettings, state: ServicesState) -> bool:
    return _pid_alive(_pg_pid(s, "replicadata"), "postgres") and _port_answers(state.replica_port)


def is_running(s: ServicesSettings, state: ServicesState | None = None) -> dict[str, bool]:
    """Whether each service recorded in this home is alive and answering."""
    state = state or read_state(s)
    if state is None:
        return {"postgres": False, "mosquitto": False}
    running = {
        "postgres": _pid_alive(_pg_pid(s), "postgres") and _port_answers(state.pg_port),
        # Not the TLS port: a plain probe there logs an SSL error line on every call.
        "mosquitto": _pid_alive(state.mqtt_pid, "mosquitto") and _port_answers(state.mqtt_port),
    }
    # Only a home that has a replica reports one (callers check `all(...)`).
    if state.replica_port:
        running["replica"] = _replica_running(s, state)
    return running


def install_system(s: ServicesSettings) -> None:
    """Install Mosquitto, PostgreSQL and TimescaleDB when missing (idempotent)."""
    env = dict(os.environ, FENLEI_PG_MAJOR=str(s.pg_major))
    result = subprocess.run(["bash", str(INSTALLER)], env=env, text=True, capture_output=True)
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        raise ServiceError(lines[-1] if lines else "the system installer failed.")


def _check_traversable(path: Path, user: str) -> None:
    """PostgreSQL runs as another user, who must be able to reach the data directory."""
    if not _is_root():
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not (parent.stat().st_mode & 0o001):
            if parent == path:
                parent.chmod(parent.stat().st_mode | 0o711)
                continue
            raise ServiceError(
                f"{parent} is not searchable by the '{user}' user, which runs the service: "
                f"set FENLEI_HOME somewhere else or run 'chmod o+x {parent}'."
            )


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, text=True, capture_output=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ServiceError(f"{what} failed: {detail[-1] if detail else result.returncode}")


def _init_postgres(s: ServicesSettings, state: ServicesState) -> None:
    p = _paths(s)
    if (p["pgdata"] / "PG_VERSION").exists():
        return
    p["pg"].mkdir(parents=True, exist_ok=True)
    pwfile = p["pg"] / "pwfile"
    pwfile.write_text(state.pg_password + "\n")
    if _is_root():
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        for path in (p["pg"], pwfile):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    _run(
        _as_pg_user(
            [
                _pg_bin(s, "initdb"),
                "-D",
                str(p["pgdata"]),
                "-U",
                s.pg_user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        ),
        "initdb",
    )
    pwfile.unlink()


def _postgres_conf(s: ServicesSettings, state: ServicesState) -> str:
    p = _paths(s)
    return "\n".join(
        [
            "# Written by `fenlei services up` on every start.",
            f"port = {state.pg_port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{p['pgrun']}'",
            *replica.PRIMARY_SETTINGS,
            "shared_preload_libraries = 'timescaledb'",
            "timescaledb.telemetry_level = off",
            "max_connections = 200",
            "shared_buffers = 512MB",
            "work_mem = 32MB",
            "maintenance_work_mem = 256MB",
            # Bulk ingest writes a lot of WAL; fewer forced checkpoints keep COPY fast.
            "max_wal_size = 4GB",
            "log_min_messages = warning",
            "",
        ]
    )


def _start_postgres(s: ServicesSettings, state: ServicesState) -> None:
    p = _paths(s)
    _check_traversable(p["home"], PG_SYSTEM_USER)
    _init_postgres(s, state)
    p["pgrun"].mkdir(exist_ok=True)
    conf = p["pgdata"] / "fenlei.conf"
    conf.write_text(_postgres_conf(s, state))
    main_conf = p["pgdata"] / "postgresql.conf"
    if "include_if_exists = 'fenlei.conf'" not in main_conf.read_text():
        with main_conf.open("a") as fh:
            fh.write("\ninclude_if_exists = 'fenlei.conf'\n")
    if _is_root():
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        for path in (p["pgrun"], conf):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        if p["pglog"].exists():
            os.chown(p["pglog"], pw.pw_uid, pw.pw_gid)
    _run(
        _as_pg_user(
            [
                _pg_bin(s, "pg_ctl"),
                "-D",
                str(p["pgdata"]),
                "-l",
                str(p["pglog"]),
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "start",
            ]
        ),
        f"starting PostgreSQL (log: {p['pglog']})",
    )
    state.pg_pid = _pg_pid(s)
    with psycopg.connect(
        host=str(p["pgrun"]),
        port=state.pg_port,
        user=s.pg_user,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (s.pg_database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{s.pg_database}"')


def _primary_admin(s: ServicesSettings, state: ServicesState) -> psycopg.Connection[Any]:
    """A superuser connection to the primary over its socket (trust, no password)."""
    return psycopg.connect(
        host=str(_paths(s)["pgrun"]),
        port=state.pg_port,
        user=s.pg_user,
        dbname="postgres",
        autocommit=True,
    )


def _prepare_primary(s: ServicesSettings, state: ServicesState) -> None:
    """The replication login (its password set again each time), its slot and its
    pg_hba.conf line on the running primary; idempotent."""
    p = _paths(s)
    hba = p["pgdata"] / "pg_hba.conf"
    text = hba.read_text()
    if replica.HBA_LINE not in text:
        # First: pg_hba.conf is read top-down and the first matching line decides.
        hba.write_text(f"{replica.HBA_MARK}\n{replica.HBA_LINE}\n{text}")
    with _primary_admin(s, state) as conn:
        role = sql.Identifier(replica.REPLICATION_ROLE)
        exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (replica.REPLICATION_ROLE,)
        ).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} WITH REPLICATION LOGIN PASSWORD {}").format(
                sql.SQL(verb), role, sql.Literal(state.replica_password)
            )
        )
        conn.execute(
            "SELECT pg_create_physical_replication_slot(%(slot)s) WHERE NOT EXISTS "
            "(SELECT 1 FROM pg_replication_slots WHERE slot_name = %(slot)s)",
            {"slot": replica.SLOT},
        )
        conn.execute("SELECT pg_reload_conf()")


def _chown_pg(*paths: Path) -> None:
    if _is_root():
        pw = pwd.getpwnam(PG_SYSTEM_USER)
        for path in paths:
            if path.exists():
                os.chown(path, pw.pw_uid, pw.pw_gid)


def _base_backup(s: ServicesSettings, state: ServicesState) -> None:
    """Copy the primary into the replica's data dir (once: a copy that exists is kept
    and catches up through its slot). Into a scratch dir first, so a failed copy
    leaves nothing that looks like a data dir."""
    p = _paths(s)
    scratch = p["replica"] / "data.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    _run(
        _as_pg_user(
            [
                "env",
                f"PGPASSFILE={p['replicapass']}",
                _pg_bin(s, "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(state.pg_port),
                "-U",
                replica.REPLICATION_ROLE,
                "-D",
                str(scratch),
                "-R",
                "-X",
                "stream",
                "-S",
                replica.SLOT,
                "--checkpoint=fast",
                "--no-password",
            ]
        ),
        "pg_basebackup of the primary",
    )
    auto = scratch / "postgresql.auto.conf"
    auto.write_text(replica.strip_auto_conf(auto.read_text()))
    # The primary's own pid file and log are not copied, but its socket dir setting is:
    # the replica's fenlei.conf (written on each start) replaces it.
    scratch.rename(p["replicadata"])


def start_replica(s: ServicesSettings, state: ServicesState) -> None:
    """Make (once) and start the streaming replica of the running primary."""
    p = _paths(s)
    if not state.replica_password:
        state.replica_password = secrets.token_urlsafe(18)
    p["replica"].mkdir(parents=True, exist_ok=True)
    p["replicarun"].mkdir(exist_ok=True)
    p["replica"].chmod(0o700)
    # libpq's passfile: host:port:database:user:password ("*" for any port, database).
    p["replicapass"].write_text(
        f"127.0.0.1:*:*:{replica.REPLICATION_ROLE}:{state.replica_password}\n"
    )
    p["replicapass"].chmod(0o600)
    _chown_pg(p["replica"], p["replicarun"], p["replicapass"])
    _prepare_primary(s, state)
    if not (p["replicadata"] / "PG_VERSION").exists():
        _base_backup(s, state)
    state.replica_port = _choose_port(state.replica_port or None, s.pg_replica_port)
    if state.replica_port == state.pg_port:
        state.replica_port = _free_port()
    conf = p["replicadata"] / "fenlei.conf"
    conf.write_text(
        replica.replica_conf(state.replica_port, p["replicarun"], state.pg_port, p["replicapass"])
    )
    _chown_pg(conf, p["replicalog"])
    _run(
        _as_pg_user(
            [
                _pg_bin(s, "pg_ctl"),
                "-D",
                str(p["replicadata"]),
                "-l",
                str(p["replicalog"]),
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "start",
            ]
        ),
        f"starting the replica (log: {p['replicalog']})",
    )


def _dynsec_plugin() -> str:
    """The dynamic-security plugin's path; without it the broker would let nobody in."""
    for pattern in DYNSEC_PLUGIN_GLOBS:
        for found in sorted(Path("/").glob(pattern.lstrip("/"))):
            if found.is_file():
                return str(found)
    raise ServiceError(
        f"Mosquitto's dynamic-security plugin ({DYNSEC_PLUGIN}) not found in "
        f"{', '.join(DYNSEC_PLUGIN_GLOBS)}: install Mosquitto 2.0 or later (Debian: mosquitto)."
    )


def _mosquitto_conf(s: ServicesSettings, state: ServicesState) -> str:
    p = _paths(s)
    certs = tls.files(p["tls"])
    return "\n".join(
        [
            "# Written by `fenlei services up` on every start.",
            # One security context for both listeners: the plugin keeps file-static
            # state, so it cannot be loaded once per listener (2.0.11).
            "per_listener_settings false",
            "allow_anonymous false",
            f"plugin {_dynsec_plugin()}",
            f"plugin_opt_config_file {p['dynsec']}",
            f"listener {state.mqtt_port} 127.0.0.1",
            f"listener {state.mqtts_port} 127.0.0.1",
            f"cafile {certs.ca_cert}",
            f"certfile {certs.server_cert}",
            f"keyfile {certs.server_key}",
            "tls_version tlsv1.2",
            "persistence true",
            f"persistence_location {p['mqdata']}/",
            # Written by mosquitto itself: the pid `down` stops, whatever started it.
            f"pid_file {p['mqpid']}",
            f"autosave_interval {s.mqtt_autosave_interval_s}",
            f"max_queued_messages {s.mqtt_max_queued_messages}",
            f"max_queued_bytes {s.mqtt_max_queued_bytes}",
            f"max_inflight_messages {s.mqtt_max_inflight_messages}",
            # Sessions of MQTT 3.1.1 clients (v5 clients set their own expiry).
            "persistent_client_expiration 14d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            # Refused logins are notices ("Client … disconnected, not authorised."),
            # counted by `fenlei services status`; one line per connection, not per message.
            "log_type notice",
            # Denied publishes are logged only at debug level, along with a line for
            # every message received: opt-in (FENLEI_MQTT_LOG_DENIED), costly at volume.
            *(["log_type debug"] if s.mqtt_log_denied else []),
            "connection_messages true",
            "log_timestamp true",
            "",
        ]
    )


def _mosquitto_bin() -> str:
    for candidate in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ServiceError("mosquitto not found: install the mosquitto package.")


def _mosquitto_owner() -> tuple[int, int] | None:
    """Who the broker runs as after it drops root; None: as us (not root, no drop)."""
    if not _is_root():
        return None
    pw = pwd.getpwnam(MOSQUITTO_SYSTEM_USER)
    return pw.pw_uid, pw.pw_gid


def _ensure_own_passwords(state: ServicesState) -> None:
    state.mqtt_passwords = broker.new_own_passwords(state.mqtt_passwords)


def start_mosquitto(s: ServicesSettings, state: ServicesState, accounts: list[Account]) -> None:
    """Write the config, certificates and accounts file, then start the broker.

    Only while the broker is stopped: a running one rewrites the accounts file on
    every dynamic-security command and would overwrite ours.
    """
    p = _paths(s)
    p["mqdata"].mkdir(parents=True, exist_ok=True)
    owner = _mosquitto_owner()
    if owner is not None:
        # Mosquitto drops to its own user; a data dir it cannot write makes
        # every autosave fail with nothing but a log line.
        _check_traversable(p["home"], MOSQUITTO_SYSTEM_USER)
        os.chown(p["mqdata"], *owner)
        for child in p["mqdata"].iterdir():
            os.chown(child, *owner)
    tls.ensure(p["tls"], owner)
    broker.write_document(p["dynsec"], accounts, owner)
    p["mqconf"].write_text(_mosquitto_conf(s, state))
    # `setsid -f` always forks, so mosquitto is re-parented to init, outlives this
    # command and is never our zombie; its own pid file says which process it is.
    p["mqpid"].unlink(missing_ok=True)
    log_size = p["mqlog"].stat().st_size if p["mqlog"].exists() else 0
    with p["mqlog"].open("ab") as logfh:
        subprocess.run(
            ["setsid", "-f", _mosquitto_bin(), "-c", str(p["mqconf"])],
            stdin=subprocess.DEVNULL,
            stdout=logfh,
            stderr=logfh,
            check=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        pid = _read_pid(p["mqpid"])
        if (
            pid
            and _pid_alive(pid, "mosquitto")
            and _port_answers(state.mqtt_port)
            and _port_answers(state.mqtts_port)
        ):
            break
        with p["mqlog"].open("rb") as fh:
            fh.seek(log_size)
            text = fh.read().decode(errors="replace")
        # "<time>: Error: Unable to load server key file …"; not the "OpenSSL Error[0]"
        # lines that the readiness probe's plain connect to the TLS port causes.
        errors = [ln for ln in text.splitlines() if STARTUP_ERROR.search(ln)]
        if errors:
            raise ServiceError(f"mosquitto failed to start: {errors[-1]} (log: {p['mqlog']}).")
        if time.monotonic() > deadline:
            raise ServiceError(f"mosquitto did not listen within {START_TIMEOUT_S:.0f} s.")
        time.sleep(0.05)
    state.mqtt_pid = pid


def stop_mosquitto(s: ServicesSettings, state: ServicesState) -> bool:
    """SIGTERM this home's broker (it saves its sessions first); False when not running."""
    mqtt_pid = state.mqtt_pid or _read_pid(_paths(s)["mqpid"])
    if not (mqtt_pid and _pid_alive(mqtt_pid, "mosquitto")):
        return False
    os.kill(mqtt_pid, signal.SIGTERM)
    if not _wait_gone(mqtt_pid, "mosquitto", STOP_TIMEOUT_S):
        log.warning(
            "mosquitto (pid %d) ignored SIGTERM for %.0f s; killing it", mqtt_pid, STOP_TIMEOUT_S
        )
        os.kill(mqtt_pid, signal.SIGKILL)
        _wait_gone(mqtt_pid, "mosquitto", 5.0)
    state.mqtt_pid = None
    return True


def kill_broker(s: ServicesSettings) -> int | None:
    """SIGKILL this home's broker, as a crash would: no save, no goodbye to clients.

    What it acknowledged since its last autosave (`autosave_interval`) is lost. Returns
    once the process is gone, with its pid; None when it was not running. `up` starts
    it again on the same ports, from what it last saved.
    """
    state = read_state(s)
    pid = (state.mqtt_pid if state else None) or _read_pid(_paths(s)["mqpid"])
    if not (pid and _pid_alive(pid, "mosquitto")):
        return None
    os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, "mosquitto", STOP_TIMEOUT_S):
        raise ServiceError(f"mosquitto (pid {pid}) outlived SIGKILL for {STOP_TIMEOUT_S:.0f} s.")
    log.warning("mosquitto (pid %d) killed", pid)
    return pid


def broker_saved_at(s: ServicesSettings) -> float | None:
    """When this home's broker last saved its in-memory store (the file's mtime, as
    ``time.time()``); None before its first save. It saves every `autosave_interval`
    seconds and on SIGTERM; a crash loses what came after."""
    try:
        return (_paths(s)["mqdata"] / BROKER_STORE).stat().st_mtime
    except FileNotFoundError:
        return None


def up(s: ServicesSettings, replica: bool = False) -> ServicesState:
    """Start what is not running; a no-op when everything already is.

    With `replica`, also a streaming replica of the database; a home that has one
    starts it again without being asked.
    """
    p = _paths(s)
    p["home"].mkdir(parents=True, exist_ok=True)
    state = read_state(s)
    running = is_running(s, state)
    want_replica = replica or bool(state and state.replica_port)
    if (
        state
        and state.mqtts_port
        and all(running.values())
        and (running.get("replica", False) or not want_replica)
    ):
        return state
    if s.auto_install:
        install_system(s)
    if state is None:
        state = ServicesState(
            pg_port=_choose_port(None, s.pg_port),
            mqtt_port=_choose_port(None, s.mqtt_port),
            pg_password=secrets.token_urlsafe(18),
        )
    _ensure_own_passwords(state)
    if not running["postgres"]:
        state.pg_port = _choose_port(state.pg_port, s.pg_port)
        _start_postgres(s, state)
        # Recorded at once, so `down` can stop it even if the broker fails to start.
        write_state(s, state)
    if not running["mosquitto"] or not state.mqtts_port:
        # A broker whose pid lives but whose ports do not answer (or one started
        # before the TLS listener existed) is restarted, not left beside a new one.
        stop_mosquitto(s, state)
        state.mqtt_port = _choose_port(state.mqtt_port, s.mqtt_port)
        state.mqtts_port = _choose_port(state.mqtts_port or None, s.mqtts_port)
        if state.mqtts_port == state.mqtt_port:
            state.mqtts_port = _free_port()
        accounts = broker.load_accounts(state.database_url(s), state.mqtt_passwords)
        start_mosquitto(s, state, accounts)
    if want_replica and not running.get("replica", False):
        stop_replica(s)  # a pid without a port that answers: not left beside a new one
        start_replica(s, state)
    write_state(s, state)
    return state


def _wait_gone(pid: int, name: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid, name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_postgres(s: ServicesSettings, data_key: str = "pgdata") -> bool:
    """Stop this home's PostgreSQL (fast shutdown); False when it was not running."""
    pg_pid = _pg_pid(s, data_key)
    if not _pid_alive(pg_pid, "postgres"):
        return False
    p = _paths(s)
    subprocess.run(
        _as_pg_user(
            [
                _pg_bin(s, "pg_ctl"),
                "-D",
                str(p[data_key]),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(STOP_TIMEOUT_S)),
                "stop",
            ]
        ),
        capture_output=True,
    )
    if pg_pid and not _wait_gone(pg_pid, "postgres", STOP_TIMEOUT_S):
        raise ServiceError(f"PostgreSQL (pid {pg_pid}) did not stop.")
    return True


def stop_replica(s: ServicesSettings) -> bool:
    """Stop this home's replica (its copy is kept); False when it was not running."""
    return stop_postgres(s, "replicadata")


def down(s: ServicesSettings) -> list[str]:
    """Stop the processes this home started; returns what was stopped."""
    state = read_state(s)
    stopped: list[str] = []
    if state is None:
        return stopped
    # The replica first: stopped after the primary it would log reconnect attempts.
    if stop_replica(s):
        stopped.append("replica")
    if stop_postgres(s):
        stopped.append("postgres")
    if stop_mosquitto(s, state):
        stopped.append("mosquitto")
    state.pg_pid = state.mqtt_pid = None
    write_state(s, state)
    return stopped


def broker_refusals(s: ServicesSettings) -> BrokerLogCounts:
    """Refused logins and denied publishes in this home's broker log (all of it)."""
    path = _paths(s)["mqlog"]
    if not path.is_file():
        return BrokerLogCounts()
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        return count_refusals(fh)


def status(s: ServicesSettings) -> dict[str, Any]:
    """What runs where, for `fenlei services status` (never a password)."""
    state = read_state(s)
    if state is None:
        return {"home": str(s.home_dir), "services": {}}
    running = is_running(s, state)
    refusals = broker_refusals(s)
    return {
        "home": str(s.home_dir),
        "services": {
            "postgres": {
                "running": running["postgres"],
                "pid": _pg_pid(s),
                "url": state.database_url(s).replace(state.pg_password, "***"),
            },
            "mosquitto": {
                "running": running["mosquitto"],
                "pid": state.mqtt_pid,
                "url": state.mqtt_url(),
                "mqtts_url": state.mqtts_url() if state.mqtts_port else None,
                "ca_file": str(tls.files(_paths(s)["tls"]).ca_cert),
                "refused_connections": refusals.refused_connections,
                # None: not counted (the broker logs them only at debug level).
                "denied_publishes": refusals.denied_publishes if s.mqtt_log_denied else None,
            },
            **({"replica": _replica_status(s, state)} if state.replica_port else {}),
        },
    }


def _replica_status(s: ServicesSettings, state: ServicesState) -> dict[str, Any]:
    """The replica's entry in `status`: running, pid, URL and how far behind it is."""
    running = _replica_running(s, state)
    info: dict[str, Any] = {
        "running": running,
        "pid": _pg_pid(s, "replicadata"),
        "url": state.read_database_url(s).replace(state.pg_password, "***"),
        "replay_lag_bytes": None,
    }
    if running and is_running(s, state)["postgres"]:
        try:
            with _primary_admin(s, state) as conn:
                row = conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
                    " FROM pg_stat_replication WHERE application_name = %s",
                    (replica.APPLICATION_NAME,),
                ).fetchone()
            info["replay_lag_bytes"] = int(row[0]) if row and row[0] is not None else None
        except psycopg.Error:
            pass  # status reports what it can
    return info
