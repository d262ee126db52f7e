"""Stored watermarks and lost seqs in the API: the bins routes and the figures.

The ingester's own `Watermarks` records the gaps (against the real database); the API's
answers are checked against what the test stored, computed in Python (`model`,
`missing_ranges`), and the figures' period against local days picked by hand.
"""

from __future__ import annotations

import csv as csv_module
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from ingest.settings import IngestSettings
from ingest.watermark import Watermarks
from tests.api.conftest import make_token
from tests.fix_seq import Recorder, missing_ranges, model, store

pytestmark = pytest.mark.integration

LONG_AGO = timedelta(hours=1)
# b1: three gaps; b2: in order; b3: never sent a seq.
STORED = {
    "b1": {1, 2, 3, 5, 6, 9, 10, 11, 20},
    "b2": set(range(1, 8)),
}


@pytest.fixture
def estate(client: TestClient, admin: dict[str, str], db_url: str) -> dict[str, int]:
    """Estate `jjq` (Asia/Shanghai), room r1 with b1..b3, the seqs of STORED stored an
    hour ago and their gaps recorded lost; then b1's seq 7 arrives late."""
    for path, body in [
        ("/api/v1/estates/jjq", {"name": "JJQ", "households_total": 3}),
        ("/api/v1/estates/jjq/rooms/r1", None),
        ("/api/v1/estates/jjq/rooms/r1/bins/b1", {"category": "wet"}),
        ("/api/v1/estates/jjq/rooms/r1/bins/b2", {"category": "dry"}),
        ("/api/v1/estates/jjq/rooms/r1/bins/b3", {"category": "dry"}),
    ]:
        assert client.put(path, headers=admin, json=body).status_code == 201
    marks = Watermarks(IngestSettings(database_url=db_url, seq_gap_timeout_s=60), Recorder())
    with psycopg.connect(db_url) as conn:
        keys: dict[str, int] = dict(conn.execute("SELECT id, bin_key FROM bins").fetchall())
        for bin_id, seqs in STORED.items():
            store(conn, keys[bin_id], sorted(seqs), received_ago=LONG_AGO)
        marks.after_commit(conn, {keys[b] for b in STORED})
        marks.tick(conn)  # the first tick works at once
        store(conn, keys["b1"], [7])
        marks.after_commit(conn, {keys["b1"]})
    return keys


def test_bins_show_watermark_and_lost_seqs(
    client: TestClient, admin: dict[str, str], estate: dict[str, int]
) -> None:
    ranges = missing_ranges(STORED["b1"])
    assert ranges == [(4, 4), (7, 8), (12, 19)]
    lost = [s for a, b in ranges for s in range(a, b + 1)]
    want: dict[str, dict[str, Any]] = {
        "b1": {
            "seq_watermark": model(STORED["b1"], lost),
            "seq_gap_open_since": None,
            "seq_lost": len(lost),
            "seq_filled_late": 1,
            "ranges": list(reversed(ranges)),
        },
        "b2": {
            "seq_watermark": model(STORED["b2"]),
            "seq_gap_open_since": None,
            "seq_lost": 0,
            "seq_filled_late": 0,
            "ranges": [],
        },
        "b3": {
            "seq_watermark": None,
            "seq_gap_open_since": None,
            "seq_lost": 0,
            "seq_filled_late": 0,
            "ranges": [],
        },
    }
    assert want["b1"]["seq_watermark"] == 20

    def shown(bin_json: dict[str, Any]) -> dict[str, Any]:
        gaps = bin_json["seq_gaps"]
        assert isinstance(gaps, list)
        return {
            **{k: bin_json[k] for k in want["b1"] if k != "ranges"},
            "ranges": [(g["from_seq"], g["to_seq"]) for g in gaps],
        }

    listed = client.get("/api/v1/estates/jjq/bins", headers=admin)
    assert listed.status_code == 200, listed.text
    assert {b["id"]: shown(b) for b in listed.json()} == want
    for bin_id, expected in want.items():
        one = client.get(f"/api/v1/estates/jjq/rooms/r1/bins/{bin_id}", headers=admin)
        assert one.status_code == 200, one.text
        assert shown(one.json()) == expected
    b1 = client.get("/api/v1/estates/jjq/rooms/r1/bins/b1", headers=admin).json()
    by_from = {g["from_seq"]: g for g in b1["seq_gaps"]}
    assert by_from[7]["filled_late"] == 1 and by_from[4]["filled_late"] == 0
    for g in b1["seq_gaps"]:
        opened = datetime.fromisoformat(g["opened_at"])
        recorded = datetime.fromisoformat(g["recorded_at"])
        assert opened < recorded - timedelta(minutes=50), g  # open since about an hour


