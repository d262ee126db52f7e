-- Bins whose gap above the watermark has been open longer than the timeout, locked;
-- those another ingester is handling right now are skipped (it records them).
SELECT bin_key
FROM bin_watermarks
WHERE gap_since < now() - make_interval(secs => %(timeout_s)s)
ORDER BY bin_key
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
