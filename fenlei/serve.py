"""`fenlei api`: serve the composed application (`fenlei.app`) with uvicorn.

Cheap to import (only argparse); `run` imports the application.
"""

from __future__ import annotations

import argparse


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
    uvicorn.run(
        create_app(api_settings, dashboard_settings),
        host=api_settings.host,
        port=api_settings.port,
        log_config=None,
        proxy_headers=True,
    )
    return 0
