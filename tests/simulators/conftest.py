"""Fixtures of the simulator tests: the real API, started per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fix_services import Services
from tests.simulators.api_server import ApiServer, serve


@pytest.fixture
def api(services: Services, db_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    """`fenlei api` against the (emptied) test database and the test broker (it issues
    device logins there), with an admin token."""
    with serve(db_url, tmp_path, services.env()) as server:
        yield server
