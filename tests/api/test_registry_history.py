"""The registry with history (issue #13): figures by where households belonged on `to`.

Events go through the real broker and the real ingester; the expected figures come from
pandas over the events as published and an independent model of the registry's history
(`history_model`), replaying the same rows per the contract's rules. The figures of a
period that ended before a change are compared byte for byte before and after the change
is recorded; those of later periods must count the household where it now belongs.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth.tokens import Role
from ingest.contract import encode_payload, events_topic
from simulators.broker import Broker
from simulators.publisher import Publisher
from tests.api.conftest import make_token
from tests.api.history_model import (
    CATEGORIES,
    Household,
    Membership,
    Registry,
    Rejected,
    Spell,
    buildings_expected,
    daily_expected,
    drops_frame,
    estate_expected,
)
from tests.api.test_figures import WINDOWS, assert_same, publish, ts_text
from tests.fix_data import scalar, wait_for
from tests.fix_ingest import IngestProcess
from tests.fix_services import Services

pytestmark = pytest.mark.integration

D = date
TZ = "Asia/Shanghai"
SINCE = D(2025, 12, 1)  # the households' first membership and enrolment
FIRST, LAST = D(2026, 1, 1), D(2026, 3, 31)  # days with drops
MID = D(2026, 2, 15)  # a change in the middle of month 2
HOUSEHOLDS_TOTAL = 40

# id → (building, group, enrolled_on, chance of a drop on a day); registered from SINCE
# (the first membership reaches back to the enrolment) unless FROM says otherwise.
BASE: dict[str, tuple[str, str | None, date | None, float]] = {
    "a01": ("3", "3-1", SINCE, 0.4),
    "a02": ("3", "3-1", SINCE, 0.3),
    "a03": ("3", "3-2", SINCE, 0.4),
    "a04": ("3", "3-2", SINCE, 0.2),
    "a05": ("3", None, SINCE, 0.3),
    "b01": ("5", "5-1", SINCE, 0.4),
    "b02": ("5", "5-1", SINCE, 0.3),
    "b03": ("5", "5-2", SINCE, 0.4),
    "c01": ("8", "8-1", SINCE, 0.4),
    "mv": ("3", "3-1", SINCE, 0.8),  # moves 3 → 5
    "gp": ("3", "3-1", SINCE, 0.8),  # changes building group only
    "lv": ("5", "5-2", SINCE, 0.8),  # leaves and re-enrols
    "lv2": ("8", "8-1", SINCE, 0.7),  # leaves and re-enrols the same day
    "q1": ("5", "5-1", SINCE, 0.0),  # enrolled, never drops
    "n1": ("8", "8-1", None, 0.3),  # registered, never enrolled, drops all the same
    "late": ("8", None, D(2026, 2, 20), 0.5),  # enrolled after the change
    "nw": ("5", "5-2", D(2026, 2, 5), 0.6),  # registered on Feb 5: its token drops before
}
FROM = {"nw": D(2026, 2, 5)}


def iso(day: date) -> str:
    return day.isoformat()


def local_today(timezone: str) -> date:
    """The estate's local date, waiting out the last seconds before its midnight so
    that a request and the model see the same day."""
    now = datetime.now(ZoneInfo(timezone))
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    left = (midnight - now).total_seconds()
    if left < 10:
        time.sleep(left + 1)
    return datetime.now(ZoneInfo(timezone)).date()


@dataclass
class Estate:
    """One test estate: its API client, the model of its registry and its events."""

    client: TestClient
    admin: dict[str, str]
    viewer: dict[str, str]
    id: str
    timezone: str = TZ
    model: Registry = field(default_factory=Registry)
    drops: pd.DataFrame | None = None

    @property
    def url(self) -> str:
        return f"/api/v1/estates/{self.id}"

    def create(self) -> None:
        r = self.client.put(
            self.url,
            headers=self.admin,
            json={
                "name": self.id.upper(),
                "timezone": self.timezone,
                "households_total": HOUSEHOLDS_TOTAL,
                "drop_windows": [list(w) for w in WINDOWS],
            },
        )
        assert r.status_code == 201, r.text
        r = self.client.put(f"{self.url}/rooms/r1", headers=self.admin, json={"name": "room 1"})
        assert r.status_code == 201, r.text
        for c in CATEGORIES:
            r = self.client.put(
                f"{self.url}/rooms/r1/bins/b-{c}", headers=self.admin, json={"category": c}
            )
            assert r.status_code == 201, r.text

    # -- the registry ---------------------------------------------------------------------

    def post(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        return self.client.post(f"{self.url}/households", headers=self.admin, json=list(rows))

    def record(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """POST rows the model accepts: 200 with the model's counts and back-dated days."""
        today = local_today(self.timezone)
        expected = self.model.apply(rows, today)
        r = self.post(rows)
        assert r.status_code == 200, f"POST {rows}: {r.status_code} {r.text}"
        body: dict[str, Any] = r.json()
        assert {k: body.get(k) for k in expected.counts()} == expected.counts(), body
        got = dict(body["backdated"])
        got["changes"] = sorted(got["changes"], key=lambda c: str(c["id"]))
        assert got == expected.backdated(), f"backdated of {rows} (today {today})"
        return body

    def history(self, household: str) -> tuple[int, bytes]:
        r = self.client.get(f"{self.url}/households/{household}/history", headers=self.admin)
        return r.status_code, r.content

    def refuse(
        self, rows: Sequence[Mapping[str, Any]], fields: Mapping[int, str]
    ) -> dict[str, Any]:
        """POST rows of which the rows at `fields`' indices contradict the history:
        422 naming each of them (and the field at fault), and nothing changes."""
        with pytest.raises(Rejected) as info:
            self.model.apply(rows, local_today(self.timezone))
        assert {e.index: e.field for e in info.value.errors} == dict(fields), "test data"
        ids = [str(r["id"]) for r in rows]
        before = {h: self.history(h) for h in ids}
        listed = self.client.get(f"{self.url}/households", headers=self.admin).content
        r = self.post(rows)
        assert r.status_code == 422, f"POST {rows}: {r.status_code} {r.text}"
        body: dict[str, Any] = r.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        errors = body.get("errors")
        assert isinstance(errors, list), body
        named: dict[int, list[object]] = {}
        for e in errors:
            loc = e["loc"]
            assert loc[0] == "body" and isinstance(loc[1], int), e
            assert isinstance(e["msg"], str) and e["msg"], e
            named.setdefault(loc[1], []).append(loc[2] if len(loc) > 2 else None)
        assert set(named) == set(fields), f"rows named {sorted(named)}, want {sorted(fields)}"
        for index, field_name in fields.items():
            assert field_name in named[index], f"row {index}: fields {named[index]}"
        for h in ids:
            assert self.history(h) == before[h], f"{h}'s history changed under a rejection"
        assert self.client.get(f"{self.url}/households", headers=self.admin).content == listed
        return body

    def check_history(self, household: str) -> None:
        status, content = self.history(household)
        assert status == 200, content
        want = self.model[household].history()
        assert contract_fields(orjson.loads(content), want) == want, household
        r = self.client.get(f"{self.url}/households/{household}", headers=self.admin)
        assert r.status_code == 200, r.text
        got = r.json()
        want = self.model[household].current()
        assert {k: got.get(k) for k in want} == want, household

    # -- the figures ----------------------------------------------------------------------

    def figures(self, start: date, end: date) -> dict[str, bytes]:
        """The three figures routes' bodies for [start, end]."""
        period = {"from": iso(start), "to": iso(end)}
        out = {}
        for route in ("buildings/metrics", "metrics", "daily"):
            r = self.client.get(f"{self.url}/{route}", params=period, headers=self.viewer)
            assert r.status_code == 200, f"{route} {period}: {r.text}"
            out[route] = r.content
        return out

    def snapshot(self, periods: Sequence[tuple[date, date]]) -> dict[tuple[date, date], Any]:
        return {p: self.figures(*p) for p in periods}

    def check_figures(self, periods: Sequence[tuple[date, date]], when: str) -> None:
        """Every figure of every period against pandas + the model."""
        assert self.drops is not None
        for start, end in periods:
            where = f"{when} {start}..{end}"
            got = {k: orjson.loads(v) for k, v in self.figures(start, end).items()}
            assert_buildings(
                got["buildings/metrics"]["buildings"],
                buildings_expected(self.model, self.drops, start, end),
                where,
            )
            want = estate_expected(self.model, self.drops, start, end, HOUSEHOLDS_TOTAL)
            assert_same(got["metrics"], want, f"{where} metrics")
            days = got["daily"]["days"]
            want_days = daily_expected(self.model, self.drops, start, end)
            assert [d["day"] for d in days] == [d["day"] for d in want_days], where
            for g, w in zip(days, want_days, strict=True):
                assert_same(g, w, f"{where} daily {w['day']}")

    def building(self, start: date, end: date, building: str) -> dict[str, Any]:
        body = orjson.loads(self.figures(start, end)["buildings/metrics"])
        found = [b for b in body["buildings"] if b["building"] == building]
        assert found, f"no building {building} in {start}..{end}"
        return dict(found[0])


