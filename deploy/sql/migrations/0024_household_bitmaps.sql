-- Household bitmaps (#17): participation of many estates without one probe per
-- household. Each household (registry id or drop token) gets a stable ordinal within
-- its estate; a set of households is a `bit varying` with bit `ordinal` set (bit 0 the
-- leftmost). Per estate and local day, and per estate and month, the households with
-- an identified drop; per estate and month end, the households enrolled that day.
-- Participation over [from, to] = bit_count((OR of the period's whole months and edge
-- days) AND (enrolled on `to`)): exact, distinct households, any period.
-- The functions that keep them are in deploy/sql/idempotent/02_rollups.sql.

-- Ordinals are never reused or renumbered, so a bitmap written yesterday still names
-- the same households. next_ordinal only grows; a bitmap is at most next_ordinal bits
-- long (shorter ones are read as padded with zeros: fenlei_pad).
CREATE TABLE household_ordinal_next (
    estate_id    text PRIMARY KEY REFERENCES estates ON DELETE CASCADE,
    next_ordinal integer NOT NULL
);
CREATE TABLE household_ordinals (
    estate_id text NOT NULL REFERENCES estates ON DELETE CASCADE,
    household text NOT NULL,
    ordinal   integer NOT NULL CHECK (ordinal >= 0),
    PRIMARY KEY (estate_id, household),
    UNIQUE (estate_id, ordinal)
);

-- Households with an identified drop on a local day (any token, registered or not:
-- the enrolled bitmap decides who counts).
CREATE TABLE household_day_bits (
    estate_id text NOT NULL REFERENCES estates ON DELETE CASCADE,
    day       date NOT NULL,
    active    bit varying NOT NULL,
    PRIMARY KEY (estate_id, day)
);
-- The same per local month (the OR of the month's days).
CREATE TABLE household_month_bits (
    estate_id text NOT NULL REFERENCES estates ON DELETE CASCADE,
    month     date NOT NULL CHECK (extract(day FROM month) = 1),
    active    bit varying NOT NULL,
    PRIMARY KEY (estate_id, month)
);
-- Households enrolled on `as_of` (a spell with enrolled_on <= as_of < left_on), as the
-- registry's history says now: a trigger on household_spells rewrites the bits of the
-- households a change touches in every row of their estate. Rows are kept for month
-- ends; enrolled on any other day is the latest row before it with the bits of the
-- households whose spells start or end in between read from household_spells.
CREATE TABLE household_enrolled_bits (
    estate_id text NOT NULL REFERENCES estates ON DELETE CASCADE,
    as_of     date NOT NULL,
    enrolled  bit varying NOT NULL,
    PRIMARY KEY (estate_id, as_of)
);

-- Daily_category summed per month: a city's month is 13k x 5 rows instead of 2M.
CREATE TABLE monthly_category (
    estate_id       text NOT NULL REFERENCES estates ON DELETE CASCADE,
    month           date NOT NULL CHECK (extract(day FROM month) = 1),
    category        text NOT NULL,
    drops           bigint NOT NULL,
    weight_g        bigint NOT NULL,
    identified_drops bigint NOT NULL,
    in_window_drops bigint NOT NULL,
    PRIMARY KEY (estate_id, month, category)
);

-- The spells starting or ending between a snapshot and `to`, per estate.
CREATE INDEX household_spells_enrolled_on ON household_spells (estate_id, enrolled_on);
CREATE INDEX household_spells_left_on ON household_spells (estate_id, left_on)
    WHERE left_on IS NOT NULL;

-- Estates whose bitmaps the next run of 02_rollups.sql builds from the rollups and the
-- registry (the functions do not exist yet while this migration runs), then forgets.
CREATE TABLE household_bits_backfill (estate_id text PRIMARY KEY);
INSERT INTO household_bits_backfill SELECT id FROM estates;
