-- Per-connection staging table that each batch is COPYed into; emptied at commit.
CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
    ts          timestamptz NOT NULL,
    bin_key     integer NOT NULL,
    event_id    text NOT NULL,
    estate_id   text NOT NULL,
    category    text NOT NULL,
    kind        text NOT NULL,
    weight_g    integer,
    fill_pct    real,
    household   text,
    alarm       text,
    battery_pct real,
    seq         bigint,
    -- Position in the batch (arrival order): of two copies of one key in a batch, the
    -- first received is the one stored.
    ord         integer NOT NULL
) ON COMMIT DELETE ROWS
