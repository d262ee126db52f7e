"""Settings of notifications: the channel key (FENLEI_CHANNEL_KEY) and the dispatcher's.

The channel key encrypts the channels' secrets at rest. Like FENLEI_SESSION_SECRET it
is required outside development (FENLEI_DEV=1), given directly or as a file
(FENLEI_CHANNEL_KEY_FILE, kept 0600), at least 32 characters. In development without
one, a key is made up once and kept in $FENLEI_HOME/channel.key (0600): the API and
the dispatcher are separate processes and must agree, so a per-process random key
(as the session secret gets) would make every stored channel unreadable.
"""

from __future__ import annotations

import logging
import os
import secrets
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fenlei.env import fenlei_home
from fenlei.errors import ConfigError

log = logging.getLogger(__name__)
IPNetwork = IPv4Network | IPv6Network

MIN_KEY_CHARS = 32
DEV_KEY_FILE = "channel.key"
_GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class NotifySettings(BaseSettings):
    """The channel key and the dispatcher's pace (FENLEI_NOTIFY_*)."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    dev: bool = False
    channel_key: str = Field(default="", repr=False)
    channel_key_file: str = ""
    # Seconds between looks at the alarms and the outbox when no notice arrives: a new,
    # acknowledged or resolved alarm wakes the dispatcher at once (LISTEN fenlei_alarms),
    # so this is the pace of escalations, reminders and retries, and the fallback while
    # the listening connection is down.
    notify_poll_s: float = Field(default=5.0, gt=0, le=60)
    # Attempts per delivery, and the first wait between them (doubling, capped).
    notify_max_attempts: int = Field(default=6, ge=1, le=50)
    notify_backoff_s: float = Field(default=5.0, gt=0)
    notify_backoff_max_s: float = Field(default=600.0, gt=0)
    # Seconds one send may take (connect + answer) before it counts as failed.
    notify_timeout_s: float = Field(default=5.0, gt=0, le=120)
    # Days the delivery log keeps, and the plans of alarms resolved that long ago.
    notify_log_days: int = Field(default=180, ge=1, le=3660)
    # Deliveries sent at once: a slow channel holds one of them, not the others.
    notify_concurrency: int = Field(default=8, ge=1, le=64)
    # Networks a channel may reach though they are not public (comma-separated CIDRs,
    # e.g. "10.20.0.0/16" for a mail relay inside the property company's network).
    # Without it a webhook or SMTP host that resolves to a loopback, private,
    # link-local or other non-global address is refused: an estate admin's channel
    # must not become a way to POST to the machine's own services (Patroni's REST
    # API, the broker's, a cloud's metadata address).
    notify_private_networks: str = ""

    @field_validator("notify_private_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def private_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.notify_private_networks)


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """CIDRs from a comma-separated list; ValueError naming a bad one."""
    nets = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            nets.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"FENLEI_NOTIFY_PRIVATE_NETWORKS: {part!r} is not a network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(nets)


def _dev_key() -> str:
    path = fenlei_home() / DEV_KEY_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    log.warning("FENLEI_CHANNEL_KEY is not set: using %s (FENLEI_DEV)", path)
    return key


def channel_key(settings: NotifySettings | None = None) -> str:
    """The channel key from FENLEI_CHANNEL_KEY or its file; ConfigError when missing
    or short outside development."""
    settings = settings or NotifySettings()
    value = settings.channel_key
    if not value and settings.channel_key_file:
        try:
            value = Path(settings.channel_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"FENLEI_CHANNEL_KEY_FILE={settings.channel_key_file} cannot be read:"
                f" {exc.strerror}"
            ) from None
    if value and (settings.dev or len(value) >= MIN_KEY_CHARS):
        return value
    if value:
        raise ConfigError(
            f"FENLEI_CHANNEL_KEY is too short ({len(value)} characters, at least"
            f" {MIN_KEY_CHARS}): generate one with {_GENERATE}"
        )
    if not settings.dev:
        raise ConfigError(
            "FENLEI_CHANNEL_KEY is not set: it encrypts the notification channels' secrets;"
            f" generate one with {_GENERATE}, give the same value to the API and to"
            " `fenlei notify` (or FENLEI_CHANNEL_KEY_FILE, mode 0600); for development set"
            " FENLEI_DEV=1 instead"
        )
    return _dev_key()
