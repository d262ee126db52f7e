"""Migration 0013 on a database the old key (bin, event_id, ts) let duplicates into."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from deploy.migrate import migrate
from tests.fix_scratch import migrate_before

pytestmark = pytest.mark.integration
BASE = datetime(2026, 3, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


def test_later_copies_are_quarantined_and_the_rollups_rebuilt(
    scratch_db: str, tmp_path: Path
) -> None:
    migrate_before(scratch_db, "0013", tmp_path)

    # What the old ingester did: each copy stored and counted, the resend an hour later.
    events = [
        (f"ev-{i}", BASE + timedelta(minutes=10 * i), 100 + i, BASE + timedelta(hours=1))
        for i in range(12)
    ]
    resends = [
        (e, ts + timedelta(hours=1), w, rec + timedelta(hours=1)) for e, ts, w, rec in events[:5]
    ]
    with psycopg.connect(scratch_db) as conn:
        conn.execute("INSERT INTO estates (id, name, households_total) VALUES ('e1', 'E', 10)")
        conn.execute("INSERT INTO rooms (estate_id, id) VALUES ('e1', 'r1')")
        (bin_key,) = conn.execute(
            "INSERT INTO bins (estate_id, room_id, id, category) VALUES ('e1', 'r1', 'b1', 'wet')"
            " RETURNING bin_key"
        ).fetchone()  # type: ignore[misc]
        for event_id, ts, weight, received in events + resends:
            conn.execute(
                "INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,"
                " received_at) VALUES (%s, %s, %s, 'e1', 'wet', 'drop', %s, %s)",
                (ts, bin_key, event_id, weight, received),
            )
            conn.execute(
                "SELECT fenlei_add_drops(ARRAY['e1'], ARRAY[%s::timestamptz], ARRAY['wet'],"
                " ARRAY[%s::int], ARRAY[NULL::text])",
                (ts, weight),
            )
    assert "0013" in migrate(scratch_db)

    with psycopg.connect(scratch_db) as conn:
        kept = conn.execute("SELECT event_id, ts FROM events ORDER BY event_id").fetchall()
        keys = conn.execute("SELECT count(*) FROM event_keys").fetchone()
        moved = conn.execute(
            "SELECT detail, convert_from(payload, 'UTF8')::json->>'event_id' FROM rejected_messages"
            " WHERE reason = 'conflicting_duplicate' ORDER BY 2"
        ).fetchall()
        days = conn.execute(
            "SELECT day, drops, weight_g FROM daily_category ORDER BY day"
        ).fetchall()
    assert sorted(kept) == sorted((e, ts) for e, ts, _, _ in events)
    assert keys == (12,)
    assert sorted(e for _, e in moved) == sorted(e for e, _, _, _ in resends)
    frame = pd.DataFrame(events, columns=["event_id", "ts", "weight_g", "received"])
    frame["day"] = frame["ts"].dt.tz_convert("Asia/Shanghai").dt.date
    expected = frame.groupby("day").agg(drops=("event_id", "size"), weight_g=("weight_g", "sum"))
    got = pd.DataFrame(days, columns=["day", "drops", "weight_g"]).set_index("day")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
