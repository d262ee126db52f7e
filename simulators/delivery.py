"""From device events to the MQTT messages a (mis)behaving device sends, with faults.

Every fault is drawn from a numpy stream seeded with (seed, day), and announces exactly
what it will cost the ingester: duplicates it must drop and rejections (by reason) it
must quarantine. ``Message.stored`` lists the events a correct ingester stores from a
message, so the ground truth is computed from what was actually sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import numpy as np

from ingest.contract import BinAddress, Reason, encode_payload, events_topic
from simulators.bins import DeviceEvent

# A device flushes its offline buffer in arrays of at most this many events
# (about 40 KiB, far below the 256 KiB payload limit).
OFFLINE_CHUNK = 200
# A skewed RTC runs this far ahead: beyond the ingester's future tolerance for any
# period backfilled within the last decade, so every skewed event is refused.
CLOCK_SKEW = timedelta(days=3653)
# Offline spells last between these many hours.
OFFLINE_HOURS = (1, 7)

# Malformed payloads (one drawn at random each time), by the reason each must get.
MALFORMED = (
    Reason.bad_json,
    Reason.not_utf8,
    Reason.missing_field,
    Reason.bad_weight,
    Reason.bad_kind,
    Reason.bad_fill,
    Reason.bad_timestamp,
    Reason.category_mismatch,
)


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject and how often (all off by default).

    Rates are per event message (duplicate, out_of_order, malformed) or per bin and
    day (offline, clock_skew); ``silent`` bins stop publishing half-way through the run.
    """

    duplicate: float = 0.0
    out_of_order: float = 0.0
    offline: float = 0.0
    malformed: float = 0.0
    clock_skew: float = 0.0
    silent: int = 0

    def any(self) -> bool:
        return any(
            (
                self.duplicate,
                self.out_of_order,
                self.offline,
                self.malformed,
                self.clock_skew,
                self.silent,
            )
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publish: topic, payload, when it is sent, and the events it stores."""

    address: BinAddress
    topic: str
    payload: bytes
    send_at: datetime  # UTC; realtime mode publishes at this simulated time
    stored: tuple[DeviceEvent, ...] = ()
    # Set on a marker message: the device drops its connection (its last will fires).
    disconnect: bool = False
    # The events the message carries, in the wire form sent (a skewed clock's too):
    # what the device keeps until the stored watermark covers their seq, and resends
    # unchanged. Empty for a redelivered copy (its events are kept already) and for
    # malformed payloads (no event of the device's).
    events: tuple[dict[str, object], ...] = ()


@dataclass
class FaultReport:
    """What the faults announce, for the ground truth and the tests."""

    duplicates: int = 0  # event copies the ingester must recognise and not store
    reordered: int = 0  # messages sent after their successor
    offline_batches: int = 0  # JSON arrays flushed after an offline spell
    offline_events: int = 0  # events inside those arrays
    rejections: Counter[str] = field(default_factory=Counter)  # reason → count
    suppressed: int = 0  # events never sent (silent devices)
    silent_bins: list[str] = field(default_factory=list)

    def add(self, other: FaultReport) -> None:
        self.duplicates += other.duplicates
        self.reordered += other.reordered
        self.offline_batches += other.offline_batches
        self.offline_events += other.offline_events
        self.rejections.update(other.rejections)
        self.suppressed += other.suppressed
        for b in other.silent_bins:
            if b not in self.silent_bins:
                self.silent_bins.append(b)

    def as_json(self) -> dict[str, object]:
        return {
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "offline_batches": self.offline_batches,
            "offline_events": self.offline_events,
            "rejections": dict(sorted(self.rejections.items())),
            "rejections_total": sum(self.rejections.values()),
            "suppressed": self.suppressed,
            "silent_bins": self.silent_bins,
        }


def deliver(
    events: list[DeviceEvent],
    day: date,
    plan: FaultPlan,
    seed: int,
    silenced: dict[str, datetime] | None = None,
) -> tuple[list[Message], FaultReport]:
    """Turn one day's events (sorted by time) into messages, applying ``plan``.

    ``silenced`` maps bin ids to the moment they went silent (see ``choose_silent``).
    """
    rng = np.random.default_rng([seed, day.toordinal(), 0x66])
    report = FaultReport()
    silenced = silenced or {}
    by_bin: dict[BinAddress, list[DeviceEvent]] = {}
    for e in events:
        by_bin.setdefault(e.address, []).append(e)
    messages: list[Message] = []
    for address in sorted(by_bin, key=lambda a: (a.room, a.bin)):
        messages += _bin_messages(
            address, by_bin[address], plan, rng, report, silenced.get(address.bin)
        )
    messages.sort(key=lambda m: m.send_at)  # stable: a bin's own order is kept
    if plan.malformed:
        messages = _with_malformed(messages, plan.malformed, rng, report)
    return messages, report


def choose_silent(
    bins: list[BinAddress], count: int, start: datetime, end: datetime, seed: int
) -> dict[str, datetime]:
    """Pick ``count`` bins that go silent at the middle of ``[start, end)``."""
    rng = np.random.default_rng([seed, 0x73696C])
    chosen = rng.choice(len(bins), size=min(count, len(bins)), replace=False)
    middle = start + (end - start) / 2
    return {bins[int(i)].bin: middle for i in sorted(chosen.tolist())}


def _bin_messages(
    address: BinAddress,
    events: list[DeviceEvent],
    plan: FaultPlan,
    rng: np.random.Generator,
    report: FaultReport,
    silent_at: datetime | None,
) -> list[Message]:
    topic = events_topic(address.estate, address.room, address.bin)
    if silent_at is not None:
        kept = [e for e in events if e.ts < silent_at]
        if len(kept) < len(events):
            report.suppressed += len(events) - len(kept)
            report.silent_bins.append(address.bin)
        events = kept
    skewed = bool(plan.clock_skew) and bool(rng.random() < plan.clock_skew)
    offline: tuple[datetime, datetime] | None = None
    if plan.offline and events and rng.random() < plan.offline:
        begin = events[int(rng.integers(0, len(events)))].ts
        offline = (begin, begin + timedelta(hours=int(rng.integers(*OFFLINE_HOURS))))
    out: list[Message] = []
    buffered: list[DeviceEvent] = []
    for e in events:
        if offline is not None and offline[0] <= e.ts < offline[1]:
            buffered.append(e)
            continue
        out.append(_single(address, topic, e, skewed, report))
    if offline is not None and buffered:
        flushed_at = max(offline[1], buffered[-1].ts)
        for i in range(0, len(buffered), OFFLINE_CHUNK):
            chunk = buffered[i : i + OFFLINE_CHUNK]
            wires = [_skew(e.wire) if skewed else e.wire for e in chunk]
            if skewed:
                report.rejections[Reason.future_timestamp.value] += len(chunk)
            out.append(
                Message(
                    address,
                    topic,
                    encode_payload(wires),
                    flushed_at,
                    () if skewed else tuple(chunk),
                    events=tuple(wires),
                )
            )
            report.offline_batches += 1
            report.offline_events += len(chunk)
        out.sort(key=lambda m: m.send_at)
    if plan.out_of_order:
        i = 0
        while i < len(out) - 1:
            if rng.random() < plan.out_of_order:
                later = out[i + 1].send_at
                out[i], out[i + 1] = (_resend(out[i + 1], later), _resend(out[i], later))
                report.reordered += 1
                i += 2
            else:
                i += 1
    if plan.duplicate:
        with_dups: list[Message] = []
        for m in out:
            with_dups.append(m)
            if len(m.stored) == 1 and rng.random() < plan.duplicate:
                # A redelivery after a lost PUBACK: the same bytes again.
                with_dups.append(Message(m.address, m.topic, m.payload, m.send_at, ()))
                report.duplicates += 1
        out = with_dups
    if silent_at is not None and address.bin in report.silent_bins:
        out.append(Message(address, topic, b"", silent_at, (), disconnect=True))
    return out


def _single(
    address: BinAddress, topic: str, e: DeviceEvent, skewed: bool, report: FaultReport
) -> Message:
    if skewed:
        report.rejections[Reason.future_timestamp.value] += 1
        wire = _skew(e.wire)
        return Message(address, topic, encode_payload(wire), e.ts, (), events=(wire,))
    return Message(address, topic, encode_payload(e.wire), e.ts, (e,), events=(e.wire,))


def _resend(m: Message, send_at: datetime) -> Message:
    return replace(m, send_at=send_at)


def _skew(wire: dict[str, object]) -> dict[str, object]:
    ts = datetime.fromisoformat(str(wire["ts"])) + CLOCK_SKEW
    return {**wire, "ts": ts.isoformat()}


def _with_malformed(
    messages: list[Message], rate: float, rng: np.random.Generator, report: FaultReport
) -> list[Message]:
    out: list[Message] = []
    n = 0
    for m in messages:
        out.append(m)
        # Only after drops: their wire form names the bin's category, which the
        # category_mismatch payload must contradict.
        if len(m.stored) != 1 or m.stored[0].wire["kind"] != "drop" or rng.random() >= rate:
            continue
        reason = MALFORMED[int(rng.integers(0, len(MALFORMED)))]
        out.append(Message(m.address, m.topic, _malformed(reason, m.stored[0], n), m.send_at))
        report.rejections[reason.value] += 1
        n += 1
    return out


def _malformed(reason: Reason, e: DeviceEvent, n: int) -> bytes:
    """A payload that the ingester must refuse with ``reason``."""
    ts = str(e.wire["ts"])
    good: dict[str, object] = {
        "event_id": f"bad-{e.ts:%Y%m%d}-{n}",
        "ts": ts,
        "kind": "drop",
        "weight_g": 300,
    }
    if reason is Reason.bad_json:
        return encode_payload(good)[:-9]  # cut off mid-object, as on a flaky link
    if reason is Reason.not_utf8:
        return b'{"event_id": "\xff\xfe", "kind": "drop"}'
    if reason is Reason.missing_field:
        return encode_payload({k: v for k, v in good.items() if k != "ts"})
    if reason is Reason.bad_weight:
        return encode_payload({**good, "weight_g": -500})  # a load cell read backwards
    if reason is Reason.bad_kind:
        return encode_payload({**good, "kind": "explode"})
    if reason is Reason.bad_fill:
        return encode_payload({**good, "kind": "fill", "fill_pct": 140})
    if reason is Reason.bad_timestamp:
        return encode_payload({**good, "ts": ts[:16].replace("T", " ")})  # no seconds, no offset
    if reason is Reason.category_mismatch:
        # A bin configured with another bin's category.
        wrong = "hazardous" if e.wire["category"] != "hazardous" else "dry"
        return encode_payload({**good, "category": wrong})
    raise ValueError(f"no malformed payload for {reason}")
