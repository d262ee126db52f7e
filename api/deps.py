"""FastAPI dependencies as `Annotated` aliases: a pooled connection and who is calling.

Figure routes take `ReadsDep` (`api.read_pool`: the replica while it is current) and
authenticate with `ReadViewer` / `ReadEstateViewer`, which look the token up on the
primary (a revocation counts at once) and give that connection back before the figures
are read. Everything else shares one primary connection per request (`ConnDep`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import psycopg
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from api.auth.repository import authenticate
from api.auth.tokens import Principal, Role
from api.devices.broker import AdminClient
from api.errors import Forbidden, NotAuthenticated
from api.periods import PeriodRules
from api.problems import NO_TOKEN
from api.read_pool import Reads
from api.settings import ApiSettings

ID_PATTERN = r"^[a-z0-9-]{1,64}$"
_bearer = HTTPBearer(auto_error=False, description="A token from `fenlei token create`.")


def get_settings(request: Request) -> ApiSettings:
    """The settings the app was created with."""
    settings: ApiSettings = request.app.state.settings
    return settings


def get_pool(request: Request) -> AsyncConnectionPool[psycopg.AsyncConnection[object]]:
    """The process's connection pool (opened in the lifespan)."""
    pool: AsyncConnectionPool[psycopg.AsyncConnection[object]] = request.app.state.pool
    return pool


def get_broker(request: Request) -> AdminClient | None:
    """The process's admin client for the broker; None when no admin login is configured."""
    broker: AdminClient | None = request.app.state.broker
    return broker


def get_reads(request: Request) -> Reads:
    """Where read-only figure queries go (opened in the lifespan)."""
    reads: Reads = request.app.state.reads
    return reads


ReadsDep = Annotated[Reads, Depends(get_reads)]
PoolDep = Annotated[AsyncConnectionPool[psycopg.AsyncConnection[object]], Depends(get_pool)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
BrokerDep = Annotated[AdminClient | None, Depends(get_broker)]


def get_period_rules(settings: SettingsDep) -> PeriodRules:
    """The bounds of a period [from, to] this deployment serves."""
    return settings.period_rules()


PeriodRulesDep = Annotated[PeriodRules, Depends(get_period_rules)]


async def get_connection(pool: PoolDep) -> AsyncIterator[psycopg.AsyncConnection[object]]:
    """One autocommit connection for the whole request (auth and the route share it)."""
    async with pool.connection() as conn:
        yield conn


ConnDep = Annotated[psycopg.AsyncConnection[object], Depends(get_connection)]


async def get_principal(
    request: Request,
    conn: ConnDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a bearer token; 401 without one, or saying why the token does not
    work (unknown, revoked, expired, replaced by a rotation).

    A request with a body was already authenticated by `api.bodies.BodyGuard` (before
    its body was read), with the same header: its principal is reused.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(NO_TOKEN)
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    return await authenticate(conn, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_read_principal(
    request: Request,
    pool: PoolDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """As `get_principal`, on a primary connection held only for the lookup: a figure
    route reads from `ReadsDep`, not from a connection kept open for the request."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(NO_TOKEN)
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    async with pool.connection() as conn:
        return await authenticate(conn, credentials.credentials)


ReadPrincipalDep = Annotated[Principal, Depends(get_read_principal)]


def _check_role(principal: Principal, needed: Role) -> None:
    if not principal.has_role(needed):
        raise Forbidden(f"this needs the {needed.value} role; the token has {principal.role.value}")


def _check_estate(principal: Principal, estate: str, needed: Role) -> None:
    _check_role(principal, needed)
    if not principal.may_see(estate):
        raise Forbidden(f"the token is not allowed to see estate {estate!r}")


_EstateParam = Annotated[str, Path(pattern=ID_PATTERN, description="Estate id.", examples=["jjq"])]


def require(needed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller has at least `needed` (any estate it is limited to)."""

    async def dependency(principal: PrincipalDep) -> Principal:
        _check_role(principal, needed)
        return principal

    return dependency


def require_estate(needed: Role) -> Callable[[str, Principal], Awaitable[Principal]]:
    """A dependency: the caller has at least `needed` and may see the path's `{estate}`."""

    async def dependency(estate: _EstateParam, principal: PrincipalDep) -> Principal:
        _check_estate(principal, estate, needed)
        return principal

    return dependency


def require_read(needed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """`require(needed)` for a figure route (`get_read_principal`)."""

    async def dependency(principal: ReadPrincipalDep) -> Principal:
        _check_role(principal, needed)
        return principal

    return dependency


def require_estate_read(needed: Role) -> Callable[[str, Principal], Awaitable[Principal]]:
    """`require_estate(needed)` for a figure route (`get_read_principal`)."""

    async def dependency(estate: _EstateParam, principal: ReadPrincipalDep) -> Principal:
        _check_estate(principal, estate, needed)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
ReadViewer = Annotated[Principal, Depends(require_read(Role.viewer))]
ReadEstateViewer = Annotated[Principal, Depends(require_estate_read(Role.viewer))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
EstateViewer = Annotated[Principal, Depends(require_estate(Role.viewer))]
EstateAdmin = Annotated[Principal, Depends(require_estate(Role.admin))]
EstatePath = Annotated[str, Path(pattern=ID_PATTERN, description="Estate id.", examples=["jjq"])]
