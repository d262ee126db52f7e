"""The composition root: what `create_app` mounts and how settings reach the pages. Pure.

No database: the apps are built, never started (the pool opens in the lifespan).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.requests import Request

with warnings.catch_warnings():
    # See tests/api/conftest.py: Starlette's TestClient warns when driven by httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.main import create_api
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings, get_dashboard_settings
from dashboards.static import PLOTLY_PATH
from fenlei.app import create_app, load_settings

API = ApiSettings(database_url="postgresql://nowhere/none")
# Pages that answer without the database (the lifespan, which opens the pool, never runs).
PAGES = (PLOTLY_PATH, "/dashboards/signin", "/volunteer/login")


def request_to(app: FastAPI) -> Request:
    return Request({"type": "http", "app": app, "headers": []})


def statuses(app: FastAPI, paths: tuple[str, ...]) -> list[int]:
    client = TestClient(app)  # not entered: no lifespan, no pool
    return [client.get(p, follow_redirects=False).status_code for p in paths]


def test_the_api_alone_has_no_pages() -> None:
    api = create_api(API)
    assert statuses(api, PAGES) == [404] * len(PAGES)
    assert "/api/v1/estates/{estate}/metrics" in api.openapi()["paths"]


def test_the_composed_app_mounts_the_pages_on_the_api() -> None:
    app = create_app(API, DashboardSettings(session_secret="s"))
    assert statuses(app, PAGES) == [200] * len(PAGES)
    assert app.openapi()["paths"] == create_api(API).openapi()["paths"]  # pages: no schema


def test_the_pages_read_the_settings_the_app_was_built_with() -> None:
    settings = DashboardSettings(session_secret="given", target_coverage=0.5)
    app = create_app(API, settings)
    assert get_dashboard_settings(request_to(app)) is settings


def test_an_app_without_dashboard_settings_does_not_make_them_up() -> None:
    with pytest.raises(RuntimeError, match="no dashboard settings"):
        get_dashboard_settings(request_to(create_api(API)))


def test_an_empty_session_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="session_secret"):
        create_app(API, DashboardSettings(session_secret=""))


def test_load_settings_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENLEI_DATABASE_URL", "postgresql://db.example/fenlei")
    monkeypatch.setenv("FENLEI_SESSION_SECRET", "from-env-" + "s" * 32)
    monkeypatch.setenv("FENLEI_PSEUDONYM_KEY", "from-env-" + "p" * 32)
    monkeypatch.setenv("FENLEI_CHANNEL_KEY", "from-env-" + "c" * 32)
    monkeypatch.setenv("FENLEI_TARGET_WET_SHARE", "0.4")
    api, dashboards = load_settings(host="0.0.0.0", port=8123)
    assert (api.database_url, api.host, api.port) == (
        "postgresql://db.example/fenlei",
        "0.0.0.0",
        8123,
    )
    assert dashboards.session_secret == "from-env-" + "s" * 32
    assert dashboards.pseudonym_key() == ("from-env-" + "p" * 32).encode()
    assert dashboards.target_wet_share == 0.4


def test_in_development_without_a_secret_each_load_makes_one_up_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("FENLEI_DATABASE_URL", "postgresql://db.example/fenlei")
    monkeypatch.setenv("FENLEI_HOME", str(tmp_path))  # the development channel key's home
    monkeypatch.delenv("FENLEI_CHANNEL_KEY", raising=False)
    monkeypatch.setenv("FENLEI_DEV", "1")
    monkeypatch.delenv("FENLEI_SESSION_SECRET", raising=False)
    monkeypatch.delenv("FENLEI_PSEUDONYM_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="fenlei.app"):
        first = load_settings()[1].session_secret
        second = load_settings()[1].session_secret
    assert first and second and first != second
    assert len(first) >= 32
    assert "FENLEI_SESSION_SECRET is not set" in caplog.text
