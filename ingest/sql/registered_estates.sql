-- The estates that have registered bins: the estates whose events the ingester counts
-- (fenlei_ingest_estate_events), so the series it keeps, one per estate.
SELECT DISTINCT estate_id FROM bins
