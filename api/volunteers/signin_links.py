"""One-time sign-in links for a volunteer's phone: the committee issues one (a URL, and
its QR code on the printable page), the volunteer opens it and confirms, and the phone
has a volunteer session without anyone typing a token.

A link is `/volunteer/link/<code>`, the code 144 random bits (24 characters); only its
SHA-256 is stored. It works once, until its expiry (`valid_hours`, 72 by default), and
only while the volunteer is active and the token it was issued for still works. Issuing
a link replaces the volunteer's earlier unused ones and changes nothing else; a
volunteer whose token is missing, revoked or expired is given a new token (the old one
stays as it was). Opening the link (GET) only shows whose it is: a link preview that
fetches it uses nothing; the confirm button's POST consumes it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from api.auth.repository import principal_by_id
from api.auth.tokens import hash_token, new_token
from api.errors import Conflict
from api.rows import Conn, Row
from api.volunteers import service
from api.volunteers import signin_repository as repo

CODE_BYTES = 18
DEFAULT_VALID_HOURS = 72
MAX_VALID_HOURS = 720
LINK_PREFIX = "/volunteer/link/"
# What a code looks like (token_urlsafe's alphabet); anything else is no link of ours.
CODE_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


def _digest(code: str) -> bytes:
    # 144 random bits: a fast hash is enough, as for tokens and session ids.
    return hashlib.sha256(code.encode()).digest()


@dataclass(frozen=True, slots=True)
class Issued:
    """A new link: its code (shown only now), URL path and expiry, and whose it is."""

    code: str
    url: str
    expires_at: datetime
    volunteer: Row


async def issue(conn: Conn, estate: str, volunteer_id: int, valid_hours: int) -> Issued:
    """A new one-time link for a volunteer of the estate; NotFound when there is no such
    volunteer, Conflict when they are inactive."""
    volunteer = await service.volunteer_in(conn, estate, volunteer_id)
    if not volunteer["active"]:
        raise Conflict(f"volunteer {volunteer_id} is inactive; reactivate them first")
    token_id = await repo.working_token(conn, volunteer_id)
    if token_id is None:
        token_id = await repo.link_new_token(conn, volunteer, hash_token(new_token()), estate)
    code = secrets.token_urlsafe(CODE_BYTES)
    expires_at = await repo.insert_code(conn, volunteer, token_id, _digest(code), valid_hours)
    return Issued(code, LINK_PREFIX + code, expires_at, volunteer)


class LinkState(StrEnum):
    """What a link can do now."""

    ok = "ok"
    unknown = "unknown"
    used = "used"
    superseded = "superseded"
    expired = "expired"
    unusable = "unusable"  # the volunteer is inactive or the token no longer works


@dataclass(frozen=True, slots=True)
class Found:
    """A link's state and, when it is one, the row of its code and volunteer."""

    state: LinkState
    row: Row | None = None


async def look_up(conn: Conn, code: str) -> Found:
    """What the link with `code` is and whether it can sign in now; uses nothing."""
    row = await repo.code_state(conn, _digest(code))
    if row is None:
        return Found(LinkState.unknown)
    for state in (LinkState.used, LinkState.superseded, LinkState.expired, LinkState.unusable):
        if row[state.value]:
            return Found(state, row)
    return Found(LinkState.ok, row)


async def redeem(conn: Conn, code: str) -> tuple[Found, int | None]:
    """Use the link: (its state, the token id to open a session for when it worked)."""
    found = await look_up(conn, code)
    if found.state is not LinkState.ok or found.row is None:
        return found, None
    # The token's own rule (revoked, expired), and the audit record names it as the caller.
    if await principal_by_id(conn, found.row["token_id"]) is None:
        return Found(LinkState.unusable, found.row), None
    token_id = await repo.consume(conn, found.row)
    if token_id is None:  # used (or replaced) between the look-up and now
        return await look_up(conn, code), None
    return found, token_id
