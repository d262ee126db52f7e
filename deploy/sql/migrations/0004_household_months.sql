-- One row per household token and local month: which days it dropped (bit d-1 set
-- for day d) and its grams per category. A year of one estate is ~14k rows instead
-- of household_days' ~370k, which keeps participation over long periods fast.
-- Kept by the ingester in the batch transaction, like the other rollups; OR-ing a
-- day's bit twice changes nothing, and grams come only from newly inserted rows.
CREATE TABLE household_months (
    estate_id      text NOT NULL REFERENCES estates ON DELETE CASCADE,
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    household      text NOT NULL,
    days           integer NOT NULL,
    drops          integer NOT NULL,
    dry_g          bigint NOT NULL,
    wet_g          bigint NOT NULL,
    recyclable_g   bigint NOT NULL,
    hazardous_g    bigint NOT NULL,
    construction_g bigint NOT NULL,
    PRIMARY KEY (estate_id, month, household)
);

INSERT INTO household_months (estate_id, month, household, days, drops, dry_g, wet_g,
                              recyclable_g, hazardous_g, construction_g)
SELECT estate_id, date_trunc('month', day)::date, household,
       bit_or(1 << (extract(day FROM day)::int - 1)), sum(drops), sum(dry_g), sum(wet_g),
       sum(recyclable_g), sum(hazardous_g), sum(construction_g)
FROM household_days
GROUP BY 1, 2, 3;
