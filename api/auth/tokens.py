"""Bearer tokens: generation, hashing, lifetimes and what a token allows. Pure."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from api.errors import Invalid


class Role(StrEnum):
    """What a token may do; each role includes the ones ranked below it."""

    viewer = "viewer"
    volunteer = "volunteer"
    admin = "admin"


_RANK = {Role.viewer: 0, Role.volunteer: 1, Role.admin: 2}
# 32 random bytes: guessing is hopeless, so a fast hash is enough to store them.
TOKEN_BYTES = 32
TOKEN_PREFIX = "fl_"


# "90d", "12h", "30m", "2w": how long a token lives, or how long a rotated secret still works.
DURATION_PATTERN = r"^[1-9][0-9]{0,5}[mhdw]$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS["w"] = timedelta(weeks=1)
# Ten years: a longer life is no expiry at all, and the instants stay far from the
# calendar's end (an unbounded number would overflow instead of being refused).
MAX_LIFETIME = timedelta(days=3650)
# A grace is for clients to switch to the new secret, not a second life for the old one.
MAX_GRACE = timedelta(days=30)


def parse_duration(text: str, longest: timedelta, what: str) -> timedelta:
    """'90d', '12h', '30m' or '2w' as a timedelta of at most `longest`; Invalid otherwise."""
    if not _DURATION.match(text):
        raise Invalid(f"{what} {text!r} is not a duration like 90d, 12h, 30m or 2w")
    length = int(text[:-1]) * _UNITS[text[-1]]
    if length > longest:
        raise Invalid(f"{what} {text!r} is longer than {longest.days} days")
    return length


def expiry_in(text: str, now: datetime) -> datetime:
    """The instant a token given `--expires-in text` at `now` stops working."""
    return now + parse_duration(text, MAX_LIFETIME, "expires-in")


def expiry_on(day: date, now: datetime, tz: tzinfo | None = None) -> datetime:
    """The instant a token given `--expires-on day` stops working: the end of that day
    in `tz` (default: this machine's time zone), so it works all of `day`. Invalid when
    that is not ahead of `now`."""
    midnight = datetime.combine(day + timedelta(days=1), time(0))
    # astimezone() on a naive time reads it as local time, daylight saving included.
    end = midnight.replace(tzinfo=tz) if tz is not None else midnight.astimezone()
    if end <= now:
        raise Invalid(f"expires-on {day} is in the past")
    if end - now > MAX_LIFETIME:
        raise Invalid(f"expires-on {day} is more than {MAX_LIFETIME.days} days ahead")
    return end


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

    def covers(self, estates: frozenset[str] | None) -> bool:
        """True when every estate of `estates` (None: every estate) is one this
        principal may see: managing a token must not reach beyond one's own."""
        if self.estates is None:
            return True
        return estates is not None and estates <= self.estates
