"""The simulator without services: reproducible, valid by the contract, near its targets."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from ingest.contract import CATEGORIES, check_category
from ingest.payload import parse_events
from simulators.delivery import FaultPlan
from simulators.estate import EstateSpec
from simulators.simulation import Simulation

START, END = date(2026, 3, 1), date(2026, 3, 10)
NOW = datetime(2026, 11, 1, tzinfo=UTC)  # after the period: old timestamps are valid
ALL_FAULTS = FaultPlan(
    duplicate=0.02, out_of_order=0.02, offline=0.1, malformed=0.01, clock_skew=0.05, silent=1
)


def small(estate_id: str = "sim-small") -> EstateSpec:
    return EstateSpec().scaled(100, estate_id)


def digest(sim: Simulation) -> str:
    h = hashlib.sha256()
    for day in sim.days():
        for m in sim.day(day):
            h.update(m.topic.encode() + b"\0" + m.payload + b"\0" + bytes([m.disconnect]))
    return h.hexdigest()


def test_same_seed_gives_identical_messages() -> None:
    a = digest(Simulation(small(), 42, START, END, ALL_FAULTS))
    b = digest(Simulation(small(), 42, START, END, ALL_FAULTS))
    c = digest(Simulation(small(), 43, START, END, ALL_FAULTS))
    assert a == b
    assert a != c


def test_default_estate_is_jiangjiaqiao_like() -> None:
    sim = Simulation(EstateSpec(), 1, START, END)
    assert sim.estate.spec.households_total == 1200
    assert sim.estate.rooms() == ["r1", "r2"]
    for room in sim.estate.rooms():
        assert sorted(b.category for b in sim.estate.bins if b.room == room) == sorted(CATEGORIES)
    for day in sim.days():
        sim.day(day)
    f = sim.ground_truth()["figures"]
    assert isinstance(f, dict)
    assert f["coverage"] == 1.0
    assert f["participation_rate"] == pytest.approx(0.9426, abs=0.02)
    assert f["wet_share"] == pytest.approx(0.4587, abs=0.02)
    assert f["in_window_share"] == pytest.approx(0.88, abs=0.04)
    assert f["grams"]["construction"] > 0
    assert f["drops"] > f["identified_drops"] > 0.8 * f["drops"]  # some anonymous drops


def test_without_faults_every_message_is_valid_and_stored() -> None:
    sim = Simulation(small(), 5, START, END)
    kinds: Counter[str] = Counter()
    for day in sim.days():
        for m in sim.day(day):
            parsed = parse_events(m.topic, m.payload, NOW)
            assert parsed.rejections == []
            assert [e.event_id for e in parsed.events] == [e.wire["event_id"] for e in m.stored]
            kinds.update(e.kind for e in parsed.events)
    truth = sim.ground_truth()
    assert truth["stored"]["events"] == sum(kinds.values())  # type: ignore[index]
    assert set(kinds) >= {"drop", "fill", "empty"}


def test_each_fault_announces_exactly_what_the_contract_rejects() -> None:
    sim = Simulation(small(), 9, START, END, ALL_FAULTS)
    category = {b.id: b.category for b in sim.estate.bins}
    rejected: Counter[str] = Counter()
    stored: set[tuple[str, str, datetime]] = set()
    duplicates = arrays = 0
    for day in sim.days():
        for m in sim.day(day):
            if m.disconnect:
                continue
            arrays += m.payload.startswith(b"[")
            parsed = parse_events(m.topic, m.payload, NOW)
            rejected.update(r.reason.value for r in parsed.rejections)
            for e in parsed.events:
                mismatch = check_category(e, category[e.address.bin])
                if mismatch is not None:
                    rejected[mismatch.reason.value] += 1
                    continue
                key = (e.address.bin, e.event_id, e.ts)
                duplicates += key in stored
                stored.add(key)
    faults = sim.ground_truth()["faults"]
    assert isinstance(faults, dict)
    assert dict(rejected) == faults["rejections"]
    assert duplicates == faults["duplicates"] > 0
    assert len(stored) == sim.truth.stored_events
    assert arrays == faults["offline_batches"] > 0
    assert faults["reordered"] > 0
    assert faults["suppressed"] > 0 and len(faults["silent_bins"]) == 1
    assert set(faults["rejections"]) >= {"future_timestamp", "bad_json"}
