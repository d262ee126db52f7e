"""The HTTP API alone: `create_api(settings)` with a lifespan owning the pool, request
bodies bounded and read only for a known token (`api.bodies`), and every error answered
in one shape by one handler (`api.handlers`).

The pages (dashboards, volunteers' phone pages) are mounted on it by the composition
root, `fenlei.app.create_app`; nothing in `api` imports them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import Depends, FastAPI
from psycopg_pool import AsyncConnectionPool
from starlette.types import Scope

from api import docs_assets, handlers, query_rules
from api.auth.repository import authenticate
from api.auth.tokens import Principal
from api.bodies import BodyGuard
from api.devices.revocations import RevocationDrainer
from api.devices.service import admin_client
from api.read_pool import Reads
from api.routes import alarms, devices, forecast, metrics, notify, operations, registry, tokens
from api.routes.volunteers import router as volunteers_router
from api.settings import ApiSettings

APPLICATION_NAME = "fenlei-api"
READ_APPLICATION_NAME = "fenlei-api-read"
DESCRIPTION = """
Coverage, participation rate and wet-waste share of residential estates' garbage
sorting, computed from the bins' events; the registry they are counted against.

Every route but `/healthz` and `/readyz` needs `Authorization: Bearer <token>`
(`fenlei token create --role viewer --estate jjq`). Roles: **viewer** reads figures,
**volunteer** also (later) rosters, **admin** everything, each optionally limited to
listed estates.

Every error is `{"detail": "<a sentence>", "errors": [...]}`: `errors` lists the values
at fault, each with its location, message, type and the value cut to 200 characters.
A request body is not read without a working token (401), nor when it is larger than
FENLEI_MAX_BODY_BYTES (413; 16 MiB by default). Periods [from, to] run from 1990-01-01
at the earliest to a year after today at the latest, over at most
FENLEI_MAX_PERIOD_DAYS days (3,660 by default).
"""
TAGS = [
    {"name": "figures", "description": "The three figures and their breakdowns (viewer+)."},
    {"name": "registry", "description": "Estates, rooms, bins, households (admin)."},
    {
        "name": "devices",
        "description": "Per-bin MQTT logins the broker enforces (admin): issue, rotate, revoke.",
    },
    {"name": "operations", "description": "Quarantine and device state for operators."},
    {"name": "tokens", "description": "Bearer tokens (admin): rotate a token's secret."},
    {"name": "alarms", "description": "Alarm records, acknowledge/resolve, thresholds."},
    {"name": "health", "description": "Liveness and readiness probes (no token)."},
    {
        "name": "volunteers",
        "description": "Rosters, check-in/out, inspections, swaps, accuracy, calendar feed.",
    },
]


async def _authenticate(scope: Scope, token: str) -> Principal:
    """The body guard's token check, on the app's pool (before any body is read);
    NotAuthenticated saying why a token does not work."""
    pool: AsyncConnectionPool[psycopg.AsyncConnection[object]] = scope["app"].state.pool
    async with pool.connection() as conn:
        return await authenticate(conn, token)


def _pool(
    settings: ApiSettings, url: str, name: str
) -> AsyncConnectionPool[psycopg.AsyncConnection[object]]:
    return AsyncConnectionPool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout_s,
        open=False,
        kwargs={
            "autocommit": True,
            "application_name": name,
            # JIT compiles each figure query for longer than it then runs.
            "options": f"-c statement_timeout={settings.statement_timeout_ms} -c jit=off",
        },
        name=name,
    )


def create_api(settings: ApiSettings) -> FastAPI:
    """The API for one process; the pools open and close with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = _pool(settings, settings.database_url, APPLICATION_NAME)
        # Not waiting: the API starts while the database is still coming up, and
        # /readyz says when it can answer.
        await pool.open(wait=False)
        app.state.pool = pool
        # The figures' pool: the replica's when there is one (`api.read_pool`).
        read_pool = None
        if settings.database_read_url:
            read_pool = _pool(settings, settings.database_read_url, READ_APPLICATION_NAME)
            await read_pool.open(wait=False)
        reads = Reads(
            pool,
            read_pool,
            primary_url=settings.database_url,
            replica_url=settings.database_read_url or "",
            max_lag_s=settings.read_max_lag_s,
            check_interval_s=settings.read_lag_check_s,
            replica_timeout_s=settings.read_replica_timeout_s,
        )
        reads.start()
        app.state.reads = reads
        # Optional: without an admin login the API runs and stores credentials unapplied.
        broker = admin_client(settings)
        drainer: RevocationDrainer | None = None
        if broker is not None:
            broker.start()
            drainer = RevocationDrainer(
                pool, broker, settings.database_url, settings.revocation_drain_interval_s
            )
            drainer.start()
        app.state.broker = broker
        try:
            yield
        finally:
            if drainer is not None:
                await drainer.stop()
            if broker is not None:
                broker.stop()
            app.state.broker = None
            await reads.stop()
            if read_pool is not None:
                await read_pool.close()
            await pool.close()

    # No default /docs and /redoc: theirs load Swagger UI and ReDoc from a CDN.
    app = FastAPI(
        title="fenlei",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(query_rules.documented_query)],
    )
    app.state.settings = settings
    app.state.broker = None
    handlers.install(app)
    docs_assets.install(app)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes, authenticate=_authenticate)
    app.include_router(operations.health)
    app.include_router(registry.router)
    app.include_router(devices.router)
    app.include_router(metrics.router)
    app.include_router(forecast.router)
    app.include_router(operations.router)
    app.include_router(tokens.router)
    app.include_router(volunteers_router)
    app.include_router(notify.router)
    app.include_router(alarms.router)
    return app
