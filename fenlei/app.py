"""The composition root: the one place the whole HTTP application is put together.

`create_app(api_settings, dashboard_settings)` builds the API (`api.main.create_api`),
mounts the pages that use it (the committees' dashboards and the volunteers' phone
pages) and sends the security headers on every response (`SecurityHeaders`). `api`
never imports `dashboards`; `dashboards` uses `api`'s services and schemas.
`load_settings()` is what an entry point calls to read both settings objects from
FENLEI_* variables; outside development it refuses to start without the secrets.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import access_log
from api.main import create_api
from api.notify.settings import NotifySettings, channel_key
from api.settings import ApiSettings
from dashboards.layout import CONTENT_SECURITY_POLICY
from dashboards.router import router as dashboards_router
from dashboards.settings import MIN_SECRET_CHARS, DashboardSettings
from dashboards.volunteer_pages import pages_router as volunteer_pages_router
from fenlei.errors import ConfigError

log = logging.getLogger(__name__)

PAGE_PREFIXES = ("/dashboards", "/volunteer")
# JSON, CSV, ICS: nothing in them is to be run, styled or framed. The documentation
# pages (/docs, /redoc) send their own policy (`api.docs_assets`: their files from this
# origin, their inline start-up script by its hash, no other host), which is kept.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    # same-origin, not no-referrer: under no-referrer browsers send `Origin: null` with
    # a form's POST, and the pages' CSRF check compares the Origin with the host.
    ("referrer-policy", "same-origin"),
)
_GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = CONTENT_SECURITY_POLICY if path.startswith(PAGE_PREFIXES) else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (0.0.0.0 and :: are everyone's)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(api_settings: ApiSettings, dashboard_settings: DashboardSettings) -> FastAPI:
    """The API with the dashboards and volunteer pages, for one process.

    The dashboard settings are stored on `app.state` here, once, for
    `dashboards.settings.get_dashboard_settings`. An empty session secret is refused:
    choosing a random one is the entry point's decision (`load_settings`), made
    visibly, not a default a page falls into. Cookies not decided by
    FENLEI_COOKIE_SECURE are Secure unless the API binds loopback or runs in development.
    """
    if not dashboard_settings.session_secret:
        raise ValueError(
            "dashboard_settings.session_secret is empty: set FENLEI_SESSION_SECRET "
            "or build the settings with fenlei.app.load_settings()"
        )
    if dashboard_settings.cookie_secure is None:
        dashboard_settings.cookie_secure = not (
            dashboard_settings.dev or is_loopback(api_settings.host)
        )
    app = create_api(api_settings)
    app.state.dashboard_settings = dashboard_settings
    app.include_router(volunteer_pages_router)
    app.include_router(dashboards_router)
    app.add_middleware(SecurityHeaders)
    # Last, so it is the outermost: it logs what the others answer (a 413, a 401) too.
    access_log.install(app)
    return app


def _read_secret(value: str, path: str, variable: str) -> str:
    """`value`, or the text of the file `path` names (its ..._FILE variable)."""
    if value or not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{variable}_FILE={path} cannot be read: {exc.strerror}") from None


def _secret(value: str, variable: str, dev: bool) -> str:
    """`value`, or in development a random one for this process; otherwise refuse."""
    if value and (dev or len(value) >= MIN_SECRET_CHARS):
        return value
    if value:
        raise ConfigError(
            f"{variable} is too short ({len(value)} characters, at least {MIN_SECRET_CHARS}): "
            f"generate one with {_GENERATE}"
        )
    if not dev:
        raise ConfigError(
            f"{variable} is not set: every API process must share it (generate one with "
            f"{_GENERATE}, keep it in a secret store, give the same value to every replica); "
            "for a development server set FENLEI_DEV=1 instead"
        )
    log.warning("%s is not set: using a random one for this process (FENLEI_DEV)", variable)
    return secrets.token_urlsafe(32)


def load_settings(
    host: str | None = None, port: int | None = None
) -> tuple[ApiSettings, DashboardSettings]:
    """Both settings from the environment; `host`/`port` override theirs when given.

    FENLEI_SESSION_SECRET (the pages' CSRF tokens) and FENLEI_PSEUDONYM_KEY (household
    codes), each given directly or as a file (FENLEI_..._FILE), are required, at least
    32 characters and different, and so is FENLEI_CHANNEL_KEY (the notification
    channels' secrets, api.notify.settings), unless FENLEI_DEV=1:
    then a missing one is made up for this process, with a warning (codes change and
    forms expire on restart; several processes disagree).
    """
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    api_settings = ApiSettings(**overrides)  # type: ignore[arg-type]  # database_url: env
    settings = DashboardSettings()
    for field, path, variable in (
        ("session_secret", settings.session_secret_file, "FENLEI_SESSION_SECRET"),
        ("pseudonym_secret", settings.pseudonym_key_file, "FENLEI_PSEUDONYM_KEY"),
    ):
        given = _read_secret(getattr(settings, field), path, variable)
        setattr(settings, field, _secret(given, variable, settings.dev))
    if settings.session_secret == settings.pseudonym_secret:
        raise ConfigError(
            "FENLEI_PSEUDONYM_KEY equals FENLEI_SESSION_SECRET: give each its own value, so "
            "rotating the session secret leaves the household codes on the cards valid"
        )
    # FENLEI_CHANNEL_KEY encrypts the notification channels' secrets, which `fenlei
    # notify` decrypts: required the same way (in development one is kept in FENLEI_HOME).
    channel_key(NotifySettings())
    return api_settings, settings
