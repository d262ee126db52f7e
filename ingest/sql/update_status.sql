-- A device's retained status (or its last will): online flag, battery, last seen.
UPDATE bins SET
    online = %(online)s,
    battery_pct = coalesce(%(battery_pct)s, battery_pct),
    last_seen = CASE WHEN %(online)s THEN now() ELSE last_seen END
WHERE estate_id = %(estate)s AND room_id = %(room)s AND id = %(bin)s