def contract_fields(got: Any, want: Any) -> Any:
    """`got` cut down to the keys `want` has (an answer may carry more, e.g. recorded_at)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return {k: contract_fields(got[k], v) if k in got else "<missing>" for k, v in want.items()}
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [contract_fields(g, w) for g, w in zip(got, want, strict=True)]
    return got


def assert_buildings(got: list[dict[str, Any]], want: list[dict[str, Any]], where: str) -> None:
    """Buildings in order of id; each one's groups compared by id (the order is free)."""
    assert [b["building"] for b in got] == [b["building"] for b in want], where
    for g, w in zip(got, want, strict=True):
        here = f"{where} building {w['building']}"
        assert_same(
            {k: v for k, v in g.items() if k != "groups"},
            {k: v for k, v in w.items() if k != "groups"},
            here,
        )
        groups = {x["building_group"]: x for x in g["groups"]}
        assert len(groups) == len(g["groups"]), f"{here}: a group listed twice"
        assert set(groups) == set(w["groups"]), f"{here}: groups {sorted(map(str, groups))}"
        for name, want_group in w["groups"].items():
            assert_same(groups[name], want_group, f"{here} group {name}")


def assert_unchanged(
    before: Mapping[tuple[date, date], Mapping[str, bytes]],
    after: Mapping[tuple[date, date], Mapping[str, bytes]],
    until: date,
) -> None:
    """Periods that ended before `until` answer byte for byte as before."""
    kept = [p for p in before if p[1] < until]
    assert kept, "test data: no period ends before the change"
    for p in kept:
        for route, content in before[p].items():
            assert after[p][route] == content, (
                f"{route} {p[0]}..{p[1]} changed by a change effective {until}:\n"
                f"before {content.decode()}\nafter  {after[p][route].decode()}"
            )


