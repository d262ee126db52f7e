"""The compose and k8s files cannot run here (no Docker): keep them valid and consistent."""

from __future__ import annotations

from pathlib import Path

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


def test_compose_broker_config_keeps_queues_for_an_hour_at_peak() -> None:
    conf = dict(
        line.split(None, 1)
        for line in (DEPLOY / "mosquitto.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert int(conf["max_queued_messages"]) >= 2_000 * 3_600
    assert conf["persistence"] == "true"
    assert int(conf["autosave_interval"]) <= 30


def test_k8s_ingesters_have_stable_client_ids() -> None:
    docs = [
        d
        for f in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d
    ]
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Deployment", "Service", "Job"} <= kinds | {"Kustomization"}
    ingest = next(d for d in docs if d["kind"] == "StatefulSet")
    env = {e["name"]: e for e in ingest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FENLEI_CLIENT_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
