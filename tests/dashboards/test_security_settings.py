"""Secrets, Secure cookies, security headers and the deployment's secrets (#14). Pure.

No database: apps are built and asked for the pages that need none (the lifespan, which
opens the pool, never runs); `fenlei api` is started as a process only to see it refuse.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    # See tests/api/conftest.py: Starlette's TestClient warns when driven by httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from dashboards.static import PLOTLY_PATH
from fenlei.app import create_app, load_settings
from fenlei.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD = "k" * 32
OTHER = "p" * 32
CHANNEL = "c" * 32
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def app_for(host: str = "127.0.0.1", **settings: Any) -> Any:
    return create_app(
        ApiSettings(database_url="postgresql://nowhere/none", host=host),
        DashboardSettings(session_secret="s", **settings),
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment without any of the settings under test."""
    for name in list(os.environ):
        if name.startswith("FENLEI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FENLEI_DATABASE_URL", "postgresql://db.example/fenlei")
    monkeypatch.setenv("FENLEI_HOME", str(tmp_path))
    return monkeypatch


# --- secrets ----------------------------------------------------------------------------


def test_outside_development_the_session_secret_is_required(env: pytest.MonkeyPatch) -> None:
    env.setenv("FENLEI_PSEUDONYM_KEY", OTHER)
    with pytest.raises(ConfigError, match=r"FENLEI_SESSION_SECRET is not set.*FENLEI_DEV=1"):
        load_settings()


def test_outside_development_the_pseudonym_key_is_required(env: pytest.MonkeyPatch) -> None:
    env.setenv("FENLEI_SESSION_SECRET", GOOD)
    with pytest.raises(ConfigError, match="FENLEI_PSEUDONYM_KEY is not set"):
        load_settings()


def test_short_or_shared_secrets_are_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("FENLEI_SESSION_SECRET", "changeme")
    env.setenv("FENLEI_PSEUDONYM_KEY", OTHER)
    with pytest.raises(ConfigError, match="FENLEI_SESSION_SECRET is too short"):
        load_settings()
    env.setenv("FENLEI_SESSION_SECRET", OTHER)
    with pytest.raises(ConfigError, match="equals FENLEI_SESSION_SECRET"):
        load_settings()


def test_outside_development_the_channel_key_is_required(env: pytest.MonkeyPatch) -> None:
    env.setenv("FENLEI_SESSION_SECRET", GOOD)
    env.setenv("FENLEI_PSEUDONYM_KEY", OTHER)
    with pytest.raises(ConfigError, match="FENLEI_CHANNEL_KEY is not set"):
        load_settings()
    env.setenv("FENLEI_CHANNEL_KEY", CHANNEL)
    assert load_settings()


