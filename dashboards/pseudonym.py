"""Household codes for public boards: stable per estate and secret, not reversible.

A code is the first 6 base32 characters of HMAC-SHA256(secret, estate/household):
30 bits, so collisions within an estate of a few thousand households are very unlikely,
and without the secret a code cannot be traced back to a card or flat number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

CODE_CHARS = 6


def pseudonym(secret: bytes, estate: str, household: str) -> str:
    """The public code of a household, e.g. 'K7Q2MX'."""
    digest = hmac.new(secret, f"{estate}/{household}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:CODE_CHARS]


def visible_groups(
    sizes: dict[tuple[str, str | None], int], minimum: int
) -> set[tuple[str, str | None]]:
    """The (building, group) keys with at least `minimum` households."""
    return {key for key, n in sizes.items() if n >= minimum}
