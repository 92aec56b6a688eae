-- Visits (see the SQLite migration of the same number for the meaning of every column; the
-- tables, columns and keys are the same).
CREATE TABLE visits (
    visit_id        TEXT PRIMARY KEY,
    site            TEXT NOT NULL,
    plate           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('inside', 'left', 'exit_only', 'superseded')),
    entered_at      TEXT,
    entry_event_id  TEXT UNIQUE,
    entry_camera    TEXT,
    left_at         TEXT,
    exit_event_id   TEXT UNIQUE,
    exit_camera     TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX visits_by_state ON visits (site, state);
CREATE INDEX visits_by_plate ON visits (plate, entered_at);
CREATE INDEX visits_by_update ON visits (updated_at);
