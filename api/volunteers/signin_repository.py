"""SQL of the volunteers' one-time sign-in codes (migration 0020) and of the token a
code signs in with.

Only a code's SHA-256 is stored. Each change writes one audit record: a link issued
(to which volunteer, until when), a link used, a token created for a volunteer who had
none that works; never a code or a token.
"""

from __future__ import annotations

from datetime import datetime

from api.auth import audit
from api.rows import Conn, Row, fetch_one

# The volunteer's token while it works (not revoked, not expired): a link signs in with it.
_WORKING_TOKEN = """
SELECT t.id FROM volunteers v JOIN api_tokens t ON t.id = v.token_id
WHERE v.id = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
"""


async def working_token(conn: Conn, volunteer_id: int) -> int | None:
    """The id of the volunteer's token when it works, else None."""
    row = await fetch_one(conn, _WORKING_TOKEN, (volunteer_id,))
    return None if row is None else int(row["id"])


async def link_new_token(conn: Conn, volunteer: Row, token_sha256: bytes, estate: str) -> int:
    """Create a volunteer-role token for the estate and make it the volunteer's (the
    one they had, if any, no longer works: it was revoked or expired)."""
    async with conn.transaction():
        token = await fetch_one(
            conn,
            "INSERT INTO api_tokens (name, role, estates, token_sha256)"
            " VALUES (%s, 'volunteer', %s, %s) RETURNING id",
            (f"volunteer {volunteer['name']}", [estate], token_sha256),
        )
        assert token is not None
        await conn.execute(
            "UPDATE volunteers SET token_id = %s WHERE id = %s", (token["id"], volunteer["id"])
        )
    audit.record(
        "volunteer_token_created",
        f"volunteer {volunteer['id']} of {estate} given token {token['id']}"
        f" (for a sign-in link; the previous one was {volunteer['token_id'] or 'none'})",
        estate=estate,
        volunteer_id=volunteer["id"],
        volunteer_token_id=token["id"],
        previous_token_id=volunteer["token_id"],
    )
    return int(token["id"])


# Codes that can no longer sign anyone in, kept a while to say why ("used", "expired")
# when an old link is opened, then dropped at the next issue (the audit log keeps the rest).
_PURGE = "DELETE FROM volunteer_signin_codes WHERE expires_at < now() - interval '30 days'"
_SUPERSEDE = """
UPDATE volunteer_signin_codes SET superseded_at = now()
WHERE volunteer_id = %s AND used_at IS NULL AND superseded_at IS NULL
"""
_INSERT = """
INSERT INTO volunteer_signin_codes (code_sha256, volunteer_id, token_id, expires_at)
VALUES (%s, %s, %s, now() + make_interval(hours => %s))
RETURNING id, expires_at
"""


async def insert_code(
    conn: Conn, volunteer: Row, token_id: int, code_sha256: bytes, valid_hours: int
) -> datetime:
    """Store a new code for the volunteer, ending their earlier unused ones; its expiry."""
    async with conn.transaction():
        await conn.execute(_PURGE)
        cur = await conn.execute(_SUPERSEDE, (volunteer["id"],))
        superseded = cur.rowcount
        row = await fetch_one(conn, _INSERT, (code_sha256, volunteer["id"], token_id, valid_hours))
    assert row is not None
    expires_at: datetime = row["expires_at"]
    audit.record(
        "volunteer_signin_link_issued",
        f"sign-in link {row['id']} for volunteer {volunteer['id']} of {volunteer['estate']}"
        f" issued, valid until {expires_at.isoformat()}",
        estate=volunteer["estate"],
        volunteer_id=volunteer["id"],
        link_id=row["id"],
        volunteer_token_id=token_id,
        expires_at=expires_at.isoformat(),
        superseded_links=superseded,
    )
    return expires_at


# A code and what stands in its way: used, replaced, expired, the volunteer inactive, or
# the token no longer working (the session could not act with it).
_STATE = """
SELECT c.id, c.volunteer_id, c.token_id, v.name, v.estate_id AS estate,
       c.used_at IS NOT NULL AS used, c.superseded_at IS NOT NULL AS superseded,
       c.expires_at <= now() AS expired, c.expires_at,
       NOT v.active OR v.token_id IS DISTINCT FROM c.token_id OR t.revoked_at IS NOT NULL
         OR (t.expires_at IS NOT NULL AND t.expires_at <= now()) AS unusable
FROM volunteer_signin_codes c
JOIN volunteers v ON v.id = c.volunteer_id
JOIN api_tokens t ON t.id = c.token_id
WHERE c.code_sha256 = %s
"""
# Consumed in one statement: two phones confirming at once cannot both get a session.
_CONSUME = """
UPDATE volunteer_signin_codes SET used_at = now()
WHERE id = %s AND used_at IS NULL AND superseded_at IS NULL AND expires_at > now()
RETURNING token_id
"""


async def code_state(conn: Conn, code_sha256: bytes) -> Row | None:
    """The code's volunteer and state, or None when no link has this code."""
    return await fetch_one(conn, _STATE, (code_sha256,))


async def consume(conn: Conn, state: Row) -> int | None:
    """Mark the code used; the token to sign in with, or None when it was used (or
    replaced, or expired) in the meantime."""
    row = await fetch_one(conn, _CONSUME, (state["id"],))
    if row is None:
        return None
    audit.record(
        "volunteer_signin_link_used",
        f"sign-in link {state['id']} of volunteer {state['volunteer_id']}"
        f" of {state['estate']} used",
        estate=state["estate"],
        volunteer_id=state["volunteer_id"],
        link_id=state["id"],
        volunteer_token_id=row["token_id"],
    )
    return int(row["token_id"])
