-- Declare lost the gap above each (locked) watermark that has been open longer than
-- the timeout: record it, and move the watermark to its end. The advance that follows
-- carries the watermark on through the stored run above (its first seq is stored).
WITH due AS (
    SELECT bin_key, seq, gap_to, gap_since
    FROM bin_watermarks
    WHERE bin_key = ANY(%(keys)s::int[])
      AND gap_since < now() - make_interval(secs => %(timeout_s)s)
),
recorded AS (
    INSERT INTO seq_gaps (bin_key, from_seq, to_seq, opened_at)
    SELECT bin_key, seq + 1, gap_to, gap_since
    FROM due
    RETURNING bin_key, from_seq, to_seq, opened_at
),
moved AS (
    UPDATE bin_watermarks b
    SET seq = d.gap_to, event_id = NULL, gap_since = NULL, gap_to = NULL
    FROM due d
    WHERE b.bin_key = d.bin_key
)
SELECT r.bin_key, bn.estate_id, bn.room_id, bn.id, r.from_seq, r.to_seq, r.opened_at
FROM recorded r
JOIN bins bn ON bn.bin_key = r.bin_key
ORDER BY r.bin_key
