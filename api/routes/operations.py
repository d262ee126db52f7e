"""Operators' routes: the quarantine, bins' state, liveness and readiness."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ID_PATTERN, Admin, ConnDep, EstatePath, EstateViewer, PoolDep, ReadsDep
from api.errors import Forbidden
from api.fields import Instant
from api.operations import repository
from api.operations.schemas import BinState
from api.problems import responses
from api.registry import repository as registry

router = APIRouter(prefix="/api/v1", tags=["operations"], responses=responses(401, 403, 422, 503))
health = APIRouter(tags=["health"])
# Seconds /readyz waits for a connection: a probe must answer quickly either way.
READY_TIMEOUT_S = 2.0


class Rejected(BaseModel):
    """One device message (or array element) the ingester refused, with why."""

    id: int
    received_at: datetime
    topic: str
    estate: str | None
    reason: str
    detail: str
    item_index: int | None
    payload: str


class RejectedPage(BaseModel):
    """The newest rejections and the count of every matching one by reason."""

    total: int
    counts_by_reason: dict[str, int]
    dropped_by_reason: dict[str, int] = Field(
        description="Rejections counted but not kept because their bin topic and reason"
        " reached FENLEI_REJECTED_CAP (since the quarantine began; `since` does not apply)"
    )
    items: list[Rejected]


@router.get("/rejected", response_model=RejectedPage)
async def rejected(
    conn: ConnDep,
    principal: Admin,
    estate: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[Instant | None, Query(description="RFC 3339, with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> Any:
    """The quarantine: what devices sent that was not stored, newest first."""
    if estate is not None and not principal.may_see(estate):
        raise Forbidden(f"the token is not allowed to see estate {estate!r}")
    estates = (
        [estate]
        if estate
        else (sorted(principal.estates) if principal.estates is not None else None)
    )
    rows, counts, dropped = await repository.rejected(conn, estates, since, limit)
    # Payloads failed validation and may not even be UTF-8: decode leniently.
    items = [{**r, "payload": bytes(r["payload"]).decode("utf-8", errors="replace")} for r in rows]
    return {
        "total": sum(counts.values()),
        "counts_by_reason": counts,
        "dropped_by_reason": dropped,
        "items": items,
    }


@router.get("/estates/{estate}/bins", response_model=list[BinState], responses=responses(404))
async def bins(estate: EstatePath, conn: ConnDep, _: EstateViewer) -> Any:
    """Every bin: category, last seen, online, fill, battery, last alarm and its login."""
    await registry.get_estate(conn, estate)
    return await repository.bins(conn, estate)


class ReplicaHealth(BaseModel):
    """The read replica (FENLEI_DATABASE_READ_URL) as the last lag measurement saw it."""

    reads_on_replica: bool = Field(description="figures are read from the replica now")
    lag_s: float | None = Field(
        default=None,
        description="upper bound on how far behind the primary it is (seconds); absent: unknown",
    )
    max_lag_s: float = Field(description="FENLEI_READ_MAX_LAG_S: past it, reads go to the primary")
    detail: str | None = Field(
        default=None, description="why reads are not on the replica (an error's type, or the lag)"
    )
    reads: dict[str, int] = Field(
        description="figure reads since the process started: replica, primary, fallbacks"
        " (a replica failure retried on the primary)"
    )


class Health(BaseModel):
    """A probe's answer: ok, or unavailable with the failure's kind."""

    status: str = Field(examples=["ok"])
    detail: str | None = Field(default=None, description="why not ready (an error's type)")
    replica: ReplicaHealth | None = Field(
        default=None,
        description="only with a read replica; its state does not decide readiness"
        " (reads fall back to the primary)",
    )


@health.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> dict[str, str]:
    """The process answers (no database involved)."""
    return {"status": "ok"}


@health.get(
    "/readyz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "the database is not reachable"}},
)
async def readyz(pool: PoolDep, reads: ReadsDep) -> Any:
    """The database answers a query; with a read replica, its lag and whether figures
    are read from it (from the last measurement: no query to the replica here)."""
    replica: dict[str, Any] | None = None
    state = reads.status
    if state.configured:
        replica = {
            "reads_on_replica": state.use,
            "lag_s": None if state.lag_s is None else round(state.lag_s, 3),
            "max_lag_s": reads.tracker.max_lag_s,
            "detail": state.detail,
            "reads": asdict(reads.counts),
        }
    try:
        async with pool.connection(timeout=READY_TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; say which
        body = {"status": "unavailable", "detail": type(exc).__name__}
        return JSONResponse({**body, **({"replica": replica} if replica else {})}, status_code=503)
    return {"status": "ok", "replica": replica}
