"""Query strings hold only what the OpenAPI document names (api.query_rules): a typo
or a repeated parameter is a 422 naming it, never silently ignored or half used."""

from __future__ import annotations

import warnings
from datetime import date
from typing import Annotated

from fastapi import Depends, FastAPI, Query

from api import handlers, query_rules

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def _app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(query_rules.documented_query)])
    handlers.install(app)

    @app.get("/figures")
    async def figures(
        start: Annotated[date, Query(alias="from")],
        estate: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, object]:
        return {"from": start.isoformat(), "estates": estate or []}

    @app.get("/page", include_in_schema=False)
    async def page(x: str = "") -> dict[str, str]:
        return {"x": x}

    return app


client = TestClient(_app())


def test_documented_parameters_pass_and_a_list_may_repeat() -> None:
    r = client.get("/figures", params=[("from", "2026-03-01"), ("estate", "a"), ("estate", "b")])
    assert r.status_code == 200, r.text
    assert r.json() == {"from": "2026-03-01", "estates": ["a", "b"]}


def test_an_unknown_parameter_is_named_in_a_422() -> None:
    r = client.get("/figures", params={"from": "2026-03-01", "form": "2026-04-01"})
    assert r.status_code == 422
    body = r.json()
    assert "form" in body["detail"]
    assert body["errors"] == [
        {
            "loc": ["query", "form"],
            "msg": "is not a parameter of this operation",
            "type": "unknown_parameter",
            "input": "2026-04-01",
        }
    ]


def test_a_repeated_single_parameter_is_refused_not_half_used() -> None:
    r = client.get("/figures", params=[("from", "2026-03-01"), ("from", "2026-04-01")])
    assert r.status_code == 422
    assert [e["type"] for e in r.json()["errors"]] == ["repeated_parameter"]


def test_routes_outside_the_document_are_left_alone() -> None:
    r = client.get("/page", params={"x": "1", "anything": "2"})
    assert r.status_code == 200
    assert r.json() == {"x": "1"}
