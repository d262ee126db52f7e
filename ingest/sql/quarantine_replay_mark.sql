-- Mark a chunk as being replayed, before its events are stored: marked rows leave the
-- cap's count (trigger of migration 0015), so the rejections that replace them fit.
-- A mark left by a replay that died is kept. Returns the ids still there.
UPDATE rejected_messages
SET replaying_since = coalesce(replaying_since, now())
WHERE id = ANY(%(ids)s::bigint[])
RETURNING id
