-- Move the staged batch into events, skipping what is already stored (redeliveries,
-- duplicates inside the batch); update the rollups and each bin's device state from
-- the rows actually inserted, so nothing is counted twice. Inputs are sorted so
-- concurrent ingesters take row locks in one order. Returns the rows inserted.
WITH stored AS (
    INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,
                        fill_pct, household, alarm, battery_pct)
    SELECT ts, bin_key, event_id, estate_id, category, kind, weight_g,
           fill_pct, household, alarm, battery_pct
    FROM ingest_staging
    ORDER BY bin_key, ts
    ON CONFLICT (bin_key, event_id, ts) DO NOTHING
    RETURNING bin_key, ts, estate_id, category, kind, weight_g, household,
              fill_pct, battery_pct, alarm
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
SELECT (SELECT count(*) FROM stored) FROM rolled_up
