"""The compose file's `cluster` profile (no Docker engine here: parsed, not run).

Checked against what the services read (the settings classes, libpq's own parsing of
the database URLs, the scripts and config the containers mount), so a renamed
setting or a mistyped host fails here rather than on someone's cluster.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server
from psycopg.conninfo import conninfo_to_dict

from deploy.emqx.kicker import HEARTBEAT
from ingest import metrics
from ingest.settings import IngestSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
CLUSTER = {name: s for name, s in SERVICES.items() if "cluster" in s.get("profiles", [])}
EMQX_NODES = ("emqx1", "emqx2", "emqx3")
INGESTERS = ("cluster-ingest-0", "cluster-ingest-1", "cluster-ingest-2")
ONE_SHOT = {"cluster-migrate", "emqx-init"}
DEFAULT_SERVICES = {"db", "broker-init", "broker", "migrate", "ingest", "api", "alarms", "notify"}


def env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[name]["environment"].items()}


def healthcheck(name: str) -> str:
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL"), name
    return " ".join(test[1:])


def test_the_default_services_stay_outside_the_profile() -> None:
    assert SERVICES.keys() >= DEFAULT_SERVICES
    for name in DEFAULT_SERVICES:
        assert "profiles" not in SERVICES[name], name
    assert set(CLUSTER) == set(SERVICES) - DEFAULT_SERVICES
    # `docker compose up` of the default services must not need the cluster's
    # variables: no `${VAR:?…}` in any cluster service.
    for name, service in CLUSTER.items():
        assert ":?" not in yaml.safe_dump(service), name


def test_every_long_running_cluster_service_has_a_health_check() -> None:
    for name in set(CLUSTER) - ONE_SHOT:
        assert "healthcheck" in SERVICES[name], name
        assert SERVICES[name].get("restart") == "unless-stopped", name
    for node in EMQX_NODES:
        assert healthcheck(node) == "/opt/emqx/bin/emqx ctl status"
    assert "pg_isready" in healthcheck("db-primary") and "NOT pg_is_in_recovery()" in (
        healthcheck("db-primary")
    )
    assert "pg_isready" in healthcheck("db-replica")
    assert "SELECT pg_is_in_recovery()" in healthcheck("db-replica")
    metrics_port = IngestSettings.model_fields["metrics_port"].default
    for name in INGESTERS:
        assert f"http://127.0.0.1:{metrics_port}/metrics" in healthcheck(name)
        assert env(name)["FENLEI_METRICS_HOST"] == "0.0.0.0"
    assert "http://127.0.0.1:8000/readyz" in healthcheck("cluster-api")
    assert HEARTBEAT in healthcheck("emqx-kicker")


def test_the_kicker_reaches_emqxs_rest_api_as_the_dashboard_user() -> None:
    kicker = env("emqx-kicker")
    host, _, port = kicker["FENLEI_EMQX_API_URL"].removeprefix("http://").partition(":")
    for node in EMQX_NODES:
        assert host in SERVICES[node]["networks"]["default"]["aliases"]
    assert port == "18083"
    assert (
        kicker["FENLEI_EMQX_DASHBOARD_PASSWORD"] == env("emqx1")["EMQX_DASHBOARD__DEFAULT_PASSWORD"]
    )
    assert SERVICES["emqx-kicker"]["entrypoint"] == ["python", "-m", "deploy.emqx.kicker"]


def test_cluster_services_wait_only_for_cluster_services() -> None:
    for name, service in CLUSTER.items():
        for dependency, cond in service.get("depends_on", {}).items():
            assert dependency in CLUSTER, (name, dependency)
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else ("service_healthy")
            )
            assert cond["condition"] == expected, (name, dependency)
    # Ingesters start once every EMQX node and their logins are there.
    for name in INGESTERS:
        assert set(EMQX_NODES) | {"emqx-init"} <= SERVICES[name]["depends_on"].keys()


def test_three_emqx_nodes_form_one_cluster() -> None:
    envs = [env(node) for node in EMQX_NODES]
    names = [e["EMQX_NODE__NAME"] for e in envs]
    assert len(set(names)) == 3
    for e in envs:
        assert e["EMQX_NODE__COOKIE"] == "${FENLEI_EMQX_COOKIE:-}"
        assert e["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "static"
        seeds = e["EMQX_CLUSTER__STATIC__SEEDS"].strip("[]").split(",")
        assert sorted(seeds) == sorted(names)
        # The database login EMQX reads accounts with is the one the primary makes.
        assert e["EMQX_AUTHENTICATION__1__PASSWORD"] == "${FENLEI_EMQX_DB_PASSWORD:-}"
        assert e["EMQX_AUTHORIZATION__SOURCES__1__PASSWORD"] == "${FENLEI_EMQX_DB_PASSWORD:-}"
    assert env("db-primary")["FENLEI_EMQX_DB_PASSWORD"] == "${FENLEI_EMQX_DB_PASSWORD:-}"
    for node, name in zip(EMQX_NODES, names, strict=True):
        service = SERVICES[node]
        host = name.partition("@")[2]
        # The node's name must resolve to this node for the others.
        assert "." in host, "EMQX's long node names need a dotted host"
        assert host in service["networks"]["default"]["aliases"] + [service["hostname"]]
        assert "./emqx/emqx.conf:/opt/emqx/etc/emqx.conf:ro" in service["volumes"]
        assert service["image"].startswith("emqx/emqx:5.")
        # The cookie is checked before EMQX starts: an empty one is refused.
        assert "EMQX_NODE__COOKIE" in " ".join(service["entrypoint"])
    # Devices reach TLS only; plain MQTT stays on the compose network.
    published = [str(p) for node in EMQX_NODES for p in SERVICES[node].get("ports", [])]
    tls_ports = [p.rsplit(":", 1)[0] for p in published if p.endswith(":8883")]
    assert len(set(tls_ports)) == 3
    assert not any(p.endswith(":1883") for p in published)
    assert all(p.startswith("127.0.0.1:") for p in published if p.endswith(":18083"))


def test_the_ingesters_share_one_group_with_stable_distinct_ids() -> None:
    envs = [env(name) for name in INGESTERS]
    settings = [settings_from(e) for e in envs]
    assert len({s.client_id for s in settings}) == 3
    assert all(s.client_id != IngestSettings.model_fields["client_id"].default for s in settings)
    assert {s.share_group for s in settings} == {"fenlei"}
    assert {e["FENLEI_INGEST_MQTT_USERNAME"] for e in envs} == {"fenlei-ingest"}
    # The broker host is an alias every EMQX node answers to.
    hosts = {s.mqtt_host_port[0] for s in settings}
    assert len(hosts) == 1
    (host,) = hosts
    for node in EMQX_NODES:
        assert host in SERVICES[node]["networks"]["default"]["aliases"]


def settings_from(environ: dict[str, str]) -> IngestSettings:
    """IngestSettings read from exactly this environment, as the container would."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("FENLEI_")]:
            mp.delenv(key)
        for key, value in environ.items():
            mp.setenv(key, value)
        return IngestSettings()  # type: ignore[call-arg]  # database_url: env


