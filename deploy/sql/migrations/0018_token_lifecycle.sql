-- (#14) Token lifecycle: a token may expire, and be rotated (a new secret for the same
-- id, role and estates). Still only hashes are stored.
--
-- The secret a rotation replaced keeps its hash here: it is accepted until
-- previous_valid_until (a grace, so a client can switch without an outage; the moment
-- of the rotation when there is none), and afterwards the 401 can say it was rotated.
-- Only the latest replaced secret is kept: a second rotation ends the first's grace.
ALTER TABLE api_tokens
    ADD COLUMN expires_at           timestamptz,
    ADD COLUMN rotated_at           timestamptz,
    ADD COLUMN previous_sha256      bytea UNIQUE CHECK (length(previous_sha256) = 32),
    ADD COLUMN previous_valid_until timestamptz,
    ADD CONSTRAINT api_tokens_previous_with_limit
        CHECK ((previous_sha256 IS NULL) = (previous_valid_until IS NULL));
