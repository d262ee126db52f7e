-- (#16) What the alarm evaluator (`fenlei alarms`) needs beyond 0021.
--
-- Its watermark: events with received_at up to `events_until` have been read. It moves
-- in the same transaction as the alarm records it wrote, so a restart (even SIGKILL)
-- resumes exactly there. Each tick re-reads a margin before it (an ingester's
-- transaction that began earlier may commit later); the writes are idempotent, so
-- reading an event twice changes nothing.
CREATE TABLE alarm_evaluator (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    events_until timestamptz NOT NULL,
    ticked_at    timestamptz NOT NULL DEFAULT now()
);

-- The evaluator reads new events by when they were stored, not by device time: a
-- device's backfill of yesterday is still new to it. Events arrive in received_at
-- order, so the index only ever appends.
CREATE INDEX events_received ON events (received_at);

-- The latest resolution of a (bin, kind): events stored before it belong to that record.
CREATE INDEX alarms_key_resolved ON alarms (estate_id, room_id, bin_id, kind, resolved_at DESC)
    WHERE state = 'resolved';

-- A device alarm that stops repeating for this long resolves by itself (an overflow
-- also resolves at the bin's next `empty`).
ALTER TABLE alarm_settings
    ADD COLUMN device_clear_minutes integer NOT NULL DEFAULT 30
        CHECK (device_clear_minutes BETWEEN 1 AND 10080);
