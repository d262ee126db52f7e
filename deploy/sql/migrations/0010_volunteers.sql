-- Volunteers who stand watch beside the refuse rooms: who they are, when they can,
-- the watch slots of each room, the shifts of a roster, check-in/out, inspections
-- and swaps. Times of a shift are stored both as instants and as the local day and
-- clock times they were generated from, so a later time zone change cannot move them.

CREATE TABLE volunteers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    estate_id    text NOT NULL REFERENCES estates ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    contact      text,
    building_id  text,
    kind         text NOT NULL DEFAULT 'resident'
                 CHECK (kind IN ('party_member', 'group_leader', 'resident', 'child_leader')),
    -- [{"days": [0..6, Monday = 0], "start": "HH:MM", "end": "HH:MM"}]; NULL: any time.
    availability jsonb,
    -- Local days the volunteer cannot take (travel, illness).
    unavailable_on date[] NOT NULL DEFAULT '{}',
    -- The bearer token that acts as this volunteer ("me").
    token_id     bigint UNIQUE REFERENCES api_tokens (id) ON DELETE SET NULL,
    -- Secret of the volunteer's calendar URL. It only reveals their own shifts, and
    -- must be shown again on request, so it is stored as is (not hashed).
    calendar_key text NOT NULL UNIQUE,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volunteers_estate ON volunteers (estate_id);

-- Rooms whose watch slots are their own (possibly none: a room nobody watches); any
-- other room watches its estate's drop-off windows on every day.
CREATE TABLE watched_rooms (
    estate_id text NOT NULL,
    room_id   text NOT NULL,
    PRIMARY KEY (estate_id, room_id),
    FOREIGN KEY (estate_id, room_id) REFERENCES rooms ON DELETE CASCADE
);

-- Watch slots per room and day type. An end at or before the start runs past midnight.
CREATE TABLE watch_slots (
    estate_id text NOT NULL,
    room_id   text NOT NULL,
    day_type  text NOT NULL CHECK (day_type IN ('weekday', 'weekend')),
    starts    time NOT NULL,
    ends      time NOT NULL,
    needed    smallint NOT NULL DEFAULT 1 CHECK (needed BETWEEN 1 AND 20),
    PRIMARY KEY (estate_id, room_id, day_type, starts),
    FOREIGN KEY (estate_id, room_id) REFERENCES watched_rooms ON DELETE CASCADE
);

-- One watch slot on one local day at one room.
CREATE TABLE shifts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    estate_id   text NOT NULL,
    room_id     text NOT NULL,
    day         date NOT NULL,
    local_start time NOT NULL,
    local_end   time NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    needed      smallint NOT NULL DEFAULT 1,
    UNIQUE (estate_id, room_id, starts_at),
    FOREIGN KEY (estate_id, room_id) REFERENCES rooms ON DELETE CASCADE
);
CREATE INDEX shifts_estate_time ON shifts (estate_id, starts_at);

CREATE TABLE assignments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shift_id       bigint NOT NULL REFERENCES shifts ON DELETE CASCADE,
    volunteer_id   bigint NOT NULL REFERENCES volunteers ON DELETE CASCADE,
    checked_in_at  timestamptz,
    checked_out_at timestamptz CHECK (checked_out_at >= checked_in_at),
    UNIQUE (shift_id, volunteer_id)
);
CREATE INDEX assignments_volunteer ON assignments (volunteer_id, shift_id);

-- An inspection during a shift; its counts are per category in inspection_lines.
CREATE TABLE inspections (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES assignments ON DELETE CASCADE,
    -- Who recorded it: only they (or an admin) may change it, even after a swap.
    volunteer_id  bigint NOT NULL REFERENCES volunteers ON DELETE CASCADE,
    -- Whose drops were checked, when the room serves known buildings: accuracy per building.
    building_id   text,
    notes         text,
    photo_ref     text,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inspections_assignment ON inspections (assignment_id);

CREATE TABLE inspection_lines (
    inspection_id bigint NOT NULL REFERENCES inspections ON DELETE CASCADE,
    category      text NOT NULL
                  CHECK (category IN ('dry', 'wet', 'recyclable', 'hazardous', 'construction')),
    checked       integer NOT NULL CHECK (checked >= 0),
    mis_sorted    integer NOT NULL CHECK (mis_sorted BETWEEN 0 AND checked),
    re_sorted     integer NOT NULL CHECK (re_sorted BETWEEN 0 AND mis_sorted),
    PRIMARY KEY (inspection_id, category)
);

-- A volunteer offers their assignment; another volunteer of the estate takes it.
CREATE TABLE swaps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES assignments ON DELETE CASCADE,
    offered_by    bigint NOT NULL REFERENCES volunteers ON DELETE CASCADE,
    taken_by      bigint REFERENCES volunteers ON DELETE SET NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'cancelled')),
    note          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    decided_at    timestamptz
);
-- At most one open offer per assignment.
CREATE UNIQUE INDEX swaps_one_open ON swaps (assignment_id) WHERE status = 'open';
