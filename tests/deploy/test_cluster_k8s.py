"""deploy/k8s/cluster/ (no Kubernetes here: parsed, and built by `kubectl kustomize`
when kubectl is installed). Checked against what the pods read: the Services their
URLs name, the Secret template their keys come from, libpq's parse of their URLs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from deploy.emqx.kicker import HEARTBEAT

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLUSTER = DEPLOY / "k8s" / "cluster"
KUSTOMIZATION = yaml.safe_load((CLUSTER / "kustomization.yaml").read_text())
DOCS: list[dict[str, Any]] = [
    d
    for name in KUSTOMIZATION["resources"]
    for d in yaml.safe_load_all((CLUSTER / name).read_text())
    if d
]
WORKLOADS = [d for d in DOCS if d["kind"] in ("StatefulSet", "Deployment")]
SERVICES = {d["metadata"]["name"]: d for d in DOCS if d["kind"] == "Service"}
SECRET_TEMPLATE = yaml.safe_load((CLUSTER / "secrets" / "cluster.yaml").read_text())
VAR_REF = re.compile(r"\$\((\w+)\)")


def workload(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name)


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["spec"]["template"]["spec"])


def env_list(container: dict[str, Any]) -> list[dict[str, Any]]:
    return list(container.get("env", []))


def expanded_env(container: dict[str, Any]) -> dict[str, str]:
    """Values as Kubernetes expands them: $(VAR) of an earlier entry; secrets as <key>."""
    values: dict[str, str] = {}
    for entry in env_list(container):
        if "value" in entry:
            values[entry["name"]] = VAR_REF.sub(
                lambda m: values.get(m.group(1), m.group(0)), str(entry["value"])
            )
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            values[entry["name"]] = f"<{entry['valueFrom']['secretKeyRef']['key']}>"
        else:
            values[entry["name"]] = f"<{entry['valueFrom']['fieldRef']['fieldPath']}>"
    return values


def all_containers() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for doc in DOCS:
        if doc["kind"] in ("StatefulSet", "Deployment", "Job"):
            spec = pod(doc)
            for c in spec.get("initContainers", []) + spec["containers"]:
                found.append((doc["metadata"]["name"], c))
    return found


def test_the_copies_are_deploy_emqxs_files() -> None:
    for name in ("emqx.conf", "db-primary-init.sh", "db-replica.sh"):
        assert (CLUSTER / name).read_bytes() == (DEPLOY / "emqx" / name).read_bytes(), name
    generated = {f for g in KUSTOMIZATION["configMapGenerator"] for f in g["files"]}
    assert generated == {"emqx.conf", "db-primary-init.sh", "db-replica.sh"}
    # The Secret template is not applied by -k (it would blank the real values).
    assert "secrets/cluster.yaml" not in KUSTOMIZATION["resources"]


def test_every_long_running_container_has_readiness_and_liveness_probes() -> None:
    assert {d["metadata"]["name"] for d in WORKLOADS} == {
        "db-primary",
        "db-replica",
        "emqx",
        "ingest",
        "api",
        "emqx-kicker",
    }
    for doc in WORKLOADS:
        for container in pod(doc)["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, (doc["metadata"]["name"], probe)
    emqx = pod(workload("StatefulSet", "emqx"))["containers"][0]
    assert emqx["readinessProbe"]["httpGet"] == {"path": "/status", "port": "dashboard"}
    assert {"name": "dashboard", "containerPort": 18083} in emqx["ports"]
    api = pod(workload("Deployment", "api"))["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ingest = pod(workload("StatefulSet", "ingest"))["containers"][0]
    assert ingest["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    # Readiness: the same check as compose's (run on real metrics in test_cluster_compose).
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert (
        ingest["readinessProbe"]["exec"]["command"]
        == compose["cluster-ingest-0"]["healthcheck"]["test"][1:]
    )
    assert {"name": "metrics", "containerPort": 9464} in ingest["ports"]
    for name in ("db-primary", "db-replica"):
        container = pod(workload("StatefulSet", name))["containers"][0]
        assert "pg_isready" in " ".join(container["readinessProbe"]["exec"]["command"])


def test_three_emqx_nodes_find_each_other_through_the_headless_service() -> None:
    emqx = workload("StatefulSet", "emqx")
    assert emqx["spec"]["replicas"] == 3
    headless = SERVICES[emqx["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"] == emqx["spec"]["template"]["metadata"]["labels"]
    env = expanded_env(pod(emqx)["containers"][0])
    service_dns = f"{headless['metadata']['name']}.<metadata.namespace>.svc.cluster.local"
    assert env["EMQX_NODE__NAME"] == f"emqx@<metadata.name>.{service_dns}"
    assert env["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "dns"
    assert env["EMQX_CLUSTER__DNS__NAME"] == service_dns
    assert env["EMQX_CLUSTER__DNS__RECORD_TYPE"] == "srv"
    # One cookie for every node: the same Secret key, in the pod template.
    assert env["EMQX_NODE__COOKIE"] == "<FENLEI_EMQX_COOKIE>"
    command = pod(emqx)["containers"][0]["command"]
    assert 'test -n "$EMQX_NODE__COOKIE"' in command[-1]
    assert command[-1].endswith("exec /usr/bin/docker-entrypoint.sh /opt/emqx/bin/emqx foreground")
    assert env["EMQX_AUTHENTICATION__1__PASSWORD"] == "<FENLEI_EMQX_DB_PASSWORD>"
    assert env["EMQX_AUTHORIZATION__SOURCES__1__PASSWORD"] == "<FENLEI_EMQX_DB_PASSWORD>"
    # The cluster ports the nodes talk on are the headless Service's.
    ports = {p["name"]: p["containerPort"] for p in pod(emqx)["containers"][0]["ports"]}
    assert {p["name"] for p in headless["spec"]["ports"]} == {"ekka", "rpc"}
    assert ports["ekka"] == 4370 and ports["rpc"] == 5369
    # Devices reach TLS only.
    for svc in SERVICES.values():
        if svc["spec"].get("type") in ("LoadBalancer", "NodePort"):
            assert {p["targetPort"] for p in svc["spec"]["ports"]} == {"mqtts"}
    # The config EMQX reads is the generated one; the certificate names it expects.
    mounts = {m["name"]: m for m in pod(emqx)["containers"][0]["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/opt/emqx/etc/emqx.conf"
    volumes = {v["name"]: v for v in pod(emqx)["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "fenlei-emqx-config"
    conf = (CLUSTER / "emqx.conf").read_text()
    for item in volumes["certs"]["secret"]["items"]:
        assert f"{mounts['certs']['mountPath']}/{item['path']}" in conf
    # EMQX reads logins from a Service here.
    assert set(re.findall(r'server = "([\w.-]+):5432"', conf)) == {"db-primary"}
    assert "db-primary" in SERVICES


def test_the_ingesters_share_one_group_with_their_pod_names_as_ids() -> None:
    ingest = workload("StatefulSet", "ingest")
    assert ingest["spec"]["replicas"] == 3
    env = expanded_env(pod(ingest)["containers"][0])
    assert env["FENLEI_CLIENT_ID"] == "<metadata.name>"  # ingest-0, ingest-1, ingest-2
    assert env["FENLEI_SHARE_GROUP"] == "fenlei"
    assert env["FENLEI_INGEST_MQTT_USERNAME"] == "fenlei-ingest"
    host, _, port = env["FENLEI_MQTT_URL"].removeprefix("mqtt://").partition(":")
    service = SERVICES[host]
    assert (
        service["spec"]["selector"]
        == workload("StatefulSet", "emqx")["spec"]["selector"]["matchLabels"]
    )
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}


def _hosts_and_attrs(url: str) -> tuple[list[str], str]:
    params = conninfo_to_dict(url)
    return str(params["host"]).split(","), str(params.get("target_session_attrs", ""))


def test_writers_go_to_the_primary_and_the_api_reads_from_the_replica() -> None:
    writers = [
        (name, c) for name, c in all_containers() if "FENLEI_DATABASE_URL" in expanded_env(c)
    ]
    assert {name for name, _ in writers} == {"fenlei-cluster-setup", "ingest", "api", "emqx-kicker"}
    for name, container in writers:
        url = expanded_env(container)["FENLEI_DATABASE_URL"]
        assert "<FENLEI_DB_PASSWORD>" in url, f"{name}: the password variable is not expanded"
        hosts, attrs = _hosts_and_attrs(url)
        assert attrs == "read-write" and hosts[0] == "db-primary", name
        assert set(hosts) == {"db-primary", "db-replica"} and set(hosts) <= SERVICES.keys()
    api = expanded_env(pod(workload("Deployment", "api"))["containers"][0])
    hosts, attrs = _hosts_and_attrs(api["FENLEI_DATABASE_READ_URL"])
    assert hosts[0] == "db-replica" and attrs in ("prefer-standby", "standby", "read-only")
    assert not any("ADMIN_MQTT" in k for k in api)
    # The schema first: migrate is the setup Job's init container.
    setup = pod(workload("Job", "fenlei-cluster-setup"))
    assert setup["initContainers"][0]["args"] == ["migrate"]
    assert setup["containers"][0]["command"] == ["python", "-m", "deploy.emqx.accounts"]


def test_the_kicker_reaches_emqxs_rest_api_as_the_dashboard_user() -> None:
    kicker = pod(workload("Deployment", "emqx-kicker"))["containers"][0]
    env = expanded_env(kicker)
    host, _, port = env["FENLEI_EMQX_API_URL"].removeprefix("http://").partition(":")
    emqx = workload("StatefulSet", "emqx")
    assert SERVICES[host]["spec"]["selector"] == emqx["spec"]["selector"]["matchLabels"]
    assert int(port) in {p["port"] for p in SERVICES[host]["spec"]["ports"]}
    emqx_env = expanded_env(pod(emqx)["containers"][0])
    assert env["FENLEI_EMQX_DASHBOARD_PASSWORD"] == emqx_env["EMQX_DASHBOARD__DEFAULT_PASSWORD"]
    assert HEARTBEAT in " ".join(kicker["livenessProbe"]["exec"]["command"])


def test_every_secret_key_used_is_in_the_template() -> None:
    template_keys = set(SECRET_TEMPLATE["stringData"])
    for name, container in all_containers():
        for entry in env_list(container):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] == SECRET_TEMPLATE["metadata"]["name"]:
                assert ref["key"] in template_keys, (name, ref["key"])
            # $(VAR) expands only variables defined earlier in the same list.
            defined = {e["name"] for e in env_list(container)[: env_list(container).index(entry)]}
            for var in VAR_REF.findall(str(entry.get("value", ""))):
                assert var in defined, (name, entry["name"], var)


def test_the_replica_copies_the_primary_on_first_start() -> None:
    replica = pod(workload("StatefulSet", "db-replica"))["containers"][0]
    assert replica["command"] == ["/bin/sh", "/fenlei/db-replica.sh"]
    env = expanded_env(replica)
    assert env["FENLEI_PRIMARY_HOST"] in SERVICES
    primary = pod(workload("StatefulSet", "db-primary"))["containers"][0]
    assert expanded_env(primary)["PGDATA"] == env["PGDATA"]
    init = next(m for m in primary["volumeMounts"] if m["name"] == "scripts")
    assert init["mountPath"].startswith("/docker-entrypoint-initdb.d/")
    assert init["subPath"] == "db-primary-init.sh"
    # Executable: the image runs an executable init script, and sources others.
    volume = next(v for v in pod(workload("StatefulSet", "db-primary"))["volumes"])
    assert volume["configMap"]["defaultMode"] == 0o755


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_overlay() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(CLUSTER)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    # Generated names carry a content hash, and the pods refer to those names.
    for doc in docs:
        if doc["kind"] in ("StatefulSet", "Deployment"):
            for volume in doc["spec"]["template"]["spec"].get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps


def run_guard(script: str, cookie: str) -> subprocess.CompletedProcess[str]:
    """The EMQX container's command with its image absent: 127 means it got to exec."""
    env = {"PATH": "/usr/bin:/bin", "EMQX_NODE__COOKIE": cookie}
    return subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=10
    )


def test_emqx_refuses_to_start_without_the_cookie() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    scripts = [
        pod(workload("StatefulSet", "emqx"))["containers"][0]["command"][-1],
        # compose turns $$ into $ before the shell sees it.
        compose["emqx1"]["entrypoint"][-1].replace("$$", "$"),
    ]
    for script in scripts:
        refused = run_guard(script, "")
        assert refused.returncode == 1 and "FENLEI_EMQX_COOKIE" in refused.stderr
        assert run_guard(script, "a-cookie").returncode == 127  # on to the image's entrypoint
