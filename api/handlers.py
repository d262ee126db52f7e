"""The one error handler: every error the app raises becomes one answer of the one
shape (`api.problems.Problem`), and none of a client's making becomes a 500.

- ApiError subclasses: their status and sentence (`Invalid` also lists its errors).
- Request validation (FastAPI): 422 with each error's location, message, type and a
  cut-down input; never the whole body (a 48 MB body once came back as 51 MB).
- PostgreSQL refusing a value (`psycopg.errors.DataError` and all its subclasses:
  out of range, bad datetime format, untranslatable character, …) and Python date
  arithmetic running off the calendar: 422, in case a value slipped past the edge's
  validation (each such case is a missing bound there, so it is logged).
- The database out of reach: 503 with Retry-After.
- Starlette's own (404 no route, 405): the same shape; a 405's Allow lists every
  method the path has, not just one route's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException

from api.errors import ApiError, Invalid
from api.problems import (
    MAX_ERRORS_LISTED,
    MAX_INPUT_CHARS,
    cut_input,
    encodable,
    unavailable_message,
)

log = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    text = encodable(str(exc)).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= MAX_INPUT_CHARS else line[: MAX_INPUT_CHARS - 1] + "…"


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """The 422 answer of a request that failed validation: the first errors with
    their inputs cut down, and a sentence counting all of them."""
    listed = []
    for e in errors[:MAX_ERRORS_LISTED]:
        item: dict[str, Any] = {
            "loc": [p if isinstance(p, int) else encodable(str(p)) for p in e.get("loc", ())],
            "msg": encodable(str(e.get("msg", ""))),
            "type": str(e.get("type", "")),
        }
        # A missing value's "input" is the object it is missing from: not worth echoing.
        if e.get("type") != "missing" and "input" in e:
            item["input"] = cut_input(e["input"])
        listed.append(item)
    first = listed[0] if listed else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(str(p) for p in first['loc']) or 'request'}: {first['msg']}"
    if len(errors) > 1:
        shown = f"; the first {len(listed)} are listed" if len(errors) > len(listed) else ""
        detail += f" (and {len(errors) - 1:,} more errors{shown})"
    return {"detail": detail, "errors": listed}


def _path_pattern(template: str) -> re.Pattern[str]:
    """An OpenAPI path template as a regex: "/estates/{estate}" matches "/estates/jjq"."""
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile(
        "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p) + "$"
    )


def _documented_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each documented path with its methods, from the app's own OpenAPI document."""
    cached: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        app.state, "documented_methods", None
    )
    if cached is None:
        cached = [
            (_path_pattern(path), {m.upper() for m in operations})
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.documented_methods = cached
    return cached


def _allowed_methods(request: Request, fallback: str | None) -> str | None:
    """The Allow header of a 405: every method the OpenAPI document lists for the path
    (Starlette names only the one route it tried); `fallback` for undocumented paths."""
    path = request.url.path
    methods: set[str] = set()
    for pattern, documented in _documented_methods(request.app):
        if pattern.match(path):
            methods |= documented
    return ", ".join(sorted(methods)) if methods else fallback


def install(app: FastAPI) -> None:
    """Register every handler on `app`."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        body: dict[str, object] = {"detail": encodable(str(exc))}
        if isinstance(exc, Invalid) and exc.errors:
            body["errors"] = [_listed(e) for e in exc.errors[:MAX_ERRORS_LISTED]]
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(validation_body(exc.errors()), status_code=422)

    async def refused_value(request: Request, exc: Exception) -> JSONResponse:
        # A bound the edge's validation should have had: visible in the log, a 422
        # for the client.
        log.warning(
            "a value reached the database or the calendar's end unchecked: %s %s: %s",
            request.method,
            request.url.path,
            _first_line(exc),
        )
        return JSONResponse(
            {"detail": f"a value of this request is out of range or malformed: {_first_line(exc)}"},
            status_code=422,
        )

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": unavailable_message()}, status_code=503, headers={"Retry-After": "5"}
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request, headers.get("Allow"))
            if allowed is not None:
                headers["Allow"] = allowed
        if exc.status_code in (204, 304) or exc.status_code < 200:
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(psycopg.errors.DataError, refused_value)
    app.add_exception_handler(OverflowError, refused_value)
    app.add_exception_handler(PoolTimeout, unavailable)
    app.add_exception_handler(psycopg.OperationalError, unavailable)
    app.add_exception_handler(HTTPException, http_error)


def _listed(error: dict[str, object]) -> dict[str, object]:
    """An ApiError's listed error in the documented item shape (input as cut text)."""
    item: dict[str, object] = {k: error[k] for k in ("loc", "msg", "type") if k in error}
    if error.get("input") is not None:
        item["input"] = cut_input(error["input"])
    return item
