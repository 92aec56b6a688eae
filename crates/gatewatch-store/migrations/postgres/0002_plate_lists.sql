-- Plate lists kept by the police and the compounds (managed with `gatewatch lists`).
CREATE TABLE plate_lists (
    kind        TEXT NOT NULL CHECK (kind IN ('wanted', 'stolen', 'banned', 'resident', 'visitor')),
    plate       TEXT NOT NULL,    -- normalised; personal data
    label       TEXT NOT NULL,
    valid_from  TEXT,             -- RFC 3339 UTC, NULL = always
    valid_to    TEXT,
    added_at    TEXT NOT NULL,
    PRIMARY KEY (kind, plate)
);

-- What a plate alert matched, and the other texts read (JSON), for the officer to judge.
ALTER TABLE alerts ADD COLUMN matched TEXT;
ALTER TABLE alerts ADD COLUMN candidates TEXT;
