"""Who is acting: the volunteer a token acts as, and who may act on a volunteer's record.

One home for the rule every volunteer domain applies: an admin of the estate acts on
every record; a volunteer token acts only on its own volunteer's records.
"""

from __future__ import annotations

from api.auth.tokens import Principal, Role
from api.errors import Forbidden
from api.rows import Conn, Row
from api.volunteers import repository as repo


async def acting_volunteer(conn: Conn, principal: Principal) -> Row:
    """The volunteer the caller's token acts as; Forbidden when it is linked to none."""
    row = await repo.volunteer_of_token(conn, principal.token_id)
    if row is None or not row["active"]:
        raise Forbidden(
            "this token is not linked to an active volunteer"
            " (an admin creates volunteers with POST /api/v1/estates/{estate}/volunteers)"
        )
    return row


async def owned(conn: Conn, principal: Principal, estate: str, owner: int, what: str) -> Row | None:
    """Allow an admin of the estate, or the volunteer `owner` themself; else Forbidden.

    Returns the acting volunteer (None for an admin acting on someone else's record).
    """
    if not principal.may_see(estate):
        raise Forbidden(f"the token is not allowed to see estate {estate!r}")
    if principal.role is Role.admin:
        return await repo.volunteer_of_token(conn, principal.token_id)
    if principal.role is not Role.volunteer:
        raise Forbidden(f"this needs the volunteer role; the token has {principal.role.value}")
    me = await acting_volunteer(conn, principal)
    if me["id"] != owner:
        raise Forbidden(f"this {what} belongs to another volunteer")
    return me
