-- Bearer tokens of the HTTP API. Only the SHA-256 of a token is stored: a leaked
-- table does not leak working tokens, and 32 random bytes need no slow hash.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    role         text NOT NULL CHECK (role IN ('admin', 'volunteer', 'viewer')),
    -- The estates the token may see; NULL means every estate.
    estates      text[],
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
