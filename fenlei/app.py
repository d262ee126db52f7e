"""The composition root: the one place the whole HTTP application is put together.

`create_app(api_settings, dashboard_settings)` builds the API (`api.main.create_api`)
and mounts the pages that use it: the committees' dashboards and the volunteers'
phone pages. `api` never imports `dashboards`; `dashboards` uses `api`'s services and
schemas. `load_settings()` is what an entry point calls to read both settings objects
from FENLEI_* variables.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI

from api.main import create_api
from api.settings import ApiSettings
from dashboards.router import router as dashboards_router
from dashboards.settings import DashboardSettings
from dashboards.volunteer_pages import pages_router as volunteer_pages_router

log = logging.getLogger(__name__)


def create_app(api_settings: ApiSettings, dashboard_settings: DashboardSettings) -> FastAPI:
    """The API with the dashboards and volunteer pages, for one process.

    The dashboard settings are stored on `app.state` here, once, for
    `dashboards.settings.get_dashboard_settings`. An empty session secret is refused:
    choosing a random one is the entry point's decision (`load_settings`), made
    visibly, not a default a page falls into.
    """
    if not dashboard_settings.session_secret:
        raise ValueError(
            "dashboard_settings.session_secret is empty: set FENLEI_SESSION_SECRET "
            "or build the settings with fenlei.app.load_settings()"
        )
    app = create_api(api_settings)
    app.state.dashboard_settings = dashboard_settings
    app.include_router(volunteer_pages_router)
    app.include_router(dashboards_router)
    return app


def load_settings(
    host: str | None = None, port: int | None = None
) -> tuple[ApiSettings, DashboardSettings]:
    """Both settings from the environment; `host`/`port` override theirs when given.

    Without FENLEI_SESSION_SECRET the dashboards get a random secret for this process:
    sessions then end and pseudonyms change on restart, and several processes disagree,
    so it is logged as a warning.
    """
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    api_settings = ApiSettings(**overrides)  # type: ignore[arg-type]  # database_url: env
    dashboard_settings = DashboardSettings()
    if not dashboard_settings.session_secret:
        log.warning("FENLEI_SESSION_SECRET is not set: using a random one for this process")
        dashboard_settings.session_secret = secrets.token_urlsafe(32)
    return api_settings, dashboard_settings
