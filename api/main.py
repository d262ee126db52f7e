"""The HTTP API alone: `create_api(settings)` with a lifespan owning the pool.

The pages (dashboards, volunteers' phone pages) are mounted on it by the composition
root, `fenlei.app.create_app`; nothing in `api` imports them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.devices.revocations import RevocationDrainer
from api.devices.service import admin_client
from api.errors import ApiError, Invalid
from api.routes import devices, metrics, operations, registry
from api.routes.volunteers import router as volunteers_router
from api.settings import ApiSettings

log = logging.getLogger(__name__)

APPLICATION_NAME = "fenlei-api"
DESCRIPTION = """
Coverage, participation rate and wet-waste share of residential estates' garbage
sorting, computed from the bins' events; the registry they are counted against.

Every route but `/healthz` and `/readyz` needs `Authorization: Bearer <token>`
(`fenlei token create --role viewer --estate jjq`). Roles: **viewer** reads figures,
**volunteer** also (later) rosters, **admin** everything, each optionally limited to
listed estates.
"""
TAGS = [
    {"name": "figures", "description": "The three figures and their breakdowns (viewer+)."},
    {"name": "registry", "description": "Estates, rooms, bins, households (admin)."},
    {
        "name": "devices",
        "description": "Per-bin MQTT logins the broker enforces (admin): issue, rotate, revoke.",
    },
    {"name": "operations", "description": "Quarantine and device state for operators."},
    {"name": "health", "description": "Liveness and readiness probes (no token)."},
    {
        "name": "volunteers",
        "description": "Rosters, check-in/out, inspections, swaps, accuracy, calendar feed.",
    },
]


def _install_error_handlers(app: FastAPI) -> None:
    """Every deliberate error becomes one HTTP answer here, `{"detail": ...}`."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, Invalid) and exc.errors:
            body["errors"] = exc.errors
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": "the database is not reachable; try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(PoolTimeout, unavailable)
    app.add_exception_handler(psycopg.OperationalError, unavailable)


def create_api(settings: ApiSettings) -> FastAPI:
    """The API for one process; the pool opens and closes with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[psycopg.AsyncConnection[object]] = AsyncConnectionPool(
            settings.database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout_s,
            open=False,
            kwargs={
                "autocommit": True,
                "application_name": APPLICATION_NAME,
                # JIT compiles each figure query for longer than it then runs.
                "options": f"-c statement_timeout={settings.statement_timeout_ms} -c jit=off",
            },
            name=APPLICATION_NAME,
        )
        # Not waiting: the API starts while the database is still coming up, and
        # /readyz says when it can answer.
        await pool.open(wait=False)
        app.state.pool = pool
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
            await pool.close()

    app = FastAPI(
        title="fenlei", version="1", description=DESCRIPTION, openapi_tags=TAGS, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.broker = None
    _install_error_handlers(app)
    app.include_router(operations.health)
    app.include_router(registry.router)
    app.include_router(devices.router)
    app.include_router(metrics.router)
    app.include_router(operations.router)
    app.include_router(volunteers_router)
    return app
