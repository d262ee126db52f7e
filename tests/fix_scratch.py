"""Scratch databases on the session's server, and migrating one to an older version."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deploy.migrate import MIGRATIONS_DIR, migrate
from tests.fix_services import Services


@pytest.fixture
def scratch_db(services: Services) -> Iterator[str]:
    """A brand-new empty database on the same server, dropped afterwards."""
    name = "fenlei_scratch_" + secrets.token_hex(4)
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(services.database_url)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)  # type: ignore[arg-type]
    finally:
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def migrate_before(database_url: str, version: str, work_dir: Path) -> None:
    """Apply the migrations numbered below `version` only: a database as an older
    release left it, for testing what migration `version` does to its data."""
    older = work_dir / f"migrations-before-{version}"
    older.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < version:
            shutil.copy(path, older / path.name)
    migrate(database_url, migrations_dir=older, frozen_file=None)
