-- Count a batch's rejections in the tally, one row per cap key and reason (migration
-- 0015), and lock those rows in key order: concurrent ingesters take the locks in one
-- order, and no one else changes a key's `kept` until this transaction ends. What the
-- cap has no room for is counted as dropped here. Returns each key's kept rows before
-- this batch; the caller then writes the rejections that fit (COPY).
INSERT INTO rejected_tally AS t (topic, reason, estate_id, seen, kept, dropped,
                                 first_at, last_at)
SELECT g.topic, g.reason, g.estate_id, g.n, 0, greatest(g.n - %(cap)s::bigint, 0), now(), now()
FROM unnest(%(topics)s::text[], %(reasons)s::text[], %(estates)s::text[], %(counts)s::bigint[])
    AS g(topic, reason, estate_id, n)
ORDER BY g.topic, g.reason
ON CONFLICT (topic, reason) DO UPDATE SET
    seen = t.seen + excluded.seen,
    dropped = t.dropped + excluded.seen
              - least(excluded.seen, greatest(%(cap)s::bigint - t.kept, 0)),
    last_at = excluded.last_at
RETURNING topic, reason, kept
