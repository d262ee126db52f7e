-- Staged copies whose key was already stored with other content (another ts, weight,
-- household…): the first stored copy stays, these go to the quarantine as
-- conflicting_duplicate beside it. Run after store_batch, in the same transaction, and
-- only when it stored fewer rows than were staged. Identical copies are plain
-- duplicates and do not appear. The stored copy is found through its key's ts
-- (events_dedupe is the index).
SELECT s.ord, e.ts, e.kind, e.weight_g, e.fill_pct, e.household, e.alarm, e.battery_pct,
       e.seq
FROM ingest_staging s
JOIN event_keys k ON k.bin_key = s.bin_key AND k.event_id = s.event_id
JOIN events e ON e.bin_key = k.bin_key AND e.event_id = k.event_id AND e.ts = k.ts
WHERE (s.ts, s.kind, s.weight_g, s.fill_pct, s.household, s.alarm, s.battery_pct, s.seq)
      IS DISTINCT FROM
      (e.ts, e.kind, e.weight_g, e.fill_pct, e.household, e.alarm, e.battery_pct, e.seq)
ORDER BY s.ord
