-- Move each (locked) watermark up through the run of stored seqs directly above it,
-- and note the gap above the run, if any. A statement of its own, after the lock: in
-- READ COMMITTED each statement takes a new snapshot, so this one sees every event
-- committed before the lock was granted (a lock in the same statement would not).
--
-- Bounded: at most %(cap)s distinct seqs per bin, read from the watermark up on the
-- index event_keys_seq. A bin that moved by exactly that much is advanced again by
-- the caller (`again`). Distinct seqs: a buggy device reusing a seq under another
-- event_id counts once.
WITH w AS (
    SELECT bin_key, seq, gap_since
    FROM bin_watermarks
    WHERE bin_key = ANY(%(keys)s::int[])
),
above AS (
    -- Gaps and islands: numbered in order, a seq continues the run from the watermark
    -- exactly when seq - n = the watermark; the first seq past a gap has seq - n above it.
    SELECT w.bin_key, s.seq,
           s.seq - row_number() OVER (PARTITION BY w.bin_key ORDER BY s.seq) AS base
    FROM w
    CROSS JOIN LATERAL (
        SELECT DISTINCT k.seq
        FROM event_keys k
        WHERE k.bin_key = w.bin_key AND k.seq > w.seq
        ORDER BY k.seq
        LIMIT %(cap)s
    ) AS s
),
ends AS (
    SELECT w.bin_key, w.seq AS old_seq, w.gap_since AS old_since,
           coalesce(max(a.seq) FILTER (WHERE a.base = w.seq), w.seq) AS new_seq,
           min(a.seq) FILTER (WHERE a.base > w.seq) AS next_seq
    FROM w
    LEFT JOIN above a ON a.bin_key = w.bin_key
    GROUP BY w.bin_key, w.seq, w.gap_since
),
found AS (
    SELECT e.*,
           CASE WHEN e.new_seq > e.old_seq THEN (
               SELECT min(k.event_id) FROM event_keys k
               WHERE k.bin_key = e.bin_key AND k.seq = e.new_seq
           ) END AS event_id,
           -- The gap above new_seq has been open at least since its next stored seq
           -- was received: kept while the watermark stays, looked up when it moved.
           CASE
               WHEN e.next_seq IS NULL THEN NULL
               WHEN e.new_seq = e.old_seq AND e.old_since IS NOT NULL THEN e.old_since
               ELSE coalesce((
                   SELECT min(ev.received_at)
                   FROM event_keys k
                   JOIN events ev
                     ON ev.bin_key = k.bin_key AND ev.event_id = k.event_id AND ev.ts = k.ts
                   WHERE k.bin_key = e.bin_key AND k.seq = e.next_seq
               ), now())
           END AS gap_since
    FROM ends e
)
UPDATE bin_watermarks b SET
    seq = f.new_seq,
    event_id = CASE WHEN f.new_seq > f.old_seq THEN f.event_id ELSE b.event_id END,
    at = CASE WHEN f.new_seq > f.old_seq THEN now() ELSE b.at END,
    gap_since = f.gap_since,
    gap_to = f.next_seq - 1
FROM found f
JOIN bins bn ON bn.bin_key = f.bin_key
WHERE b.bin_key = f.bin_key
  AND (f.new_seq > f.old_seq
       OR f.gap_since IS DISTINCT FROM b.gap_since
       OR f.next_seq - 1 IS DISTINCT FROM b.gap_to)
RETURNING b.bin_key, bn.estate_id, bn.room_id, bn.id, b.seq, b.event_id, b.at,
          f.new_seq > f.old_seq AS moved,
          f.next_seq IS NULL AND f.new_seq - f.old_seq = %(cap)s AS again
