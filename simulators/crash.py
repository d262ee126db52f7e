"""`--broker-crash`: SIGKILL the local broker mid-run, restart it, count what was lost.

Mosquitto acknowledges a QoS 1 message once it holds it in memory and writes its
store to disk every `autosave_interval` seconds; a SIGKILL loses what came between.
The crash is done as an operator would do it: the pid from `fenlei services status
--json`, SIGKILL, `fenlei services up`. The simulators do not import the launcher
(they stand where a device maker's tool would), so it is run as a command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fenlei.errors import FenleiError

# `fenlei services up` starts the broker within 60 s (deploy/services.py); with margin.
LAUNCHER_TIMEOUT_S = 120.0
GONE_TIMEOUT_S = 30.0


class BrokerControl(Protocol):
    """A broker the run may kill and start again."""

    def kill(self) -> int:
        """SIGKILL the broker; returns its pid once the process is gone."""
        ...

    def restart(self) -> None:
        """Start it again (same address), from what it last saved."""
        ...


def _pid_alive(pid: int, name: str) -> bool:
    try:
        # A zombie has an empty cmdline: gone. The name guards against a reused pid.
        return name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class LocalLauncher:
    """The broker `fenlei services up` runs in a FENLEI_HOME, driven by that command."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url

    @classmethod
    def find(cls, home: Path, broker_url: str) -> LocalLauncher:
        """The launcher's broker in ``home``, if the run publishes to it; else a
        FenleiError saying why `--broker-crash` will not kill anything."""
        launcher = cls(home, broker_url)
        info = launcher._status()
        if info is None:
            raise FenleiError(
                f"--broker-crash kills and restarts the broker that `fenlei services up` "
                f"started in {home} (FENLEI_HOME), and none was started there: it will not "
                f"kill a broker it cannot restart."
            )
        if not info.get("running"):
            raise FenleiError(
                f"--broker-crash: the broker of `fenlei services` in {home} is not running "
                f"(start it with `fenlei services up`)."
            )
        urls = {info.get("url"), info.get("mqtts_url")}
        if broker_url not in urls:
            raise FenleiError(
                f"--broker-crash: the bins publish to {broker_url}, which is not the broker "
                f"`fenlei services` runs in {home} ({info.get('url')}); it kills and "
                f"restarts only that one."
            )
        return launcher

    def _services(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FENLEI_HOME": str(self.home)}
        return subprocess.run(
            [sys.executable, "-m", "fenlei", "services", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=LAUNCHER_TIMEOUT_S,
            check=False,
        )

    def _status(self) -> dict[str, Any] | None:
        done = self._services("status", "--json")
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise FenleiError(
                f"`fenlei services status --json` failed: {done.stderr.strip()[-300:]}"
            ) from None
        broker: dict[str, Any] | None = report.get("services", {}).get("mosquitto")
        return broker

    def kill(self) -> int:
        info = self._status()
        pid = int(info["pid"]) if info and info.get("running") and info.get("pid") else 0
        if not pid or not _pid_alive(pid, "mosquitto"):
            raise FenleiError(f"--broker-crash: no broker runs in {self.home} to kill")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while _pid_alive(pid, "mosquitto"):
            if time.monotonic() > deadline:
                raise FenleiError(f"mosquitto (pid {pid}) outlived SIGKILL")
            time.sleep(0.02)
        return pid

    def restart(self) -> None:
        done = self._services("up")
        if done.returncode != 0:
            raise FenleiError(
                f"`fenlei services up` could not restart the broker: {done.stderr.strip()[-300:]}"
            )
        info = self._status()
        if not info or not info.get("running"):
            raise FenleiError("`fenlei services up` left the broker stopped")
        if self.url not in {info.get("url"), info.get("mqtts_url")}:
            raise FenleiError(
                f"the broker came back at {info.get('url')}, not {self.url}: the bins cannot "
                f"find it (was the port taken meanwhile?)"
            )


@dataclass
class Tally:
    """Stored copies counted per (bin, event_id) against what should be stored."""

    expected: int
    lost: list[tuple[str, str]] = field(default_factory=list)
    duplicated: dict[tuple[str, str], int] = field(default_factory=dict)
    unexpected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected)

    def as_json(self, shown: int = 20) -> dict[str, object]:
        """Counts, and the first ``shown`` keys of each kind."""
        return {
            "expected": self.expected,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "unexpected": len(self.unexpected),
            "lost_first": [list(k) for k in self.lost[:shown]],
            "duplicated_first": [[*k, n] for k, n in list(self.duplicated.items())[:shown]],
            "unexpected_first": [list(k) for k in self.unexpected[:shown]],
        }


def tally(expected: Iterable[tuple[str, str]], stored: Counter[tuple[str, str]]) -> Tally:
    """Lost (expected, not stored), duplicated (stored more than once), unexpected."""
    want = set(expected)
    return Tally(
        expected=len(want),
        lost=sorted(want - stored.keys()),
        duplicated={k: n for k, n in sorted(stored.items()) if n > 1},
        unexpected=sorted(stored.keys() - want),
    )


@dataclass
class CrashReport:
    """What happened around one broker crash, for the summary and the truth file."""

    pid: int
    after_day: str
    # Events the broker had acknowledged and the ingester had not stored at the kill
    # (None without a database to ask).
    backlog: int | None
    down_s: float
    resent_events: int = 0
    resent_bins: int = 0
    forgotten: int = 0  # events the bins' full buffers dropped unconfirmed
    tally: Tally | None = None
    rejections: int | None = None  # quarantined since the run started

    def as_json(self) -> dict[str, object]:
        return {
            "killed_pid": self.pid,
            "after_day": self.after_day,
            "backlog_at_kill": self.backlog,
            "down_s": round(self.down_s, 3),
            "resent_events": self.resent_events,
            "resent_bins": self.resent_bins,
            "forgotten": self.forgotten,
            "rejections_quarantined": self.rejections,
            "per_bin_event": self.tally.as_json() if self.tally else None,
        }
