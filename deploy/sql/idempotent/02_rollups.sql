-- The rollups of drops, defined once: what daily_category, household_days and
-- household_months count. The ingester calls fenlei_add_drops in its batch statement
-- with the rows that batch actually inserted (ingest/sql/store_batch.sql); the API
-- benchmark calls it with generated drops (bench/api.py). The API answers from these.
-- Re-applied by every migrate (deploy/migrate.py): edit in place, and DROP first when
-- a signature or return type changes.

-- The first day of a day's month: household_months' key.
CREATE OR REPLACE FUNCTION fenlei_month(day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- Through timestamp, not timestamptz, so the session's time zone cannot move it.
AS $$ SELECT date_trunc('month', day::timestamp)::date $$;

-- household_months.days has bit d-1 set for day d of the month.
CREATE OR REPLACE FUNCTION fenlei_day_bit(day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1 << (extract(day FROM day)::integer - 1) $$;

-- Count drops into the rollups: one array element per drop, the arrays in step (a
-- function cannot take a table). Callers pass each drop once, ever: the ingester only
-- the rows its INSERT ... ON CONFLICT DO NOTHING returned. Local days and windows are
-- those of each drop's estate now. Upserts go in key order, so concurrent callers take
-- row locks in one order. Returns the number of drops counted.
-- PL/pgSQL, not SQL: it keeps the statement's plan for the session, where a SQL
-- function would plan it again on every batch.
CREATE OR REPLACE FUNCTION fenlei_add_drops(
    drop_estates    text[],
    drop_ts         timestamptz[],
    drop_categories text[],
    drop_weights_g  integer[],
    drop_households text[]
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    counted bigint;
BEGIN
WITH given AS (
    SELECT *
    FROM unnest(drop_estates, drop_ts, drop_categories, drop_weights_g, drop_households)
        AS g(estate_id, ts, category, weight_g, household)
),
estate AS MATERIALIZED (
    SELECT id, timezone, fenlei_windows(drop_windows) AS windows
    FROM estates
    WHERE id IN (SELECT estate_id FROM given)
),
drops AS MATERIALIZED (
    SELECT g.estate_id, g.category, g.weight_g, g.household,
           fenlei_local_day(g.ts, e.timezone) AS day,
           fenlei_in_window(g.ts, e.timezone, e.windows) AS in_window
    FROM given g
    JOIN estate e ON e.id = g.estate_id
),
daily AS (
    INSERT INTO daily_category AS d (estate_id, day, category, drops, weight_g,
                                     identified_drops, in_window_drops)
    SELECT estate_id, day, category, count(*), sum(weight_g),
           count(household), count(*) FILTER (WHERE in_window)
    FROM drops
    GROUP BY estate_id, day, category
    ORDER BY estate_id, day, category
    ON CONFLICT (estate_id, day, category) DO UPDATE SET
        drops = d.drops + excluded.drops,
        weight_g = d.weight_g + excluded.weight_g,
        identified_drops = d.identified_drops + excluded.identified_drops,
        in_window_drops = d.in_window_drops + excluded.in_window_drops
),
-- Each identified household's drops per local day, aggregated once: household_days
-- takes these rows as they are, household_months folds them into months.
per_household_day AS MATERIALIZED (
    SELECT estate_id, day, household, count(*) AS drops,
           coalesce(sum(weight_g) FILTER (WHERE category = 'dry'), 0) AS dry_g,
           coalesce(sum(weight_g) FILTER (WHERE category = 'wet'), 0) AS wet_g,
           coalesce(sum(weight_g) FILTER (WHERE category = 'recyclable'), 0) AS recyclable_g,
           coalesce(sum(weight_g) FILTER (WHERE category = 'hazardous'), 0) AS hazardous_g,
           coalesce(sum(weight_g) FILTER (WHERE category = 'construction'), 0)
               AS construction_g
    FROM drops
    WHERE household IS NOT NULL
    GROUP BY estate_id, day, household
),
household_day AS (
    INSERT INTO household_days AS h (estate_id, day, household, drops, dry_g, wet_g,
                                     recyclable_g, hazardous_g, construction_g)
    SELECT estate_id, day, household, drops, dry_g, wet_g, recyclable_g, hazardous_g,
           construction_g
    FROM per_household_day
    ORDER BY estate_id, day, household
    ON CONFLICT (estate_id, day, household) DO UPDATE SET
        drops = h.drops + excluded.drops,
        dry_g = h.dry_g + excluded.dry_g,
        wet_g = h.wet_g + excluded.wet_g,
        recyclable_g = h.recyclable_g + excluded.recyclable_g,
        hazardous_g = h.hazardous_g + excluded.hazardous_g,
        construction_g = h.construction_g + excluded.construction_g
),
household_month AS (
    -- OR-ing a day's bit twice changes nothing; counts and grams only ever add.
    INSERT INTO household_months AS m (estate_id, month, household, days, drops, dry_g,
                                       wet_g, recyclable_g, hazardous_g, construction_g)
    SELECT estate_id, fenlei_month(day), household, bit_or(fenlei_day_bit(day)), sum(drops),
           sum(dry_g), sum(wet_g), sum(recyclable_g), sum(hazardous_g), sum(construction_g)
    FROM per_household_day
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (estate_id, month, household) DO UPDATE SET
        days = m.days | excluded.days,
        drops = m.drops + excluded.drops,
        dry_g = m.dry_g + excluded.dry_g,
        wet_g = m.wet_g + excluded.wet_g,
        recyclable_g = m.recyclable_g + excluded.recyclable_g,
        hazardous_g = m.hazardous_g + excluded.hazardous_g,
        construction_g = m.construction_g + excluded.construction_g
)
SELECT count(*) INTO counted FROM drops;
RETURN counted;
END
$$;

-- Rebuild estates' household_months from their household_days (the same months, day
-- bits and sums fenlei_add_drops keeps): after household_days were written some
-- other way, e.g. copied and shifted by the API benchmark.
CREATE OR REPLACE FUNCTION fenlei_rebuild_household_months(estate_ids text[]) RETURNS void
LANGUAGE sql
AS $$
DELETE FROM household_months WHERE estate_id = ANY (estate_ids);
INSERT INTO household_months (estate_id, month, household, days, drops, dry_g, wet_g,
                              recyclable_g, hazardous_g, construction_g)
SELECT estate_id, fenlei_month(day), household, bit_or(fenlei_day_bit(day)), sum(drops),
       sum(dry_g), sum(wet_g), sum(recyclable_g), sum(hazardous_g), sum(construction_g)
FROM household_days
WHERE estate_id = ANY (estate_ids)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
$$;
