"""Messages handed from the MQTT thread to the writer, and batches of them."""

from __future__ import annotations

import queue
import time

from ingest.contract import BinAddress, Event, Rejection
from ingest.payload import Status


class Message:
    """One received MQTT message, already parsed; acknowledged after its batch commits."""

    # A plain slotted class: one is built per message on the network thread, where
    # a dataclass's default factories cost measurably more.
    __slots__ = ("conn", "events", "mid", "qos", "received", "rejections", "status")

    def __init__(
        self,
        mid: int,
        qos: int,
        received: float,  # time.monotonic() at arrival
        events: list[Event] | None = None,
        rejections: list[Rejection] | None = None,
        status: tuple[BinAddress, Status] | None = None,
        conn: int = 0,
    ) -> None:
        self.mid = mid
        self.qos = qos
        self.received = received
        self.events: list[Event] = events if events is not None else []
        self.rejections: list[Rejection] = rejections if rejections is not None else []
        self.status = status
        # Which broker connection delivered it (Subscriber counts them): a packet id
        # means nothing on another connection, so stale messages are never acknowledged.
        self.conn = conn


# Put in the inbox to end a wait in collect() at once; it is never part of a batch.
# Why it is needed: CPython's SimpleQueue.get(timeout=...) can wait forever once a
# signal has interrupted it. After the signal's handler runs, it recomputes the time
# left, and a negative remainder (the handler, or waiting for the GIL, outlasted the
# timeout) is passed on as "block". A stopping ingester puts nothing more in the
# inbox, so its SIGTERM handler puts this (Ingester.request_stop).
WAKE = Message(0, 0, 0.0)


def collect(
    inbox: queue.SimpleQueue[Message],
    max_messages: int,
    max_events: int,
    max_age_s: float,
    idle_timeout_s: float = 0.2,
    max_total: int | None = None,
) -> list[Message]:
    """Take one batch: wait up to `idle_timeout_s` for a first message, then fill.

    The batch closes at `max_messages` messages that carry something to store (an
    event or a status), `max_events` events, `max_total` messages of any kind (twice
    `max_messages` when not given), or when its first message is `max_age_s` old,
    counted from its arrival (`Message.received`): a message that waited in the inbox
    while the previous batch was stored does not wait a whole `max_age_s` more, which
    would add the store time to every event's latency. A full batch still waits for
    nothing. An empty list means nothing arrived (so the caller can check for shutdown).
    `WAKE` ends the batch where it is, and is left out of it.

    Messages that are wholly rejected ride along uncounted up to `max_total`: a flood
    of garbage does not shrink the batches of valid events, which would spend a
    transaction's fixed costs (the rollups' rows of each estate and day, the bins'
    state, the commit) on fewer events. The caller keeps `max_total` within the
    broker's window (Receive Maximum), so a batch never waits for messages the broker
    may not send.
    """
    if max_total is None:
        max_total = 2 * max_messages
    try:
        first = inbox.get(timeout=idle_timeout_s)
    except queue.Empty:
        return []
    if first is WAKE:
        return []
    batch = [first]
    events = len(first.events)
    carrying = 1 if events or first.status is not None else 0
    deadline = first.received + max_age_s
    get_nowait = inbox.get_nowait
    while carrying < max_messages and events < max_events and len(batch) < max_total:
        try:
            msg = get_nowait()
        except queue.Empty:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = inbox.get(timeout=min(remaining, 0.005))
            except queue.Empty:
                continue
        if msg is WAKE:
            break
        batch.append(msg)
        n = len(msg.events)
        if n or msg.status is not None:
            carrying += 1
            events += n
    return batch
