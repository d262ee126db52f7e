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

-- Household bitmaps (migration 0024): a set of an estate's households as a bit
-- varying with bit `ordinal` set (bit 0 leftmost). Bitmaps of one estate may differ
-- in length (households get ordinals over time); missing bits on the right are zeros.

-- `bits` padded with zeros to `width` bits (never cut).
CREATE OR REPLACE FUNCTION fenlei_pad(bits bit varying, width integer) RETURNS bit varying
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN length(bits) >= width THEN bits
                  ELSE bits || repeat('0', width - length(bits))::bit varying END $$;

-- OR and AND of bitmaps of any two lengths (the built-in | and & need equal ones).
CREATE OR REPLACE FUNCTION fenlei_or(a bit varying, b bit varying) RETURNS bit varying
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
                  ELSE fenlei_pad(a, length(b)) | fenlei_pad(b, length(a)) END $$;
CREATE OR REPLACE FUNCTION fenlei_and(a bit varying, b bit varying) RETURNS bit varying
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT fenlei_pad(a, length(b)) & fenlei_pad(b, length(a)) $$;

-- A bitmap of `width` bits with the bits of `ordinals` set (NULLs ignored). A batch's
-- (estate, day) has a few dozen households: one set_bit each on a zeroed bitmap.
CREATE OR REPLACE FUNCTION fenlei_bits(ordinals integer[], width integer)
RETURNS bit varying
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    bits bit varying;
    o integer;
BEGIN
    IF width <= 0 THEN
        RETURN B'';
    END IF;
    bits := repeat('0', width)::bit varying;
    IF ordinals IS NOT NULL THEN
        FOREACH o IN ARRAY ordinals LOOP
            IF o IS NOT NULL THEN
                bits := set_bit(bits, o, 1);
            END IF;
        END LOOP;
    END IF;
    RETURN bits;
END
$$;

-- `bits` padded to `width`, with the bits of `set_on` set and those of `set_off` cleared.
CREATE OR REPLACE FUNCTION fenlei_set_bits(bits bit varying, set_on integer[],
                                           set_off integer[], width integer)
RETURNS bit varying
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    o integer;
BEGIN
    bits := fenlei_pad(coalesce(bits, B''), width);
    IF set_on IS NOT NULL THEN
        FOREACH o IN ARRAY set_on LOOP
            bits := set_bit(bits, o, 1);
        END LOOP;
    END IF;
    IF set_off IS NOT NULL THEN
        FOREACH o IN ARRAY set_off LOOP
            bits := set_bit(bits, o, 0);
        END LOOP;
    END IF;
    RETURN bits;
END
$$;

