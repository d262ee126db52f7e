"""Settings of the simulators (`fenlei simulate`), from FENLEI_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fenlei.env import HOME_DEFAULT
from fenlei.errors import FenleiError
from simulators.broker import Broker, Login

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class SimulatorSettings(BaseSettings):
    """Where the simulated bins publish, and what a run may check or register with.

    Built once in the entry point and passed in; nothing in `simulators` reads the
    environment itself.
    """

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    # The broker the bins publish to (a real installer points them at the city's).
    mqtt_url: str = DEFAULT_MQTT_URL
    # The same broker's TLS listener (`--tls`), and the CA its certificate is checked
    # against (None: the system's CAs).
    mqtts_url: str | None = None
    mqtt_ca_file: str | None = None
    # The shared simulator login (`fenlei-sim`, made by `fenlei services up`): used when
    # bins have no credentials of their own (no `--api`, scale mode, benchmarks).
    sim_mqtt_username: str | None = None
    sim_mqtt_password: SecretStr | None = None
    # Optional: with it, a backfill watches the ingester store what was sent.
    database_url: str | None = None
    # Admin token for registering estates through the registry API (`--api`).
    api_token: SecretStr | None = None
    # Truth files go to <home>/simulate/ unless `--truth` says otherwise.
    home: Path = Field(default=Path(HOME_DEFAULT))

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def mqtt_url_given(self) -> bool:
        """Whether FENLEI_MQTT_URL (or an argument) set the broker, not the default."""
        return "mqtt_url" in self.model_fields_set

    @property
    def token(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None

    def sim_login(self) -> Login | None:
        """The shared simulator login, if one is configured."""
        if not self.sim_mqtt_username:
            return None
        password = self.sim_mqtt_password.get_secret_value() if self.sim_mqtt_password else ""
        return Login(self.sim_mqtt_username, password)

    def broker(self, tls: bool = False) -> Broker:
        """The broker with the shared login; ``tls``: its mqtts listener."""
        if tls:
            if not self.mqtts_url:
                raise FenleiError("--tls needs FENLEI_MQTTS_URL (and FENLEI_MQTT_CA_FILE)")
            return Broker(self.mqtts_url, self.mqtt_ca_file, self.sim_login())
        return Broker(self.mqtt_url, self.mqtt_ca_file, self.sim_login())
