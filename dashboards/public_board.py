"""The read-only public link of an estate's disclosure board, made by its committee.

The link is `/dashboards/public/<token>` (the page: `disclosure.public_board_page`): 24
random bytes, unguessable, of which only the SHA-256 is stored (migration 0019). The
estate's admin makes it from the board page, makes a new one (the old one stops working
at once) or turns it off; the new link is shown once, since fenlei cannot show it again.
Each change goes to the audit log (logger `fenlei.audit`): who, which estate, what.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import audit, caller
from api.deps import ConnDep, EstatePath
from dashboards import common, i18n, layout, qr, repository

router = APIRouter()

PATH = "/dashboards/public"
TOKEN_BYTES = 24
# What `secrets.token_urlsafe(TOKEN_BYTES)` makes: anything else is refused before the
# database is asked.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def new_token() -> str:
    """A new link token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    """What is stored of a token."""
    return hashlib.sha256(token.encode()).digest()


def well_formed(token: str) -> bool:
    """Whether `token` could be one `new_token` made."""
    return TOKEN_PATTERN.fullmatch(token) is not None


async def estate_of(conn: Any, token: str) -> dict[str, Any] | None:
    """The estate {id, name, timezone} a link token opens, None for any other string."""
    if not well_formed(token):
        return None
    return await repository.public_board_estate(conn, token_hash(token))


def _audit(what: str, estate: str, who: common.Visitor) -> None:
    caller.note(who.principal)  # a signed-in page: the audit record names its token
    audit.record(
        "public_board_link", f"public board link of {estate} {what}", action=what, estate=estate
    )


async def _committee_form(request: Request, conn: Any, estate: str) -> common.Visitor | Response:
    """The estate's admin, posting one of the board page's forms, or the refusal."""
    who = await common.committee(request, conn, estate)
    if isinstance(who, common.Visitor):
        return await common.refused(request) or who
    return who


def _form(ctx: layout.Context, action: str, button: str, label: str) -> str:
    return (
        f'<form method="post" action="{escape(action)}">{common.csrf_field(ctx.request)}'
        f'<button type="submit" id="{button}">{escape(label)}</button></form>'
    )


def board_path(estate: str) -> str:
    """The committee's board page of `estate`."""
    return f"/dashboards/estates/{estate}/disclosure"


@router.post("/dashboards/estates/{estate}/disclosure/public-link", include_in_schema=False)
async def make_link(request: Request, estate: EstatePath, conn: ConnDep) -> Response:
    """Make the estate's public link, replacing any earlier one; shows it once (admin)."""
    who = await _committee_form(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    token = new_token()
    replaced = await repository.replace_public_board(
        conn, estate, token_hash(token), who.principal.token_id
    )
    _audit("replaced" if replaced else "made", estate, who)
    url = f"{str(request.base_url).rstrip('/')}{PATH}/{token}"
    tz = str(who.estate["timezone"]) if who.estate else "Asia/Shanghai"
    ctx = layout.Context(request, common.locale_of(request), estate=estate, timezone=tz)
    # The only moment the link is known (only its hash is kept): its QR code here, and
    # the poster with the code printed on it, the link going in a POST, never a URL.
    poster = f"/dashboards/estates/{estate}/poster"
    body = (
        f"<p>{ctx.t('public.made')}</p>"
        f'<p><input id="public-link" readonly size="90" value="{escape(url)}"></p>'
        f'<p><img id="public-link-qr" alt="{ctx.t("public.qr")}" width="200" height="200"'
        f' src="{qr.data_uri(url)}"></p>'
        f'<form method="post" id="public-link-poster" action="{escape(poster)}">'
        f'{common.csrf_field(request)}<input type="hidden" name="link" value="{escape(url)}">'
        f'<button type="submit">{ctx.t("public.poster")}</button> '
        f'<button type="submit" formaction="{escape(poster)}.pdf">{ctx.t("public.poster_pdf")}'
        f"</button></form>"
        f'<p><a href="{escape(board_path(estate))}">{ctx.t("public.back")}</a></p>'
    )
    # Not kept by any cache (layout: no-store); the link is in the body, not the URL.
    return layout.page(ctx, ctx.t("public.link_title"), body)


@router.post("/dashboards/estates/{estate}/disclosure/public-link/revoke", include_in_schema=False)
async def revoke_link(request: Request, estate: EstatePath, conn: ConnDep) -> Response:
    """Turn the estate's public link off (admin); back to the board page."""
    who = await _committee_form(request, conn, estate)
    if not isinstance(who, common.Visitor):
        return who
    if await repository.delete_public_board(conn, estate):
        _audit("revoked", estate, who)
    return RedirectResponse(board_path(estate), status_code=303)


async def committee_section(ctx: layout.Context, conn: Any, estate: str) -> str:
    """The board page's part for the committee (never printed): whether the estate has
    a public link, and the buttons to make, replace or turn it off."""
    since = await repository.public_board_since(conn, estate)
    action = f"/dashboards/estates/{estate}/disclosure/public-link"
    make = _form(
        ctx, action, "public-make", ctx.t("public.make" if since is None else "public.replace")
    )
    if since is None:
        state, revoke = ctx.t("public.none"), ""
    else:
        made = i18n.moment(ctx.locale, since.astimezone(ZoneInfo(ctx.timezone)))
        state = ctx.t("public.since", when=made)
        revoke = _form(ctx, f"{action}/revoke", "public-revoke", ctx.t("public.revoke"))
    return (
        f'<div class="noprint exports" id="public-link-state"><p>{ctx.t("public.link")} '
        f"{state}</p>{make}{revoke}</div>"
    )
