"""The quarantine route counts what the cap dropped, not only the rows it kept."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest.contract import Reason, Rejection
from ingest.quarantine import store

pytestmark = pytest.mark.integration
TOPIC = "fenlei/v1/jjq/r1/b1/events"


def test_rejections_past_the_cap_are_counted_as_dropped(
    client: TestClient, admin: dict[str, str], db_url: str
) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO estates (id, name, households_total) VALUES ('jjq', 'J', 3)")
        with conn.transaction():
            store(
                conn,
                [Rejection(TOPIC, Reason.bad_json, f"garbage {i}", b"{") for i in range(25)],
                cap=10,
            )
    body = client.get("/api/v1/rejected?estate=jjq", headers=admin).json()
    assert body["counts_by_reason"] == {"bad_json": 10}
    assert body["dropped_by_reason"] == {"bad_json": 15}
    assert len(body["items"]) == 10
