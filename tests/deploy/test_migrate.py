"""Migrations against the real TimescaleDB."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest

from deploy.migrate import IDEMPOTENT_DIR, MIGRATIONS_DIR, load_migrations, migrate
from fenlei.errors import MigrationDriftError, MigrationError

pytestmark = pytest.mark.integration


def test_repository_migrations_are_well_formed() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == "0001"


def test_applies_once_then_is_a_no_op(scratch_db: str) -> None:
    first = migrate(scratch_db)
    assert first == [m.version for m in load_migrations()]
    assert migrate(scratch_db) == []
    with psycopg.connect(scratch_db) as conn:
        rows = conn.execute("SELECT version, sha256 FROM fenlei_migrations ORDER BY 1").fetchall()
    assert rows == [(m.version, m.sha256) for m in load_migrations()]


def test_idempotent_functions_are_installed_and_the_old_window_function_is_gone(
    scratch_db: str,
) -> None:
    migrate(scratch_db)
    with psycopg.connect(scratch_db) as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname LIKE 'fenlei%'"
            )
        }
    assert "fenlei_in_window(time without time zone,jsonb)" not in names
    assert {
        "fenlei_local_day(timestamp with time zone,text)",
        "fenlei_in_window(timestamp with time zone,text,int4multirange)",
        "fenlei_add_drops(text[],timestamp with time zone[],text[],integer[],text[])",
    } <= names


def test_idempotent_files_are_reapplied_on_every_run(scratch_db: str, tmp_path: Path) -> None:
    idempotent = tmp_path / "idempotent"
    shutil.copytree(IDEMPOTENT_DIR, idempotent)
    migrate(scratch_db, idempotent_dir=idempotent)
    (idempotent / "99_extra.sql").write_text(
        "CREATE OR REPLACE FUNCTION fenlei_test_answer() RETURNS int"
        " LANGUAGE sql AS $$ SELECT 42 $$;"
    )
    assert migrate(scratch_db, idempotent_dir=idempotent) == []
    with psycopg.connect(scratch_db) as conn:
        assert conn.execute("SELECT fenlei_test_answer()").fetchone() == (42,)


def test_edited_applied_migration_is_an_error(scratch_db: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    migrate(scratch_db, copy, IDEMPOTENT_DIR, frozen_file=None)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationDriftError, match=re.escape(first.name)):
        migrate(scratch_db, copy, IDEMPOTENT_DIR, frozen_file=None)


def test_failing_migration_is_reported_and_not_recorded(scratch_db: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "9999_broken.sql").write_text("CREATE TABLE broken (x nosuchtype);")
    with pytest.raises(MigrationError, match=re.escape("9999_broken.sql")):
        migrate(scratch_db, copy, IDEMPOTENT_DIR, frozen_file=None)
    with psycopg.connect(scratch_db) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM fenlei_migrations")]
        assert "9999" not in versions
        assert conn.execute("SELECT to_regclass('broken')").fetchone() == (None,)


def test_events_is_a_hypertable(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
    assert ("events",) in rows


def test_dedupe_key_rejects_a_duplicate(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO estates (id, name, households_total) VALUES ('e1', 'E', 10)")
        conn.execute("INSERT INTO rooms (estate_id, id) VALUES ('e1', 'r1')")
        (bin_key,) = conn.execute(
            "INSERT INTO bins (estate_id, room_id, id, category)"
            " VALUES ('e1', 'r1', 'b1', 'wet') RETURNING bin_key"
        ).fetchone()  # type: ignore[misc]
        insert = (
            "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g)"
            " VALUES ('2026-03-23T08:00:00+08:00', %s, 'ev-1', 'e1', 'wet', 'drop', 500)"
        )
        conn.execute(insert, (bin_key,))
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (bin_key,))
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
