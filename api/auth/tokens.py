"""Bearer tokens: generation, hashing and what a token allows. Pure."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a token may do; each role includes the ones ranked below it."""

    viewer = "viewer"
    volunteer = "volunteer"
    admin = "admin"


_RANK = {Role.viewer: 0, Role.volunteer: 1, Role.admin: 2}
# 32 random bytes: guessing is hopeless, so a fast hash is enough to store them.
TOKEN_BYTES = 32
TOKEN_PREFIX = "fl_"


def new_token() -> str:
    """A fresh random token, as shown once to its owner."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """The SHA-256 digest stored in place of the token."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's id, name, role and estates (None: every estate)."""

    token_id: int
    name: str
    role: Role
    estates: frozenset[str] | None

    def has_role(self, needed: Role) -> bool:
        """True when this principal's role ranks at or above `needed`."""
        return _RANK[self.role] >= _RANK[needed]

    def may_see(self, estate: str) -> bool:
        """True when the token is not limited to other estates."""
        return self.estates is None or estate in self.estates