def test_an_open_gap_shows_since_when(
    client: TestClient, admin: dict[str, str], db_url: str, estate: dict[str, int]
) -> None:
    marks = Watermarks(IngestSettings(database_url=db_url, seq_gap_timeout_s=600), Recorder())
    with psycopg.connect(db_url) as conn:
        store(conn, estate["b2"], [9])
        marks.after_commit(conn, {estate["b2"]})
    b2 = client.get("/api/v1/estates/jjq/rooms/r1/bins/b2", headers=admin).json()
    assert b2["seq_watermark"] == 7 and b2["seq_lost"] == 0
    since = datetime.fromisoformat(b2["seq_gap_open_since"])
    assert abs(datetime.now(UTC) - since) < timedelta(minutes=1)


def test_recent_gaps_are_bounded(
    client: TestClient, admin: dict[str, str], db_url: str, estate: dict[str, int]
) -> None:
    marks = Watermarks(IngestSettings(database_url=db_url, seq_gap_timeout_s=60), Recorder())
    seqs = list(range(21, 61, 2))  # 20 more one-seq gaps above b1's 20
    with psycopg.connect(db_url) as conn:
        store(conn, estate["b1"], seqs, received_ago=LONG_AGO)
        marks.after_commit(conn, {estate["b1"]})
        marks.tick(conn)
    b1 = client.get("/api/v1/estates/jjq/rooms/r1/bins/b1", headers=admin).json()
    assert b1["seq_watermark"] == 59
    assert b1["seq_lost"] == 11 + 19
    assert [g["from_seq"] for g in b1["seq_gaps"]] == [58, 56, 54, 52, 50]


def test_metrics_count_lost_seqs_by_the_local_day_they_were_recorded(
    client: TestClient, db_url: str, estate: dict[str, int]
) -> None:
    """b1's three gaps (1 + 2 + 8 seqs, one of them filled late) are moved to chosen
    instants: 16:30 UTC on 22 March is 00:30 on the 23rd in Shanghai."""
    viewer = make_token(db_url, Role.viewer)
    when = {
        4: datetime(2026, 3, 22, 15, 59, tzinfo=UTC),  # 23:59 on the 22nd, local
        7: datetime(2026, 3, 22, 16, 30, tzinfo=UTC),  # 00:30 on the 23rd
        12: datetime(2026, 3, 24, 15, 59, 59, tzinfo=UTC),  # 23:59:59 on the 24th
    }
    with psycopg.connect(db_url) as conn:
        for from_seq, at in when.items():
            conn.execute("UPDATE seq_gaps SET recorded_at = %s WHERE from_seq = %s", (at, from_seq))

    def figures(start: date, end: date) -> tuple[int, int]:
        r = client.get(
            "/api/v1/estates/jjq/metrics",
            params={"from": start.isoformat(), "to": end.isoformat()},
            headers=viewer,
        )
        assert r.status_code == 200, r.text
        return r.json()["seqs_lost"], r.json()["seqs_filled_late"]

    assert figures(date(2026, 3, 22), date(2026, 3, 22)) == (1, 0)
    assert figures(date(2026, 3, 23), date(2026, 3, 23)) == (2, 1)
    assert figures(date(2026, 3, 23), date(2026, 3, 24)) == (2 + 8, 1)
    assert figures(date(2026, 3, 25), date(2026, 3, 31)) == (0, 0)
    assert figures(date(2026, 1, 1), date(2026, 12, 31)) == (11, 1)
    multi = client.get(
        "/api/v1/metrics", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=viewer
    )
    assert multi.status_code == 200, multi.text
    body = multi.json()
    assert [e["seqs_lost"] for e in body["estates"]] == [11]
    assert body["totals"]["seqs_lost"] == 11 and body["totals"]["seqs_filled_late"] == 1
    csv = client.get(
        "/api/v1/estates/jjq/metrics",
        params={"from": "2026-03-23", "to": "2026-03-23", "format": "csv"},
        headers=viewer,
    )
    assert csv.status_code == 200, csv.text
    (fields,) = list(csv_module.DictReader(io.StringIO(csv.text)))
    assert (fields["seqs_lost"], fields["seqs_filled_late"]) == ("2", "1")


def test_openapi_documents_the_new_fields(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["SeqGap"]["properties"]["from_seq"]["type"] == "integer"
    for model_name in ("Bin", "BinState"):
        props = schemas[model_name]["properties"]
        assert props["seq_gaps"]["items"] == {"$ref": "#/components/schemas/SeqGap"}
        assert "stored watermark" in props["seq_watermark"]["description"]
    for model_name in ("EstateMetrics", "TotalMetrics"):
        props = schemas[model_name]["properties"]
        assert props["seqs_lost"]["type"] == "integer"
        assert "recorded in [from, to]" in props["seqs_lost"]["description"]