def test_both_keys_are_read_from_the_environment_or_from_files(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("FENLEI_CHANNEL_KEY", CHANNEL)
    env.setenv("FENLEI_SESSION_SECRET", GOOD)
    env.setenv("FENLEI_PSEUDONYM_KEY", OTHER)
    _, settings = load_settings()
    assert (settings.secret(), settings.pseudonym_key()) == (GOOD.encode(), OTHER.encode())
    env.delenv("FENLEI_SESSION_SECRET")
    env.delenv("FENLEI_PSEUDONYM_KEY")
    (tmp_path / "s").write_text(f"{GOOD}\n")
    (tmp_path / "p").write_text(OTHER)
    env.setenv("FENLEI_SESSION_SECRET_FILE", str(tmp_path / "s"))
    env.setenv("FENLEI_PSEUDONYM_KEY_FILE", str(tmp_path / "p"))
    _, settings = load_settings()
    assert (settings.secret(), settings.pseudonym_key()) == (GOOD.encode(), OTHER.encode())
    env.setenv("FENLEI_PSEUDONYM_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"FENLEI_PSEUDONYM_KEY_FILE=.*cannot be read"):
        load_settings()


def test_in_development_missing_keys_are_made_up_and_said(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv("FENLEI_DEV", "1")
    first = load_settings()[1]
    second = load_settings()[1]
    assert len({first.session_secret, first.pseudonym_secret, second.session_secret}) == 3
    assert all(len(s.session_secret) >= 32 for s in (first, second))
    assert "FENLEI_SESSION_SECRET is not set" in caplog.text
    assert "FENLEI_PSEUDONYM_KEY is not set" in caplog.text


def test_fenlei_api_refuses_to_start_without_the_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env.update(FENLEI_HOME=str(tmp_path), FENLEI_DATABASE_URL="postgresql://nowhere/none")
    done = subprocess.run(
        [sys.executable, "-m", "fenlei", "api", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    assert "FENLEI_SESSION_SECRET is not set" in done.stderr


# --- Secure cookies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "given", "dev", "secure"),
    [
        ("0.0.0.0", None, False, True),
        ("::", None, False, True),
        ("192.0.2.10", None, False, True),
        ("127.0.0.1", None, False, False),
        ("::1", None, False, False),
        ("localhost", None, False, False),
        ("0.0.0.0", None, True, False),  # development
        ("0.0.0.0", False, False, False),  # said explicitly
        ("127.0.0.1", True, False, True),
    ],
)
def test_cookies_are_secure_unless_on_loopback_or_said_otherwise(
    host: str, given: bool | None, dev: bool, secure: bool
) -> None:
    app = app_for(host, cookie_secure=given, dev=dev)
    for path in ("/dashboards/signin", "/volunteer/login"):
        cookie = TestClient(app).get(path).headers["set-cookie"].lower()
        assert ("; secure" in cookie) is secure, (path, cookie)
        assert "httponly" in cookie and "samesite=" in cookie


def test_an_empty_or_auto_cookie_setting_means_decide(env: pytest.MonkeyPatch) -> None:
    for value in ("", "auto", "AUTO"):
        env.setenv("FENLEI_COOKIE_SECURE", value)
        assert DashboardSettings().cookie_secure is None
    env.setenv("FENLEI_COOKIE_SECURE", "false")
    assert DashboardSettings().cookie_secure is False


# --- headers ------------------------------------------------------------------------------


def csp_of(response: Any) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


@pytest.mark.parametrize(
    "path", ["/dashboards/signin", "/volunteer/login", "/healthz", "/openapi.json", PLOTLY_PATH]
)
def test_every_response_has_the_security_headers(path: str) -> None:
    r = TestClient(app_for()).get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert csp_of(r)["frame-ancestors"] == ["'none'"]


def test_the_pages_run_only_their_own_script() -> None:
    client = TestClient(app_for())
    for path in ("/dashboards/signin", "/volunteer/login"):
        r = client.get(path)
        csp = csp_of(r)
        assert csp["default-src"] == ["'none'"]
        assert csp["form-action"] == ["'self'"]
        assert "'unsafe-inline'" not in csp["script-src"]
        assert "'unsafe-eval'" not in csp["script-src"]
        for source in INLINE_SCRIPT.findall(r.text):  # each inline script, by its hash
            digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp["script-src"], path
        assert "onclick=" not in r.text and "javascript:" not in r.text


def test_the_api_and_its_documentation_are_never_framed() -> None:
    client = TestClient(app_for())
    api = client.get("/openapi.json")
    assert csp_of(api) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}
    docs = client.get("/docs")  # its own policy (api.docs_assets): local files, no other host
    assert docs.status_code == 200 and csp_of(docs)["frame-ancestors"] == ["'none'"]


# --- deployments ---------------------------------------------------------------------------


def test_compose_gives_the_api_both_keys_as_secrets() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    api = compose["services"]["api"]
    env = api["environment"]
    assert "FENLEI_SESSION_SECRET" not in env and "FENLEI_PSEUDONYM_KEY" not in env
    for variable, secret in (
        ("FENLEI_SESSION_SECRET", "fenlei_session_secret"),
        ("FENLEI_PSEUDONYM_KEY", "fenlei_pseudonym_key"),
        ("FENLEI_CHANNEL_KEY", "fenlei_channel_key"),
    ):
        assert secret in api["secrets"]
        assert env[f"{variable}_FILE"] == f"/run/secrets/{secret}"
        assert compose["secrets"][secret] == {"environment": variable}
    assert env["FENLEI_INGEST_MQTT_USERNAME"] == "fenlei-ingest"  # the shared block, merged


def test_k8s_api_replicas_share_both_keys_from_a_secret_with_placeholders() -> None:
    k8s = ROOT / "deploy" / "k8s"
    api = next(
        d
        for d in yaml.safe_load_all((k8s / "api.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    secret = yaml.safe_load((k8s / "secrets" / "api-keys.yaml").read_text())
    assert secret["kind"] == "Secret"
    for variable in ("FENLEI_SESSION_SECRET", "FENLEI_PSEUDONYM_KEY", "FENLEI_CHANNEL_KEY"):
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret["metadata"]["name"], "key": variable}
        assert secret["stringData"][variable] == ""  # a placeholder, never a value
    # `kubectl apply -k` never overwrites the operator's real values with the template.
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    assert not any("secret" in r for r in kustomization["resources"])
