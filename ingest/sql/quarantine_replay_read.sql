-- The next chunk of rows to replay, in arrival order (of several copies of an event the
-- first received is stored, as the ingester does). Same filter as quarantine_replay_range.
SELECT id, received_at, topic, reason, payload
FROM rejected_messages
WHERE id > %(after)s AND id <= %(upto)s
  AND reason = ANY(%(reasons)s::text[])
  AND right(topic, 7) = '/events'
  AND (%(estate)s::text IS NULL OR estate_id = %(estate)s::text)
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s::timestamptz)
ORDER BY id
LIMIT %(limit)s
