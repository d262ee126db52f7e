"""Where and as whom a simulated device connects: broker URL, TLS trust, login.

A real bin is configured with the same three things by its installer: the broker's
address (``mqtts://`` for TLS), the CA that signed the broker's certificate, and the
credentials the registry API issued for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fenlei.broker_url import parse_broker_url
from fenlei.errors import FenleiError


@dataclass(frozen=True)
class Login:
    """MQTT credentials; ``client_id`` is the id they are bound to (None: any)."""

    username: str
    password: str = field(repr=False)
    client_id: str | None = None


@dataclass(frozen=True)
class Broker:
    """A broker endpoint and the login to use there (None: anonymous)."""

    url: str
    ca_file: str | None = None
    login: Login | None = None

    def __post_init__(self) -> None:
        try:
            parse_broker_url(self.url, "the broker URL")
        except ValueError as exc:
            raise FenleiError(str(exc)) from None

    @property
    def tls(self) -> bool:
        return parse_broker_url(self.url).tls

    @property
    def host_port(self) -> tuple[str, int]:
        address = parse_broker_url(self.url)
        return address.host, address.port

    def as_login(self, login: Login | None) -> Broker:
        """The same endpoint with another login."""
        return replace(self, login=login)
