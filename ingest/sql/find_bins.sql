-- Registered bins among the addresses a batch names (unknown ones are simply absent).
SELECT b.estate_id, b.room_id, b.id, b.bin_key, b.category
FROM bins b
JOIN unnest(%(estates)s::text[], %(rooms)s::text[], %(bins)s::text[]) AS a(estate_id, room_id, id)
  ON a.estate_id = b.estate_id AND a.room_id = b.room_id AND a.id = b.id
