"""`fenlei ingest`: arguments (cheap to import) and the entry point."""

from __future__ import annotations

import argparse


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Subscribe to fenlei/v1/+/+/+/{events,status} and store device events in "
        "TimescaleDB. Settings come from FENLEI_* variables (see ingest/settings.py)."
    )


def run(args: argparse.Namespace) -> int:
    from ingest.__main__ import run as run_ingest

    return run_ingest(args)
