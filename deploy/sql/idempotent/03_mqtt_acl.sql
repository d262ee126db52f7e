-- What each MQTT account may do, as rows for EMQX's PostgreSQL authorizer
-- (docs/emqx.md): `SELECT permission, action, topic FROM mqtt_acl WHERE username = ${username}`.
-- The same rules as deploy/dynsec.py's Mosquitto roles; keep the two in step.
-- Re-applied by every migrate (deploy/migrate.py): edit in place.
--
-- Only 'allow' rows: EMQX is configured with `no_match = deny`. Deleting an account's
-- row removes its rules with it (the view has no rows of its own).
CREATE OR REPLACE VIEW mqtt_acl AS
-- A device: its own events and status (publish), its own stored watermark (subscribe).
SELECT a.username, 'allow'::text AS permission, x.action,
       'fenlei/v1/' || b.estate_id || '/' || b.room_id || '/' || b.id || x.suffix AS topic
FROM mqtt_accounts a
JOIN bins b ON b.bin_key = a.bin_key
CROSS JOIN (VALUES ('publish', '/events'), ('publish', '/status'), ('subscribe', '/stored'))
    AS x (action, suffix)
WHERE a.kind = 'device'
UNION ALL
-- fenlei's own services: the ingester reads every bin (shared subscriptions too) and
-- publishes the watermarks; the simulators publish as any bin and read the watermarks.
SELECT a.username, 'allow'::text, r.action, r.topic
FROM mqtt_accounts a
JOIN (VALUES
    ('ingest', 'subscribe', 'fenlei/v1/+/+/+/events'),
    ('ingest', 'subscribe', 'fenlei/v1/+/+/+/status'),
    ('ingest', 'subscribe', '$share/+/fenlei/v1/+/+/+/events'),
    ('ingest', 'subscribe', '$share/+/fenlei/v1/+/+/+/status'),
    ('ingest', 'publish', 'fenlei/v1/+/+/+/stored'),
    ('sim', 'publish', 'fenlei/v1/+/+/+/events'),
    ('sim', 'publish', 'fenlei/v1/+/+/+/status'),
    ('sim', 'subscribe', 'fenlei/v1/+/+/+/stored'),
    ('sim', 'subscribe', 'fenlei/v1/+/+/+/status')
) AS r (kind, action, topic) ON r.kind = a.kind;
