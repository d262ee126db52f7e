"""A Patroni cluster on loopback: etcd and two PostgreSQL + TimescaleDB nodes.

    python -m deploy.patroni up       # start what is not running; print the URL
    python -m deploy.patroni status   # who leads, who follows, how far behind
    python -m deploy.patroni down     # stop exactly what `up` started

Data lives under `$FENLEI_HOME/patroni/`; `patroni.json` there records ports, pids and
passwords (0600), and `patroni.env` holds FENLEI_DATABASE_URL: a libpq multi-host URL
with `target_session_attrs=read-write`, so the ingester and the API always reach the
current primary. The configs are written from the templates in deploy/patroni/ on
every `up`. PostgreSQL refuses to run as root, so as root Patroni runs as the
`postgres` user (the same rule as deploy/services.py). The broker is not part of it:
`fenlei services up` (or any Mosquitto) provides that.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pwd
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import psycopg
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.services import (
    PG_SYSTEM_USER,
    _check_traversable,
    _is_root,
    _pg_bin,
    _pid_alive,
    _port_answers,
    _port_free,
    _wait_gone,
)
from deploy.settings import ServicesSettings
from fenlei.env import HOME_DEFAULT, write_env_file
from fenlei.errors import ServiceError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "patroni"
STATE_FILE = "patroni.json"
ENV_FILE = "patroni.env"
ETCD_BIN = "/usr/bin/etcd"
PATRONI_BIN = "/usr/bin/patroni"
STOP_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 3.0
# The processes this interpreter started, kept so they are reaped (no zombies) and
# their Popen objects do not warn that they still run.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class PatroniSettings(BaseSettings):
    """Where and how the loopback cluster runs (FENLEI_PATRONI_*; the home is FENLEI_HOME's)."""

    model_config = SettingsConfigDict(
        env_prefix="FENLEI_PATRONI_", extra="ignore", populate_by_name=True
    )

    home: Path = Field(
        default=Path(HOME_DEFAULT),
        validation_alias=AliasChoices("FENLEI_PATRONI_HOME", "FENLEI_HOME"),
    )
    scope: str = "fenlei"
    nodes: int = Field(default=2, ge=1, le=9)
    # First ports tried; each is taken only when free (else any free port).
    etcd_port: int = 2389
    pg_port: int = 5441
    api_port: int = 8018
    # Commits wait for the replica: no acknowledged commit is lost in a failover.
    synchronous_mode: bool = False
    shared_buffers: str = "256MB"
    pg_major: int = 15
    pg_database: str = "fenlei"
    pg_user: str = "fenlei"
    # How long `up` waits for a leader and for every replica to follow it.
    start_timeout_s: float = 180.0

    @property
    def root(self) -> Path:
        return self.home.expanduser().resolve() / "patroni"


@dataclass
class Node:
    name: str
    pg_port: int
    api_port: int
    pid: int | None = None


@dataclass
class ClusterState:
    """What `up` started; persisted as patroni.json."""

    scope: str
    etcd_port: int
    etcd_peer_port: int
    superuser_password: str
    replication_password: str
    rewind_password: str
    nodes: list[Node] = field(default_factory=list)
    etcd_pid: int | None = None

    def database_url(self, s: PatroniSettings, attrs: str = "read-write") -> str:
        """libpq's multi-host URL: every node, the first that is `attrs` wins."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return (
            f"postgresql://{s.pg_user}:{self.superuser_password}@{hosts}/{s.pg_database}"
            f"?target_session_attrs={attrs}"
        )

    def node_url(self, s: PatroniSettings, node: Node, dbname: str | None = None) -> str:
        """One node only (whatever its role), for checks and counts."""
        return (
            f"postgresql://{s.pg_user}:{self.superuser_password}@127.0.0.1:{node.pg_port}/"
            f"{dbname or s.pg_database}"
        )

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def _paths(s: PatroniSettings) -> dict[str, Path]:
    root = s.root
    return {
        "root": root,
        "etcd": root / "etcd",
        "etcddata": root / "etcd" / "data",
        "etcdconf": root / "etcd" / "etcd.yaml",
        "etcdlog": root / "etcd" / "etcd.log",
        "state": root / STATE_FILE,
        "env": root / ENV_FILE,
    }


def node_dir(s: PatroniSettings, node: Node) -> Path:
    return s.root / node.name


def data_dir(s: PatroniSettings, node: Node) -> Path:
    return node_dir(s, node) / "data"


def _free_ports(preferred: int, count: int, taken: set[int]) -> list[int]:
    """`count` free loopback ports, from `preferred` upward when those are free."""
    ports: list[int] = []
    candidate = preferred
    while len(ports) < count and candidate < preferred + 200:
        if candidate not in taken and _port_free(candidate):
            ports.append(candidate)
            taken.add(candidate)
        candidate += 1
    if len(ports) < count:
        raise ServiceError(f"no {count} free ports from {preferred} upward.")
    return ports


def read_state(s: PatroniSettings) -> ClusterState | None:
    path = _paths(s)["state"]
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data["nodes"] = [Node(**n) for n in data.get("nodes", [])]
    return ClusterState(**data)


def write_state(s: PatroniSettings, state: ClusterState) -> None:
    p = _paths(s)
    tmp = p["state"].with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(p["state"])
    write_env_file(p["env"], {"FENLEI_DATABASE_URL": state.database_url(s)})


def new_state(s: PatroniSettings) -> ClusterState:
    taken: set[int] = set()
    etcd_port, peer_port = _free_ports(s.etcd_port, 2, taken)
    pg_ports = _free_ports(s.pg_port, s.nodes, taken)
    api_ports = _free_ports(s.api_port, s.nodes, taken)
    return ClusterState(
        scope=s.scope,
        etcd_port=etcd_port,
        etcd_peer_port=peer_port,
        superuser_password=secrets.token_urlsafe(18),
        replication_password=secrets.token_urlsafe(18),
        rewind_password=secrets.token_urlsafe(18),
        nodes=[Node(f"node{i + 1}", pg_ports[i], api_ports[i]) for i in range(s.nodes)],
    )


def _render(template: str, **values: object) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def _pg_owner() -> tuple[int, int] | None:
    if not _is_root():
        return None
    pw = pwd.getpwnam(PG_SYSTEM_USER)
    return pw.pw_uid, pw.pw_gid


def _chown(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is not None:
        os.chown(path, *owner)


def _spawn(cmd: list[str], log_path: Path, as_pg_user: bool) -> int:
    """Start `cmd` in its own session (it outlives this command); returns its pid."""
    owner = _pg_owner() if as_pg_user else None
    extra: dict[str, Any] = {}
    if owner is not None:
        extra = {"user": owner[0], "group": owner[1], "extra_groups": []}
        env = dict(os.environ, HOME=str(log_path.parent), USER=PG_SYSTEM_USER)
    else:
        env = dict(os.environ)
    # Not the caller's FENLEI_/PG* variables: Patroni and libpq would read PG* ones.
    env = {k: v for k, v in env.items() if not k.startswith(("PG", "PATRONI_"))}
    with log_path.open("ab") as logfh:
        if owner is not None:
            os.chown(log_path, *owner)
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logfh,
            stderr=logfh,
            start_new_session=True,
            cwd=str(log_path.parent),
            env=env,
            **extra,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _alive(pid: int | None, name: str) -> bool:
    """Whether `pid` still runs `name`. A child this process started is asked through its
    Popen: its /proc cmdline is empty for a moment after the exec (the new image's
    argument pages are not mapped yet), which `_pid_alive` would read as gone."""
    child = _CHILDREN.get(pid) if pid is not None else None
    if child is not None:
        return child.poll() is None
    return _pid_alive(pid, name)


def etcd_config(s: PatroniSettings, state: ClusterState) -> str:
    return _render(
        "etcd.yaml",
        scope=state.scope,
        data_dir=_paths(s)["etcddata"],
        client_port=state.etcd_port,
        peer_port=state.etcd_peer_port,
    )


def start_etcd(s: PatroniSettings, state: ClusterState) -> None:
    p = _paths(s)
    if _alive(state.etcd_pid, "etcd") and _port_answers(state.etcd_port):
        return
    p["etcd"].mkdir(parents=True, exist_ok=True)
    p["etcd"].chmod(0o700)
    p["etcdconf"].write_text(etcd_config(s, state), encoding="utf-8")
    state.etcd_pid = _spawn(
        [ETCD_BIN, "--config-file", str(p["etcdconf"])], p["etcdlog"], as_pg_user=False
    )
    # Recorded before waiting, so `down` stops it even if it never answers.
    write_state(s, state)
    _wait(
        lambda: _http_json(f"http://127.0.0.1:{state.etcd_port}/health") is not None,
        30.0,
        f"etcd to answer (log: {p['etcdlog']})",
        alive=lambda: _alive(state.etcd_pid, "etcd"),
    )


def node_config(s: PatroniSettings, state: ClusterState, node: Node) -> str:
    nd = node_dir(s, node)
    return _render(
        "node.yaml",
        scope=state.scope,
        name=node.name,
        api_port=node.api_port,
        etcd_port=state.etcd_port,
        synchronous_mode="true" if s.synchronous_mode else "false",
        shared_buffers=s.shared_buffers,
        pg_major=s.pg_major,
        pg_port=node.pg_port,
        data_dir=nd / "data",
        bin_dir=Path(_pg_bin(ServicesSettings(pg_major=s.pg_major), "pg_ctl")).parent,
        node_dir=nd,
        run_dir=nd / "run",
        pg_user=s.pg_user,
        superuser_password=state.superuser_password,
        replication_password=state.replication_password,
        rewind_password=state.rewind_password,
    )


def start_node(s: PatroniSettings, state: ClusterState, node: Node) -> None:
    if _alive(node.pid, "patroni"):
        return
    nd = node_dir(s, node)
    owner = _pg_owner()
    for path in (nd, nd / "run"):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        _chown(path, owner)
    conf = nd / "patroni.yaml"
    conf.write_text(node_config(s, state, node), encoding="utf-8")
    conf.chmod(0o600)
    _chown(conf, owner)
    node.pid = _spawn([PATRONI_BIN, str(conf)], nd / "patroni.log", as_pg_user=True)
    write_state(s, state)


def _http_json(url: str, method: str = "GET", body: object = None) -> Any:
    """The JSON answer of a Patroni or etcd endpoint; None when it does not answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        # Patroni answers 503 on /primary etc. with the same JSON body.
        try:
            return json.loads(exc.read() or b"null")
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def cluster(state: ClusterState) -> dict[str, Any] | None:
    """Patroni's view of the cluster (GET /cluster) from the first node that answers."""
    for node in state.nodes:
        answer = _http_json(f"http://127.0.0.1:{node.api_port}/cluster")
        if isinstance(answer, dict) and "members" in answer:
            return answer
    return None


def leader(state: ClusterState) -> str | None:
    view = cluster(state)
    for member in (view or {}).get("members", []):
        if member.get("role") == "leader" and member.get("state") == "running":
            return str(member["name"])
    return None


def healthy(state: ClusterState, synchronous: bool | None = None) -> bool:
    """A running leader and every other node running as its replica with a known lag
    (and, when `synchronous` is True, one of them its synchronous standby)."""
    view = cluster(state)
    members = (view or {}).get("members", [])
    if len(members) != len(state.nodes):
        return False
    roles = [m.get("role") for m in members]
    if roles.count("leader") != 1:
        return False
    for m in members:
        if m.get("state") not in ("running", "streaming"):
            return False
        if m.get("role") != "leader" and not isinstance(m.get("lag"), int):
            return False
    if synchronous is True and "sync_standby" not in roles:
        return False
    return not (synchronous is False and "sync_standby" in roles)


def set_synchronous_mode(s: PatroniSettings, state: ClusterState, on: bool) -> None:
    """Turn synchronous replication on or off for the running cluster (PATCH /config),
    then wait until the leader has (or has dropped) its synchronous standby."""
    answer = None
    for node in state.nodes:
        answer = _http_json(
            f"http://127.0.0.1:{node.api_port}/config", "PATCH", {"synchronous_mode": on}
        )
        if isinstance(answer, dict):
            break
    if not isinstance(answer, dict) or bool(answer.get("synchronous_mode")) != on:
        raise ServiceError(f"Patroni did not take synchronous_mode={on}: {answer!r}")
    _wait(lambda: healthy(state, on), s.start_timeout_s, f"synchronous_mode={on} in effect")


def postmaster_pid(s: PatroniSettings, node: Node) -> int | None:
    """The node's running postmaster (from postmaster.pid), or None."""
    try:
        first = (data_dir(s, node) / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
    except (OSError, ValueError, IndexError):
        return None
    return pid if _pid_alive(pid, "postgres") else None


def _wait(done: Any, timeout: float, what: str, alive: Any = None, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if alive is not None and not alive():
            raise ServiceError(f"gave up waiting for {what}: the process exited.")
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(interval)


def _ensure_database(s: PatroniSettings, state: ClusterState) -> None:
    name = leader(state)
    assert name is not None
    url = state.node_url(s, state.node(name), "postgres")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (s.pg_database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{s.pg_database}"')


def up(s: PatroniSettings) -> ClusterState:
    """Start etcd and every node that is not running; wait for a leader and replicas."""
    p = _paths(s)
    p["root"].mkdir(parents=True, exist_ok=True)
    p["root"].chmod(0o755)
    _check_traversable(p["root"], PG_SYSTEM_USER)
    state = read_state(s) or new_state(s)
    write_state(s, state)
    start_etcd(s, state)
    # On the first `up` one node bootstraps (initdb) before the others clone it: started
    # together they would race for the initialize key, which is fine, but one at a time
    # is faster on a small machine. Later, all at once: whichever is furthest ahead
    # (not necessarily the first) must be there to take the lead.
    first = state.nodes[0]
    made = any((data_dir(s, n) / "PG_VERSION").exists() for n in state.nodes)
    for node in state.nodes if made else [first]:
        start_node(s, state, node)
    _wait(
        lambda: leader(state) is not None,
        s.start_timeout_s,
        f"a leader (log: {node_dir(s, first) / 'patroni.log'})",
        alive=lambda: any(_alive(n.pid, "patroni") for n in state.nodes),
    )
    for node in state.nodes:
        start_node(s, state, node)  # a no-op for those already running
    _wait(lambda: healthy(state), s.start_timeout_s, "every replica to follow the leader")
    # The setting wins over what etcd kept from an earlier `up` (bootstrap.dcs is
    # read only when the cluster is first made).
    if len(state.nodes) > 1 and not healthy(state, s.synchronous_mode):
        set_synchronous_mode(s, state, s.synchronous_mode)
    _ensure_database(s, state)
    return state


def _stop(pid: int | None, name: str, timeout: float) -> bool:
    """SIGTERM `pid` if it is still `name` (SIGKILL after `timeout`); False: not running."""
    running = _alive(pid, name)
    if running and pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, name, timeout):
            log.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, pid, timeout)
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, name, 5.0)
    child = _CHILDREN.pop(pid, None) if pid is not None else None
    if child is not None:
        try:
            child.wait(5.0)
        except subprocess.TimeoutExpired:
            # Never leave it behind, nor let a slow exit mask why `down` was called.
            child.kill()
            child.wait(5.0)
    return running


def down(s: PatroniSettings) -> list[str]:
    """Stop the nodes (Patroni stops its PostgreSQL first), then etcd."""
    state = read_state(s)
    stopped: list[str] = []
    if state is None:
        return stopped
    # Replicas first: a leader stopping while its replica runs would hand over to it.
    order = sorted(state.nodes, key=lambda n: n.name == leader(state))
    for node in order:
        if _stop(node.pid, "patroni", STOP_TIMEOUT_S):
            stopped.append(node.name)
        # A postmaster that outlived its Patroni (Patroni was killed) is this home's too.
        pid = postmaster_pid(s, node)
        if pid is not None and _stop(pid, "postgres", STOP_TIMEOUT_S):
            stopped.append(f"{node.name} postgres")
        node.pid = None
    if _stop(state.etcd_pid, "etcd", STOP_TIMEOUT_S):
        stopped.append("etcd")
    state.etcd_pid = None
    write_state(s, state)
    return stopped


def status(s: PatroniSettings) -> dict[str, Any]:
    """Ports, pids and Patroni's roles (never a password)."""
    state = read_state(s)
    if state is None:
        return {"home": str(s.root), "nodes": []}
    view = cluster(state) or {}
    members = {m["name"]: m for m in view.get("members", [])}
    return {
        "home": str(s.root),
        "url": state.database_url(s).replace(state.superuser_password, "***"),
        "etcd": {
            "port": state.etcd_port,
            "pid": state.etcd_pid,
            "running": _pid_alive(state.etcd_pid, "etcd"),
        },
        "nodes": [
            {
                "name": n.name,
                "pg_port": n.pg_port,
                "api_port": n.api_port,
                "patroni_pid": n.pid,
                "running": _pid_alive(n.pid, "patroni"),
                "postmaster_pid": postmaster_pid(s, n),
                **{k: members.get(n.name, {}).get(k) for k in ("role", "state", "timeline", "lag")},
            }
            for n in state.nodes
        ],
        "synchronous_mode": bool((view or {}).get("members"))
        and any(m.get("role") == "sync_standby" for m in view.get("members", [])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.patroni", description="A Patroni cluster on loopback."
    )
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    s = PatroniSettings()
    try:
        if args.command == "up":
            state = up(s)
            # The password stays in patroni.env (0600), out of terminals and CI logs.
            print(f"leader    {leader(state)}")
            print(f"database  {state.database_url(s).replace(state.superuser_password, '***')}")
            print(f"env       {_paths(s)['env']}  (. it: FENLEI_DATABASE_URL)")
        elif args.command == "down":
            stopped = down(s)
            print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        else:
            print(json.dumps(status(s), indent=2))
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
