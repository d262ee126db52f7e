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
    -- Local day and "inside a drop-off window", worked out by the writer from the
    -- estate's time zone (cheaper there than a per-row SQL function).
    day         date NOT NULL,
    in_window   boolean NOT NULL
) ON COMMIT DELETE ROWS