-- Lock estates' ordinal counter rows (made when missing) in estate order: every
-- writer of the household bitmaps that numbers households or makes registry bitmaps
-- takes them this way, so none waits on another crosswise.
CREATE OR REPLACE FUNCTION fenlei_lock_estates(estate_ids text[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO household_ordinal_next (estate_id, next_ordinal)
    SELECT DISTINCT e, 0 FROM unnest(estate_ids) AS e
    WHERE EXISTS (SELECT FROM estates WHERE id = e)
    ORDER BY 1
    ON CONFLICT (estate_id) DO NOTHING;
    PERFORM 1 FROM household_ordinal_next
    WHERE estate_id = ANY (estate_ids) ORDER BY estate_id FOR UPDATE;
END
$$;

-- Give every (estate, household) pair an ordinal it does not have yet: numbers from the
-- estate's counter (an upsert, so concurrent callers for one estate queue on its row),
-- never reused. A household numbered meanwhile by another transaction keeps its
-- number (DO NOTHING; the claimed number is left unused).
CREATE OR REPLACE FUNCTION fenlei_assign_ordinals(estate_ids text[], households text[])
RETURNS void
LANGUAGE plpgsql
-- PL/pgSQL (here and below, where 0024's tables are read): checked when run, so this
-- file also applies to a database migrated only part of the way (the migration tests).
AS $$
BEGIN
WITH wanted AS (
    SELECT DISTINCT w.estate_id, w.household
    FROM unnest(estate_ids, households) AS w(estate_id, household)
    WHERE w.household IS NOT NULL
      -- An estate deleted in this statement (its spells' cascade fires the trigger).
      AND EXISTS (SELECT FROM estates WHERE id = w.estate_id)
      AND NOT EXISTS (SELECT FROM household_ordinals o
                      WHERE o.estate_id = w.estate_id AND o.household = w.household)
),
counts AS (
    SELECT estate_id, count(*)::integer AS n FROM wanted GROUP BY estate_id
),
claimed AS (
    INSERT INTO household_ordinal_next AS c (estate_id, next_ordinal)
    SELECT estate_id, n FROM counts ORDER BY estate_id
    ON CONFLICT (estate_id) DO UPDATE SET next_ordinal = c.next_ordinal + excluded.next_ordinal
    RETURNING estate_id, next_ordinal
)
INSERT INTO household_ordinals (estate_id, household, ordinal)
SELECT w.estate_id, w.household,
       c.next_ordinal - n.n - 1
           + (row_number() OVER (PARTITION BY w.estate_id ORDER BY w.household))::integer
FROM wanted w
JOIN counts n ON n.estate_id = w.estate_id
JOIN claimed c ON c.estate_id = w.estate_id
ORDER BY w.estate_id, w.household
ON CONFLICT (estate_id, household) DO NOTHING;
END
$$;

-- The households of an estate enrolled on `as_of` (a spell in force that day), as the
-- registry says now, `width` bits wide.
CREATE OR REPLACE FUNCTION fenlei_enrolled_bits(estate text, as_of date, width integer)
RETURNS bit varying
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (
        SELECT fenlei_bits(array_agg(o.ordinal), width)
        FROM household_spells s
        JOIN household_ordinals o ON o.estate_id = s.estate_id AND o.household = s.household_id
        WHERE s.estate_id = estate AND s.enrolled_on <= as_of
          AND (s.left_on IS NULL OR s.left_on > as_of)
    );
END
$$;

-- The last day of a day's month: household_enrolled_bits keeps month ends.
CREATE OR REPLACE FUNCTION fenlei_month_end(day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (fenlei_month(day) + interval '1 month' - interval '1 day')::date $$;

-- Make sure household_enrolled_bits has a row for each month end of `months` (first days)
-- of each estate, built from the registry. The estates' counter rows are locked first
-- (FOR UPDATE, in estate order), as fenlei_refresh_enrolled locks them before
-- rewriting rows: a row made here cannot miss a registry change committed meanwhile,
-- since the next statement's snapshot sees it, and a later change waits for this row.
CREATE OR REPLACE FUNCTION fenlei_ensure_enrolled(estate_ids text[], months date[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM unnest(estate_ids, months) AS w(estate_id, month)
        WHERE NOT EXISTS (SELECT FROM household_enrolled_bits b
                          WHERE b.estate_id = w.estate_id
                            AND b.as_of = fenlei_month_end(w.month))
    ) THEN
        RETURN;
    END IF;
    PERFORM fenlei_lock_estates(estate_ids);
    INSERT INTO household_enrolled_bits (estate_id, as_of, enrolled)
    SELECT w.estate_id, w.as_of, fenlei_enrolled_bits(w.estate_id, w.as_of, n.next_ordinal)
    FROM (SELECT DISTINCT estate_id, fenlei_month_end(month) AS as_of
          FROM unnest(estate_ids, months) AS u(estate_id, month)) AS w
    JOIN household_ordinal_next n ON n.estate_id = w.estate_id
    ORDER BY 1, 2
    ON CONFLICT (estate_id, as_of) DO NOTHING;
END
$$;

-- Rewrite the bits of the given households in every household_enrolled_bits row of
-- their estates from the registry's spells (after a change to household_spells).
CREATE OR REPLACE FUNCTION fenlei_refresh_enrolled(estate_ids text[], households text[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM fenlei_lock_estates(estate_ids);
    PERFORM fenlei_assign_ordinals(estate_ids, households);
    UPDATE household_enrolled_bits b
    SET enrolled = fenlei_set_bits(b.enrolled, x.set_on, x.set_off, n.next_ordinal)
    FROM (
        SELECT r.estate_id, r.as_of,
               array_agg(o.ordinal) FILTER (WHERE t.enrolled) AS set_on,
               array_agg(o.ordinal) FILTER (WHERE NOT t.enrolled) AS set_off
        FROM household_enrolled_bits r
        JOIN (SELECT DISTINCT estate_id, household
              FROM unnest(estate_ids, households) AS u(estate_id, household)) AS h
          ON h.estate_id = r.estate_id
        JOIN household_ordinals o ON o.estate_id = h.estate_id AND o.household = h.household
        CROSS JOIN LATERAL (
            SELECT EXISTS (
                SELECT FROM household_spells s
                WHERE s.estate_id = h.estate_id AND s.household_id = h.household
                  AND s.enrolled_on <= r.as_of AND (s.left_on IS NULL OR s.left_on > r.as_of)
            ) AS enrolled
        ) AS t
        GROUP BY r.estate_id, r.as_of
    ) AS x
    JOIN household_ordinal_next n ON n.estate_id = x.estate_id
    WHERE b.estate_id = x.estate_id AND b.as_of = x.as_of;
END
$$;

-- Every change to household_spells (the registry API, an import, a household deleted
-- with its history, a migration) keeps household_enrolled_bits exact, in the same
-- transaction. Statement triggers with transition tables: one call per statement.
CREATE OR REPLACE FUNCTION fenlei_spells_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    e text[];
    h text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(estate_id), array_agg(household_id) INTO e, h FROM new_spells;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(estate_id), array_agg(household_id) INTO e, h FROM old_spells;
    ELSE
        SELECT array_agg(estate_id), array_agg(household_id) INTO e, h
        FROM (SELECT estate_id, household_id FROM new_spells
              UNION SELECT estate_id, household_id FROM old_spells) AS x;
    END IF;
    IF e IS NOT NULL THEN
        PERFORM fenlei_refresh_enrolled(e, h);
    END IF;
    RETURN NULL;
END
$$;
-- Only once migration 0024 made the tables (the migration tests apply this file to
-- databases migrated part of the way).
DO $$
BEGIN
    IF to_regclass('household_ordinals') IS NULL THEN
        RETURN;
    END IF;
    CREATE OR REPLACE TRIGGER household_spells_bits_insert
        AFTER INSERT ON household_spells REFERENCING NEW TABLE AS new_spells
        FOR EACH STATEMENT EXECUTE FUNCTION fenlei_spells_changed();
    CREATE OR REPLACE TRIGGER household_spells_bits_update
        AFTER UPDATE ON household_spells
        REFERENCING OLD TABLE AS old_spells NEW TABLE AS new_spells
        FOR EACH STATEMENT EXECUTE FUNCTION fenlei_spells_changed();
    CREATE OR REPLACE TRIGGER household_spells_bits_delete
        AFTER DELETE ON household_spells REFERENCING OLD TABLE AS old_spells
        FOR EACH STATEMENT EXECUTE FUNCTION fenlei_spells_changed();
END
$$;

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
    busy text[];
BEGIN
IF to_regclass('household_ordinals') IS NULL THEN
    -- A database migrated only up to a migration before 0024 (the migration tests
    -- migrate step by step, with this file applied at each step): the rollups without
    -- the household bitmaps, the statement as it was before them.
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
END IF;
-- The household bitmaps first need every identified household numbered and a
-- registry bitmap for each month end the drops reach. Both take the estates' counter
-- rows, so they are locked here, all at once and in estate order, before any rollup
-- row: two batches of one estate and day can never wait on each other crosswise. Most
-- batches need neither (no new household, no new month) and lock nothing here.
WITH g AS (
    SELECT DISTINCT g.estate_id, g.household,
           fenlei_month_end(fenlei_local_day(g.ts, e.timezone)) AS month_end
    FROM unnest(drop_estates, drop_ts, drop_households) AS g(estate_id, ts, household)
    JOIN estates e ON e.id = g.estate_id
)
SELECT array_agg(DISTINCT g.estate_id ORDER BY g.estate_id) INTO busy
FROM g
WHERE (g.household IS NOT NULL
       AND NOT EXISTS (SELECT FROM household_ordinals o
                       WHERE o.estate_id = g.estate_id AND o.household = g.household))
   OR NOT EXISTS (SELECT FROM household_enrolled_bits b
                  WHERE b.estate_id = g.estate_id AND b.as_of = g.month_end);
IF busy IS NOT NULL THEN
    PERFORM fenlei_lock_estates(busy);
    PERFORM fenlei_assign_ordinals(drop_estates, drop_households);
    PERFORM fenlei_ensure_enrolled(array_agg(g.estate_id),
                                   array_agg(fenlei_month(fenlei_local_day(g.ts, e.timezone))))
    FROM unnest(drop_estates, drop_ts) AS g(estate_id, ts)
    JOIN estates e ON e.id = g.estate_id
    WHERE g.estate_id = ANY (busy);
END IF;
-- A new statement: its snapshot sees the ordinals numbered just now or by others.
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
monthly AS (
    INSERT INTO monthly_category AS d (estate_id, month, category, drops, weight_g,
                                       identified_drops, in_window_drops)
    SELECT estate_id, fenlei_month(day), category, count(*), sum(weight_g),
           count(household), count(*) FILTER (WHERE in_window)
    FROM drops
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (estate_id, month, category) DO UPDATE SET
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
),
-- The bitmaps of the households with a drop per day and per month: OR-ing a household's
-- bit in twice changes nothing, so only new bits matter (fenlei_or pads to the longer).
numbered AS MATERIALIZED (
    SELECT p.estate_id, p.day, o.ordinal
    FROM per_household_day p
    JOIN household_ordinals o ON o.estate_id = p.estate_id AND o.household = p.household
),
day_bits AS (
    INSERT INTO household_day_bits AS b (estate_id, day, active)
    SELECT estate_id, day, fenlei_bits(array_agg(ordinal), max(ordinal) + 1)
    FROM numbered
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (estate_id, day) DO UPDATE SET active = fenlei_or(b.active, excluded.active)
),
month_bits AS (
    INSERT INTO household_month_bits AS b (estate_id, month, active)
    SELECT estate_id, fenlei_month(day), fenlei_bits(array_agg(ordinal), max(ordinal) + 1)
    FROM numbered
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (estate_id, month) DO UPDATE SET active = fenlei_or(b.active, excluded.active)
)
SELECT count(*) INTO counted FROM drops;
RETURN counted;
END
$$;

-- Rebuild estates' household bitmaps and monthly_category from household_months,
-- daily_category and the registry (what fenlei_add_drops and the spells trigger keep):
-- after the rollups were written some other way (fenlei_rebuild_household_months, the
-- benchmarks, migration 0024's backfill). `with_days` false skips the per-day bitmaps,
-- for a benchmark that reads whole months only.
CREATE OR REPLACE FUNCTION fenlei_rebuild_household_bits(estate_ids text[],
                                                         with_days boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM fenlei_lock_estates(estate_ids);
    -- The registry's households first (numbered in id order), then other tokens.
    PERFORM fenlei_assign_ordinals(array_agg(estate_id), array_agg(id))
    FROM households WHERE estate_id = ANY (estate_ids);
    -- Only the tokens not numbered yet (fenlei_assign_ordinals skips the others anyway):
    -- after the registry's, usually none, and arrays of millions of pairs cost.
    PERFORM fenlei_assign_ordinals(array_agg(estate_id), array_agg(household))
    FROM (SELECT DISTINCT m.estate_id, m.household FROM household_months m
          WHERE m.estate_id = ANY (estate_ids)
            AND NOT EXISTS (SELECT FROM household_ordinals o
                            WHERE o.estate_id = m.estate_id
                              AND o.household = m.household)) AS m;
    DELETE FROM monthly_category WHERE estate_id = ANY (estate_ids);
    DELETE FROM household_month_bits WHERE estate_id = ANY (estate_ids);
    DELETE FROM household_day_bits WHERE estate_id = ANY (estate_ids);
    DELETE FROM household_enrolled_bits WHERE estate_id = ANY (estate_ids);
    INSERT INTO monthly_category (estate_id, month, category, drops, weight_g,
                                  identified_drops, in_window_drops)
    SELECT estate_id, fenlei_month(day), category, sum(drops), sum(weight_g),
           sum(identified_drops), sum(in_window_drops)
    FROM daily_category
    WHERE estate_id = ANY (estate_ids)
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;
    INSERT INTO household_month_bits (estate_id, month, active)
    SELECT m.estate_id, m.month, fenlei_bits(array_agg(o.ordinal), n.next_ordinal)
    FROM household_months m
    JOIN household_ordinals o ON o.estate_id = m.estate_id AND o.household = m.household
    JOIN household_ordinal_next n ON n.estate_id = m.estate_id
    WHERE m.estate_id = ANY (estate_ids)
    GROUP BY m.estate_id, m.month, n.next_ordinal
    ORDER BY 1, 2;
    IF with_days THEN
        -- Day d of a month is bit d-1 of household_months.days.
        INSERT INTO household_day_bits (estate_id, day, active)
        SELECT m.estate_id, m.month + d.i, fenlei_bits(array_agg(o.ordinal), n.next_ordinal)
        FROM household_months m
        CROSS JOIN generate_series(0, 30) AS d(i)
        JOIN household_ordinals o ON o.estate_id = m.estate_id AND o.household = m.household
        JOIN household_ordinal_next n ON n.estate_id = m.estate_id
        WHERE m.estate_id = ANY (estate_ids) AND (m.days >> d.i) & 1 = 1
        GROUP BY m.estate_id, m.month + d.i, n.next_ordinal
        ORDER BY 1, 2;
    END IF;
    PERFORM fenlei_ensure_enrolled(array_agg(estate_id), array_agg(month))
    FROM (SELECT estate_id, month FROM monthly_category WHERE estate_id = ANY (estate_ids)
          UNION
          SELECT estate_id, month FROM household_month_bits
          WHERE estate_id = ANY (estate_ids)) AS x;
END
$$;

-- Rebuild estates' household_months from their household_days (the same months, day
-- bits and sums fenlei_add_drops keeps), and then their bitmaps: after household_days
-- were written some other way, e.g. copied and shifted by the API benchmark.
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
SELECT fenlei_rebuild_household_bits(estate_ids);
$$;

-- The estates migration 0024 left for this file (the functions above did not exist
-- while it ran): their bitmaps from the rollups and the registry, once.
DO $$
DECLARE
    todo text[];
BEGIN
    IF to_regclass('household_bits_backfill') IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(estate_id) INTO todo FROM household_bits_backfill;
    IF todo IS NOT NULL THEN
        PERFORM fenlei_rebuild_household_bits(todo);
        DELETE FROM household_bits_backfill WHERE estate_id = ANY (todo);
    END IF;
END
$$;
