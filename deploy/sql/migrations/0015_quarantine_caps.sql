-- A quarantine an operator can live with (#12). A flood of garbage used to add one row
-- per message (100k messages, 24 MB). Now the ingester keeps at most FENLEI_REJECTED_CAP
-- rows per cap key (a bin's topic) and reason, counts every rejection, kept or not, in
-- rejected_tally, and deletes rows older than FENLEI_REJECTED_RETENTION_DAYS
-- (ingest/quarantine.py). `fenlei rejected replay` marks the rows it is re-ingesting
-- (ingest/replay.py).

-- The cap's key: the topic, which names the bin (devices may publish on their own topics
-- only). A bad_topic rejection's topic is whatever the publisher chose and names no bin,
-- so they all share one key: distinct garbage topics cannot each get a cap of their own.
-- ingest.quarantine.tally_key is the same rule for the rows it is about to write.
CREATE FUNCTION fenlei_rejected_key(topic text, reason text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN reason = 'bad_topic' THEN '*' ELSE topic END $$;

CREATE TABLE rejected_tally (
    topic     text NOT NULL,  -- fenlei_rejected_key(topic, reason)
    reason    text NOT NULL,
    estate_id text,
    -- Every rejection counted for the key, kept or not (the Prometheus counter's twin).
    seen      bigint NOT NULL CHECK (seen >= 0),
    -- Its rows in rejected_messages now (kept true by the triggers below), rows being
    -- replayed not included; the cap is checked against this.
    kept      bigint NOT NULL CHECK (kept >= 0),
    -- Rejections not kept because the key's cap was full. seen - kept - dropped were
    -- deleted since: past the retention, or replayed.
    dropped   bigint NOT NULL DEFAULT 0 CHECK (dropped >= 0),
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (topic, reason)
);
CREATE INDEX rejected_tally_estate ON rejected_tally (estate_id, last_at DESC);

-- Set by a replay on the rows it is re-ingesting, before it stores them: those rows no
-- longer count against the cap, so the rejections that replace them have room. A
-- replay that dies leaves the mark; the next one takes the rows up again.
ALTER TABLE rejected_messages ADD COLUMN replaying_since timestamptz;

INSERT INTO rejected_tally (topic, reason, estate_id, seen, kept, first_at, last_at)
SELECT fenlei_rejected_key(topic, reason), reason, min(estate_id), count(*), count(*),
       min(received_at), max(received_at)
FROM rejected_messages
GROUP BY 1, 2;

-- `kept` follows every insert, delete, replay mark and truncate of rejected_messages,
-- whoever makes it (the ingester, the pruner, a replay, an operator's DELETE), so the cap
-- never counts rows that are gone. Per key, in key order: concurrent writers lock tally
-- rows in one order (ingest/sql/quarantine_count.sql sorts the same way).
CREATE FUNCTION fenlei_tally_kept(
    keys    text[],
    reasons text[],
    estates text[],
    deltas  integer[],
    ats     timestamptz[]
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT k.key, k.reason, min(k.estate_id) AS estate_id, sum(k.delta) AS delta,
               min(k.at) AS first_at, max(k.at) AS last_at
        FROM unnest(keys, reasons, estates, deltas, ats) AS k(key, reason, estate_id, delta, at)
        GROUP BY k.key, k.reason
        HAVING sum(k.delta) <> 0
        ORDER BY k.key, k.reason
    LOOP
        IF r.delta > 0 THEN
            -- Rows the ingester writes find their tally row (it counted them first);
            -- rows written any other way start one, counted as seen.
            INSERT INTO rejected_tally AS t (topic, reason, estate_id, seen, kept,
                                             first_at, last_at)
            VALUES (r.key, r.reason, r.estate_id, r.delta, r.delta, r.first_at, r.last_at)
            ON CONFLICT (topic, reason) DO UPDATE SET kept = t.kept + excluded.kept;
        ELSE
            UPDATE rejected_tally SET kept = greatest(kept + r.delta, 0)
            WHERE topic = r.key AND reason = r.reason;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION fenlei_rejected_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fenlei_tally_kept(array_agg(fenlei_rejected_key(topic, reason)),
                              array_agg(reason), array_agg(estate_id), array_agg(1),
                              array_agg(received_at))
    FROM new_rows
    WHERE replaying_since IS NULL;
    RETURN NULL;
END
$$;

CREATE FUNCTION fenlei_rejected_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fenlei_tally_kept(array_agg(fenlei_rejected_key(topic, reason)),
                              array_agg(reason), array_agg(estate_id), array_agg(-1),
                              array_agg(received_at))
    FROM old_rows
    WHERE replaying_since IS NULL;
    RETURN NULL;
END
$$;

CREATE FUNCTION fenlei_rejected_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fenlei_tally_kept(array_agg(key), array_agg(reason), array_agg(estate_id),
                              array_agg(delta), array_agg(received_at))
    FROM (
        SELECT fenlei_rejected_key(topic, reason) AS key, reason, estate_id, 1 AS delta,
               received_at
        FROM new_rows WHERE replaying_since IS NULL
        UNION ALL
        SELECT fenlei_rejected_key(topic, reason), reason, estate_id, -1, received_at
        FROM old_rows WHERE replaying_since IS NULL
    ) changed;
    RETURN NULL;
END
$$;

CREATE FUNCTION fenlei_rejected_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rejected_tally SET kept = 0 WHERE kept <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER rejected_inserted AFTER INSERT ON rejected_messages
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION fenlei_rejected_inserted();

CREATE TRIGGER rejected_deleted AFTER DELETE ON rejected_messages
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION fenlei_rejected_deleted();

CREATE TRIGGER rejected_updated AFTER UPDATE ON rejected_messages
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION fenlei_rejected_updated();

CREATE TRIGGER rejected_truncated AFTER TRUNCATE ON rejected_messages
FOR EACH STATEMENT EXECUTE FUNCTION fenlei_rejected_truncated();
