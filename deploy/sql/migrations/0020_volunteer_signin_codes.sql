-- (#15) One-time sign-in links for volunteers' phones (api/volunteers/signin_links.py):
-- the committee hands a volunteer a link (or its QR code) instead of a 46-character
-- token; opening it and confirming starts a volunteer session for the volunteer's token.
CREATE TABLE volunteer_signin_codes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the link's random code: a copy of this table signs nobody in.
    code_sha256   bytea NOT NULL UNIQUE CHECK (length(code_sha256) = 32),
    volunteer_id  bigint NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    -- The token the session will act with; revoking it makes its codes useless.
    token_id      bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL CHECK (expires_at > created_at),
    -- Set when the code signed a phone in: it works once.
    used_at       timestamptz,
    -- Set when a newer link for the same volunteer replaced this unused one.
    superseded_at timestamptz
);
CREATE INDEX volunteer_signin_codes_volunteer ON volunteer_signin_codes (volunteer_id);
