"""Settings of the ingester (`fenlei ingest`), from FENLEI_* variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fenlei.broker_url import parse_broker_url
from ingest.contract import FUTURE_TOLERANCE_S_DEFAULT

# The switch interval for plain MQTT (IngestSettings.switch_interval_s).
PLAIN_SWITCH_INTERVAL_S = 0.0003


class IngestSettings(BaseSettings):
    """One ingester process."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore", populate_by_name=True)

    database_url: str
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # The CA that signed the broker's certificate, for mqtts:// (None: the system's CAs).
    mqtt_ca_file: str | None = None
    # The ingester's own MQTT login (`fenlei services up` makes `fenlei-ingest`);
    # FENLEI_MQTT_USERNAME/PASSWORD, the names before device identity, still work.
    mqtt_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FENLEI_INGEST_MQTT_USERNAME", "FENLEI_MQTT_USERNAME"),
    )
    # SecretStr: the password shows as '**********' in reprs, dumps and tracebacks.
    mqtt_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FENLEI_INGEST_MQTT_PASSWORD", "FENLEI_MQTT_PASSWORD"),
    )
    # Fixed, so a restarted ingester resumes the broker session that queued for it.
    client_id: str = "fenlei-ingest"
    # With a group, subscribe as $share/<group>/… so several ingesters split the stream.
    share_group: str | None = None
    # Retiring this member for good (a StatefulSet scaled down): resume its session and
    # unsubscribe instead of subscribing, so the broker gives the group's new messages
    # to the other members while what the session holds is still delivered and stored.
    # Stop it once it receives nothing more; the empty session then expires unused.
    leave_group: bool = False
    # How long the broker keeps the session (and queues for it) while we are away.
    session_expiry_s: int = 7 * 24 * 3600
    # A batch closes at this many messages, events, or this age (whichever first).
    # Messages counts those carrying an event or a status: wholly rejected ones ride
    # along uncounted up to as many again (`batch_max_total`), so garbage does
    # not shrink the batches of valid events.
    batch_max_messages: int = Field(default=2_000, ge=1)
    batch_max_events: int = Field(default=20_000, ge=1)
    batch_max_age_ms: int = Field(default=100, ge=1)
    # Unacknowledged messages the broker may send us (MQTT v5 Receive Maximum).
    # We acknowledge after commit, so it must exceed a batch for the next batch to
    # fill while the previous one commits.
    receive_maximum: int = Field(default=6_000, ge=1, le=65_535)
    future_tolerance_s: float = FUTURE_TOLERANCE_S_DEFAULT
    # The interpreter's thread switch interval (sys.setswitchinterval), in ms, set by
    # the ingester's process; unset, it follows the broker URL (`switch_interval_s`).
    switch_interval_ms: float | None = Field(default=None, gt=0, le=100)
    # Prometheus metrics on 127.0.0.1:<port>; 0 turns them off.
    metrics_port: int = 9464
    metrics_host: str = "127.0.0.1"
    summary_interval_s: float = 60.0
    # Backoff while the database or broker is away.
    retry_min_s: float = 0.5
    retry_max_s: float = 10.0
    keepalive_s: int = Field(default=30, ge=2)
    # Tries for a transient database error (lock or statement timeout, out of memory…)
    # before the batch is split to find the message the database refuses.
    transient_retries: int = Field(default=5, ge=1)
    # A gap in a bin's seq still open after this long is recorded as lost, counted and
    # logged, and the stored watermark moves past it.
    seq_gap_timeout_s: float = Field(default=600.0, gt=0)
    # Quarantined messages older than this are deleted (their counts stay in the tally).
    rejected_retention_days: int = Field(default=30, ge=1)
    # Quarantined rows kept per (topic, reason); rejections past it are counted only.
    rejected_cap: int = Field(default=1_000, ge=1)

    @model_validator(mode="after")
    def _window_fits_batch(self) -> IngestSettings:
        if self.receive_maximum <= self.batch_max_messages:
            raise ValueError(
                "FENLEI_RECEIVE_MAXIMUM must exceed FENLEI_BATCH_MAX_MESSAGES, "
                "or batches cannot fill while one commits"
            )
        return self

    @model_validator(mode="after")
    def _url_is_mqtt(self) -> IngestSettings:
        # One reading of broker URLs for every client; a login in the URL is refused
        # (it would end up in logs): FENLEI_INGEST_MQTT_USERNAME / _PASSWORD carry it.
        parse_broker_url(self.mqtt_url)
        if self.mqtt_password is not None and not self.mqtt_username:
            raise ValueError("FENLEI_INGEST_MQTT_PASSWORD is set without a username")
        return self

    @property
    def batch_max_total(self) -> int:
        """Messages of any kind a batch may take (`batcher.collect`'s `max_total`).

        Wholly rejected messages ride along up to twice the batch, so a garbage flood
        does not shrink the batches of valid events; but a batch leaves at least a batch
        of the broker's window (Receive Maximum) open, so the next batch's messages keep
        arriving while this one commits. Never below the batch itself.
        """
        m = self.batch_max_messages
        return max(m, min(2 * m, self.receive_maximum - m))

    @property
    def switch_interval_s(self) -> float | None:
        """The switch interval the ingester's process sets; None leaves Python's 5 ms.

        Draining a backlog over plain MQTT, the network thread parses without pause,
        and the writer, back from each of a batch's database round trips, waits up to
        the interval for the GIL: 0.3 ms drained 32.1-32.7k events/s against
        28.0-29.2k at 5 ms, in turns. Over TLS the network thread is the slower one
        (it decrypts too) and lets go of the GIL in every read: 0.3 ms made it slower,
        27.9-28.0k against 32.6-34.3k at 5 ms. So 0.3 ms for mqtt://, 5 for mqtts://.
        """
        if self.switch_interval_ms is not None:
            return self.switch_interval_ms / 1000
        return None if self.mqtt_tls else PLAIN_SWITCH_INTERVAL_S

    @property
    def mqtt_tls(self) -> bool:
        """Whether the URL asks for TLS (mqtts://), verified against `mqtt_ca_file`."""
        return parse_broker_url(self.mqtt_url).tls

    @property
    def mqtt_host_port(self) -> tuple[str, int]:
        address = parse_broker_url(self.mqtt_url)
        return address.host, address.port
