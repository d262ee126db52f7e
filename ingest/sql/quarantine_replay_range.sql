-- The quarantined events rows a replay will read: how many, and the highest id now (the
-- rows its own re-rejections add come after it and are not read again). Status messages
-- are not replayed: a status is the state of a moment, wrong when applied late.
SELECT count(*), coalesce(max(id), 0)
FROM rejected_messages
WHERE reason = ANY(%(reasons)s::text[])
  AND right(topic, 7) = '/events'
  AND (%(estate)s::text IS NULL OR estate_id = %(estate)s::text)
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s::timestamptz)
