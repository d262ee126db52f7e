"""Settings of the HTTP API process (`fenlei api`), from FENLEI_* variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.periods import DEFAULT_FUTURE_DAYS, DEFAULT_MAX_DAYS, PeriodRules
from api.registry.sheet import SheetLimits

_SHEET = SheetLimits()
MIB = 1024 * 1024


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

    # A streaming replica the figures are read from (`fenlei services up --replica` sets
    # it); unset: every query goes to database_url. Writes, tokens and the volunteers'
    # rosters and check-ins always use database_url.
    database_read_url: str | None = None
    # Seconds the replica may be behind the primary before figures are read from the
    # primary instead (`api.read_pool` says how the lag is measured).
    read_max_lag_s: float = Field(default=5.0, ge=0)
    # Seconds between lag measurements (one per process, not per request).
    read_lag_check_s: float = Field(default=1.0, gt=0)
    # Seconds a figure request waits for a replica connection before using the primary.
    read_replica_timeout_s: float = Field(default=1.0, gt=0)

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

    # Bytes of a request body; a larger one is answered 413 before it is read. 50,000
    # households (the POST's own cap) as in the README's example row are 10.1 MB.
    max_body_bytes: int = Field(default=16 * MIB, ge=1024)
    # Periods [from, to]: the longest span in days, and how far past today `to` may be.
    max_period_days: int = Field(default=DEFAULT_MAX_DAYS, ge=1, le=36_600)
    period_future_days: int = Field(default=DEFAULT_FUTURE_DAYS, ge=1, le=3_660)
    # Raw events older than this many days may be dropped (deploy/retention.py, the
    # same variable): reads of raw events say so for older periods. None: kept forever.
    raw_retention_days: int | None = Field(default=None, ge=35)

    # A household sheet `fenlei registry import` reads: refused before it is read whole
    # when its file, what it unpacks to (.xlsx), its rows after the header, columns,
    # cells or longest cell exceed these.
    import_max_bytes: int = Field(default=_SHEET.max_bytes, ge=1)
    import_max_unpacked_bytes: int = Field(default=_SHEET.max_unpacked_bytes, ge=1)
    import_max_rows: int = Field(default=_SHEET.max_rows, ge=1)
    import_max_columns: int = Field(default=_SHEET.max_columns, ge=1, le=16_384)
    import_max_cells: int = Field(default=_SHEET.max_cells, ge=1)
    import_max_field_chars: int = Field(default=_SHEET.max_field_chars, ge=1)

    def sheet_limits(self) -> SheetLimits:
        """The FENLEI_IMPORT_* bounds of a household sheet."""
        return SheetLimits(
            max_bytes=self.import_max_bytes,
            max_unpacked_bytes=self.import_max_unpacked_bytes,
            max_rows=self.import_max_rows,
            max_columns=self.import_max_columns,
            max_cells=self.import_max_cells,
            max_field_chars=self.import_max_field_chars,
        )

    def period_rules(self) -> PeriodRules:
        """The FENLEI_MAX_PERIOD_DAYS / FENLEI_PERIOD_FUTURE_DAYS bounds of a period."""
        return PeriodRules(max_days=self.max_period_days, future_days=self.period_future_days)
