-- Stored watermarks and lost seqs (#12). The committed truth is event_keys (0013): a
-- bin's watermark N is the highest seq such that every seq 1..N of the bin is stored
-- there or recorded below as lost. The ingester keeps these rows (ingest/watermark.py)
-- and publishes N on the bin's retained `stored` topic.
CREATE TABLE bin_watermarks (
    bin_key   integer PRIMARY KEY REFERENCES bins (bin_key) ON DELETE CASCADE,
    -- N; 0 while seq 1 is neither stored nor recorded lost (never published).
    seq       bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    -- The event holding seq N (the smallest event_id, should a buggy device reuse a seq).
    event_id  text,
    -- When N last moved (the commit that moved it): the `at` of the published message.
    at        timestamptz,
    -- The gap directly above N, while one is open (seq N+1 missing, a higher one stored):
    -- it ends at gap_to (the next stored seq - 1) and has been open at least since
    -- gap_since (when that next stored seq was received). NULL when no gap is open.
    gap_since timestamptz,
    gap_to    bigint,
    CHECK ((gap_since IS NULL) = (gap_to IS NULL)),
    CHECK (gap_to IS NULL OR gap_to > seq)
);
-- The ingesters' periodic look for gaps open past the timeout.
CREATE INDEX bin_watermarks_gap ON bin_watermarks (gap_since) WHERE gap_since IS NOT NULL;

-- Seqs declared lost: a gap still open after the ingester's FENLEI_SEQ_GAP_TIMEOUT_S.
-- The watermark moved past it; an event of the gap stored later is counted in
-- filled_late (the range itself stays as recorded).
CREATE TABLE seq_gaps (
    bin_key     integer NOT NULL REFERENCES bins (bin_key) ON DELETE CASCADE,
    from_seq    bigint NOT NULL,
    to_seq      bigint NOT NULL,
    -- The gap was open at least since this (its next stored seq's receipt).
    opened_at   timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- Distinct seqs of the range stored after it was recorded, and when the last came.
    filled_late bigint NOT NULL DEFAULT 0,
    last_filled_at timestamptz,
    PRIMARY KEY (bin_key, from_seq),
    CHECK (from_seq BETWEEN 1 AND to_seq),
    CHECK (filled_late BETWEEN 0 AND to_seq - from_seq + 1)
);
-- The figures' lost seqs of a period (api/metrics): by when the gap was recorded.
CREATE INDEX seq_gaps_recorded ON seq_gaps (recorded_at);
