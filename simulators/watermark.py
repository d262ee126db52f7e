"""The device side of the acknowledgement protocol (docs/acknowledgement.md).

A bin numbers its events (``seq``: +1 per event, from 1) and keeps each one until the
ingester's stored watermark covers it: the retained message on
``fenlei/v1/{estate}/{room}/{bin}/stored``, ``{"seq": N, "event_id": ..., "at": ...}``,
saying every seq 1..N of the bin is stored (or declared lost after the gap timeout).
On every connect the bin reads that watermark and resends what it still holds above
it, unchanged; so a broker that acknowledged events and crashed before saving them
loses nothing. Pure: no I/O; the connection that feeds it is `simulators.link`.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
from dataclasses import dataclass

import orjson

from ingest.contract import ID_PATTERN, MAX_SEQ

log = logging.getLogger(__name__)

# Events a bin keeps at most: a few megabytes of flash at ~200 bytes an event, and
# days of a busy bin's events with no watermark at all (an ingester that does not
# publish one, a gap waiting for its timeout).
DEFAULT_BUFFER_LIMIT = 50_000
# After subscribing, a bin waits this long for the retained watermark before it
# resends; none by then means the broker holds none (a new bin, or a crashed broker
# that lost it and an ingester that has not republished yet): everything is resent.
DEFAULT_WATERMARK_WAIT_S = 2.0

_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Watermark:
    """What the ingester has of one bin: every seq 1..``seq`` is stored (or lost)."""

    seq: int
    event_id: str  # the id of the bin's event with that seq
    at: str  # RFC 3339 UTC: when the commit that moved it happened


def parse_watermark(payload: bytes) -> Watermark | None:
    """The watermark in a stored-topic payload; None for anything else (ignored)."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    seq, event_id, at = doc.get("seq"), doc.get("event_id"), doc.get("at")
    # bool is an int in Python; a JSON true is no seq.
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        return None
    if not isinstance(event_id, str) or not _ID.fullmatch(event_id):
        return None
    return Watermark(seq, event_id, at if isinstance(at, str) else "")


@dataclass(frozen=True)
class DeviceOptions:
    """How the simulated bins take part in the protocol.

    ``resend`` False is a legacy device: no buffer, no watermark, nothing resent,
    so what a crashed broker acknowledged and lost is lost (the ingester reports the
    seq gap). ``buffer_limit``: events kept at most; when full the oldest is
    forgotten (counted in ``EventBuffer.forgotten``).
    """

    resend: bool = True
    buffer_limit: int = DEFAULT_BUFFER_LIMIT
    watermark_wait_s: float = DEFAULT_WATERMARK_WAIT_S

    def __post_init__(self) -> None:
        if self.buffer_limit < 1:
            raise ValueError("a device buffer holds at least one event")


class EventBuffer:
    """One bin's events the watermark does not cover yet, by seq, bounded.

    Thread-safe: the main thread adds what it publishes, the connection's thread
    applies watermarks, the resend thread reads what is held.
    """

    def __init__(self, limit: int = DEFAULT_BUFFER_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._events: dict[int, tuple[str, bytes]] = {}  # seq -> (event_id, wire JSON)
        self._heap: list[int] = []  # the seqs held, smallest first
        # The highest watermark applied so far (0: none yet).
        self.watermark = 0
        # Events dropped unconfirmed because the buffer was full (oldest first).
        self.forgotten = 0
        # Watermarks refused: they named another event for a seq held here.
        self.mismatched = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def add(self, seq: int, event_id: str, wire: bytes) -> None:
        """Keep one event as sent (``wire``: its JSON object, resent byte for byte).

        The same seq twice is one event (a redelivered copy). Added even at or
        below the watermark: the next watermark covers it, and a retained one left
        by another run of the same simulated bin may say nothing of this event.
        """
        with self._lock:
            if seq in self._events:
                return
            if len(self._events) >= self.limit:
                oldest = heapq.heappop(self._heap)
                del self._events[oldest]
                self.forgotten += 1
                if self.forgotten == 1:
                    log.warning("device buffer full (%d events): forgetting the oldest", self.limit)
            self._events[seq] = (event_id, wire)
            heapq.heappush(self._heap, seq)

    def cover(self, mark: Watermark) -> int:
        """Forget every event with seq <= ``mark.seq``; returns how many.

        A watermark naming another event_id for a seq held here is not about these
        events (a counter reused, another device on this bin's topic): it is
        refused and nothing is forgotten.
        """
        with self._lock:
            held = self._events.get(mark.seq)
            if held is not None and held[0] != mark.event_id:
                self.mismatched += 1
                log.warning(
                    "stored watermark names event %s for seq %d, held here as %s: ignored",
                    mark.event_id,
                    mark.seq,
                    held[0],
                )
                return 0
            self.watermark = max(self.watermark, mark.seq)
            dropped = 0
            while self._heap and self._heap[0] <= mark.seq:
                del self._events[heapq.heappop(self._heap)]
                dropped += 1
            return dropped

    def above(self) -> list[tuple[int, bytes]]:
        """Everything held (all of it above the watermark), in seq order."""
        with self._lock:
            return [(seq, self._events[seq][1]) for seq in sorted(self._events)]

    def seqs(self) -> list[int]:
        """The seqs held, in order."""
        with self._lock:
            return sorted(self._events)
