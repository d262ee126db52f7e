"""The ingester's counters, exported in Prometheus format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
# process_* (start time, CPU, memory, open files; Linux only): the alert rules read the
# start time to tell a silent estate from an ingester that has just started
# (deploy/monitoring/alerts.yaml, FenleiEstateSilent).
ProcessCollector(registry=REGISTRY)

RECEIVED = Counter("fenlei_ingest_messages_received", "MQTT messages received", registry=REGISTRY)
EVENTS_STORED = Counter("fenlei_ingest_events_stored", "Events newly stored", registry=REGISTRY)
EVENTS_DUPLICATE = Counter(
    "fenlei_ingest_events_duplicate",
    "Valid events already stored (redeliveries)",
    registry=REGISTRY,
)
REJECTED = Counter(
    "fenlei_ingest_rejected",
    "Messages or array items quarantined, by reason",
    ["reason"],
    registry=REGISTRY,
)
# Per estate, for "no events from an estate" (FenleiEstateSilent). Cardinality: one
# series per estate with registered bins, no more: only events of registered bins are
# counted (the rest is quarantined as unknown_bin), and the ingester creates each
# registered estate's series at 0 (ingest/service.py) so that an estate silent since
# before a restart still has a series to alert on. Counted per batch, not per event.
ESTATE_EVENTS = Counter(
    "fenlei_ingest_estate_events",
    "Valid events of an estate's registered bins received (stored or duplicate), by estate",
    ["estate"],
    registry=REGISTRY,
)
STATUS_UPDATES = Counter(
    "fenlei_ingest_status_updates", "Device status messages applied", registry=REGISTRY
)
BATCH_MESSAGES = Histogram(
    "fenlei_ingest_batch_messages",
    "Messages per committed batch",
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "fenlei_ingest_commit_seconds",
    "Time to store and commit a batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
LAG_SECONDS = Histogram(
    "fenlei_ingest_lag_seconds",
    "From a batch's first message received to its commit",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120),
    registry=REGISTRY,
)
DEGRADED = Gauge("fenlei_ingest_degraded", "1 while the database is unreachable", registry=REGISTRY)
CONNECTED = Gauge(
    "fenlei_ingest_broker_connected", "1 while connected to the broker", registry=REGISTRY
)
# CONNACKs with a failure reason (0x86 bad user name or password, 0x87 not authorized,
# …), by reason: a wrong or revoked ingest login shows here, not only in the log.
CONNECT_REFUSED = Counter(
    "fenlei_ingest_broker_refusals",
    "Connections the broker refused (CONNACK reason >= 0x80), by reason",
    ["reason"],
    registry=REGISTRY,
)
# Stored watermarks (ingest/watermark.py). Labelled by estate only: per-bin counts are
# in the database (seq_gaps) and the bins route, not in label cardinality.
SEQ_GAPS = Counter(
    "fenlei_ingest_seq_gaps",
    "Gaps in a bin's seq recorded as lost (open past FENLEI_SEQ_GAP_TIMEOUT_S), by estate",
    ["estate"],
    registry=REGISTRY,
)
SEQ_LOST = Counter(
    "fenlei_ingest_seq_lost",
    "Seqs declared lost: the missing seqs of the recorded gaps, by estate",
    ["estate"],
    registry=REGISTRY,
)
SEQ_FILLED_LATE = Counter(
    "fenlei_ingest_seq_filled_late",
    "Events stored after their seq was declared lost (stored, but late), by estate",
    ["estate"],
    registry=REGISTRY,
)
WATERMARKS_PUBLISHED = Counter(
    "fenlei_ingest_watermarks_published",
    "Stored watermarks published (retained, QoS 1) on the bins' stored topics",
    registry=REGISTRY,
)
# Messages the database refused even as quarantine records (logged at ERROR): acknowledged
# and dropped so one message cannot wedge every bin behind it. Should stay 0.
DROPPED = Counter(
    "fenlei_ingest_dropped",
    "Messages neither stored nor quarantined because the database refused both",
    registry=REGISTRY,
)
# Kept as plain counts on the network thread (a counter's lock per message costs there)
# and copied into these by the main loop.
STALE = Counter(
    "fenlei_ingest_messages_stale",
    "Messages of an earlier broker connection left out (the broker redelivers them)",
    registry=REGISTRY,
)
OVERFLOW_UNACKED = Counter(
    "fenlei_ingest_overflow_unacked",
    "Messages left unacknowledged because the inbox stayed full (redelivered after a reconnect)",
    registry=REGISTRY,
)
