-- The current watermarks (N > 0) of these bins, with their topics' parts.
SELECT w.bin_key, bn.estate_id, bn.room_id, bn.id, w.seq, w.event_id, w.at
FROM bin_watermarks w
JOIN bins bn ON bn.bin_key = w.bin_key
WHERE w.bin_key = ANY(%(keys)s::int[]) AND w.seq > 0
ORDER BY w.bin_key
