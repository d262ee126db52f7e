"""Plain-SQL migrations: numbered files applied once and recorded with their hash.

`sql/migrations/NNNN_name.sql` run once each, in order, inside a transaction;
an applied file whose hash changed is an error (edit by adding a new file).
`sql/idempotent/*.sql` (views, functions) are re-applied on every run.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from fenlei.errors import MigrationDriftError, MigrationError

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
IDEMPOTENT_DIR = SQL_DIR / "idempotent"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every fenlei process.
MIGRATION_LOCK_ID = 0x66656E6C6569

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS fenlei_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; a misnamed file is an error, not skipped."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_case.sql.")
        found.append(Migration(match.group(1), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number in {directory}.")
    return found


def migrate(
    database_url: str,
    migrations_dir: Path = MIGRATIONS_DIR,
    idempotent_dir: Path = IDEMPOTENT_DIR,
) -> list[str]:
    """Bring the database to the latest version; returns the versions applied now."""
    migrations = load_migrations(migrations_dir)
    applied_now: list[str] = []
    with psycopg.connect(database_url, application_name="fenlei-migrate", autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            conn.execute(CREATE_LEDGER)
            recorded: dict[str, str] = dict(
                conn.execute("SELECT version, sha256 FROM fenlei_migrations").fetchall()
            )
            for m in migrations:
                if m.version in recorded:
                    if recorded[m.version] != m.sha256:
                        raise MigrationDriftError(
                            f"migration {m.name} was edited after it was applied "
                            "(its hash differs): restore it and add a new migration instead."
                        )
                    continue
                log.info("applying migration %s", m.name)
                try:
                    with conn.transaction():
                        conn.execute(m.sql.encode())
                        conn.execute(
                            "INSERT INTO fenlei_migrations (version, name, sha256)"
                            " VALUES (%s, %s, %s)",
                            (m.version, m.name, m.sha256),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {m.name} failed: {exc}") from exc
                applied_now.append(m.version)
            for path in sorted(idempotent_dir.glob("*.sql")):
                with conn.transaction():
                    conn.execute(path.read_bytes())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now
