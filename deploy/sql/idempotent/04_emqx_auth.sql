-- What EMQX 5's PostgreSQL authenticator reads (deploy/emqx/emqx.conf, docs/cluster.md),
-- and the one role it reads as. Re-applied by every migrate: edit in place.
--
-- No change of stored format is needed: mqtt_accounts already holds what EMQX's
-- `pbkdf2` algorithm compares (lower-case hex of PBKDF2-HMAC-SHA512, 64 bytes, the
-- 12-character salt used as its ASCII bytes; fenlei/passwords.py). EMQX takes the
-- iteration count from its config, not from the row, so the query in emqx.conf keeps
-- only rows hashed with that count (a row with another count is refused, not misread).
--
-- fenlei-admin is left out: it sends Mosquitto dynamic-security commands, which EMQX
-- does not have, so under EMQX it has nothing to do and no reason to log in.
CREATE OR REPLACE VIEW emqx_authn AS
SELECT a.username, a.client_id, a.password_hash, a.salt, a.iterations,
       false AS is_superuser
FROM mqtt_accounts a
WHERE a.kind <> 'admin';

-- EMQX's database login is a member of this role and may read these two views only
-- (not mqtt_accounts itself, nor anything else). The login itself (with its password)
-- is made by whoever runs the database (deploy/emqx/db-primary-init.sh in compose and
-- k8s); making the group needs CREATEROLE, which a managed database's migrator may
-- lack: then the grant waits until an administrator creates the role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fenlei_emqx') THEN
        BEGIN
            CREATE ROLE fenlei_emqx NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'fenlei_emqx not created (no CREATEROLE): EMQX cannot read accounts yet';
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'fenlei_emqx') THEN
        GRANT SELECT ON emqx_authn, mqtt_acl TO fenlei_emqx;
    END IF;
END
$$;
