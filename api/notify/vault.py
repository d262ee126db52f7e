"""Channel secrets at rest: Fernet under a key derived from FENLEI_CHANNEL_KEY, and the
masked form shown instead of a secret everywhere (listings, logs, the delivery log).

A secret must be usable to send (a webhook URL carries its key), so it is encrypted,
not hashed. The Fernet key is derived with HKDF so that any long random string serves
as FENLEI_CHANNEL_KEY, as the other secrets do.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"fenlei notify channel secrets v1"
# Characters of a secret shown at its end: enough to tell two channels apart.
TAIL = 3


class SecretUnreadable(Exception):
    """A stored secret does not decrypt under this key (FENLEI_CHANNEL_KEY changed)."""


class Vault:
    """Encrypts and decrypts a channel's secret fields (a dict of strings)."""

    def __init__(self, key: str) -> None:
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def __repr__(self) -> str:
        return "Vault(****)"

    def seal(self, fields: dict[str, str]) -> bytes:
        """The fields as one Fernet token."""
        return self._fernet.encrypt(json.dumps(fields, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, str]:
        """The fields back; SecretUnreadable under another key."""
        try:
            data = json.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken:
            raise SecretUnreadable(
                "the channel's secret does not decrypt with this FENLEI_CHANNEL_KEY"
                " (was the key changed?): delete the channel and create it again"
            ) from None
        return {str(k): str(v) for k, v in data.items()}


def _tail(value: str) -> str:
    return "****" + value[-TAIL:] if len(value) > 2 * TAIL else "****"


def mask_url(url: str) -> str:
    """A webhook URL with its secrets hidden: scheme, the host's start, and each query
    value's last characters (`https://qyapi…key=****c3f`). The path may hold a key too
    (Slack-style hooks): only its last characters are shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{host[:5]}…" if host else "****"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if query:
        return shown + "&".join(f"{k[:20]}={_tail(v)}" for k, v in query)
    path = parts.path.strip("/")
    return shown + (_tail(path) if path else "")


def scrub(text: str, secrets_: list[str]) -> str:
    """`text` (an error message) with every secret in it replaced by its masked form."""
    for value in sorted((s for s in secrets_ if s), key=len, reverse=True):
        text = text.replace(value, mask_url(value) if "://" in value else _tail(value))
    return text