def _hosts_and_attrs(url: str) -> tuple[list[str], str]:
    params = conninfo_to_dict(url)
    return str(params["host"]).split(","), str(params.get("target_session_attrs", ""))


def test_writers_go_to_the_primary_and_the_api_reads_from_the_replica() -> None:
    writers = ["cluster-migrate", "emqx-init", "emqx-kicker", "cluster-api", *INGESTERS]
    for name in writers:
        hosts, attrs = _hosts_and_attrs(env(name)["FENLEI_DATABASE_URL"])
        assert attrs == "read-write", name
        assert hosts[0] == "db-primary" and set(hosts) == {"db-primary", "db-replica"}, name
    hosts, attrs = _hosts_and_attrs(env("cluster-api")["FENLEI_DATABASE_READ_URL"])
    assert hosts[0] == "db-replica"
    assert attrs in ("prefer-standby", "standby", "read-only")
    # The API has no broker admin login: EMQX has no dynamic-security commands.
    assert not any("ADMIN_MQTT" in k for k in env("cluster-api"))
    # Every host named is a service here.
    for name in writers:
        hosts, _ = _hosts_and_attrs(env(name)["FENLEI_DATABASE_URL"])
        assert set(hosts) <= SERVICES.keys()


def test_the_replica_streams_from_the_primarys_slot() -> None:
    init = (DEPLOY / "emqx" / "db-primary-init.sh").read_text()
    replica = (DEPLOY / "emqx" / "db-replica.sh").read_text()
    slot = re.search(r"pg_create_physical_replication_slot\('(\w+)'\)", init)
    assert slot and f"-S {slot.group(1)}" in replica
    assert "host replication replicator" in init and "-U replicator" in replica
    assert "-R" in replica.split() and "pg_basebackup" in replica
    assert any(
        v.startswith("./emqx/db-primary-init.sh:/docker-entrypoint-initdb.d/")
        for v in SERVICES["db-primary"]["volumes"]
    )
    assert SERVICES["db-replica"]["entrypoint"][-1] == "/fenlei/db-replica.sh"
    assert "./emqx/db-replica.sh:/fenlei/db-replica.sh:ro" in SERVICES["db-replica"]["volumes"]
    assert env("db-replica")["FENLEI_PRIMARY_HOST"] == "db-primary"
    # EMQX reads logins from the primary: a new device works on its next CONNECT.
    conf = (DEPLOY / "emqx" / "emqx.conf").read_text()
    servers = set(re.findall(r'server = "([\w.-]+):5432"', conf))
    assert servers == {"db-primary"}
    # The group EMQX's login joins is the one 04_emqx_auth.sql grants the views to.
    grants = (DEPLOY / "sql" / "idempotent" / "04_emqx_auth.sql").read_text()
    assert "GRANT SELECT ON emqx_authn, mqtt_acl TO fenlei_emqx" in grants
    assert "IN ROLE fenlei_emqx" in init
    assert set(re.findall(r"username = (\w+)\n", conf)) == {"emqx"}
    assert "CREATE ROLE emqx LOGIN" in init


