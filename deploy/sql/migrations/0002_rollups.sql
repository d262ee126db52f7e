-- Rollups the ingester keeps in the same transaction as the events they count, so
-- the API answers from a few thousand rows instead of a period's raw events.
-- Days are local days in the estate's time zone at ingest time.

-- Is a local time of day inside any of an estate's drop-off windows?
CREATE FUNCTION fenlei_in_window(local_time time, windows jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(bool_or(local_time >= (w->>0)::time AND local_time < (w->>1)::time), false)
    FROM jsonb_array_elements(windows) AS w
$$;

-- Drops per estate, local day and category (all drops, identified or not).
CREATE TABLE daily_category (
    estate_id        text NOT NULL REFERENCES estates ON DELETE CASCADE,
    day              date NOT NULL,
    category         text NOT NULL,
    drops            integer NOT NULL,
    weight_g         bigint NOT NULL,
    identified_drops integer NOT NULL,
    in_window_drops  integer NOT NULL,
    PRIMARY KEY (estate_id, day, category)
);

-- One row per household token and local day with a drop: participation and
-- per-household kg. Tokens not (yet) in the registry are kept; queries join.
CREATE TABLE household_days (
    estate_id      text NOT NULL REFERENCES estates ON DELETE CASCADE,
    day            date NOT NULL,
    household      text NOT NULL,
    drops          integer NOT NULL,
    dry_g          bigint NOT NULL,
    wet_g          bigint NOT NULL,
    recyclable_g   bigint NOT NULL,
    hazardous_g    bigint NOT NULL,
    construction_g bigint NOT NULL,
    PRIMARY KEY (estate_id, day, household)
);
CREATE INDEX household_days_household ON household_days (estate_id, household, day);
