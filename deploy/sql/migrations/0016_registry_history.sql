-- The registry with history (#13): a household's place (building, building group) and
-- its enrolment are kept as dated rows instead of one row overwritten in place, so the
-- figures of a period that is over never change when the registry does.
--
-- "Belongs to building B on day d": the membership with valid_from <= d < valid_to.
-- "Enrolled on day d": a spell with enrolled_on <= d < left_on.
-- NULL valid_to / left_on: still so. Both kinds never overlap per household (the
-- exclusion constraints; btree_gist lets text equality sit beside the date ranges).
-- The API's rules for turning a row of the households POST into these rows are in
-- api/registry/history.py.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE household_memberships (
    estate_id         text NOT NULL,
    household_id      text NOT NULL,
    -- '-infinity' for the rows carried over below: "since before the registry kept
    -- history", so every period that counted the household before still does.
    valid_from        date NOT NULL,
    valid_to          date,
    building_id       text NOT NULL,
    building_group_id text,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (estate_id, household_id, valid_from),
    FOREIGN KEY (estate_id, household_id) REFERENCES households ON DELETE CASCADE,
    FOREIGN KEY (estate_id, building_id) REFERENCES buildings ON DELETE CASCADE,
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    EXCLUDE USING gist (
        estate_id WITH =, household_id WITH =, daterange(valid_from, valid_to) WITH &&
    )
);
-- The per-building figures read the memberships in force on one day, per estate.
CREATE INDEX household_memberships_day
    ON household_memberships (estate_id, valid_from, valid_to)
    INCLUDE (household_id, building_id, building_group_id);

CREATE TABLE household_spells (
    estate_id    text NOT NULL,
    household_id text NOT NULL,
    enrolled_on  date NOT NULL,
    left_on      date,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (estate_id, household_id, enrolled_on),
    FOREIGN KEY (estate_id, household_id) REFERENCES households ON DELETE CASCADE,
    CHECK (left_on IS NULL OR left_on >= enrolled_on),
    EXCLUDE USING gist (
        estate_id WITH =, household_id WITH =, daterange(enrolled_on, left_on) WITH &&
    )
);

-- Carry today's rows over unchanged: each household where it is, since always, and its
-- one spell if it was enrolled (a left_on without an enrolled_on never counted).
INSERT INTO household_memberships (estate_id, household_id, valid_from, building_id,
                                   building_group_id)
SELECT estate_id, id, '-infinity', building_id, building_group_id FROM households;
INSERT INTO household_spells (estate_id, household_id, enrolled_on, left_on)
SELECT estate_id, id, enrolled_on, left_on FROM households WHERE enrolled_on IS NOT NULL;

DROP INDEX households_building;
ALTER TABLE households
    DROP COLUMN building_id,
    DROP COLUMN building_group_id,
    DROP COLUMN enrolled_on,
    DROP COLUMN left_on,
    -- For public boards, shown only with the household's consent (dashboards/disclosure).
    ADD COLUMN display_name text CHECK (length(display_name) BETWEEN 1 AND 100),
    ADD COLUMN publish_consent boolean NOT NULL DEFAULT false;
