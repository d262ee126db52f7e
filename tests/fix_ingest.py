"""The real ingester as a subprocess (`python -m ingest`), started and stopped by tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fix_services import Services


def ingest_env(services: Services) -> dict[str, str]:
    """The variables that give an ingester its own login (and the CA, for mqtts)."""
    return {
        k: v
        for k, v in services.env().items()
        if k.startswith("FENLEI_INGEST_MQTT_") or k == "FENLEI_MQTT_CA_FILE"
    }


class IngestProcess:
    """One `python -m ingest` with a fixed client id, restartable like a real deployment."""

    def __init__(self, services: Services, log_dir: Path, **env: str) -> None:
        self.services = services
        self.client_id = env.pop("FENLEI_CLIENT_ID", f"test-ingest-{uuid.uuid4().hex[:8]}")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
        self.env.update(
            {
                "FENLEI_DATABASE_URL": services.database_url,
                "FENLEI_MQTT_URL": services.mqtt_url,
                **ingest_env(services),
                "FENLEI_CLIENT_ID": self.client_id,
                "FENLEI_METRICS_PORT": "0",
                "FENLEI_LOG_LEVEL": "INFO",
                "FENLEI_HOME": str(log_dir),  # no services.env there: nothing read by accident
                **env,
            }
        )
        self.log_path = log_dir / f"{self.client_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest"],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Its signal state (pending, blocked, caught), its threads' stacks
            # (faulthandler on SIGUSR1) and its log say where it hangs.
            status = Path(f"/proc/{self.proc.pid}/status")
            signals = "".join(
                line
                for line in (status.read_text().splitlines(True) if status.exists() else [])
                if line.startswith(("SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))
            )
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(
                f"the ingester did not exit within {timeout:g} s of signal {sig}:\n"
                f"{signals}{self.log()[-6000:]}"
            ) from None
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def ingest_factory(services: Services, tmp_path: Path) -> Iterator[Callable[..., IngestProcess]]:
    started: list[IngestProcess] = []

    def make(**env: str) -> IngestProcess:
        proc = IngestProcess(services, tmp_path, **env)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        if proc.proc is not None:
            proc.kill()
