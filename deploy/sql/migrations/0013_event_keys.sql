-- Dedupe on the device's own key, (bin, event_id), whatever the ts. A hypertable's
-- unique indexes must contain its time column, so the key lives in a narrow plain
-- table written in the same statement as the event (ingest/sql/store_batch.sql): an
-- event is stored exactly when its key row is new. `ts` is the stored copy's, to find
-- it in `events` (events_dedupe is that index). The foreign key makes the database
-- refuse an event for a bin that no longer exists, and a bin that has events cannot be
-- deleted underneath a running ingester.
CREATE TABLE event_keys (
    bin_key  integer NOT NULL REFERENCES bins (bin_key),
    event_id text NOT NULL,
    ts       timestamptz NOT NULL,
    -- The device's counter (optional in contract v1): the stored watermark reads it.
    seq      bigint CHECK (seq BETWEEN 1 AND 9007199254740991),
    PRIMARY KEY (bin_key, event_id)
);
CREATE INDEX event_keys_seq ON event_keys (bin_key, seq) WHERE seq IS NOT NULL;

ALTER TABLE events ADD COLUMN seq bigint;

-- Carry today's events over. Before this migration the key was (bin, event_id, ts), so
-- a device that resent its buffer with corrected clocks was stored (and counted) twice.
-- The first received copy of each key stays; any later copy is moved to the quarantine
-- as a conflicting duplicate, beside its stored twin, and the rollups of the estates
-- concerned are rebuilt from the events that remain.
CREATE TEMPORARY TABLE later_copies ON COMMIT DROP AS
SELECT *
FROM (
    SELECT e.*,
           row_number() OVER (PARTITION BY bin_key, event_id ORDER BY received_at, ts) AS n
    FROM events e
) ranked
WHERE n > 1;

INSERT INTO event_keys (bin_key, event_id, ts)
SELECT DISTINCT ON (bin_key, event_id) bin_key, event_id, ts
FROM events
ORDER BY bin_key, event_id, received_at, ts;

INSERT INTO rejected_messages (received_at, topic, estate_id, reason, detail, payload)
SELECT c.received_at,
       'fenlei/v1/' || b.estate_id || '/' || b.room_id || '/' || b.id || '/events',
       c.estate_id, 'conflicting_duplicate',
       'moved by migration 0013: same (bin, event_id) as an event stored earlier with ts '
           || k.ts::text,
       convert_to(json_build_object('event_id', c.event_id, 'ts', c.ts, 'kind', c.kind,
                                    'weight_g', c.weight_g, 'fill_pct', c.fill_pct,
                                    'household', c.household, 'alarm', c.alarm,
                                    'battery_pct', c.battery_pct)::text, 'UTF8')
FROM later_copies c
JOIN bins b ON b.bin_key = c.bin_key
JOIN event_keys k ON k.bin_key = c.bin_key AND k.event_id = c.event_id;

DELETE FROM events e USING later_copies c
-- (bin, event_id, ts) is still unique (events_dedupe): it names each later copy.
WHERE e.bin_key = c.bin_key AND e.event_id = c.event_id AND e.ts = c.ts;

-- Only a database that had such copies runs this; the rollup functions exist there
-- (deploy/sql/idempotent/, applied by every earlier migrate).
DO $$
DECLARE
    affected text[];
BEGIN
    SELECT array_agg(DISTINCT estate_id) INTO affected FROM later_copies;
    IF affected IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM daily_category WHERE estate_id = ANY (affected);
    DELETE FROM household_days WHERE estate_id = ANY (affected);
    DELETE FROM household_months WHERE estate_id = ANY (affected);
    PERFORM fenlei_add_drops(array_agg(estate_id), array_agg(ts), array_agg(category),
                             array_agg(weight_g), array_agg(household))
    FROM events
    WHERE kind = 'drop' AND estate_id = ANY (affected);
END
$$;

-- Ingesters cache the registry's bins (ingest/writer.py BinCache); a bin deleted (by any
-- path, cascades included) or given another category is announced here so they drop
-- it at once. The foreign key above still catches the instant before they hear of it.
CREATE FUNCTION fenlei_notify_bin_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fenlei_bins_changed', OLD.bin_key::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER bins_changed AFTER DELETE OR UPDATE OF category, estate_id, room_id, id
ON bins FOR EACH ROW EXECUTE FUNCTION fenlei_notify_bin_changed();
