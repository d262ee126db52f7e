"""The access log: one line per HTTP request on logger "fenlei.access", written by a
pure ASGI middleware (`install(app)`).

Each line: method, path, query, status, duration in ms, client address and, once a
token was accepted, its id (`api.auth.caller`, or the request's `state.principal`).
Never: headers (the Authorization header, cookies), bodies (passwords, sign-in
tokens), the calendar feed's key in its path, or a query value that may carry a
secret. Successful health probes are logged at DEBUG: an orchestrator's probes every
few seconds would bury the requests.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qsl, quote

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import caller
from api.auth.tokens import TOKEN_PREFIX, Principal

log = logging.getLogger("fenlei.access")

REDACTED = "[redacted]"
# The calendar feed's URL key is its whole secret: everything after /calendar/ (the
# route's own path, and any other a client might try) goes, the ".ics" stays.
_CALENDAR_KEY = re.compile(r"(/calendar/)[^/]*?(\.ics)?(?=/|$)")
# A path segment that is a bearer token (a client that put one in the URL).
_TOKEN_SEGMENT = re.compile(rf"(?<=/){re.escape(TOKEN_PREFIX)}[^/]*")
# Query parameters whose value may be a secret, by name.
_SECRET_NAME = re.compile(
    r"token|key|secret|pass|pwd|auth|session|cookie|sig|csrf|code|credential", re.IGNORECASE
)
PROBES = frozenset({"/healthz", "/readyz"})
# A line stays a line: a 10 kB URL is cut (it says so).
MAX_LOGGED_CHARS = 500


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LOGGED_CHARS else text[:MAX_LOGGED_CHARS] + "…[cut]"


# A one-time sign-in link's code (api/volunteers/signin_links.py) and a public board's
# link token (dashboards/public_board.py): each is the whole secret of its URL.
_LINK_SECRET = re.compile(r"(/volunteer/(?:login/)?link/|/dashboards/public/)[^/?]*")


def redact_path(path: str) -> str:
    """`path` without the secrets a path can carry (a calendar key, a sign-in link's
    code, a public board's token, a bearer token)."""
    path = _CALENDAR_KEY.sub(lambda m: m.group(1) + REDACTED + (m.group(2) or ""), path)
    path = _LINK_SECRET.sub(lambda m: m.group(1) + REDACTED, path)
    return _cut(_TOKEN_SEGMENT.sub(REDACTED, path))


def redact_query(raw: bytes) -> str:
    """The query string with every value that may be a secret replaced: by its name
    (token, key, password, …) or by its look (a bearer token)."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    kept = [
        (name, REDACTED if _SECRET_NAME.search(name) or TOKEN_PREFIX in value else value)
        for name, value in pairs
    ]
    return _cut("&".join(f"{quote(n, safe='')}={quote(v, safe=':,[]')}" for n, v in kept))


class AccessLog:
    """ASGI middleware: one "fenlei.access" record when each HTTP request ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        with caller.request_scope() as slot:
            try:
                await self.app(scope, receive, send_status)
            except BaseException:
                # The server answers an escaped exception with 500 (if nothing was sent).
                status = status or 500
                raise
            finally:
                _write(scope, status, time.perf_counter() - started, _principal(scope, slot))


def _principal(scope: Scope, slot: caller.Slot) -> Principal | None:
    """Who the request acted as: the token accepted while it ran, or the one a
    middleware outside this one accepted and left on the request (`state.principal`)."""
    if slot.principal is not None:
        return slot.principal
    kept = scope.get("state", {}).get("principal")
    return kept if isinstance(kept, Principal) else None


def _write(scope: Scope, status: int | None, seconds: float, principal: Principal | None) -> None:
    method = str(scope.get("method", ""))
    path = redact_path(str(scope.get("path", "")))
    query = redact_query(scope.get("query_string", b""))
    client = scope.get("client")
    address = str(client[0]) if client else None
    token_id = principal.token_id if principal is not None else None
    ms = round(seconds * 1000, 1)
    level = logging.INFO
    if status is not None and status >= 500:
        level = logging.WARNING
    elif path in PROBES and status is not None and status < 400:
        level = logging.DEBUG
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "%s %s%s %s %.1f ms client=%s token=%s",
        method,
        path,
        f"?{query}" if query else "",
        status if status is not None else "-",
        ms,
        address or "-",
        token_id if token_id is not None else "-",
        extra={
            "component": "api",
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "duration_ms": ms,
            "client": address,
            "token_id": token_id,
        },
    )


def install(app: Starlette) -> None:
    """Add the access log to `app` (once), and keep "fenlei.access" at INFO when the
    root logger is quieter, as `fenlei.logs` does for the audit log.

    Call it after every other middleware is added, so it is the outermost and logs
    what they answer too (a 413 from a body limit, say).
    """
    if not any(getattr(m, "cls", None) is AccessLog for m in app.user_middleware):
        app.add_middleware(AccessLog)
    if log.level == logging.NOTSET:
        log.setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
