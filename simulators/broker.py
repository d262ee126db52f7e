"""Where and as whom a simulated device connects: broker URL, TLS trust, login.

A real bin is configured with the same three things by its installer: the broker's
address (``mqtts://`` for TLS), the CA that signed the broker's certificate, and the
credentials the registry API issued for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from fenlei.errors import FenleiError

# URL scheme → (TLS?, default port).
SCHEMES = {"mqtt": (False, 1883), "tcp": (False, 1883), "mqtts": (True, 8883)}


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
        parts = urlsplit(self.url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise FenleiError(
                f"the broker URL must be mqtt://host:port or mqtts://host:port, not {self.url!r}"
            )
        if parts.username or parts.password:
            raise FenleiError("the broker URL must not carry a login; pass it separately")

    @property
    def tls(self) -> bool:
        return SCHEMES[urlsplit(self.url).scheme][0]

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or SCHEMES[parts.scheme][1]

    def as_login(self, login: Login | None) -> Broker:
        """The same endpoint with another login."""
        return replace(self, login=login)
