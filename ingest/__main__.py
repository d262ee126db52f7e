"""`fenlei ingest` / `python -m ingest`: run one ingester until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse

from ingest.service import Ingester, install_signal_handlers
from ingest.settings import IngestSettings


def run(args: argparse.Namespace | None = None) -> int:
    settings = IngestSettings()  # type: ignore[call-arg]  # database_url comes from the env
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
