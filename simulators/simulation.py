"""One simulated estate over a period: households → bins → messages, and its ground truth.

Pure: no I/O. ``Simulation.day(d)`` returns the messages of local day ``d`` and records
what they store; days must be asked for in order (bin fill and battery carry over).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import orjson

from simulators.bins import BinDevice, DeviceEvent
from simulators.delivery import FaultPlan, FaultReport, Message, choose_silent, deliver
from simulators.estate import Estate, EstateSpec, build_estate
from simulators.households import Drop, day_drops

TRUTH_VERSION = 1


class Simulation:
    """A seeded estate, its bins and the truth of what they sent over ``[start, end]``."""

    def __init__(
        self, spec: EstateSpec, seed: int, start: date, end: date, plan: FaultPlan | None = None
    ) -> None:
        from simulators.truth import Truth

        self.seed = seed
        self.start, self.end = start, end
        self.plan = plan or FaultPlan()
        self.estate: Estate = build_estate(spec, seed, start, end)
        self.tz = ZoneInfo(spec.timezone)
        rooms = self.estate.rooms()
        self.devices = {
            b.id: BinDevice(spec.id, b, spec.timezone, utc_clock=rooms.index(b.room) % 2 == 1)
            for b in self.estate.bins
        }
        addresses = [d.address for d in self.devices.values()]
        self.silenced: dict[str, datetime] = {}
        if self.plan.silent:
            self.silenced = choose_silent(
                addresses,
                self.plan.silent,
                self.utc_midnight(start),
                self.utc_midnight(end + timedelta(days=1)),
                seed,
            )
        self.truth = Truth(self.estate)
        self.report = FaultReport()
        self.messages_sent = 0
        self.bytes_sent = 0
        self.events_generated: Counter[str] = Counter()
        self.first_ts: datetime | None = None
        self.last_ts: datetime | None = None
        # When set, every event a correct ingester stores is written here as JSON Lines.
        self.events_out: IO[bytes] | None = None
        # What a run adds to the truth file under its own key (e.g. "broker_crash").
        self.notes: dict[str, object] = {}

    def utc_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)

    def day(self, day: date) -> list[Message]:
        """The messages of local ``day`` in send order, with faults applied."""
        drops = day_drops(self.estate, day, self.seed)
        per_bin: dict[tuple[str, str], list[Drop]] = {}
        for d in drops:
            per_bin.setdefault((d.room, d.category), []).append(d)
        events: list[DeviceEvent] = []
        for device in self.devices.values():
            events += device.run_day(
                day, per_bin.get((device.spec.room, device.spec.category), []), self.seed
            )
        events.sort(key=lambda e: e.ts)  # stable: each bin's own order is kept
        messages, report = deliver(events, day, self.plan, self.seed, self.silenced)
        self.report.add(report)
        self.events_generated.update(str(e.wire["kind"]) for e in events)
        for m in messages:
            if m.disconnect:
                continue
            self.messages_sent += 1
            self.bytes_sent += len(m.payload)
            self.truth.add(m.stored)
            for e in m.stored:
                if self.events_out is not None:
                    self.events_out.write(
                        orjson.dumps(
                            {"room": e.address.room, "bin": e.address.bin, **e.wire},
                            option=orjson.OPT_APPEND_NEWLINE,
                        )
                    )
                if self.first_ts is None or e.ts < self.first_ts:
                    self.first_ts = e.ts
                if self.last_ts is None or e.ts > self.last_ts:
                    self.last_ts = e.ts
        return messages

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def ground_truth(self, end: date | None = None) -> dict[str, object]:
        """The ground truth of everything generated so far, for ``[start, end]``."""
        spec = self.estate.spec
        return {
            "version": TRUTH_VERSION,
            "seed": self.seed,
            "estate": {
                "id": spec.id,
                "name": spec.name,
                "timezone": spec.timezone,
                "households_total": spec.households_total,
                "drop_windows": [list(w) for w in spec.drop_windows],
                "bins": [
                    {"room": b.room, "bin": b.id, "category": b.category} for b in self.estate.bins
                ],
            },
            "targets": {
                "coverage": spec.targets.coverage,
                "participation": spec.targets.participation,
                "wet_share": spec.targets.wet_share,
            },
            "sent": {
                "messages": self.messages_sent,
                "bytes": self.bytes_sent,
                "events_generated": dict(sorted(self.events_generated.items())),
                # Each bin's seq counts its events from 1: the last one made so far.
                "last_seq": {d.spec.id: d.last_seq for d in self.devices.values()},
            },
            "stored": {
                "events": self.truth.stored_events,
                "by_kind": dict(sorted(self.truth.by_kind.items())),
                "first_ts": self.first_ts.isoformat() if self.first_ts else None,
                "last_ts": self.last_ts.isoformat() if self.last_ts else None,
            },
            "faults": self.report.as_json(),
            "figures": self.truth.figures(self.start, end or self.end),
            **self.notes,
        }

    def write_truth(self, path: Path, end: date | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(self.ground_truth(end), option=orjson.OPT_INDENT_2))
