"""Plain-SQL migrations: numbered files applied once and recorded with their hash.

`sql/migrations/NNNN_name.sql` run once each, in order, inside a transaction; their
hashes are frozen in the repository (`sql/migrations.sha256`) and recorded in each
database. A migration whose text differs from the frozen list, or that is missing
from it, is refused before anything runs, and an applied one whose hash differs from
the database's record is an error: change the schema by adding a new file, numbered
one above the last (no gaps), then freeze it:

    python -m deploy.migrate --freeze    # add new migrations to sql/migrations.sha256
    python -m deploy.migrate --check     # exit 1 when the files and the list differ

`sql/idempotent/*.sql` (functions: the local-day rules and the rollups) are
re-applied on every run, after the numbered migrations, in name order: edit them in
place. A numbered migration therefore cannot rely on them on a fresh database.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import psycopg

from fenlei.errors import MigrationDriftError, MigrationError

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
IDEMPOTENT_DIR = SQL_DIR / "idempotent"
FROZEN_FILE = SQL_DIR / "migrations.sha256"
# Versions allowed to follow a gap: numbers skipped before the no-gaps rule.
GRANDFATHERED_GAPS = frozenset({"0010"})
_FROZEN_HEADER = (
    "# SHA-256 of each migration's text, as applied (deploy/migrate.py refuses any other).\n"
    "# Written by `python -m deploy.migrate --freeze`; never edit a line, add a migration.\n"
)
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


def read_frozen(path: Path = FROZEN_FILE) -> dict[str, str]:
    """The frozen list: migration file name → SHA-256 (`<sha256>  <name>` lines)."""
    frozen: dict[str, str] = {}
    if not path.exists():
        return frozen
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            sha, _, name = line.partition("  ")
            frozen[name.strip()] = sha.strip()
    return frozen


def numbering_gaps(migrations: list[Migration]) -> list[str]:
    """Sentences naming each migration whose number is not one above the previous one."""
    gaps = []
    for before, after in pairwise(migrations):
        expected = int(before.version) + 1
        if int(after.version) != expected and after.version not in GRANDFATHERED_GAPS:
            gaps.append(
                f"{after.name} follows {before.name}: number it {expected:04d} "
                "(no gaps in migration numbers)."
            )
    return gaps


def _unfrozen_and_drift(
    migrations: list[Migration], frozen: dict[str, str]
) -> tuple[list[str], list[str]]:
    """Names of migrations not in the frozen list, and sentences naming each edit or loss."""
    unfrozen = [m.name for m in migrations if m.name not in frozen]
    drift = [
        f"{m.name} differs from its frozen hash: an applied migration was edited. "
        "Restore it and add a new migration instead."
        for m in migrations
        if m.name in frozen and frozen[m.name] != m.sha256
    ]
    names = {m.name for m in migrations}
    drift += [
        f"{name} is in the frozen list but its file is missing: restore it."
        for name in frozen
        if name not in names
    ]
    return unfrozen, drift


def frozen_drift(migrations: list[Migration], frozen: dict[str, str]) -> list[str]:
    """Sentences naming each difference between the migration files and the frozen list."""
    unfrozen, drift = _unfrozen_and_drift(migrations, frozen)
    return drift + [
        f"{name} is not in the frozen list {FROZEN_FILE.name}: "
        "run `python -m deploy.migrate --freeze` and commit the list with it."
        for name in unfrozen
    ]


def check_frozen(migrations: list[Migration], frozen_file: Path = FROZEN_FILE) -> None:
    """Raise MigrationDriftError unless the files are exactly the frozen migrations."""
    problems = frozen_drift(migrations, read_frozen(frozen_file))
    if problems:
        raise MigrationDriftError(" ".join(problems))


def freeze(migrations_dir: Path = MIGRATIONS_DIR, frozen_file: Path = FROZEN_FILE) -> list[str]:
    """Add the migrations not yet in the frozen list to it; returns their names.

    Refuses (MigrationDriftError) to change a frozen hash or drop a frozen name, and
    (MigrationError) to freeze a gap in the numbering. A migration frozen by mistake
    and never applied anywhere (not merged): delete its line, then freeze again.
    """
    migrations = load_migrations(migrations_dir)
    unfrozen, drift = _unfrozen_and_drift(migrations, read_frozen(frozen_file))
    if drift:
        raise MigrationDriftError(" ".join(drift))
    gaps = numbering_gaps(migrations)
    if gaps:
        raise MigrationError(" ".join(gaps))
    lines = "".join(f"{m.sha256}  {m.name}\n" for m in migrations)
    frozen_file.write_text(_FROZEN_HEADER + lines, encoding="utf-8")
    return unfrozen


def migrate(
    database_url: str,
    migrations_dir: Path = MIGRATIONS_DIR,
    idempotent_dir: Path = IDEMPOTENT_DIR,
    frozen_file: Path | None = FROZEN_FILE,
) -> list[str]:
    """Bring the database to the latest version; returns the versions applied now.

    `frozen_file=None` skips the check against the frozen list (tests of the
    database's own record use it).
    """
    migrations = load_migrations(migrations_dir)
    if frozen_file is not None:
        check_frozen(migrations, frozen_file)
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
                try:
                    with conn.transaction():
                        conn.execute(path.read_bytes())
                except psycopg.Error as exc:
                    raise MigrationError(f"{path.name} failed: {exc}") from exc
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    """`python -m deploy.migrate --freeze | --check` (applying is `fenlei migrate`)."""
    parser = argparse.ArgumentParser(description="The frozen list of migration hashes.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--freeze", action="store_true", help=f"add new migrations to {FROZEN_FILE}")
    group.add_argument("--check", action="store_true", help="exit 1 unless files and list agree")
    args = parser.parse_args(argv)
    try:
        if args.freeze:
            added = freeze()
            print(f"froze {', '.join(added)}" if added else "nothing new to freeze")
        else:
            migrations = load_migrations()
            check_frozen(migrations)
            gaps = numbering_gaps(migrations)
            if gaps:
                raise MigrationError(" ".join(gaps))
            print(f"{len(migrations)} migrations match {FROZEN_FILE.name}")
    except MigrationError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
