-- Delete one bounded batch of quarantined rows older than the retention, oldest first.
-- Rows another transaction holds (a replay marking them) are skipped, not waited for.
-- The tally's `kept` follows by trigger (migration 0015).
DELETE FROM rejected_messages
WHERE id IN (
    SELECT id
    FROM rejected_messages
    WHERE received_at < now() - make_interval(days => %(days)s)
    ORDER BY received_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
