"""`fenlei ingest` / `python -m ingest`: run one ingester until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import sys

from ingest.service import Ingester, install_signal_handlers
from ingest.settings import IngestSettings


def configure_process(settings: IngestSettings) -> None:
    """What the ingester's settings decide for the whole process (not for an
    Ingester run inside another program, such as a test)."""
    interval = settings.switch_interval_s
    if interval is not None:
        sys.setswitchinterval(interval)


def run(args: argparse.Namespace | None = None) -> int:
    settings = IngestSettings()  # type: ignore[call-arg]  # database_url comes from the env
    configure_process(settings)
    ingester = Ingester(settings)
    install_signal_handlers(ingester)
    ingester.run()
    return 0


if __name__ == "__main__":
    from fenlei import logs
    from fenlei.env import load_services_env

    logs.configure()
    load_services_env()
    raise SystemExit(run())
