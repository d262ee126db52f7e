-- MQTT accounts: fenlei's database is the source of truth for who may connect to the
-- broker and as what. One row per login; passwords are stored only as hashes, in the
-- one form both Mosquitto (dynamic-security, base64 of the same bytes) and EMQX's
-- PostgreSQL authenticator (lower-case hex, salt as is) verify: PBKDF2-HMAC-SHA512,
-- a 64-byte key, a 12-character salt (fenlei/passwords.py).
CREATE TABLE mqtt_accounts (
    username      text PRIMARY KEY CHECK (username ~ '^[a-z0-9-]{1,64}$'),
    -- The client id the login must connect with; NULL lets fenlei's own services use
    -- several ids (ingesters on a shared subscription). Devices are always bound.
    client_id     text UNIQUE,
    kind          text NOT NULL CHECK (kind IN ('device', 'ingest', 'admin', 'sim')),
    -- A device speaks for exactly one bin; deleting the bin deletes the account, and the
    -- trigger below queues the revocation for the broker.
    bin_key       integer UNIQUE REFERENCES bins (bin_key) ON DELETE CASCADE,
    password_hash text NOT NULL CHECK (password_hash ~ '^[0-9a-f]{128}$'),
    salt          text NOT NULL CHECK (length(salt) = 12 AND salt ~ '^[A-Za-z0-9_-]+$'),
    iterations    integer NOT NULL CHECK (iterations BETWEEN 1 AND 10000000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    rotated_at    timestamptz,
    -- Set when the running broker confirmed the current password (false: waits for the
    -- admin client or `fenlei devices sync`).
    broker_applied boolean NOT NULL DEFAULT false,
    last_connected_at timestamptz,
    CHECK ((kind = 'device') = (bin_key IS NOT NULL)),
    CHECK (kind <> 'device' OR client_id IS NOT NULL)
);

-- Revocations the broker has not confirmed yet. Fed by a trigger, so a bin, room or
-- estate deleted by any path (cascades included) revokes its device's login too.
CREATE TABLE mqtt_revocations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION fenlei_queue_mqtt_revocation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mqtt_revocations (username) VALUES (OLD.username);
    PERFORM pg_notify('fenlei_mqtt_revocations', OLD.username);
    RETURN OLD;
END
$$;

CREATE TRIGGER mqtt_accounts_revoke AFTER DELETE ON mqtt_accounts
FOR EACH ROW EXECUTE FUNCTION fenlei_queue_mqtt_revocation();
