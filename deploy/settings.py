"""Settings of the local services launcher (`fenlei services`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fenlei.env import HOME_DEFAULT

# City peak is ~2,000 events/s (brief, "Scale"); an hour's outage at peak is
# 7.2M messages queued for each ingester session. Mosquitto's default of 1000
# silently drops everything past it.
HOUR_AT_PEAK_MESSAGES = 2_000 * 3_600
# ~250 B per queued event message on average, with headroom.
HOUR_AT_PEAK_BYTES = 2 * 1024**3


class ServicesSettings(BaseSettings):
    """Where and how the project's own Mosquitto and PostgreSQL run."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    home: Path = Field(default=Path(HOME_DEFAULT))
    pg_port: int = 5432
    # The streaming replica's (`fenlei services up --replica`), preferred when free.
    pg_replica_port: int = 5433
    mqtt_port: int = 1883
    # The TLS listener (mqtts), also on loopback; devices connect here.
    mqtts_port: int = 8883
    pg_major: int = 15
    pg_database: str = "fenlei"
    pg_user: str = "fenlei"
    # Mosquitto writes its in-memory store to disk this often (seconds); the
    # default 1800 loses half an hour of queued messages on SIGKILL.
    mqtt_autosave_interval_s: int = 5
    mqtt_max_queued_messages: int = HOUR_AT_PEAK_MESSAGES
    mqtt_max_queued_bytes: int = HOUR_AT_PEAK_BYTES
    # Unacknowledged QoS-1 messages in flight to one client; the ingester
    # acknowledges after commit, so its batch can be at most this large.
    mqtt_max_inflight_messages: int = 10_000
    # Log every denied publish (Mosquitto 2.0.11 does so only at debug level, which also
    # writes a line per message received): for hunting a misconfigured device, not for
    # production volumes.
    mqtt_log_denied: bool = False
    # Run the system installer when something is missing (needs root).
    auto_install: bool = True

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()
