"""The application against the real database: a TestClient (which runs the lifespan) and tokens.

The app is the composed one (`fenlei.app.create_app`), as `fenlei api` serves it, so the
route matrix sees every route a deployment has.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import psycopg
import pytest

with warnings.catch_warnings():
    # Starlette 1.x deprecates driving its TestClient with httpx (asking for httpx2,
    # not installed here); the client works, and `filterwarnings = error` would stop
    # the whole directory at import.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.auth.repository import create_token
from api.auth.tokens import Role
from api.settings import ApiSettings
from dashboards.settings import DashboardSettings
from fenlei.app import create_app

SECRET = "api-test-secret"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """An API client on an emptied database; requests carry no token unless given."""
    app = create_app(
        ApiSettings(database_url=db_url, pool_min_size=1, pool_max_size=4),
        DashboardSettings(session_secret=SECRET),
    )
    with TestClient(app) as test_client:
        yield test_client


def make_token(db_url: str, role: Role, estates: list[str] | None = None) -> dict[str, str]:
    """Authorization headers of a new token."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        _, token = create_token(conn, role, estates, name=f"test {role}")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(db_url: str) -> dict[str, str]:
    """Headers of an admin token for every estate."""
    return make_token(db_url, Role.admin)
