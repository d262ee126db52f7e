-- The next page of bins (by bin_key) that have stored an event with a seq: the ones
-- with a watermark to recompute and republish.
SELECT b.bin_key
FROM bins b
WHERE b.bin_key > %(after)s
  AND EXISTS (SELECT FROM event_keys k WHERE k.bin_key = b.bin_key AND k.seq IS NOT NULL)
ORDER BY b.bin_key
LIMIT %(limit)s
