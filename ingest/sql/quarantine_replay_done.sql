-- Remove a replayed chunk once the writer committed its events (and its new rejections).
DELETE FROM rejected_messages WHERE id = ANY(%(ids)s::bigint[])
