"""`fenlei api`: serve the composed application (`fenlei.app`) with uvicorn.

Cheap to import (only argparse); `run` imports the application. Outside development
(FENLEI_DEV=1) it refuses to start without FENLEI_SESSION_SECRET, FENLEI_PSEUDONYM_KEY
and FENLEI_CHANNEL_KEY (`fenlei.app.load_settings`).
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of `fenlei api`."""
    if name != "api":
        raise ValueError(f"fenlei.serve does not provide {name!r}")
    parser.description = (
        "Serve the HTTP API, the dashboards and the volunteer pages with uvicorn "
        "(settings: FENLEI_* variables)."
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    import uvicorn

    from fenlei.app import create_app, load_settings

    api_settings, dashboard_settings = load_settings(host=args.host, port=args.port)
    app = create_app(api_settings, dashboard_settings)
    # Said once, since a Secure cookie over plain HTTP makes sign-in silently not stick.
    log.info(
        "page cookies are %s (FENLEI_COOKIE_SECURE)",
        "Secure: sign in over HTTPS" if dashboard_settings.secure_cookies() else "not Secure",
    )
    uvicorn.run(
        app,
        host=api_settings.host,
        port=api_settings.port,
        log_config=None,
        # fenlei's own access log (api.access_log) redacts calendar keys; uvicorn's
        # would print every path and query as it came.
        access_log=False,
        proxy_headers=True,
    )
    return 0
