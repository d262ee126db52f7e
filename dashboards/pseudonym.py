"""The privacy rules of public boards, pure: per-period household codes, which building
groups may be shown, and which periods may list households at all (docs/privacy.md).

A code is the first 6 base32 characters of HMAC-SHA256(key, estate/from/to/household),
`from` and `to` the board's period (ISO days). It changes with the period, so boards of
different periods (a board per day, or overlapping weeks) cannot be joined on a code to
follow one household from board to board; without the key a code cannot be traced back
to a card or flat number. 30 bits: collisions within an estate of a few thousand
households are very unlikely.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

CODE_CHARS = 6


def pseudonym(key: bytes, estate: str, start: date, end: date, household: str) -> str:
    """The public code of a household on the board of [start, end], e.g. 'K7Q2MX'.

    Estate ids have no '/' and the days are fixed-width, so the message is unambiguous.
    """
    message = f"{estate}/{start.isoformat()}/{end.isoformat()}/{household}"
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:CODE_CHARS]


def visible_groups(
    shown: dict[tuple[str, str | None], int], minimum: int
) -> set[tuple[str, str | None]]:
    """The (building, group) keys with at least `minimum` households shown.

    `shown` counts the households the board is about (those that took part), not the
    enrolled ones: a group of 20 enrolled where 2 took part would point at those 2.
    """
    return {key for key, n in shown.items() if n >= minimum}


def lists_households(days: int, minimum_days: int) -> bool:
    """Whether a board of `days` days may list households (star families) at all:
    below the minimum, boards repeated over short periods would be activity diaries."""
    return days >= minimum_days
