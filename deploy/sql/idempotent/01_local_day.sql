-- The local-day rules, defined once: which local day an instant falls on, and whether
-- it falls inside one of an estate's drop-off windows (定时定点). The rollups
-- (02_rollups.sql) use them, so the ingester and the benchmark do; API queries may too.
-- Re-applied by every migrate (deploy/migrate.py): edit in place, and DROP first when
-- a signature or return type changes.
--
-- The per-row functions are one-expression IMMUTABLE SQL functions, which the planner
-- inlines: a call costs what the bare expression costs.

-- The local calendar day of an instant in an IANA time zone.
CREATE OR REPLACE FUNCTION fenlei_local_day(ts timestamptz, tz text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (ts AT TIME ZONE tz)::date $$;

-- The instant a local day begins: local days [a, b] are instants
-- [fenlei_local_day_start(a, tz), fenlei_local_day_start(b + 1, tz)).
CREATE OR REPLACE FUNCTION fenlei_local_day_start(day date, tz text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT day::timestamp AT TIME ZONE tz $$;

-- An estate's drop_windows ([["07:00", "09:00"], ...], local [start, end)) as the
-- seconds of the local day they cover. Convert once per estate, not once per row.
-- Windows that do not end after they start cover nothing (the registry refuses them).
CREATE OR REPLACE FUNCTION fenlei_windows(drop_windows jsonb) RETURNS int4multirange
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce(range_agg(int4range(b.s, b.e)), '{}')
    FROM jsonb_array_elements(drop_windows) AS w,
         LATERAL (SELECT floor(date_part('epoch', (w->>0)::time))::integer AS s,
                         floor(date_part('epoch', (w->>1)::time))::integer AS e) AS b
    WHERE b.s < b.e
$$;

-- Is an instant inside the windows (from fenlei_windows) in time zone tz? A window
-- [07:00, 09:00) holds 07:00:00 and 08:59:59.999999, not 09:00:00.
CREATE OR REPLACE FUNCTION fenlei_in_window(ts timestamptz, tz text, windows int4multirange)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT windows @> floor(date_part('epoch', (ts AT TIME ZONE tz)::time))::integer $$;
