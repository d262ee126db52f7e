"""Settings of the HTTP API process (`fenlei api`), from FENLEI_* variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """One API process; built once in the entry point and passed to `create_api`."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    database_url: str
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535)
    # Connections kept open. Figures are one short query each, so a few connections
    # serve many requests; the maximum bounds what the API can take from PostgreSQL.
    pool_min_size: int = Field(default=2, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    # Seconds a request waits for a free connection before answering 503.
    pool_timeout_s: float = Field(default=10.0, gt=0)
    # Milliseconds; a figure query over rollups takes a few, so this only stops runaways.
    statement_timeout_ms: int = Field(default=30_000, ge=0)

    # The broker the admin client applies device credentials on (dynamic-security
    # commands). Without admin credentials the API still runs: credentials are then
    # stored with broker_applied false until `fenlei devices sync`.
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_ca_file: str | None = None
    admin_mqtt_username: str | None = None
    admin_mqtt_password: SecretStr | None = None
    # Empty: "fenlei-admin-<random>", so the API processes and `fenlei devices` can all be
    # connected at once (a shared id would make them kick each other off the broker).
    admin_mqtt_client_id: str = ""
    # Seconds a broker command waits for its reply before counting as not applied.
    broker_timeout_s: float = Field(default=5.0, gt=0)
    # Seconds between drains of queued revocations even without a notification (a
    # NOTIFY is lost while the listening connection is down).
    revocation_drain_interval_s: float = Field(default=30.0, gt=0)
