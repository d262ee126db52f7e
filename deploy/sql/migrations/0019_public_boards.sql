-- (#14) 0019_public_boards: a read-only public link per estate to its disclosure board
-- (dashboards/public_board.py, docs/privacy.md).
--
-- The link is /dashboards/public/<token>; only the token's SHA-256 is stored, as for
-- api_tokens: a leaked table opens no board, and 24 random bytes need no slow hash.
-- One link per estate (the primary key): making a new one replaces the old, which
-- stops working at once (rotation); deleting the row turns the link off (revocation).
CREATE TABLE public_boards (
    estate_id    text PRIMARY KEY REFERENCES estates ON DELETE CASCADE,
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The admin's API token that made it, for the audit trail (tokens are revoked, not
    -- deleted; a deleted one leaves the link working and this NULL).
    created_by   bigint REFERENCES api_tokens ON DELETE SET NULL
);
