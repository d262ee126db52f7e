-- Move the staged batch into events, once per (bin, event_id): the key is claimed in
-- event_keys (migration 0013), and only events whose key row is new are inserted, so a
-- redelivery, a copy inside the batch or a resend with another ts is never stored or
-- counted twice. Of several copies of one key in the batch the first received wins.
-- The rollups and each bin's device state are updated from the rows actually inserted.
-- Inputs are sorted so concurrent ingesters take row locks in one order. Returns the
-- rows inserted and the bins among them whose events carry a seq (their stored
-- watermark may have moved).
WITH firsts AS MATERIALIZED (
    SELECT DISTINCT ON (bin_key, event_id) *
    FROM ingest_staging
    ORDER BY bin_key, event_id, ord
),
claimed AS (
    INSERT INTO event_keys (bin_key, event_id, ts, seq)
    SELECT bin_key, event_id, ts, seq
    FROM firsts
    ORDER BY bin_key, event_id
    ON CONFLICT (bin_key, event_id) DO NOTHING
    RETURNING bin_key, event_id
),
stored AS (
    -- No ON CONFLICT: a key claimed just now has no event yet; if one existed anyway
    -- the database's error is the right answer (the batch is split to find it).
    INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,
                        fill_pct, household, alarm, battery_pct, seq)
    SELECT f.ts, f.bin_key, f.event_id, f.estate_id, f.category, f.kind, f.weight_g,
           f.fill_pct, f.household, f.alarm, f.battery_pct, f.seq
    FROM firsts f
    JOIN claimed c ON c.bin_key = f.bin_key AND c.event_id = f.event_id
    ORDER BY f.bin_key, f.ts
    RETURNING bin_key, ts, estate_id, category, kind, weight_g, household,
              fill_pct, battery_pct, alarm, seq
),
rolled_up AS (
    -- The rollups' one definition (deploy/sql/idempotent/02_rollups.sql), fed only
    -- the drops this statement inserted.
    SELECT fenlei_add_drops(array_agg(estate_id), array_agg(ts), array_agg(category),
                            array_agg(weight_g), array_agg(household))
    FROM stored
    WHERE kind = 'drop'
),
latest AS (
    SELECT bin_key,
           max(ts) AS ts,
           (array_agg(fill_pct ORDER BY ts DESC) FILTER (WHERE fill_pct IS NOT NULL))[1]
               AS fill_pct,
           (array_agg(battery_pct ORDER BY ts DESC) FILTER (WHERE battery_pct IS NOT NULL))[1]
               AS battery_pct,
           (array_agg(alarm ORDER BY ts DESC) FILTER (WHERE alarm IS NOT NULL))[1] AS alarm,
           max(ts) FILTER (WHERE alarm IS NOT NULL) AS alarm_ts
    FROM stored
    GROUP BY bin_key
),
bin_state AS (
    UPDATE bins b SET
        online = true,
        last_seen = now(),
        fill_pct = CASE WHEN b.state_ts IS NULL OR l.ts >= b.state_ts
                        THEN coalesce(l.fill_pct, b.fill_pct) ELSE b.fill_pct END,
        battery_pct = CASE WHEN b.state_ts IS NULL OR l.ts >= b.state_ts
                           THEN coalesce(l.battery_pct, b.battery_pct) ELSE b.battery_pct END,
        state_ts = greatest(b.state_ts, l.ts),
        last_alarm = CASE WHEN l.alarm_ts > coalesce(b.last_alarm_at, '-infinity')
                          THEN l.alarm ELSE b.last_alarm END,
        last_alarm_at = greatest(b.last_alarm_at, l.alarm_ts)
    FROM (SELECT * FROM latest ORDER BY bin_key) l
    WHERE b.bin_key = l.bin_key
)
-- rolled_up is one row; reading it makes the rollups part of this statement.
SELECT (SELECT count(*) FROM stored),
       (SELECT array_agg(DISTINCT bin_key) FROM stored WHERE seq IS NOT NULL)
FROM rolled_up
