"""The one shape of every error answer, and how the OpenAPI document names it.

Every 4xx and 5xx the API sends is `{"detail": "<a sentence>", "errors": [...]?}`:
a sentence a person can act on, and for a refused request the values at fault, each
with its location (`["body", 3, "building"]`), message, type and, for validation
errors, a cut-down copy of the input (never the whole body). `responses(...)` gives
a route's documented error codes with this schema, so the document says what the
API really sends (FastAPI's default documents `detail` as an array).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.types import Send

# Characters of a refused input echoed back: enough to recognise it, never a body.
MAX_INPUT_CHARS = 200
# Errors listed in one answer (all are counted in `detail`): a 100k-row upload with a
# bad column must not answer with 100k errors.
MAX_ERRORS_LISTED = 50

NO_TOKEN = "send 'Authorization: Bearer <token>' (see `fenlei token create`)"


class ProblemItem(BaseModel):
    """One value at fault."""

    loc: list[str | int] = Field(description='where: ["body", 3, "building"], ["query", "to"]')
    msg: str
    type: str = Field(description="a machine-readable kind, e.g. missing, string_too_long")
    input: str | None = Field(
        default=None,
        description=f"the value refused, as JSON text cut to {MAX_INPUT_CHARS} characters",
    )


class Problem(BaseModel):
    """An error: what went wrong, and for a refused request the values at fault."""

    detail: str = Field(description="what is wrong, in a sentence")
    errors: list[ProblemItem] | None = Field(
        default=None, description=f"the values at fault (the first {MAX_ERRORS_LISTED})"
    )


DESCRIPTIONS = {
    400: "the request cannot be read",
    401: "no bearer token, or one that is unknown, revoked or expired",
    403: "the token's role or estates do not allow this",
    404: "no such estate, room, bin, household or record",
    409: "the request contradicts what is stored",
    413: "the request body is larger than FENLEI_MAX_BODY_BYTES",
    422: (
        "a value is invalid or out of range (each listed in `errors`). An item's `type`"
        " `period` is a day outside the days served or a period that runs backwards or is"
        " too long; `rule` is a value the schema allows that breaks a rule stated in the"
        " field's description (values of one body that contradict each other); `history`"
        " a registry change that contradicts the household's history;"
        " `unknown_parameter` / `repeated_parameter` a query parameter the operation does"
        " not take, or one given twice"
    ),
    503: "the database is not reachable; retry after Retry-After seconds",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of these error codes, with the Problem schema."""
    return {code: {"model": Problem, "description": DESCRIPTIONS[code]} for code in codes}


def encodable(text: str) -> str:
    """`text` as it can be sent: a lone surrogate (refused input may hold one) as \\udXXX."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def cut_input(value: object) -> str:
    """A refused value as JSON text of at most MAX_INPUT_CHARS characters."""
    text = value if isinstance(value, str) else _json_text(value)
    text = text if len(text) <= MAX_INPUT_CHARS else text[: MAX_INPUT_CHARS - 1] + "…"
    return encodable(text)


def _json_text(value: object) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # a value orjson cannot walk (deep or odd): its repr will do
        return repr(value)[: MAX_INPUT_CHARS + 1]


def unavailable_message() -> str:
    """The 503 sentence."""
    return "the database is not reachable; try again shortly"


async def json_message(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Send `{"detail": detail}` straight from an ASGI middleware (before any route)."""
    body = orjson.dumps({"detail": detail})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
