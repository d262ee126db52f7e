-- Move the staged batch into events, skipping what is already stored (redeliveries,
-- duplicates inside the batch); update the rollups and each bin's device state from
-- the rows actually inserted, so nothing is counted twice. Inputs are sorted so
-- concurrent ingesters take row locks in one order.
WITH stored AS (
    INSERT INTO events (ts, bin_key, event_id, estate_id, category, kind, weight_g,
                        fill_pct, household, alarm, battery_pct)
    SELECT ts, bin_key, event_id, estate_id, category, kind, weight_g,
           fill_pct, household, alarm, battery_pct
    FROM ingest_staging
    ORDER BY bin_key, ts
    ON CONFLICT (bin_key, event_id, ts) DO NOTHING
    RETURNING bin_key, event_id, ts, estate_id, category, kind, weight_g, household,
              fill_pct, battery_pct, alarm
),
drops AS (
    SELECT st.estate_id, st.category, st.weight_g, st.household, st.day, st.in_window
    FROM stored s
    -- The staging table may hold a redelivery twice; stored has each row once.
    JOIN (SELECT DISTINCT ON (bin_key, event_id, ts) * FROM ingest_staging
          ORDER BY bin_key, event_id, ts) st USING (bin_key, event_id, ts)
    WHERE s.kind = 'drop'
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
households AS (
    INSERT INTO household_days AS h (estate_id, day, household, drops, dry_g, wet_g,
                                     recyclable_g, hazardous_g, construction_g)
    SELECT estate_id, day, household, count(*),
           coalesce(sum(weight_g) FILTER (WHERE category = 'dry'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'wet'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'recyclable'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'hazardous'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'construction'), 0)
    FROM drops
    WHERE household IS NOT NULL
    GROUP BY estate_id, day, household
    ORDER BY estate_id, day, household
    ON CONFLICT (estate_id, day, household) DO UPDATE SET
        drops = h.drops + excluded.drops,
        dry_g = h.dry_g + excluded.dry_g,
        wet_g = h.wet_g + excluded.wet_g,
        recyclable_g = h.recyclable_g + excluded.recyclable_g,
        hazardous_g = h.hazardous_g + excluded.hazardous_g,
        construction_g = h.construction_g + excluded.construction_g
),
months AS (
    INSERT INTO household_months AS m (estate_id, month, household, days, drops, dry_g,
                                       wet_g, recyclable_g, hazardous_g, construction_g)
    SELECT estate_id, date_trunc('month', day)::date, household,
           bit_or(1 << (extract(day FROM day)::int - 1)), count(*),
           coalesce(sum(weight_g) FILTER (WHERE category = 'dry'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'wet'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'recyclable'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'hazardous'), 0),
           coalesce(sum(weight_g) FILTER (WHERE category = 'construction'), 0)
    FROM drops
    WHERE household IS NOT NULL
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
SELECT count(*) FROM stored
