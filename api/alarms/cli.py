"""`fenlei alarms`: arguments (cheap to import) and the entry point."""

from __future__ import annotations

import argparse


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Evaluate alarms every FENLEI_ALARM_INTERVAL_S seconds (default 2): the bins' own "
        "alarm events and the derived ones (fill, battery, offline, silent room, stuck "
        "sensor), written as records with a lifecycle. Until SIGTERM. Settings come from "
        "FENLEI_* variables (see api/alarms/settings.py)."
    )


def run(args: argparse.Namespace) -> int:
    from api.alarms.evaluator import main
    from api.alarms.settings import AlarmSettings

    return main(AlarmSettings())  # type: ignore[call-arg]
