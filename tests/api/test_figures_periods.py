"""The figures over periods that cut months: edges inside a month, whole months, a year.

Participation comes from household_months' day bitmaps (a narrower mask in the edge
months) and per-household grams from whole months plus the edge months' days, so the
periods here start and end on either side of month boundaries. Every figure is compared
with pandas over the published events, as in `test_figures`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ingest.contract import encode_payload, events_topic
from simulators.broker import Broker
from simulators.publisher import Publisher
from tests.api.test_figures import (
    CATEGORIES,
    EstateSpec,
    assert_same,
    enrolled,
    figures,
    make_viewer,
    publish,
    ratio,
    register,
    ts_text,
)
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess

pytestmark = pytest.mark.integration

D = date
FIRST, LAST = D(2026, 1, 27), D(2026, 3, 4)  # days with drops
EDGES = EstateSpec(
    "edges",
    "Asia/Shanghai",
    12,
    {
        "e01": ("1", "1-1", D(2025, 12, 1), None),
        "e02": ("1", "1-1", D(2026, 1, 31), None),  # enrolled on a month's last day
        "e03": ("1", "1-2", D(2026, 2, 1), D(2026, 3, 1)),  # one February, left on Mar 1
        "e04": ("2", "2-1", D(2026, 2, 14), None),
        "e05": ("2", None, D(2025, 12, 1), D(2026, 2, 28)),  # left on February's last day
        "e06": ("2", "2-1", D(2026, 3, 2), None),
        "e07": ("1", "1-2", D(2025, 12, 1), None),  # drops only on Jan 31 / Mar 1
    },
)
PERIODS = [
    (D(2026, 1, 30), D(2026, 2, 2)),  # across one month boundary
    (D(2026, 2, 1), D(2026, 2, 28)),  # exactly one whole month
    (D(2026, 1, 29), D(2026, 3, 2)),  # edge, whole month, edge
    (D(2026, 2, 10), D(2026, 2, 20)),  # inside one month
    (D(2026, 1, 31), D(2026, 3, 1)),  # one day of each edge month
    (D(2026, 1, 1), D(2026, 12, 31)),  # a whole year
    (D(2025, 12, 15), D(2026, 1, 26)),  # before any drop
]


def make_events(rng: random.Random) -> list[dict[str, Any]]:
    """A few drops a day, more around month boundaries, some just either side of midnight."""
    zone = ZoneInfo(EDGES.timezone)
    tokens = [*EDGES.households, "ghost", None]
    events: list[dict[str, Any]] = []

    def add(local: datetime, category: str, household: str | None) -> None:
        event: dict[str, Any] = {
            "bin": f"b-{category}",
            "event_id": f"p-{len(events)}",
            "ts": ts_text(local.replace(tzinfo=zone), rng),
            "kind": "drop",
            "weight_g": rng.randint(50, 4000),
        }
        if household:
            event["household"] = household
        events.append(event)

    day = FIRST
    while day <= LAST:
        midnight = datetime.combine(day, datetime.min.time())
        for _ in range(rng.randint(2, 6)):
            household = rng.choice(tokens)
            if household != "e07":
                add(
                    midnight + timedelta(minutes=rng.randrange(24 * 60)),
                    rng.choice(CATEGORIES),
                    household,
                )
        if day.day == 1 or (day + timedelta(days=1)).day == 1:  # the days at month edges
            for household in ("e02", "e03", "e05", "e07", None):
                add(midnight, "wet", household)
                add(midnight + timedelta(hours=24) - timedelta(seconds=1), "dry", household)
        day += timedelta(days=1)
    return events


def frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(events).drop_duplicates(subset=["bin", "event_id"])
    df["category"] = df["bin"].str.removeprefix("b-")
    local = pd.to_datetime(df["ts"], utc=True, format="ISO8601").dt.tz_convert(EDGES.timezone)
    df["day"] = local.dt.date
    return df


def grams(df: pd.DataFrame) -> dict[str, int]:
    return {c: int(df.loc[df["category"] == c, "weight_g"].sum()) for c in CATEGORIES}


@pytest.fixture
def published(
    client: TestClient,
    admin: dict[str, str],
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> list[dict[str, Any]]:
    rng = random.Random(20260131)
    register(client, admin, EDGES)
    ingest_factory().start()
    key = f"canary-{uuid.uuid4().hex[:8]}"

    def canary() -> int:
        with Publisher(broker, f"test-canary-{uuid.uuid4().hex[:8]}") as pub:
            pub.publish(
                events_topic(EDGES.id, "r1", "b-dry"),
                encode_payload(
                    {"event_id": key, "ts": "2026-01-01T12:00:00Z", "kind": "fill", "fill_pct": 5}
                ),
            )
            pub.flush()
        return int(str(scalar(db_url, "SELECT count(*) FROM events WHERE event_id = %s", (key,))))

    wait_for(canary, lambda n: n == 1, 60, interval=0.5, what="the canary")
    events = make_events(rng)
    publish(broker, EDGES.id, events, rng)
    wait_for(
        lambda: scalar(db_url, "SELECT count(*) FROM events"),
        lambda n: n == len(events) + 1,
        60,
        what=f"{len(events) + 1} stored events",
    )
    return events


def test_figures_over_periods_cutting_months(
    published: list[dict[str, Any]], client: TestClient, db_url: str
) -> None:
    viewer = make_viewer(db_url, ["edges"])
    everything = frame(published)
    reg = pd.DataFrame(
        [(h, b, g) for h, (b, g, _, _) in EDGES.households.items()],
        columns=["household", "building", "group"],
    )
    for start, end in PERIODS:
        where = f"{start}..{end}"
        period = {"from": start.isoformat(), "to": end.isoformat()}
        df = everything[(everything["day"] >= start) & (everything["day"] <= end)]
        on_to = enrolled(EDGES, end)
        g = grams(df)
        want = figures(
            {
                "households_total": EDGES.households_total,
                "households_enrolled": len(on_to),
                "households_active": len(on_to & set(df["household"].dropna())),
                "drops": len(df),
                "in_window_drops": 0,
                "g": g,
            }
        )
        del want["in_window_share"]
        r = client.get("/api/v1/estates/edges/metrics", params=period, headers=viewer)
        assert r.status_code == 200, r.text
        assert_same(r.json(), want, where)

        r = client.get("/api/v1/estates/edges/daily", params=period, headers=viewer)
        assert r.status_code == 200, r.text
        for got in r.json()["days"]:
            day = date.fromisoformat(got["day"])
            on_day = enrolled(EDGES, day)
            active = on_day & set(df.loc[df["day"] == day, "household"].dropna())
            assert_same(
                got,
                {
                    "households_enrolled": len(on_day),
                    "households_active": len(active),
                    "participation_rate": ratio(len(active), len(on_day)),
                },
                f"{where}/{day}",
            )

        r = client.get("/api/v1/estates/edges/buildings/metrics", params=period, headers=viewer)
        assert r.status_code == 200, r.text
        joined = df.merge(reg, on="household")
        for b in r.json()["buildings"]:
            members = reg[reg["building"] == b["building"]]
            drops = joined[joined["building"] == b["building"]]
            here = set(members["household"]) & on_to
            active = here & set(drops["household"])
            assert_same(
                b,
                {
                    "households_registered": len(members),
                    "households_enrolled": len(here),
                    "households_active": len(active),
                    "drops": len(drops),
                    "kg": {k: v / 1000 for k, v in grams(drops).items()},
                },
                f"{where}/{b['building']}",
            )
            for grp in b["groups"]:
                name = grp["building_group"]
                sel = members["group"].isna() if name is None else members["group"] == name
                ids = set(members.loc[sel, "household"])
                mine = drops[drops["household"].isin(ids)]
                assert_same(
                    grp,
                    {
                        "households_enrolled": len(ids & on_to),
                        "households_active": len(ids & on_to & set(mine["household"])),
                        "drops": len(mine),
                        "kg": {k: v / 1000 for k, v in grams(mine).items()},
                    },
                    f"{where}/{b['building']}/{name}",
                )
