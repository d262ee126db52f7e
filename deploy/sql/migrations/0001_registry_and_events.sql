-- The registry (estates → buildings → building groups → households; rooms → bins)
-- and the events hypertable with its quarantine.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE estates (
    id               text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,64}$'),
    name             text NOT NULL,
    timezone         text NOT NULL DEFAULT 'Asia/Shanghai',
    -- The committee's own count of households; the coverage denominator.
    households_total integer NOT NULL CHECK (households_total >= 0),
    -- Local drop-off windows (定时定点) as [["07:00","09:00"], ["18:00","20:00"]].
    drop_windows     jsonb NOT NULL DEFAULT '[["07:00","09:00"],["18:00","20:00"]]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE buildings (
    estate_id text NOT NULL REFERENCES estates ON DELETE CASCADE,
    id        text NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
    name      text,
    PRIMARY KEY (estate_id, id)
);

-- 楼组: a stairwell of a building, the unit volunteers and star families are organised by.
CREATE TABLE building_groups (
    estate_id   text NOT NULL,
    building_id text NOT NULL,
    id          text NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
    name        text,
    PRIMARY KEY (estate_id, building_id, id),
    FOREIGN KEY (estate_id, building_id) REFERENCES buildings ON DELETE CASCADE
);

-- The id is the token on the household's card or QR code.
CREATE TABLE households (
    estate_id         text NOT NULL REFERENCES estates ON DELETE CASCADE,
    id                text NOT NULL CHECK (id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    building_id       text NOT NULL,
    building_group_id text,
    enrolled_on       date,
    left_on           date,
    PRIMARY KEY (estate_id, id),
    FOREIGN KEY (estate_id, building_id) REFERENCES buildings ON DELETE CASCADE,
    CHECK (left_on IS NULL OR enrolled_on IS NULL OR left_on >= enrolled_on)
);
CREATE INDEX households_building ON households (estate_id, building_id, building_group_id);

CREATE TABLE rooms (
    estate_id text NOT NULL REFERENCES estates ON DELETE CASCADE,
    id        text NOT NULL CHECK (id ~ '^[a-z0-9-]{1,64}$'),
    name      text,
    PRIMARY KEY (estate_id, id)
);

CREATE TABLE bins (
    -- A small surrogate key keeps the events table and its dedupe index narrow.
    bin_key     integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    estate_id   text NOT NULL,
    room_id     text NOT NULL,
    id          text NOT NULL CHECK (id ~ '^[a-z0-9-]{1,64}$'),
    category    text NOT NULL
                CHECK (category IN ('dry', 'wet', 'recyclable', 'hazardous', 'construction')),
    -- Device state, kept current by the ingester from status and events.
    online      boolean,
    last_seen   timestamptz,
    battery_pct real,
    fill_pct    real,
    -- Device time of the newest event that set fill/battery: late backfills must not
    -- overwrite a newer reading.
    state_ts    timestamptz,
    last_alarm  text,
    last_alarm_at timestamptz,
    PRIMARY KEY (estate_id, room_id, id),
    FOREIGN KEY (estate_id, room_id) REFERENCES rooms ON DELETE CASCADE
);

CREATE TABLE events (
    ts          timestamptz NOT NULL,
    bin_key     integer NOT NULL,
    event_id    text NOT NULL,
    estate_id   text NOT NULL,
    -- Copied from the bin at ingest so per-category sums need no join.
    category    text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('drop', 'fill', 'empty', 'alarm')),
    weight_g    integer,
    fill_pct    real,
    household   text,
    alarm       text,
    battery_pct real,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- The dedupe key. A hypertable's unique keys must contain its time column;
    -- a redelivered event carries the same ts, so (bin, event_id, ts) catches it.
    CONSTRAINT events_dedupe UNIQUE (bin_key, event_id, ts)
);
SELECT create_hypertable('events', 'ts', chunk_time_interval => INTERVAL '7 days');
CREATE INDEX events_estate_ts ON events (estate_id, ts DESC);

-- The quarantine: every message (or array element) that was not stored, with why.
CREATE TABLE rejected_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    estate_id   text,
    reason      text NOT NULL,
    detail      text NOT NULL,
    -- Bounded by the ingester (4 KiB) so a flood of garbage cannot fill the disk quickly.
    payload     bytea NOT NULL,
    item_index  integer
);
CREATE INDEX rejected_received ON rejected_messages (received_at DESC);
CREATE INDEX rejected_estate ON rejected_messages (estate_id, received_at DESC);
