"""Where the local services are: `$FENLEI_HOME/services.env`, read when variables are unset."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

HOME_DEFAULT = ".fenlei"
SERVICES_ENV = "services.env"


def fenlei_home() -> Path:
    """The directory holding local service data and `services.env` (absolute)."""
    return Path(os.environ.get("FENLEI_HOME", HOME_DEFAULT)).expanduser().resolve()


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a shell-sourceable `KEY=value` file (as written by `write_env_file`)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.removeprefix("export ").partition("=")
        parts = shlex.split(raw)
        values[key.strip()] = parts[0] if parts else ""
    return values


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Write `values` so that `. path` in a shell exports them."""
    lines = ["# Written by `fenlei services up`; `. this-file` exports the URLs."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def load_services_env() -> Path | None:
    """Set FENLEI_* variables from `services.env` where the environment lacks them.

    Variables already set win, so external services are chosen by exporting
    FENLEI_DATABASE_URL / FENLEI_MQTT_URL.
    """
    path = fenlei_home() / SERVICES_ENV
    if not path.is_file():
        return None
    values = read_env_file(path)
    # The replica is a copy of services.env's own database, not of one exported instead.
    if os.environ.get("FENLEI_DATABASE_URL") not in (None, values.get("FENLEI_DATABASE_URL")):
        values.pop("FENLEI_DATABASE_READ_URL", None)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return path
