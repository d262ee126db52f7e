-- (#17) Less work per stored event: room on each page for the ingester's updates of
-- the household rollups, and no index nothing reads.
--
-- Every batch updates a row of household_months per household with a drop (a row
-- takes a household's drops for a whole month: dozens of updates each), and one of
-- household_days per household and day. With full pages (the default fillfactor 100)
-- most of those updates go to another page, and every index of the table gets a new
-- entry; with room on the page the update is HOT (heap-only) and the indexes are left
-- alone. Measured in a 2,000-event batch store: HOT updates 17 % -> 93 %, the database's
-- CPU per stored event -20 % (bench/results/ingest.md).
--
-- The cost is space, at most the room left: household_months is small (its heap about
-- 2 bytes of the ~565 stored per event, bench/results/storage.md) and gets 70;
-- household_days is larger (its heap about 29 bytes per event) and is updated about
-- once per row in real use (a household drops about twice a day), so it gets 80: at
-- most about +7 bytes per event, less where HOT updates leave less dead space.
--
-- Only pages written from now on keep the room (no table rewrite, no long lock on a
-- city's database); old pages fill as before.
ALTER TABLE household_months SET (fillfactor = 70);
ALTER TABLE household_days SET (fillfactor = 80);

-- TimescaleDB's default index on the partitioning column (create_hypertable made it):
-- every read of events names an estate (events_estate_ts), a bin (events_dedupe) or an
-- arrival time (events_received), and retention drops whole chunks by their bounds, so
-- nothing reads it; yet every stored event paid an entry in it (about 1-2 us of the
-- database's CPU per event, and its bytes). IF EXISTS: a hypertable made without
-- default indexes has none to drop.
DROP INDEX IF EXISTS events_ts_idx;
