-- A device's retained status (or its last will): online flag, battery, last seen.
-- An "online" status also stamps the bin's MQTT account as last connected: the
-- device's own online message is the closest a broker-agnostic ingester gets to
-- seeing the CONNECT (Mosquitto and EMQX each log connects in their own way).
WITH bin AS (
    UPDATE bins SET
        online = %(online)s,
        battery_pct = coalesce(%(battery_pct)s, battery_pct),
        last_seen = CASE WHEN %(online)s THEN now() ELSE last_seen END
    WHERE estate_id = %(estate)s AND room_id = %(room)s AND id = %(bin)s
    RETURNING bin_key
)
UPDATE mqtt_accounts SET last_connected_at = now()
WHERE %(online)s AND bin_key = (SELECT bin_key FROM bin)