def test_emqx_mounts_the_certificates_emqx_init_makes_but_never_the_ca_key() -> None:
    init = SERVICES["emqx-init"]
    args = init["command"]
    tls_dir, ca_dir = args[args.index("--tls-dir") + 1], args[args.index("--ca-key-dir") + 1]
    volume_at = {v.split(":")[1]: v.split(":")[0] for v in init["volumes"]}
    conf = (DEPLOY / "emqx" / "emqx.conf").read_text()
    cert_dir = re.search(r'certfile = "(.*)/server\.crt"', conf)
    assert cert_dir
    for node in EMQX_NODES:
        mounts = {v.split(":")[0]: v.split(":")[1] for v in SERVICES[node]["volumes"]}
        assert mounts[volume_at[tls_dir]] == cert_dir.group(1), node
        assert volume_at[ca_dir] not in mounts, node


def test_an_ingester_is_healthy_while_its_metrics_say_it_is_connected() -> None:
    """The health check's own code, on the ingester's real metrics registry."""
    test = SERVICES["cluster-ingest-0"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    metrics_port = IngestSettings.model_fields["metrics_port"].default
    server, thread = start_http_server(0, "127.0.0.1", registry=metrics.REGISTRY)
    code = test[3].replace(f":{metrics_port}/", f":{server.server_port}/")
    before = metrics.REGISTRY.get_sample_value("fenlei_ingest_broker_connected") or 0.0
    try:

        def healthy() -> bool:
            return subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0

        metrics.CONNECTED.set(0)
        assert not healthy()
        metrics.CONNECTED.set(1)
        assert healthy()
    finally:
        metrics.CONNECTED.set(before)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
