-- Participation over a period probes each enrolled household's months: "is any day bit
-- of the period set in one of its months?". The primary key leads with the month, so
-- that probe would visit every month; this index finds a household's months in order
-- and answers from the index alone (days is included), stopping at the first hit.
CREATE INDEX household_months_household
    ON household_months (estate_id, household, month) INCLUDE (days);
