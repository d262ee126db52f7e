-- (#14) 0017_sessions: sign-in sessions of the pages (dashboards/session.py), kept on the
-- server so that signing out, expiry and revoking the token end them.
CREATE TABLE sessions (
    -- SHA-256 of the cookie's random id: a copy of this table opens no session.
    id_sha256  bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    -- The token signed in with; its revocation ends the session (checked on each request).
    token_id   bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    -- The pages the session is for (each has its own cookie and lifetime).
    area       text NOT NULL CHECK (area IN ('dashboards', 'volunteer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set by signing out (or a new sign-in in the same browser).
    ended_at   timestamptz
);
CREATE INDEX sessions_token ON sessions (token_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