# -- events and estates -------------------------------------------------------------------


def make_events(
    chances: Mapping[str, float], rng: random.Random, timezone: str = TZ
) -> list[dict[str, Any]]:
    """Each household drops on a day with its chance; anonymous and unregistered drops."""
    zone = ZoneInfo(timezone)
    events: list[dict[str, Any]] = []
    day = FIRST
    while day <= LAST:
        midnight = datetime.combine(day, datetime.min.time())
        tokens: list[str | None] = [h for h, p in chances.items() if rng.random() < p]
        tokens += [None, None] + (["ghost-1"] if day.day % 3 == 0 else [])
        for token in tokens:
            local = midnight + timedelta(minutes=rng.randrange(24 * 60))
            event: dict[str, Any] = {
                "bin": f"b-{rng.choice(CATEGORIES)}",
                "event_id": f"h13-{len(events)}",
                "ts": ts_text(local.replace(tzinfo=zone), rng),
                "kind": "drop",
                "weight_g": rng.randint(50, 4000),
            }
            if token:
                event["household"] = token
            events.append(event)
        day += timedelta(days=1)
    return events


def base_rows(only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    return [
        {
            "id": h,
            "building": b,
            "building_group": g,
            "enrolled_on": iso(e) if e else None,
            "effective_on": iso(FROM.get(h, SINCE)),
        }
        for h, (b, g, e, _) in BASE.items()
        if only is None or h in only
    ]


@pytest.fixture
def new_estate(client: TestClient, admin: dict[str, str], db_url: str) -> Callable[..., Estate]:
    def make(stem: str, timezone: str = TZ) -> Estate:
        estate_id = f"{stem}-{uuid.uuid4().hex[:6]}"
        viewer = make_token(db_url, Role.viewer, [estate_id])
        estate = Estate(client, admin, viewer, estate_id, timezone)
        estate.create()
        return estate

    return make


@pytest.fixture
def published(
    new_estate: Callable[..., Estate],
    db_url: str,
    broker: Broker,
    ingest_factory: Callable[..., IngestProcess],
    request: pytest.FixtureRequest,
) -> Estate:
    """An estate with BASE registered since SINCE and three months of drops ingested."""
    estate = new_estate(re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_"))[:20])
    created = estate.record(base_rows())
    assert created["created"] == len(BASE)
    rng = random.Random(13)
    events = make_events({h: p for h, (_, _, _, p) in BASE.items()}, rng)
    ingest_factory().start()
    key = f"canary-{uuid.uuid4().hex[:8]}"

    def canary() -> int:  # republished until stored: the ingester is subscribed
        with Publisher(broker, f"test-canary-{uuid.uuid4().hex[:8]}") as pub:
            pub.publish(
                events_topic(estate.id, "r1", "b-dry"),
                encode_payload(
                    {"event_id": key, "ts": "2025-11-01T12:00:00Z", "kind": "fill", "fill_pct": 5}
                ),
            )
            pub.flush()
        return int(str(scalar(db_url, "SELECT count(*) FROM events WHERE event_id = %s", (key,))))

    wait_for(canary, lambda n: n == 1, 60, interval=0.5, what="the canary")
    publish(broker, estate.id, events, rng)
    wait_for(
        lambda: scalar(db_url, "SELECT count(*) FROM events WHERE estate_id = %s", (estate.id,)),
        lambda n: n == len(events) + 1,
        60,
        what=f"{len(events) + 1} stored events",
    )
    estate.drops = drops_frame(events, estate.timezone)
    return estate


PERIODS = [
    (D(2026, 1, 1), D(2026, 1, 31)),  # month 1
    (D(2026, 2, 1), D(2026, 2, 14)),  # month 2 up to the eve of the change
    (D(2026, 2, 14), D(2026, 2, 14)),  # the eve alone
    (D(2026, 2, 15), D(2026, 2, 15)),  # the day of the change alone
    (D(2026, 2, 1), D(2026, 2, 28)),  # month 2, across the change
    (D(2026, 3, 1), D(2026, 3, 31)),  # month 3
    (D(2026, 1, 1), D(2026, 3, 31)),  # all three
]


# -- the tests ----------------------------------------------------------------------------


def test_a_move_mid_period_regroups_only_periods_ending_after_it(published: Estate) -> None:
    estate = published
    estate.check_figures(PERIODS, "before the move")
    before = estate.snapshot(PERIODS)
    body = estate.record(
        [{"id": "mv", "building": "5", "building_group": "5-1", "effective_on": iso(MID)}]
    )
    assert body["updated"] == 1 and body["backdated"]["earliest"] == iso(MID)
    after = estate.snapshot(PERIODS)
    assert_unchanged(before, after, MID)
    estate.check_figures(PERIODS, "after the move")
    # In its new place from the day of the move on, with its drops of the whole period.
    month2 = (D(2026, 2, 1), D(2026, 2, 28))
    now3, now5 = estate.building(*month2, "3"), estate.building(*month2, "5")
    d = estate.drops
    assert d is not None
    mine = int(((d["household"] == "mv") & (d["day"] >= month2[0]) & (d["day"] <= month2[1])).sum())
    assert mine > 0, "test data: the mover drops in month 2"
    old = {b["building"]: b for b in orjson.loads(before[month2]["buildings/metrics"])["buildings"]}
    assert now5["households_registered"] == old["5"]["households_registered"] + 1
    assert now3["households_registered"] == old["3"]["households_registered"] - 1
    assert now5["drops"] == old["5"]["drops"] + mine
    assert now3["drops"] == old["3"]["drops"] - mine
    estate.check_history("mv")


def test_a_building_group_change_regroups_only_the_groups(published: Estate) -> None:
    estate = published
    before = estate.snapshot(PERIODS)
    # To a group that did not exist before: no earlier period may list it.
    estate.record(
        [{"id": "gp", "building": "3", "building_group": "3-3", "effective_on": iso(MID)}]
    )
    after = estate.snapshot(PERIODS)
    assert_unchanged(before, after, MID)
    estate.check_figures(PERIODS, "after the group change")
    for p in PERIODS:
        # Building 3 as a whole is the same in every period; its groups differ from MID on.
        old = orjson.loads(before[p]["buildings/metrics"])["buildings"]
        new = orjson.loads(after[p]["buildings/metrics"])["buildings"]
        strip = [{k: v for k, v in b.items() if k != "groups"} for b in old]
        assert [{k: v for k, v in b.items() if k != "groups"} for b in new] == strip, p
        groups = {g["building_group"] for b in new if b["building"] == "3" for g in b["groups"]}
        assert ("3-3" in groups) == (p[1] >= MID), f"{p}: groups {groups}"
    estate.check_history("gp")


def test_leave_and_re_enrol_per_day(published: Estate) -> None:
    estate = published
    whole = [(FIRST, LAST)]
    periods = [*PERIODS, (D(2026, 1, 1), D(2026, 1, 19)), (D(2026, 1, 16), D(2026, 2, 5))]
    before = estate.snapshot(periods)
    left = D(2026, 1, 20)
    # left_on alone ends the latest spell; lv2 leaves on March 1st.
    estate.record(
        [
            {"id": "lv", "building": "5", "building_group": "5-2", "left_on": iso(left)},
            {"id": "lv2", "building": "8", "building_group": "8-1", "left_on": "2026-03-01"},
        ]
    )
    after_leave = estate.snapshot(periods)
    assert_unchanged(before, after_leave, left)
    estate.check_figures([*whole, *periods], "after leaving")

    def enrolled_per_day(snap: Mapping[str, bytes]) -> dict[str, int]:
        days = orjson.loads(snap["daily"])["days"]
        return {d["day"]: d["households_enrolled"] for d in days}

    was = enrolled_per_day(before[(FIRST, LAST)])
    now = enrolled_per_day(after_leave[(FIRST, LAST)])
    assert was["2026-01-19"] - now["2026-01-19"] == 0
    assert was["2026-01-20"] - now["2026-01-20"] == 1
    assert was["2026-03-01"] - now["2026-03-01"] == 2

    back = D(2026, 2, 10)
    # A later enrolled_on opens a new spell; lv2 comes back the day it left (>=).
    estate.record(
        [
            {"id": "lv", "building": "5", "building_group": "5-2", "enrolled_on": iso(back)},
            {"id": "lv2", "building": "8", "building_group": "8-1", "enrolled_on": "2026-03-01"},
        ]
    )
    after_back = estate.snapshot(periods)
    assert_unchanged(after_leave, after_back, back)
    estate.check_figures([*whole, *periods], "after re-enrolling")
    again = enrolled_per_day(after_back[(FIRST, LAST)])
    assert again["2026-02-09"] == now["2026-02-09"]
    assert again["2026-02-10"] == now["2026-02-10"] + 1
    assert again["2026-03-01"] == was["2026-03-01"]
    assert again["2026-01-25"] == was["2026-01-25"] - 1
    estate.check_history("lv")
    estate.check_history("lv2")


def test_a_back_dated_request_says_which_past_days_it_changed(published: Estate) -> None:
    estate = published
    # First lv leaves on March 1st (itself back-dated: every day since).
    estate.record([{"id": "lv", "building": "5", "building_group": "5-2", "left_on": "2026-03-01"}])
    periods = [*PERIODS, (D(2026, 3, 1), D(2026, 3, 4)), (D(2026, 3, 5), D(2026, 3, 9))]
    before = estate.snapshot(periods)
    today = local_today(estate.timezone)
    rows = [
        # A move back-dated to March 10th: every day from then to yesterday.
        {"id": "mv", "building": "5", "building_group": "5-1", "effective_on": "2026-03-10"},
        # lv actually left on the 5th: the 1st to the 4th change (4 days).
        {
            "id": "lv",
            "building": "5",
            "building_group": "5-2",
            "enrolled_on": iso(SINCE),
            "left_on": "2026-03-05",
        },
        # Nothing new.
        {"id": "a01", "building": "3", "building_group": "3-1"},
        # A group change from today: no past day changes.
        {"id": "gp", "building": "3", "building_group": "3-2", "effective_on": iso(today)},
        # Leaving in a month: no past day changes.
        {
            "id": "b01",
            "building": "5",
            "building_group": "5-1",
            "left_on": iso(today + timedelta(days=30)),
        },
    ]
    body = estate.record(rows)
    since_move = (today - D(2026, 3, 10)).days
    assert body["backdated"]["rows"] == 2
    assert body["backdated"]["earliest"] == "2026-03-01"
    assert body["backdated"]["days_touched"] == 4 + since_move  # distinct days, not the span
    assert (body["updated"], body["unchanged"], body["created"]) == (4, 1, 0)
    after = estate.snapshot(periods)
    assert_unchanged(before, after, D(2026, 3, 1))
    estate.check_figures(periods, "after the back-dated request")
    for h in ("mv", "lv", "a01", "gp", "b01"):
        estate.check_history(h)


def test_without_effective_on_a_change_is_dated_the_estates_today(
    new_estate: Callable[..., Estate],
) -> None:
    # Far either side of UTC, so the estate's local date is not UTC's at any hour.
    for timezone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", TZ):
        estate = new_estate("today", timezone)
        estate.record(base_rows(["a01", "n1"]))
        today = local_today(timezone)
        body = estate.record(
            [
                {"id": "a01", "building": "5", "building_group": "5-1"},
                {"id": "fresh", "building": "8", "building_group": "8-1"},
                {"id": "fresh2", "building": "8", "enrolled_on": iso(today)},
            ]
        )
        assert body["backdated"] == {"rows": 0, "earliest": None, "days_touched": 0, "changes": []}
        assert local_today(timezone) == today, "the day turned during the request: re-run"
        for h in ("a01", "fresh", "fresh2"):
            estate.check_history(h)
        memberships = estate.model["a01"].history()["memberships"]
        assert memberships[-1]["valid_from"] == iso(today), timezone


def history_estate(new_estate: Callable[..., Estate], stem: str) -> Estate:
    """BASE registered, then: mv moved to 5 on MID, lv left on Jan 20 and came back on
    Feb 10, op enrolled (open spell)."""
    estate = new_estate(stem)
    estate.record(base_rows())
    estate.record(
        [
            {"id": "mv", "building": "5", "building_group": "5-1", "effective_on": iso(MID)},
            {"id": "lv", "building": "5", "building_group": "5-2", "left_on": "2026-01-20"},
        ]
    )
    estate.record(
        [{"id": "lv", "building": "5", "building_group": "5-2", "enrolled_on": "2026-02-10"}]
    )
    return estate


GOOD = [
    {"id": "new1", "building": "9", "building_group": "9-1", "enrolled_on": "2026-01-05"},
    {"id": "a02", "building": "8", "building_group": "8-1", "effective_on": "2026-03-01"},
]
BAD = {
    # enrolled_on inside the open spell (from SINCE): record left_on first.
    "inside_open": (
        {"id": "a01", "building": "3", "building_group": "3-1", "enrolled_on": "2026-01-10"},
        "enrolled_on",
    ),
    # enrolled_on inside lv's closed first spell [SINCE, Jan 20).
    "inside_closed": (
        {"id": "lv", "building": "5", "building_group": "5-2", "enrolled_on": "2026-01-10"},
        "enrolled_on",
    ),
    # left_on alone before the latest spell's enrolled_on (Feb 10).
    "left_before": (
        {"id": "lv", "building": "5", "building_group": "5-2", "left_on": "2026-02-01"},
        "left_on",
    ),
    # left_on of the first spell running into the second (from Feb 10).
    "overlap_next": (
        {
            "id": "lv",
            "building": "5",
            "building_group": "5-2",
            "enrolled_on": iso(SINCE),
            "left_on": "2026-02-20",
        },
        "left_on",
    ),
    # a move dated before mv's latest recorded move (MID).
    "move_before": (
        {"id": "mv", "building": "8", "building_group": "8-1", "effective_on": "2026-02-01"},
        "effective_on",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_contradictory_row_rejects_the_whole_request(
    new_estate: Callable[..., Estate], case: str
) -> None:
    estate = history_estate(new_estate, "reject")
    row, field_name = BAD[case]
    for rows, index in (([row], 0), ([GOOD[0], row, GOOD[1]], 1)):
        estate.refuse(rows, {index: field_name})
    # The good rows alone are fine: they were refused for the bad one only.
    estate.record(GOOD)
    for h in ("new1", "a02", str(row["id"])):
        estate.check_history(h)


def test_every_contradictory_row_is_named(new_estate: Callable[..., Estate]) -> None:
    estate = history_estate(new_estate, "reject-all")
    rows: list[dict[str, Any]] = [GOOD[0]]
    fields = {}
    for case in ("inside_open", "move_before", "left_before"):
        row, field_name = BAD[case]
        fields[len(rows)] = field_name
        rows.append(row)
    rows.append(GOOD[1])
    estate.refuse(rows, fields)
    for h in ("a01", "mv", "lv", "a02"):
        estate.check_history(h)


def test_history_lists_memberships_and_spells(new_estate: Callable[..., Estate]) -> None:
    estate = new_estate("history")
    hx = {"id": "hx", "building": "3", "building_group": "3-1"}
    steps: list[tuple[dict[str, Any], str]] = [
        (
            {
                **hx,
                "enrolled_on": iso(SINCE),
                "effective_on": "2025-12-10",  # the membership reaches back to the enrolment
                "display_name": "3号楼 王家",
                "publish_consent": True,
            },
            "created",
        ),
        ({**hx, "building": "5", "building_group": "5-1", "effective_on": "2026-01-10"}, "updated"),
        # The same date again amends that membership (a correction).
        ({**hx, "building": "5", "building_group": "5-2", "effective_on": "2026-01-10"}, "updated"),
        ({**hx, "building": "5", "building_group": None, "effective_on": "2026-02-01"}, "updated"),
        ({**hx, "building": "5", "building_group": None, "left_on": "2026-02-20"}, "updated"),
        ({**hx, "building": "5", "building_group": None, "enrolled_on": "2026-03-05"}, "updated"),
        # The first spell's end corrected (names it by its enrolled_on).
        (
            {
                **hx,
                "building": "5",
                "building_group": None,
                "enrolled_on": iso(SINCE),
                "left_on": "2026-02-22",
            },
            "updated",
        ),
        ({**hx, "building": "5", "building_group": None, "display_name": "王家"}, "updated"),
        ({**hx, "building": "5", "building_group": None, "display_name": "王家"}, "unchanged"),
        ({**hx, "building": "5", "building_group": None, "enrolled_on": "2026-03-05"}, "unchanged"),
    ]
    for row, what in steps:
        body = estate.record([row])
        assert body[what] == 1, (row, body)
        estate.check_history("hx")
    history = estate.model["hx"].history()
    assert [m["valid_from"] for m in history["memberships"]] == [
        iso(SINCE),
        "2026-01-10",
        "2026-02-01",
    ]
    assert history["spells"] == [
        {"enrolled_on": iso(SINCE), "left_on": "2026-02-22"},
        {"enrolled_on": "2026-03-05", "left_on": None},
    ]
    assert (history["display_name"], history["publish_consent"]) == ("王家", True)
    # Registered, never enrolled: no spells.
    estate.record([{"id": "never", "building": "8", "effective_on": "2026-01-02"}])
    estate.check_history("never")
    assert estate.history("nobody")[0] == 404


# -- the sheet import, as a user runs it ---------------------------------------------------


def run_import(services: Services, tmp_path: Path, sheet: Path, estate: str) -> Any:
    fenlei = Path(sys.executable).with_name("fenlei")
    assert fenlei.exists(), fenlei
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENLEI_")}
    env["FENLEI_DATABASE_URL"] = services.database_url
    env["FENLEI_HOME"] = str(tmp_path)  # no services.env there: nothing read by accident
    return subprocess.run(
        [str(fenlei), "registry", "import", str(sheet), "--estate", estate],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def sheet_rows(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    """The rows as the model takes them (empty cells absent; consent as a boolean)."""
    names = {
        "户号": "id",
        "楼号": "building",
        "楼组": "building_group",
        "入户日期": "enrolled_on",
        "退出日期": "left_on",
        "生效日期": "effective_on",
        "公示名称": "display_name",
        "公示同意": "publish_consent",
    }
    rows = []
    for line in lines:
        row: dict[str, Any] = {}
        for h, v in zip(header, line, strict=True):
            if v:
                name = names.get(h, h)
                row[name] = v in ("yes", "true", "1", "是") if name == "publish_consent" else v
        rows.append(row)
    return rows


def write_sheet(path: Path, header: Sequence[str], lines: Sequence[Sequence[str]]) -> Path:
    text = "\n".join(",".join(x) for x in [header, *lines]) + "\n"
    path.write_text("\ufeff" + text, encoding="utf-8")
    return path


def test_sheet_import_dates_changes_and_rejects_contradictions(
    new_estate: Callable[..., Estate], services: Services, tmp_path: Path
) -> None:
    estate = history_estate(new_estate, "sheet")
    header = [
        "id",
        "building",
        "building_group",
        "enrolled_on",
        "left_on",
        "effective_on",
        "display_name",
        "publish_consent",
    ]
    lines = [
        ["a01", "5", "5-1", iso(SINCE), "", "2026-02-15", "", ""],  # a move dated Feb 15
        ["a03", "3", "3-2", iso(SINCE), "2026-03-01", "", "", ""],  # leaves
        ["new1", "9", "9-1", "2026-01-05", "", "2026-01-05", "新户", "yes"],
        ["lv", "5", "5-2", "", "", "", "", "true"],  # consent only
    ]
    sheet = write_sheet(tmp_path / "changes.csv", header, lines)
    rows = sheet_rows(header, lines)
    today = local_today(estate.timezone)
    estate.model.apply(rows, today)
    done = run_import(services, tmp_path, sheet, estate.id)
    assert done.returncode == 0, done.stdout + done.stderr
    for row in rows:
        estate.check_history(str(row["id"]))

    header_zh = ["户号", "楼号", "楼组", "入户日期", "退出日期", "生效日期", "公示名称", "公示同意"]
    lines_zh = [
        ["a02", "8", "8-1", "", "", "2026-03-01", "", ""],  # line 2: fine
        ["a04", "3", "3-2", "2026-01-10", "", "", "", ""],  # line 3: inside the open spell
        ["new2", "9", "9-1", "2026-02-01", "", "2026-02-01", "", "是"],  # line 4: fine
        ["mv", "8", "8-1", "", "", "2026-02-01", "", ""],  # line 5: before the move of MID
        ["lv", "5", "5-2", "", "2026-02-01", "", "", ""],  # line 6: before Feb 10's spell
        ["a05", "3", "", "", "", "", "公示户", ""],  # line 7: a name only: fine
    ]
    bad = {3: "enrolled_on", 5: "effective_on", 6: "left_on"}
    sheet = write_sheet(tmp_path / "contradictions.csv", header_zh, lines_zh)
    rows = sheet_rows(header_zh, lines_zh)
    with pytest.raises(Rejected) as info:
        estate.model.apply(rows, local_today(estate.timezone))
    assert {e.index + 2: e.field for e in info.value.errors} == bad, "test data"
    ids = [str(r["id"]) for r in rows]
    before = {h: estate.history(h) for h in ids}
    done = run_import(services, tmp_path, sheet, estate.id)
    assert done.returncode != 0, done.stdout + done.stderr
    for line in range(2, 2 + len(lines_zh)):
        named = re.search(rf"\bline {line}\b", done.stderr) is not None
        assert named == (line in bad), f"line {line} named: {named}\n{done.stderr}"
    for h in ids:
        assert estate.history(h) == before[h], f"{h} changed under a rejected import"
    assert before["new2"][0] == 404


def test_a_membership_since_before_records_reads_as_null(
    new_estate: Callable[..., Estate], db_url: str
) -> None:
    # As migration 0016 carries a household over: a membership from '-infinity'.
    estate = new_estate("carried")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO buildings (estate_id, id) VALUES (%s, '3')", (estate.id,))
        conn.execute(
            "INSERT INTO building_groups (estate_id, building_id, id) VALUES (%s, '3', '3-1')",
            (estate.id,),
        )
        conn.execute("INSERT INTO households (estate_id, id) VALUES (%s, 'old')", (estate.id,))
        conn.execute(
            "INSERT INTO household_memberships (estate_id, household_id, valid_from,"
            " building_id, building_group_id) VALUES (%s, 'old', '-infinity', '3', '3-1')",
            (estate.id,),
        )
        conn.execute(
            "INSERT INTO household_spells (estate_id, household_id, enrolled_on)"
            " VALUES (%s, 'old', '2019-03-23')",
            (estate.id,),
        )
    estate.model.households["old"] = Household(
        "old", [Membership(None, None, "3", "3-1")], [Spell(D(2019, 3, 23), None)]
    )
    estate.check_history("old")
    assert estate.model["old"].history()["memberships"][0]["valid_from"] is None
    estate.drops = drops_frame([], estate.timezone)
    periods = [(D(2019, 1, 1), D(2019, 12, 31)), (D(2026, 1, 1), D(2026, 1, 9))]
    estate.check_figures(periods, "carried over")
    before = estate.snapshot(periods)
    estate.record(
        [{"id": "old", "building": "5", "building_group": "5-1", "effective_on": "2026-01-10"}]
    )
    assert_unchanged(before, estate.snapshot(periods), D(2026, 1, 10))
    estate.check_figures([*periods, (D(2026, 1, 10), D(2026, 1, 10))], "moved")
    estate.check_history("old")
