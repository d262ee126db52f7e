"""Every figure equals an independent pandas computation over the events we published.

The events go through the real broker and the real ingester; pandas sees only the list
of events as published (with their duplicates), never the database.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ingest.contract import encode_payload, events_topic
from simulators.broker import Broker
from simulators.publisher import Publisher
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess

pytestmark = pytest.mark.integration

START, END = date(2026, 3, 23), date(2026, 3, 29)
CATEGORIES = ("dry", "wet", "recyclable", "hazardous", "construction")
WINDOWS = (("07:00", "09:00"), ("18:00", "20:00"))


@dataclass(frozen=True)
class EstateSpec:
    id: str
    timezone: str
    households_total: int
    # id → (building, group, enrolled_on, left_on)
    households: dict[str, tuple[str, str | None, date | None, date | None]]


D = date
JJQ = EstateSpec(
    "jjq",
    "Asia/Shanghai",
    20,
    {
        "h01": ("1", "1-1", D(2026, 3, 1), None),
        "h02": ("1", "1-1", D(2026, 3, 1), None),
        "h03": ("1", "1-2", D(2026, 3, 1), None),
        "h04": ("1", "1-2", D(2026, 3, 23), None),  # enrolled on `from`
        "h05": ("2", "2-1", D(2026, 3, 1), None),
        "h06": ("2", "2-1", D(2026, 3, 1), None),
        "h07": ("2", "2-1", D(2026, 3, 25), None),  # enrolled mid-period
        "h08": ("2", None, D(2026, 4, 2), None),  # enrolled after `to`
        "h09": ("1", "1-1", D(2026, 3, 1), D(2026, 3, 27)),  # left mid-period
        "h10": ("1", "1-2", D(2026, 3, 1), D(2026, 3, 30)),  # leaves after `to`
        "h11": ("2", None, None, None),  # registered, never enrolled
        "h12": ("2", "2-1", D(2026, 3, 1), None),  # enrolled, never drops
        "h13": ("1", "1-1", D(2026, 3, 29), D(2026, 3, 29)),  # enrolled and left on `to`
    },
)
# A second estate in another zone: its local days are UTC days.
OYL = EstateSpec(
    "oyl",
    "UTC",
    8,
    {f"o{i}": ("A", "A-1" if i % 2 else "A-2", D(2026, 3, 1 + 3 * i), None) for i in range(1, 9)},
)


def register(client: TestClient, admin: dict[str, str], spec: EstateSpec) -> None:
    r = client.put(
        f"/api/v1/estates/{spec.id}",
        headers=admin,
        json={
            "name": spec.id.upper(),
            "timezone": spec.timezone,
            "households_total": spec.households_total,
            "drop_windows": [list(w) for w in WINDOWS],
        },
    )
    assert r.status_code == 201, r.text
    assert (
        client.put(
            f"/api/v1/estates/{spec.id}/rooms/r1", headers=admin, json={"name": "room 1"}
        ).status_code
        == 201
    )
    for c in CATEGORIES:
        r = client.put(
            f"/api/v1/estates/{spec.id}/rooms/r1/bins/b-{c}", headers=admin, json={"category": c}
        )
        assert r.status_code == 201, r.text
    body = [
        {
            "id": h,
            "building": b,
            "building_group": g,
            "enrolled_on": e.isoformat() if e else None,
            "left_on": lo.isoformat() if lo else None,
            # Registered as living there long before every period the test asks about
            # (a household belongs to a building from its effective date on).
            "effective_on": "2000-01-01",
        }
        for h, (b, g, e, lo) in spec.households.items()
    ]
    r = client.post(f"/api/v1/estates/{spec.id}/households", headers=admin, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == len(body)


def ts_text(instant: datetime, rng: random.Random) -> str:
    """The instant as RFC 3339, randomly with +08:00 or Z."""
    if rng.random() < 0.5:
        return instant.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_events(spec: EstateSpec, rng: random.Random) -> list[dict[str, Any]]:
    """Drops over the period and two days either side, the edges of both ends, fills."""
    zone = ZoneInfo(spec.timezone)
    tokens = [*spec.households, "ghost-1", None, None]  # unregistered and anonymous drops
    events: list[dict[str, Any]] = []

    def add(local: datetime, category: str, household: str | None, kind: str = "drop") -> None:
        instant = local.replace(tzinfo=zone)
        event: dict[str, Any] = {
            "bin": f"b-{category}",
            "event_id": f"e-{len(events)}",
            "ts": ts_text(instant, rng),
            "kind": kind,
        }
        if kind == "drop":
            event["weight_g"] = rng.randint(50, 4000)
            if household:
                event["household"] = household
        else:
            event["fill_pct"] = rng.randint(0, 100)
        events.append(event)

    day = START - timedelta(days=2)
    while day <= END + timedelta(days=2):
        for _ in range(rng.randint(15, 30)):
            minute = rng.choice(
                [
                    rng.randrange(24 * 60),
                    7 * 60 + rng.randrange(120),
                    18 * 60 + rng.randrange(120),
                    9 * 60,
                    20 * 60 - 1,
                ]
            )
            local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
            add(local, rng.choice(CATEGORIES), rng.choice(tokens))
        add(
            datetime.combine(day, datetime.min.time()) + timedelta(hours=12),
            "dry",
            None,
            kind="fill",
        )
        day += timedelta(days=1)
    for edge in (START, END + timedelta(days=1)):  # either side of local midnight
        midnight = datetime.combine(edge, datetime.min.time())
        for household in ("h01", "h07", "h10", None):
            add(midnight - timedelta(seconds=1), "wet", household)
            add(midnight, "dry", household)
    return events


def publish(broker: Broker, estate: str, events: list[dict[str, Any]], rng: random.Random) -> None:
    """Publish per bin in arrays, then redeliver a tenth of them one by one."""
    with Publisher(broker, f"test-dev-{uuid.uuid4().hex[:8]}") as pub:
        by_bin: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            by_bin.setdefault(e["bin"], []).append({k: v for k, v in e.items() if k != "bin"})
        for bin_id, items in by_bin.items():
            for i in range(0, len(items), 50):
                pub.publish(events_topic(estate, "r1", bin_id), encode_payload(items[i : i + 50]))
        for e in rng.sample(events, len(events) // 10):
            pub.publish(
                events_topic(estate, "r1", e["bin"]),
                encode_payload({k: v for k, v in e.items() if k != "bin"}),
            )
        pub.flush()


# -- the independent computation ----------------------------------------------------------


def frame(spec: EstateSpec, events: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(events)
    df = df[df["kind"] == "drop"].drop_duplicates(subset=["bin", "event_id"])
    df["category"] = df["bin"].str.removeprefix("b-")
    local = pd.to_datetime(df["ts"], utc=True, format="ISO8601").dt.tz_convert(spec.timezone)
    df["day"] = local.dt.date
    clock = local.dt.strftime("%H:%M:%S")
    df["in_window"] = False
    for lo, hi in WINDOWS:
        df["in_window"] |= (clock >= f"{lo}:00") & (clock < f"{hi}:00")
    if "household" not in df:
        df["household"] = None
    return df[(df["day"] >= START) & (df["day"] <= END)]


def enrolled(spec: EstateSpec, day: date) -> set[str]:
    return {
        h
        for h, (_, _, e, lo) in spec.households.items()
        if e is not None and e <= day and (lo is None or lo > day)
    }


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def expected_counts(spec: EstateSpec, df: pd.DataFrame) -> dict[str, Any]:
    on_to = enrolled(spec, END)
    active = on_to & set(df["household"].dropna())
    g = {c: int(df.loc[df["category"] == c, "weight_g"].sum()) for c in CATEGORIES}
    return {
        "households_total": spec.households_total,
        "households_enrolled": len(on_to),
        "households_active": len(active),
        "drops": len(df),
        "in_window_drops": int(df["in_window"].sum()),
        "g": g,
    }


def figures(c: dict[str, Any]) -> dict[str, Any]:
    g = c["g"]
    household_g = g["dry"] + g["wet"] + g["recyclable"] + g["hazardous"]
    return {
        "coverage": ratio(c["households_enrolled"], c["households_total"]),
        "participation_rate": ratio(c["households_active"], c["households_enrolled"]),
        "wet_share": ratio(g["wet"], household_g),
        "wet_share_of_wet_dry": ratio(g["wet"], g["wet"] + g["dry"]),
        "households_total": c["households_total"],
        "households_enrolled": c["households_enrolled"],
        "households_active": c["households_active"],
        "drops": c["drops"],
        "kg": {k: v / 1000 for k, v in g.items()},
        "in_window_share": ratio(c["in_window_drops"], c["drops"]),
    }


def assert_same(got: Any, want: Any, path: str = "") -> None:
    """Integers and None exactly; floats to 1e-12 (and so to 4 decimal places)."""
    if isinstance(want, dict):
        assert set(got) >= set(want), path
        for k in want:
            assert_same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12), path
        assert round(got, 4) == round(want, 4), path
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


# -- the test -----------------------------------------------------------------------------


@pytest.fixture
def published(
    client: TestClient,
    admin: dict[str, str],
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(20260323)
    specs = {"jjq": JJQ, "oyl": OYL}
    for spec in specs.values():
        register(client, admin, spec)
    ingest_factory().start()
    key = f"canary-{uuid.uuid4().hex[:8]}"

    def canary() -> int:  # republished until stored: the ingester is subscribed
        with Publisher(broker, f"test-canary-{uuid.uuid4().hex[:8]}") as pub:
            pub.publish(
                events_topic("jjq", "r1", "b-dry"),
                encode_payload(
                    {"event_id": key, "ts": "2026-03-01T12:00:00Z", "kind": "fill", "fill_pct": 5}
                ),
            )
            pub.flush()
        return int(str(scalar(db_url, "SELECT count(*) FROM events WHERE event_id = %s", (key,))))

    wait_for(canary, lambda n: n == 1, 60, interval=0.5, what="the canary")
    events = {e: make_events(spec, rng) for e, spec in specs.items()}
    for estate, evs in events.items():
        publish(broker, estate, evs, rng)
    unique = 1 + sum(len(evs) for evs in events.values())
    wait_for(
        lambda: scalar(db_url, "SELECT count(*) FROM events"),
        lambda n: n == unique,
        60,
        what=f"{unique} stored events",
    )
    return events


def test_figures_equal_pandas(
    published: dict[str, list[dict[str, Any]]], client: TestClient, db_url: str
) -> None:
    viewer = make_viewer(db_url)
    specs = {"jjq": JJQ, "oyl": OYL}
    frames = {e: frame(specs[e], evs) for e, evs in published.items()}
    period = {"from": START.isoformat(), "to": END.isoformat()}
    counts = {}
    for estate, spec in specs.items():
        df = frames[estate]
        counts[estate] = expected_counts(spec, df)
        want = {"estate": estate, **period, **figures(counts[estate])}
        r = client.get(f"/api/v1/estates/{estate}/metrics", params=period, headers=viewer)
        assert r.status_code == 200, r.text
        assert_same(r.json(), want, estate)

        # /daily: every local day, enrolled that day, active among them.
        r = client.get(f"/api/v1/estates/{estate}/daily", params=period, headers=viewer)
        assert r.status_code == 200, r.text
        days = r.json()["days"]
        assert [d["day"] for d in days] == [
            (START + timedelta(days=i)).isoformat() for i in range((END - START).days + 1)
        ]
        for got in days:
            day = date.fromisoformat(got["day"])
            one = df[df["day"] == day]
            on_day = enrolled(spec, day)
            active = on_day & set(one["household"].dropna())
            g = {c: int(one.loc[one["category"] == c, "weight_g"].sum()) for c in CATEGORIES}
            assert_same(
                got,
                {
                    "households_enrolled": len(on_day),
                    "households_active": len(active),
                    "participation_rate": ratio(len(active), len(on_day)),
                    "drops": len(one),
                    "identified_drops": int(one["household"].notna().sum()),
                    "kg": {k: v / 1000 for k, v in g.items()},
                    "wet_share": ratio(
                        g["wet"], g["dry"] + g["wet"] + g["recyclable"] + g["hazardous"]
                    ),
                    "in_window_share": ratio(int(one["in_window"].sum()), len(one)),
                },
                f"{estate}/{day}",
            )

        # /buildings/metrics: registered households' identified drops.
        r = client.get(f"/api/v1/estates/{estate}/buildings/metrics", params=period, headers=viewer)
        assert r.status_code == 200, r.text
        reg = pd.DataFrame(
            [(h, b, g) for h, (b, g, _, _) in spec.households.items()],
            columns=["household", "building", "group"],
        )
        joined = df.merge(reg, on="household")
        on_to = enrolled(spec, END)
        buildings = r.json()["buildings"]
        assert [b["building"] for b in buildings] == sorted(reg["building"].unique())
        for b in buildings:
            units = [
                (
                    b,
                    reg[reg["building"] == b["building"]],
                    joined[joined["building"] == b["building"]],
                )
            ]
            for grp in b["groups"]:
                name = grp["building_group"]
                sel = reg["group"].isna() if name is None else reg["group"] == name
                jsel = joined["group"].isna() if name is None else joined["group"] == name
                units.append(
                    (
                        grp,
                        reg[(reg["building"] == b["building"]) & sel],
                        joined[(joined["building"] == b["building"]) & jsel],
                    )
                )
            assert len(b["groups"]) == reg[reg["building"] == b["building"]]["group"].nunique(
                dropna=False
            )
            for got, members, drops in units:
                ids = set(members["household"])
                enrolled_here = ids & on_to
                active = enrolled_here & set(drops["household"])
                g = {
                    c: int(drops.loc[drops["category"] == c, "weight_g"].sum()) for c in CATEGORIES
                }
                assert_same(
                    got,
                    {
                        "households_registered": len(ids),
                        "households_enrolled": len(enrolled_here),
                        "households_active": len(active),
                        "participation_rate": ratio(len(active), len(enrolled_here)),
                        "drops": len(drops),
                        "kg": {k: v / 1000 for k, v in g.items()},
                        "wet_share": ratio(
                            g["wet"], g["dry"] + g["wet"] + g["recyclable"] + g["hazardous"]
                        ),
                    },
                    f"{estate}/{b['building']}",
                )

    # Several estates side by side; totals are ratios of the summed counts.
    r = client.get(
        "/api/v1/metrics",
        params={**period, "estate": ["jjq", "oyl"]},
        headers=make_viewer(db_url, None),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for got in body["estates"]:
        assert_same(got, figures(counts[got["estate"]]), got["estate"])
    summed = {k: counts["jjq"][k] + counts["oyl"][k] for k in counts["jjq"] if k != "g"}
    summed["g"] = {c: counts["jjq"]["g"][c] + counts["oyl"]["g"][c] for c in CATEGORIES}
    assert_same(body["totals"], figures(summed), "totals")

    # CSV carries the same numbers.
    r = client.get(
        "/api/v1/estates/jjq/metrics", params={**period, "format": "csv"}, headers=viewer
    )
    assert r.headers["content-type"].startswith("text/csv")
    header, row = r.text.strip().splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert int(values["drops"]) == counts["jjq"]["drops"]
    assert float(values["kg_wet"]) == counts["jjq"]["g"]["wet"] / 1000


def make_viewer(db_url: str, estates: list[str] | None = ("jjq", "oyl")) -> dict[str, str]:  # type: ignore[assignment]
    from api.auth.tokens import Role
    from tests.api.conftest import make_token

    return make_token(db_url, Role.viewer, list(estates) if estates else None)
