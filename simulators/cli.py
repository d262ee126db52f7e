"""`fenlei simulate`: arguments here (cheap), the work in `run`."""

from __future__ import annotations

import argparse

from simulators.arguments import add_run_arguments, rate


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Arguments of `fenlei simulate`."""
    if name != "simulate":
        raise ValueError(f"simulators.cli does not provide {name!r}")
    add_run_arguments(parser)
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
    parser.add_argument(
        "--tls",
        action="store_true",
        help="bins connect over FENLEI_MQTTS_URL, verifying the broker with FENLEI_MQTT_CA_FILE",
    )
    reg = parser.add_argument_group(
        "registration (through the registry API)",
        "With --api each bin also gets its own MQTT login there (POST .../credentials, "
        "as an installer would) and connects with it; without --api, and in scale mode, "
        "the bins share the simulator login FENLEI_SIM_MQTT_USERNAME/PASSWORD.",
    )
    reg.add_argument(
        "--api", metavar="URL", help="register the estate (and issue bin logins) at this API first"
    )
    reg.add_argument("--token", help="admin token for --api (or FENLEI_API_TOKEN)")
    faults = parser.add_argument_group("faults on demand")
    faults.add_argument(
        "--duplicates",
        type=rate,
        default=0.0,
        metavar="RATE",
        help="share of events redelivered (as after a lost PUBACK)",
    )
    faults.add_argument(
        "--out-of-order",
        type=rate,
        default=0.0,
        metavar="RATE",
        help="share of messages sent after their successor",
    )
    faults.add_argument(
        "--offline",
        type=rate,
        default=0.0,
        metavar="RATE",
        help="chance per bin and day of an offline spell, flushed as arrays",
    )
    faults.add_argument(
        "--malformed",
        type=rate,
        default=0.0,
        metavar="RATE",
        help="malformed payloads per event message",
    )
    faults.add_argument(
        "--clock-skew",
        type=rate,
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
    faults.add_argument(
        "--broker-crash",
        action="store_true",
        help="SIGKILL the broker of `fenlei services` (FENLEI_HOME) half-way through the "
        "backfill, right after its PUBACKs, restart it with `fenlei services up`, and count "
        "the stored copies per (bin, event_id) against the truth (needs FENLEI_DATABASE_URL)",
    )
    device = parser.add_argument_group(
        "device side of the acknowledgement protocol (docs/acknowledgement.md)",
        "Bins keep each event until the stored watermark covers its seq and, on every "
        "reconnect, resend what they hold above it.",
    )
    device.add_argument(
        "--no-resend",
        action="store_true",
        help="legacy bins: keep nothing and resend nothing after a reconnect (what a crashed "
        "broker lost stays lost; the ingester reports the seq gaps)",
    )
    device.add_argument(
        "--device-buffer",
        type=int,
        default=None,
        metavar="N",
        help="events a bin keeps at most until they are covered (default 50000); when full "
        "it forgets the oldest",
    )
    scale = parser.add_argument_group(
        "scale mode (benchmarks)",
        "Every bin connects on its own, all with the shared simulator login "
        "(FENLEI_SIM_MQTT_USERNAME/PASSWORD, `fenlei-sim`), not logins issued per bin.",
    )
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
    """Run `fenlei simulate`, with settings read once from FENLEI_* variables."""
    from simulators.settings import SimulatorSettings
    from simulators.simulate import run_simulate

    return run_simulate(args, SimulatorSettings())
