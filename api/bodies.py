"""Request bodies are bounded, and the API's are only read for a known token.

`BodyGuard` is a pure ASGI middleware, installed by `api.main.create_api`, so it
stands in front of every route of the app (pages included):

- a body larger than `max_bytes` is answered 413 without being read: a declared
  Content-Length at once, a streamed (chunked) body as soon as its count passes the
  cap;
- a body sent to `/api/v1/…` is read only after its bearer token was accepted (401
  otherwise). FastAPI reads and parses a route's body before it runs the route's
  dependencies, so without this a caller with no token could make the API parse
  megabytes. The principal found is kept on the request (`request.state.principal`)
  and the route's own check (`api.deps.get_principal`) reuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import psycopg
from psycopg_pool import PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.tokens import Principal
from api.errors import NotAuthenticated
from api.problems import NO_TOKEN, json_message, unavailable_message

log = logging.getLogger(__name__)

# The API's routes take bearer tokens; the pages (sign-in included) have their own rules.
API_PREFIX = "/api/v1/"
# Methods no route of the API reads a body for (only the cap applies to them).
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
# (scope, token) → the token's principal; NotAuthenticated (saying why) when it does not work.
Authenticate = Callable[[Scope, str], Awaitable[Principal]]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    raw = _header(scope, b"authorization")
    if raw is None:
        return None
    scheme, _, token = raw.decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class BodyGuard:
    """ASGI middleware: 413 past `max_bytes`; for the API's routes, 401 before a body
    is read unless `authenticate` accepts the bearer token."""

    def __init__(self, app: ASGIApp, max_bytes: int, authenticate: Authenticate) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        if declared is None and not chunked:
            # No body announced (HTTP/1.1 has none then); counted all the same, in case
            # a protocol sends one unannounced.
            await self._counted(scope, receive, send)
            return
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            length = -1
        if length is not None and length < 0:
            await json_message(send, 400, "the Content-Length header is not a number of bytes")
            return
        if length == 0:
            await self.app(scope, receive, send)
            return
        if (
            scope["method"] not in BODILESS
            and scope["path"].startswith(API_PREFIX)
            and not await self._authenticated(scope, send)
        ):
            return
        if length is not None and length > self.max_bytes:
            await json_message(send, 413, self._too_large())
            return
        await self._counted(scope, receive, send)

    def _too_large(self) -> str:
        return (
            f"the request body is larger than {self.max_bytes:,} bytes, the most this API "
            "accepts (FENLEI_MAX_BODY_BYTES); send fewer rows per request"
        )

    async def _authenticated(self, scope: Scope, send: Send) -> bool:
        token = bearer_token(scope)
        if token is None:
            await json_message(send, 401, NO_TOKEN, {"WWW-Authenticate": "Bearer"})
            return False
        try:
            principal = await self.authenticate(scope, token)
        except NotAuthenticated as exc:
            await json_message(send, 401, str(exc), {"WWW-Authenticate": "Bearer"})
            return False
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.warning("database unavailable: %s", exc)
            await json_message(send, 503, unavailable_message(), {"Retry-After": "5"})
            return False
        scope.setdefault("state", {})["principal"] = principal
        return True

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app on a receive that counts the body: past the cap the client gets
        413 and the app a disconnect, and whatever the app answers then is dropped."""
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started:
                        await json_message(send, 413, self._too_large())
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app failed on the disconnect it was given; the client has its 413.
            log.debug("request body past the cap: the app's error is dropped", exc_info=True)
