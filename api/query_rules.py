"""Query strings hold only what the OpenAPI document names, each once unless a list.

FastAPI ignores a query parameter it does not know and keeps the last of a repeated
one, so `?form=2026-03-01` (a typo of `from`) answers for the default period and
`?to=2026-03-31&to=2026-04-30` for one of the two days, both without a word. Here
either is a 422 naming the parameter. The rules are read from the app's own OpenAPI
document, once (FastAPI caches it), so they cannot drift from what it states; routes
outside the document (the pages) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request

from api.errors import Invalid
from api.problems import cut_input

# The error items' `type`s, stated in the 422's description.
UNKNOWN, REPEATED = "unknown_parameter", "repeated_parameter"


@dataclass(frozen=True, slots=True)
class QueryRule:
    """The query parameters one operation takes, and which of them are lists."""

    names: frozenset[str]
    lists: frozenset[str]


def rules_of(document: dict[str, object]) -> dict[tuple[str, str], QueryRule]:
    """(method, path template) → its QueryRule, for every operation of `document`."""
    rules: dict[tuple[str, str], QueryRule] = {}
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return rules
    for path, operations in paths.items():
        for method, operation in operations.items():
            query = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
            lists = {p["name"] for p in query if _is_list(p.get("schema", {}))}
            rules[(method.upper(), path)] = QueryRule(
                frozenset(p["name"] for p in query), frozenset(lists)
            )
    return rules


def _is_list(schema: dict[str, object]) -> bool:
    if schema.get("type") == "array":
        return True
    options = schema.get("anyOf")
    return isinstance(options, list) and any(o.get("type") == "array" for o in options)


def _rules(app: FastAPI) -> dict[tuple[str, str], QueryRule]:
    cached: dict[tuple[str, str], QueryRule] | None = getattr(app.state, "query_rules", None)
    if cached is None:
        cached = rules_of(app.openapi())
        app.state.query_rules = cached
    return cached


async def documented_query(request: Request) -> None:
    """A dependency of every route: Invalid (422) for a query parameter the route's
    operation does not name, or one given twice that is not a list."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    if path is None:
        return
    method = "GET" if request.method == "HEAD" else request.method
    rule = _rules(request.app).get((method, path))
    if rule is None:
        return
    errors: list[dict[str, object]] = []
    refused: set[str] = set()
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if name not in rule.names:
            errors.append(_item(name, "is not a parameter of this operation", UNKNOWN, value))
            refused.add(name)
        elif name in seen and name not in rule.lists:
            errors.append(_item(name, "is given more than once", REPEATED, value))
            refused.add(name)
        seen.add(name)
    if errors:
        raise Invalid(f"query parameters refused: {', '.join(sorted(refused))}", errors)


def _item(name: str, message: str, kind: str, value: str) -> dict[str, object]:
    return {"loc": ["query", name], "msg": message, "type": kind, "input": cut_input(value)}
