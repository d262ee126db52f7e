"""Figures (viewer role and up): one estate, its days, its buildings, several estates.

Read-only, so read through `ReadsDep`: from the replica while it is within
FENLEI_READ_MAX_LAG_S of the primary, else from the primary (`api.read_pool`). Each
route's queries are one function of a connection, run on whichever pool that is.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from api.csv import FORMAT_QUERY, Format, csv_response
from api.deps import (
    ID_PATTERN,
    EstatePath,
    PeriodRulesDep,
    ReadEstateViewer,
    ReadsDep,
    ReadViewer,
)
from api.errors import Forbidden, NotFound
from api.inspections import service as inspections
from api.metrics import repository, service
from api.metrics.schemas import EstateBuildings, EstateDaily, EstateMetrics, MultiMetrics
from api.problems import responses
from api.registry import repository as registry_repository
from api.rows import Conn

router = APIRouter(prefix="/api/v1", tags=["figures"], responses=responses(401, 403, 422, 503))
ESTATE_ERRORS = responses(404)

From = Annotated[
    date, Query(alias="from", description="first local day (inclusive)", examples=["2019-03-23"])
]
To = Annotated[
    date, Query(alias="to", description="last local day (inclusive)", examples=["2019-09-11"])
]
FormatQ = Annotated[Format, FORMAT_QUERY]


async def _require_estate(conn: Conn, estate: str) -> None:
    if not await repository.estate_exists(conn, estate):
        raise NotFound(f"no estate {estate!r}")


async def _one_estate(conn: Conn, estate: str, start: date, end: date) -> dict[str, Any]:
    rows = await repository.estates_rows(conn, [estate], start, end)
    if not rows:
        raise NotFound(f"no estate {estate!r}")
    return rows[0]


@router.get(
    "/estates/{estate}/metrics",
    response_model=EstateMetrics,
    response_model_by_alias=True,
    responses={200: {"content": {"text/csv": {}}}, **ESTATE_ERRORS},
)
async def estate_metrics(
    estate: EstatePath,
    start: From,
    end: To,
    reads: ReadsDep,
    _: ReadEstateViewer,
    rules: PeriodRulesDep,
    format: FormatQ = "json",
) -> Any:
    """Coverage, participation rate and wet-waste share of one estate for [from, to]."""
    rules.check(start, end)

    async def read(conn: Conn) -> dict[str, Any]:
        body = service.estate_metrics(await _one_estate(conn, estate, start, end), start, end)
        checks = await inspections.estate_accuracy(conn, estate, start, end)
        body["accuracy"], body["inspected"] = checks["accuracy"], checks["inspected"]
        return body

    body = await reads.run(read)
    if format == "csv":
        return csv_response([service.flatten(body)], f"{estate}-metrics-{start}-{end}.csv")
    return body


@router.get(
    "/estates/{estate}/daily",
    response_model=EstateDaily,
    responses={200: {"content": {"text/csv": {}}}, **ESTATE_ERRORS},
)
async def estate_daily(
    estate: EstatePath,
    start: From,
    end: To,
    reads: ReadsDep,
    _: ReadEstateViewer,
    rules: PeriodRulesDep,
    format: FormatQ = "json",
) -> Any:
    """One row per local day: kg per category, drops, active households, participation."""
    rules.check(start, end)

    async def read(conn: Conn) -> list[dict[str, Any]]:
        await _require_estate(conn, estate)
        return await repository.daily_rows(conn, estate, start, end)

    body = service.daily(estate, await reads.run(read), start, end)
    if format == "csv":
        return csv_response(
            ({"estate": estate, **service.flatten(d)} for d in body["days"]),
            f"{estate}-daily-{start}-{end}.csv",
        )
    return body


@router.get(
    "/estates/{estate}/buildings/metrics",
    response_model=EstateBuildings,
    responses={200: {"content": {"text/csv": {}}}, **ESTATE_ERRORS},
)
async def building_metrics(
    estate: EstatePath,
    start: From,
    end: To,
    reads: ReadsDep,
    _: ReadEstateViewer,
    rules: PeriodRulesDep,
    format: FormatQ = "json",
) -> Any:
    """Participation, kg and wet share per building and per building group (楼组)."""
    rules.check(start, end)

    async def read(conn: Conn) -> list[dict[str, Any]]:
        await _require_estate(conn, estate)
        return await repository.building_rows(conn, estate, start, end)

    body = service.buildings(estate, await reads.run(read), start, end)
    if format == "csv":
        rows: list[dict[str, Any]] = []
        for b in body["buildings"]:
            rows.append({"building": b["building"], "building_group": None, **service.flatten(b)})
            rows += [{"building": b["building"], **service.flatten(g)} for g in b["groups"]]
        return csv_response(rows, f"{estate}-buildings-{start}-{end}.csv")
    return body


@router.get(
    "/metrics",
    response_model=MultiMetrics,
    responses={200: {"content": {"text/csv": {}}}, **ESTATE_ERRORS},
)
async def multi_metrics(
    start: From,
    end: To,
    reads: ReadsDep,
    principal: ReadViewer,
    rules: PeriodRulesDep,
    estate: Annotated[
        list[Annotated[str, StringConstraints(pattern=ID_PATTERN)]] | None,
        Query(
            description="repeat for each estate; default: every estate the token may see",
            examples=[["jjq", "oyl"]],
        ),
    ] = None,
    format: FormatQ = "json",
) -> Any:
    """Several estates side by side, with totals (ratios of the summed counts)."""
    rules.check(start, end)
    if estate:
        wanted = sorted(set(estate))
        denied = [e for e in wanted if not principal.may_see(e)]
        if denied:
            raise Forbidden(f"the token is not allowed to see estate(s) {', '.join(denied)}")
        rows = await reads.run(lambda conn: repository.estates_rows(conn, wanted, start, end))
        missing = sorted(set(wanted) - {r["estate"] for r in rows})
        if missing:
            raise NotFound(f"no estate(s) {', '.join(missing)}")
    else:
        mine = sorted(principal.estates) if principal.estates is not None else None

        async def read(conn: Conn) -> list[dict[str, Any]]:
            visible = mine if mine is not None else await registry_repository.estate_ids(conn)
            return await repository.estates_rows(conn, visible, start, end)

        rows = await reads.run(read)
    body = service.multi_metrics(rows, start, end)
    if format == "csv":
        flat = [service.flatten(e) for e in body["estates"]]
        flat.append(
            {
                "estate": "(total)",
                "from": start,
                "to": end,
                **service.flatten(body["totals"]),
                "definitions_version": body["definitions_version"],
            }
        )
        return csv_response(flat, f"metrics-{start}-{end}.csv")
    return body
