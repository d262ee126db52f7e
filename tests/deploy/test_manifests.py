"""The compose and k8s files cannot run here (no Docker): keep them valid and consistent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_services_wait_for_healthy_dependencies() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "broker", "ingest", "api"} <= services.keys()
    for name in ("db", "broker", "api"):
        assert "healthcheck" in services[name], name
    for name in ("ingest", "api"):
        for cond in services[name]["depends_on"].values():
            assert cond["condition"] in ("service_healthy", "service_completed_successfully")
    assert services["db"]["image"].startswith("timescale/timescaledb:")
    assert services["ingest"]["command"] == ["ingest"]


def _conf_lines(text: str) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, _, value in (
            line.strip().partition(" ")
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        )
    ]


def _assert_broker_secured(text: str, what: str) -> None:
    """Anonymous refused, one dynsec context, a TLS listener with a certificate."""
    lines = _conf_lines(text)
    conf = dict(lines)
    assert conf.get("allow_anonymous") == "false", what
    assert conf.get("per_listener_settings") == "false", what
    assert conf.get("plugin", "").endswith("mosquitto_dynamic_security.so"), what
    assert conf.get("plugin_opt_config_file", "").endswith("dynamic-security.json"), what
    listeners = [value.split()[0] for key, value in lines if key == "listener"]
    assert "8883" in listeners, what
    assert {"cafile", "certfile", "keyfile"} <= conf.keys(), what
    assert "ca.key" not in text, what
    # Globals first: a setting after `listener` would apply to that listener only.
    first_listener = next(i for i, (key, _) in enumerate(lines) if key == "listener")
    globals_ = {key for key, _ in lines[:first_listener]}
    assert {"allow_anonymous", "per_listener_settings", "plugin"} <= globals_, what


def _k8s_docs() -> list[dict[str, Any]]:
    return [
        d
        for f in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d
    ]


def test_compose_broker_config_keeps_queues_for_an_hour_at_peak() -> None:
    conf = dict(_conf_lines((DEPLOY / "mosquitto.conf").read_text()))
    assert int(conf["max_queued_messages"]) >= 2_000 * 3_600
    assert conf["persistence"] == "true"
    assert int(conf["autosave_interval"]) <= 30


def test_compose_broker_refuses_anonymous_and_exposes_only_tls() -> None:
    _assert_broker_secured((DEPLOY / "mosquitto.conf").read_text(), "deploy/mosquitto.conf")
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    broker = services["broker"]
    published = {}
    for spec in broker["ports"]:
        *host, container = str(spec).split(":")
        published[container] = host
    assert published["8883"] == ["8883"], "TLS published to the outside"
    # Plain MQTT: not published, or on the host's loopback only.
    assert published.get("1883", ["127.0.0.1", "1883"])[0] == "127.0.0.1"
    # The accounts file is written before the broker starts, and the CA key is never
    # in a volume the broker mounts.
    assert broker["depends_on"]["broker-init"]["condition"] == "service_completed_successfully"
    init = services["broker-init"]
    ca_dir = init["command"][init["command"].index("--ca-key-dir") + 1]
    ca_volume = next(v.split(":")[0] for v in init["volumes"] if v.split(":")[1] == ca_dir)
    assert all(not str(v).startswith(f"{ca_volume}:") for v in broker["volumes"])
    # Every fenlei service logs in with the credentials it is given.
    for name in ("ingest", "api", "migrate", "broker-init"):
        env = services[name]["environment"]
        assert env["FENLEI_INGEST_MQTT_USERNAME"] == "fenlei-ingest", name
        assert "FENLEI_ADMIN_MQTT_PASSWORD" in env, name


def test_k8s_broker_refuses_anonymous_and_exposes_only_tls() -> None:
    docs = _k8s_docs()
    config = next(d for d in docs if d["kind"] == "ConfigMap" and "mosquitto.conf" in d["data"])
    _assert_broker_secured(config["data"]["mosquitto.conf"], "k8s broker ConfigMap")
    for svc in (d for d in docs if d["kind"] == "Service"):
        if svc["spec"].get("type", "ClusterIP") in ("LoadBalancer", "NodePort"):
            ports = {p.get("targetPort", p["port"]) for p in svc["spec"]["ports"]}
            if svc["spec"]["selector"]["app"] == "fenlei-broker":
                assert ports == {"mqtts"}, svc["metadata"]["name"]
    broker = next(
        d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "broker"
    )
    pod = broker["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"][:3] == ["python", "-m", "deploy.broker"]
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert "broker.yaml" in kustomization["resources"]


def test_k8s_ingesters_have_stable_client_ids() -> None:
    docs = _k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Deployment", "Service", "Job"} <= kinds | {"Kustomization"}
    ingest = next(
        d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "ingest"
    )
    env = {e["name"]: e for e in ingest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FENLEI_CLIENT_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
