"""Applied migrations are frozen in the repository: no services needed.

The database records each applied migration's hash too, but a fresh CI database has
applied nothing yet, so only the checked-in list (deploy/sql/migrations.sha256) can
catch an edit of a migration that production has already run.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from deploy.migrate import (
    FROZEN_FILE,
    MIGRATIONS_DIR,
    check_frozen,
    freeze,
    load_migrations,
    main,
    migrate,
)
from fenlei.errors import MigrationDriftError, MigrationError

# Numbers skipped before the no-gaps rule: only these may be missing, below 0011.
SKIPPED_BEFORE_THE_RULE = {6, 7, 8, 9}


def _frozen_lines(path: Path) -> dict[str, str]:
    """The list parsed here, not by the runner: name → hash."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            sha, name = line.split()
            out[name] = sha
    return out


def test_every_migration_file_has_exactly_its_frozen_hash() -> None:
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    frozen = _frozen_lines(FROZEN_FILE)
    assert sorted(frozen) == [f.name for f in files], "freeze new migrations; restore lost ones"
    for f in files:
        # The hash of the text as the runner reads and applies it.
        got = hashlib.sha256(f.read_text(encoding="utf-8").encode()).hexdigest()
        assert got == frozen[f.name], f"{f.name} was edited after it was frozen"


def test_migration_numbers_have_no_new_gaps() -> None:
    numbers = [int(f.name[:4]) for f in sorted(MIGRATIONS_DIR.glob("*.sql"))]
    missing = set(range(1, max(numbers) + 1)) - set(numbers)
    assert missing <= SKIPPED_BEFORE_THE_RULE


def test_check_command_agrees_with_the_repository() -> None:
    assert main(["--check"]) == 0


@pytest.fixture
def repo_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the migrations and their frozen list."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    frozen = tmp_path / "migrations.sha256"
    shutil.copy(FROZEN_FILE, frozen)
    return migrations, frozen


def test_an_edited_frozen_migration_is_refused(repo_copy: tuple[Path, Path]) -> None:
    migrations, frozen = repo_copy
    first = sorted(migrations.glob("*.sql"))[0]
    check_frozen(load_migrations(migrations), frozen)
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationDriftError, match=re.escape(first.name)):
        check_frozen(load_migrations(migrations), frozen)
    # --freeze does not paper over it.
    with pytest.raises(MigrationDriftError, match=re.escape(first.name)):
        freeze(migrations, frozen)


def test_the_runner_refuses_drift_before_touching_a_database(
    repo_copy: tuple[Path, Path],
) -> None:
    migrations, frozen = repo_copy
    last = sorted(migrations.glob("*.sql"))[-1]
    last.write_text(last.read_text() + "-- edited\n")  # any edit, whatever the file holds
    # Nothing listens there: the refusal must come first.
    with pytest.raises(MigrationDriftError, match=re.escape(last.name)):
        migrate("postgresql://nobody@127.0.0.1:1/none", migrations, frozen_file=frozen)


def test_a_new_migration_must_be_frozen_then_is_accepted(repo_copy: tuple[Path, Path]) -> None:
    migrations, frozen = repo_copy
    last = int(sorted(migrations.glob("*.sql"))[-1].name[:4])
    new = migrations / f"{last + 1:04d}_new_table.sql"
    new.write_text("CREATE TABLE t (x int);\n")
    with pytest.raises(MigrationDriftError, match="not in the frozen list"):
        check_frozen(load_migrations(migrations), frozen)
    assert freeze(migrations, frozen) == [new.name]
    check_frozen(load_migrations(migrations), frozen)
    listed = _frozen_lines(frozen)
    assert listed[new.name] == hashlib.sha256(new.read_bytes()).hexdigest()
    assert freeze(migrations, frozen) == []


def test_freeze_refuses_a_gap_in_the_numbers(repo_copy: tuple[Path, Path]) -> None:
    migrations, frozen = repo_copy
    last = int(sorted(migrations.glob("*.sql"))[-1].name[:4])
    (migrations / f"{last + 2:04d}_skips_one.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=f"number it {last + 1:04d}"):
        freeze(migrations, frozen)


def test_a_deleted_frozen_migration_is_refused(repo_copy: tuple[Path, Path]) -> None:
    migrations, frozen = repo_copy
    gone = sorted(migrations.glob("*.sql"))[1]
    gone.unlink()
    with pytest.raises(MigrationDriftError, match=re.escape(gone.name)):
        check_frozen(load_migrations(migrations), frozen)
