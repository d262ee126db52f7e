-- Dedupe on the device's own key, (bin, event_id), whatever the ts. A hypertable's
-- unique indexes must contain its time column, so the key lives in a narrow plain
-- table written in the same statement as the event (ingest/sql/store_batch.sql): an
-- event is stored exactly when its key row is new. `ts` is the stored copy's, to find
-- it in `events` (events_dedupe is that index). The triggers at the end are its
-- foreign key to bins: the database refuses an event for a bin that no longer exists,
-- and a bin that has events cannot be deleted underneath a running ingester.
CREATE TABLE event_keys (
    bin_key  integer NOT NULL,
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

-- event_keys.bin_key → bins.bin_key, enforced as a foreign key would be, but checked
-- once per statement for the bins of a batch instead of once per event: a declared
-- foreign key costs a 2,000-event batch 9 ms (a lookup per row), a sixth of its
-- statement. The inserting side locks the batch's bins FOR KEY SHARE (what a foreign
-- key's check takes) so no delete can slip in before it commits, then refuses the
-- statement if any bin is gone. The deleting side (a BEFORE trigger runs after the row
-- is locked, so after any such insert has committed) refuses while keys name the bin.
-- Both raise foreign_key_violation (23503), which the ingester and the API handle.
CREATE FUNCTION fenlei_event_keys_need_bins() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing integer;
BEGIN
    PERFORM 1 FROM bins
    WHERE bin_key IN (SELECT DISTINCT bin_key FROM new_keys)
    ORDER BY bin_key
    FOR KEY SHARE;
    SELECT min(n.bin_key) INTO missing
    FROM (SELECT DISTINCT bin_key FROM new_keys) n
    WHERE NOT EXISTS (SELECT 1 FROM bins b WHERE b.bin_key = n.bin_key);
    IF missing IS NOT NULL THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('event_keys: bin_key %s is not in bins (deleted?)', missing);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER event_keys_need_bins AFTER INSERT ON event_keys
REFERENCING NEW TABLE AS new_keys FOR EACH STATEMENT
EXECUTE FUNCTION fenlei_event_keys_need_bins();

CREATE FUNCTION fenlei_bins_keep_event_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM event_keys WHERE bin_key = OLD.bin_key) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('bin %s/%s/%s has recorded events', OLD.estate_id, OLD.room_id,
                             OLD.id);
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER bins_keep_event_keys BEFORE DELETE ON bins
FOR EACH ROW EXECUTE FUNCTION fenlei_bins_keep_event_keys();

-- Ingesters cache the registry's bins (ingest/writer.py BinCache); a bin deleted (by any
-- path, cascades included) or given another category is announced here so they drop
-- it at once. The triggers above still catch the instant before they hear of it.
CREATE FUNCTION fenlei_notify_bin_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fenlei_bins_changed', OLD.bin_key::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER bins_changed AFTER DELETE OR UPDATE OF category, estate_id, room_id, id
ON bins FOR EACH ROW EXECUTE FUNCTION fenlei_notify_bin_changed();
