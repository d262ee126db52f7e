"""`fenlei simulate` and `fenlei demo`: arguments here (cheap), the work in `run`."""

from __future__ import annotations

import argparse

DEFAULT_SEED = 2019  # the year of the Jiangjiaqiao newsletter


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="same seed, same messages byte for byte (default %(default)s)",
    )
    parser.add_argument(
        "--days", type=int, default=30, help="days of history to backfill (default %(default)s)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="live mode: simulated seconds per second (default %(default)s); "
        "never ahead of the wall clock",
    )
    parser.add_argument(
        "--households",
        type=int,
        default=1200,
        help="households in the estate (default %(default)s, Jiangjiaqiao)",
    )
    parser.add_argument(
        "--truth",
        metavar="FILE",
        help="write the ground truth JSON here (default $FENLEI_HOME/simulate/<estate>-truth.json)",
    )
    parser.add_argument(
        "--events", metavar="FILE", help="also write every event it expects stored, as JSON Lines"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Arguments of `fenlei simulate` or `fenlei demo` (chosen by ``name``)."""
    _common(parser)
    if name == "demo":
        parser.add_argument(
            "--no-live",
            action="store_true",
            help="stop after the backfill and the figures (for tests)",
        )
        parser.add_argument(
            "--api-port",
            type=int,
            default=8000,
            help="port of the API it starts (default %(default)s; 0: any)",
        )
        parser.add_argument(
            "--live-seconds",
            type=float,
            default=None,
            help="end the live simulation after this many seconds",
        )
        parser.add_argument(
            "--services",
            choices=["local", "env"],
            default="local",
            help="local: start the project's own services (default); env: "
            "use FENLEI_DATABASE_URL / FENLEI_MQTT_URL as they are",
        )
        return
    parser.add_argument("--estate", default="jjq", help="estate id (default %(default)s)")
    parser.add_argument(
        "--end", metavar="YYYY-MM-DD", help="last day of the backfill (default yesterday, local)"
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="after the backfill, simulate from today on until Ctrl-C",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="generate and write the ground truth only; no broker"
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="do not watch the database for the ingester to catch up",
    )
    reg = parser.add_argument_group("registration (through the registry API)")
    reg.add_argument("--api", metavar="URL", help="register the estate at this API first")
    reg.add_argument("--token", help="admin token for --api (or FENLEI_API_TOKEN)")
    faults = parser.add_argument_group("faults on demand")
    faults.add_argument(
        "--duplicates",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of events redelivered (as after a lost PUBACK)",
    )
    faults.add_argument(
        "--out-of-order",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of messages sent after their successor",
    )
    faults.add_argument(
        "--offline",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="chance per bin and day of an offline spell, flushed as arrays",
    )
    faults.add_argument(
        "--malformed",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="malformed payloads per event message",
    )
    faults.add_argument(
        "--clock-skew",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="chance per bin and day of a clock far in the future",
    )
    faults.add_argument(
        "--silent",
        type=int,
        default=0,
        metavar="N",
        help="bins that die half-way through the backfill",
    )
    scale = parser.add_argument_group("scale mode (benchmarks)")
    scale.add_argument(
        "--estates",
        type=int,
        default=1,
        help="simulate this many estates side by side (ids <estate>-NNN)",
    )
    scale.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="EV/S",
        help="aggregate target rate in scale mode (default: as fast as it goes)",
    )


def run(args: argparse.Namespace) -> int:
    """Run `fenlei simulate` or `fenlei demo`."""
    if args.command == "demo":
        from simulators.demo import run_demo

        return run_demo(args)
    from simulators.simulate import run_simulate

    return run_simulate(args)
