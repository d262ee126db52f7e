-- (#16) Alarms as records with a lifecycle: open -> acknowledged -> resolved.
--
-- One record per (bin or room, kind) while it is not resolved: a repeat of the same
-- condition raises `repeats` and `last_seen`, it adds no row (the partial unique index
-- below makes that hold under concurrent writers). A record resolves by itself when its
-- condition clears (resolved_by 'auto') or by a person. Device alarms come from the
-- bins' `alarm` events; derived ones (fill, battery, offline, silent room, stuck
-- sensor) from the evaluator, with the estate's thresholds in `alarm_settings`.
CREATE TABLE alarms (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    estate_id        text NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    room_id          text NOT NULL,
    -- NULL for a room's alarm (silent_room).
    bin_id           text CHECK (bin_id IS NULL OR bin_id ~ '^[a-z0-9-]{1,64}$'),
    kind             text NOT NULL CHECK (kind IN (
                         -- from the device (ingest.contract.ALARMS)
                         'overflow', 'odour', 'temperature', 'tilt', 'sensor_fault',
                         -- derived
                         'fill_high', 'battery_low', 'offline', 'silent_room',
                         'stuck_sensor')),
    source           text NOT NULL CHECK (source IN ('device', 'derived')),
    state            text NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'acknowledged', 'resolved')),
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL CHECK (last_seen >= first_seen),
    repeats          integer NOT NULL DEFAULT 1 CHECK (repeats >= 1),
    -- What the condition was: {"fill_pct": 97.5}, {"silent_minutes": 42}, ...
    detail           jsonb NOT NULL DEFAULT '{}',
    opened_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    -- Who, as the audit log names people: a token's name or a volunteer's name.
    acknowledged_by  text,
    resolved_at      timestamptz,
    -- 'auto' when the condition cleared, else who resolved it.
    resolved_by      text,
    FOREIGN KEY (estate_id, room_id) REFERENCES rooms ON DELETE CASCADE,
    CHECK (state <> 'open' OR (acknowledged_at IS NULL AND resolved_at IS NULL)),
    CHECK (state <> 'acknowledged' OR acknowledged_at IS NOT NULL),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
-- At most one unresolved record per bin (or room) and kind.
CREATE UNIQUE INDEX alarms_one_unresolved
    ON alarms (estate_id, room_id, coalesce(bin_id, ''), kind) WHERE state <> 'resolved';
CREATE INDEX alarms_estate_state ON alarms (estate_id, state, last_seen DESC);

-- Per-estate thresholds of the derived alarms; an estate without a row uses the
-- defaults (the column defaults, which the evaluator reads from here too).
CREATE TABLE alarm_settings (
    estate_id               text PRIMARY KEY REFERENCES estates (id) ON DELETE CASCADE,
    fill_pct                real NOT NULL DEFAULT 90 CHECK (fill_pct > 0 AND fill_pct <= 100),
    battery_pct             real NOT NULL DEFAULT 20 CHECK (battery_pct >= 0 AND battery_pct < 100),
    -- No message from a bin for this long: offline (shorter during drop-off windows).
    offline_minutes         integer NOT NULL DEFAULT 60 CHECK (offline_minutes BETWEEN 1 AND 10080),
    offline_window_minutes  integer NOT NULL DEFAULT 15
                            CHECK (offline_window_minutes BETWEEN 1 AND 10080),
    silent_room             boolean NOT NULL DEFAULT true,
    stuck_sensor            boolean NOT NULL DEFAULT true,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
