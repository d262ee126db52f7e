"""Migration 0024 on a database an older release left: rollups counted without bitmaps.

The migrate that applies 0024 builds the bitmaps of the existing estates (from the
rollups and the registry, in deploy/sql/idempotent/02_rollups.sql); the figures by the
bitmaps then equal pandas over the same drops and spells.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from api.metrics import repository
from deploy.migrate import migrate
from tests.city.test_bitmaps import _add, _drops, _expected, _got, _periods, _registry
from tests.fix_scratch import migrate_before

pytestmark = pytest.mark.integration


def test_migration_builds_the_bitmaps_of_existing_estates(scratch_db: str, tmp_path: Path) -> None:
    rng = random.Random(24)
    migrate_before(scratch_db, "0024", tmp_path)
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        spells = _registry(conn, rng)
        drops = _drops(rng, 3000)
        for part in range(3):
            _add(conn, drops.iloc[part::3])
    assert "0024" in migrate(scratch_db)
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM household_bits_backfill").fetchone() == (0,)
        for start, end in _periods(rng, 15):
            want = _expected(drops, spells, start, end)
            assert _got(conn, repository.ESTATES_BITS_SQL, start, end) == want, (start, end)
        # And the ingester keeps them from there.
        more = _drops(rng, 800)
        _add(conn, more)
        drops = pd.concat([drops, more], ignore_index=True)
        for start, end in _periods(rng, 10):
            want = _expected(drops, spells, start, end)
            assert _got(conn, repository.ESTATES_BITS_SQL, start, end) == want, (start, end)
