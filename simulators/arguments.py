"""The options of a simulation run, shared by `fenlei simulate` and `fenlei demo`.

Only argparse here: the command table imports this when it builds the parser.
"""

from __future__ import annotations

import argparse

DEFAULT_SEED = 2019  # the year of the Jiangjiaqiao newsletter


def rate(text: str) -> float:
    """An argparse type: a share between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Seed, period, speed, estate size and output files: what every run takes."""
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
