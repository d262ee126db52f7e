"""Settings of the simulators (`fenlei simulate`), from FENLEI_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fenlei.env import HOME_DEFAULT

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class SimulatorSettings(BaseSettings):
    """Where the simulated bins publish, and what a run may check or register with.

    Built once in the entry point and passed in; nothing in `simulators` reads the
    environment itself.
    """

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    # The broker the bins publish to (a real installer points them at the city's).
    mqtt_url: str = DEFAULT_MQTT_URL
    # Optional: with it, a backfill watches the ingester store what was sent.
    database_url: str | None = None
    # Admin token for registering estates through the registry API (`--api`).
    api_token: str | None = None
    # Truth files go to <home>/simulate/ unless `--truth` says otherwise.
    home: Path = Field(default=Path(HOME_DEFAULT))

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def mqtt_url_given(self) -> bool:
        """Whether FENLEI_MQTT_URL (or an argument) set the broker, not the default."""
        return "mqtt_url" in self.model_fields_set
