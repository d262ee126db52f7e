"""Broker URLs, read one way by every fenlei client: `mqtt://host[:port]` (plain, 1883)
or `mqtts://host[:port]` (TLS, 8883; the server is verified).

A login never rides in the URL: URLs get logged, so credentials have variables of
their own, and the URL is not echoed back when it carries one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# URL scheme → (TLS?, default port). `tcp` and `ssl` are paho's and Mosquitto's
# spellings of the same two.
SCHEMES = {"mqtt": (False, 1883), "tcp": (False, 1883), "mqtts": (True, 8883), "ssl": (True, 8883)}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where a broker listens and whether the connection is TLS."""

    host: str
    port: int
    tls: bool


def parse_broker_url(url: str, variable: str = "FENLEI_MQTT_URL") -> BrokerAddress:
    """The address in `url`; ValueError naming `variable` when it is not one."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError(f"{variable} must not carry a login: credentials have their own variables")
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"{variable} must be mqtt://host:port or mqtts://host:port, not {url!r}")
    tls, default_port = SCHEMES[parts.scheme]
    return BrokerAddress(parts.hostname, parts.port or default_port, tls)
