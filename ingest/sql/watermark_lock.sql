-- Lock the bins' watermark rows, in bin order, for the rest of the transaction: one
-- ingester at a time advances a bin. Says which bins have recently recorded gaps not
-- yet filled, where a late event may have arrived (watermark_filled_late).
SELECT w.bin_key,
       EXISTS (
           SELECT FROM seq_gaps g
           WHERE g.bin_key = w.bin_key
             AND g.filled_late < g.to_seq - g.from_seq + 1
             AND g.recorded_at > now() - make_interval(days => %(late_days)s)
       ) AS late_open
FROM bin_watermarks w
WHERE w.bin_key = ANY(%(keys)s::int[])
ORDER BY w.bin_key
FOR UPDATE OF w
