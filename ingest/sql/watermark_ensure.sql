-- A watermark row for each of these bins that has none yet, so the advance can lock
-- it. Sorted: concurrent ingesters insert, then lock, in one order (no deadlock).
INSERT INTO bin_watermarks (bin_key)
SELECT b.bin_key
FROM bins b
WHERE b.bin_key = ANY(%(keys)s::int[])
  AND NOT EXISTS (SELECT FROM bin_watermarks w WHERE w.bin_key = b.bin_key)
ORDER BY b.bin_key
ON CONFLICT (bin_key) DO NOTHING
