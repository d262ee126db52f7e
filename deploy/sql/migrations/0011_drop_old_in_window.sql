-- fenlei_in_window(time, jsonb) from 0002 is replaced by the local-day rules in
-- sql/idempotent/01_local_day.sql (fenlei_in_window(timestamptz, text, int4multirange)),
-- which every migrate re-applies after the numbered migrations.
DROP FUNCTION IF EXISTS fenlei_in_window(time, jsonb);
