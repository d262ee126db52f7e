-- Events stored after their gap was recorded lost: recount the distinct stored seqs of
-- each recent, not yet full gap of these (locked) bins. Bounded by what arrived in
-- the range (index event_keys_seq); gaps recorded more than %(late_days)s days ago
-- are no longer watched.
WITH g AS (
    SELECT g.bin_key, g.from_seq, g.to_seq, g.filled_late,
           (SELECT count(DISTINCT k.seq) FROM event_keys k
            WHERE k.bin_key = g.bin_key AND k.seq BETWEEN g.from_seq AND g.to_seq) AS n
    FROM seq_gaps g
    WHERE g.bin_key = ANY(%(keys)s::int[])
      AND g.filled_late < g.to_seq - g.from_seq + 1
      AND g.recorded_at > now() - make_interval(days => %(late_days)s)
)
UPDATE seq_gaps s SET filled_late = g.n, last_filled_at = now()
FROM g
JOIN bins bn ON bn.bin_key = g.bin_key
WHERE s.bin_key = g.bin_key AND s.from_seq = g.from_seq AND g.n > g.filled_late
RETURNING s.bin_key, bn.estate_id, bn.room_id, bn.id, s.from_seq, s.to_seq,
          g.n - g.filled_late AS arrived
