-- Visits: a vehicle's entry into a compound (a plate read on a track that crossed a gate line
-- inwards) paired with its exit, across the compound's gates. A visit's id is the event id of
-- the crossing that opened it (the entry, or the exit for an exit-only visit), so a replay of
-- stored events finds the same rows.
CREATE TABLE visits (
    visit_id        TEXT PRIMARY KEY,
    site            TEXT NOT NULL,
    plate           TEXT NOT NULL,    -- personal data
    -- inside: entered, not left; left: entered and left; exit_only: left with no entry seen;
    -- superseded: entered again before an exit was seen.
    state           TEXT NOT NULL CHECK (state IN ('inside', 'left', 'exit_only', 'superseded')),
    entered_at      TEXT,             -- RFC 3339, UTC (capture time)
    entry_event_id  TEXT UNIQUE,
    entry_camera    TEXT,             -- edge/camera
    left_at         TEXT,
    exit_event_id   TEXT UNIQUE,
    exit_camera     TEXT,
    updated_at      TEXT NOT NULL     -- wall clock
);
CREATE INDEX visits_by_state ON visits (site, state);
CREATE INDEX visits_by_plate ON visits (plate, entered_at);
CREATE INDEX visits_by_update ON visits (updated_at);
