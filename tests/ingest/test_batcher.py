"""Batch closing rules and the batch settings' checks."""

from __future__ import annotations

import queue
import sys
import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ingest.batcher import Message, collect
from ingest.contract import BinAddress, Event
from ingest.payload import Status
from ingest.settings import IngestSettings


def _msg(events: int = 1) -> Message:
    ev = Event(
        BinAddress("e", "r", "b"),
        "x",
        datetime(2026, 1, 1, tzinfo=UTC),
        "drop",
        1,
        None,
        None,
        None,
        None,
        None,
    )
    return Message(1, 1, time.monotonic(), [ev] * events)


def test_batch_closes_at_max_messages() -> None:
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    for _ in range(7):
        inbox.put(_msg())
    assert len(collect(inbox, 5, 1000, 1.0)) == 5
    assert len(collect(inbox, 5, 1000, 0.01)) == 2


def test_batch_closes_at_max_events() -> None:
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    for _ in range(4):
        inbox.put(_msg(events=300))
    assert len(collect(inbox, 100, 500, 1.0)) == 2


def test_empty_inbox_gives_an_empty_batch() -> None:
    assert collect(queue.SimpleQueue(), 5, 5, 0.01, idle_timeout_s=0.01) == []


def test_window_must_exceed_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENLEI_DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("FENLEI_BATCH_MAX_MESSAGES", "5000")
    monkeypatch.setenv("FENLEI_RECEIVE_MAXIMUM", "5000")
    with pytest.raises(ValidationError, match="RECEIVE_MAXIMUM"):
        IngestSettings()  # type: ignore[call-arg]


def test_batch_age_counts_from_the_first_messages_arrival() -> None:
    # A message that waited in the inbox (while the previous batch was stored) for
    # longer than the batch age closes its batch at once, with what is there.
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    old = _msg()
    old.received = time.monotonic() - 5.0
    inbox.put(old)
    inbox.put(_msg())
    started = time.monotonic()
    batch = collect(inbox, 100, 1000, 1.0)
    assert time.monotonic() - started < 0.5
    assert len(batch) == 2  # what had arrived is taken, nothing is waited for


def test_batch_waits_its_age_for_a_fresh_first_message() -> None:
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    inbox.put(_msg())
    started = time.monotonic()
    assert len(collect(inbox, 100, 1000, 0.2)) == 1
    assert time.monotonic() - started >= 0.15


def _garbage() -> Message:
    # A wholly rejected message: no event, no status (its rejection rides along).
    return Message(1, 1, time.monotonic())


def test_rejected_messages_do_not_shrink_a_batch_of_valid_events() -> None:
    # Every other message garbage: the batch still closes at 5 valid messages, with
    # the garbage between them, so the transaction stores as many events as without it.
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    for _ in range(8):
        inbox.put(_garbage())
        inbox.put(_msg())
    batch = collect(inbox, 5, 1000, 1.0)
    assert sum(len(m.events) for m in batch) == 5
    assert len(batch) == 10


def test_a_garbage_flood_is_still_bounded() -> None:
    # Nothing but garbage: the batch closes at max_total (twice the batch by default),
    # not at the age, and never grows with the flood.
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    for _ in range(50):
        inbox.put(_garbage())
    started = time.monotonic()
    assert len(collect(inbox, 5, 1000, 5.0)) == 10
    assert len(collect(inbox, 5, 1000, 5.0, max_total=7)) == 7
    assert time.monotonic() - started < 1.0


def test_statuses_count_like_events() -> None:
    inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
    status = Status(online=True, battery_pct=None, ts=None)
    for _ in range(7):
        inbox.put(Message(1, 1, time.monotonic(), status=(BinAddress("e", "r", "b"), status)))
    assert len(collect(inbox, 5, 1000, 1.0)) == 5


@pytest.mark.parametrize(
    ("batch", "window", "total"),
    [(2_000, 6_000, 4_000), (2_000, 5_000, 3_000), (2_000, 2_001, 2_000), (20, 40, 20)],
)
def test_batch_total_leaves_a_batch_of_the_window_open(
    monkeypatch: pytest.MonkeyPatch, batch: int, window: int, total: int
) -> None:
    monkeypatch.setenv("FENLEI_DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("FENLEI_BATCH_MAX_MESSAGES", str(batch))
    monkeypatch.setenv("FENLEI_RECEIVE_MAXIMUM", str(window))
    assert IngestSettings().batch_max_total == total  # type: ignore[call-arg]


def test_the_ingester_process_sets_its_switch_interval() -> None:
    from ingest.__main__ import configure_process

    url = "postgresql://x@127.0.0.1/x"
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        configure_process(IngestSettings(database_url=url, mqtt_url="mqtt://127.0.0.1:1883"))
        assert sys.getswitchinterval() == pytest.approx(0.0003)
        # Over TLS Python's own interval is left as it is (it measured faster there).
        sys.setswitchinterval(0.005)
        configure_process(IngestSettings(database_url=url, mqtt_url="mqtts://127.0.0.1:8883"))
        assert sys.getswitchinterval() == pytest.approx(0.005)
        configure_process(
            IngestSettings(
                database_url=url, mqtt_url="mqtts://127.0.0.1:8883", switch_interval_ms=2
            )
        )
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)
    with pytest.raises(ValidationError):
        IngestSettings(database_url=url, switch_interval_ms=0)
