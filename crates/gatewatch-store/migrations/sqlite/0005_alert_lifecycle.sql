-- Alerts become incidents with a lifecycle (gatewatch_core::incident): open → acknowledged →
-- resolved or false alarm. The key names the incident and is no longer unique (a closed
-- incident may raise again after its cooldown); at most one alert per key is open. A repeated
-- sighting updates the open alert (alert_sightings, once per event); every state change is in
-- alert_history with who, when and a note. SQLite cannot drop a UNIQUE constraint, so the
-- table is rebuilt; existing acknowledgements move into the history.
CREATE TABLE alerts_v2 (
    alert_id       TEXT PRIMARY KEY,
    alert_key      TEXT NOT NULL,   -- the incident key
    rule           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    site           TEXT NOT NULL,
    edge           TEXT NOT NULL,   -- edge, camera, track, message: of the latest sighting
    camera         TEXT NOT NULL,
    track          INTEGER,
    zone           TEXT,
    plate          TEXT,            -- personal data; plate, matched, candidates: the best read
    at             TEXT NOT NULL,   -- when the condition became true (capture time)
    event_id       TEXT NOT NULL,   -- the raising event
    message        TEXT NOT NULL,
    raised_at      TEXT NOT NULL,   -- wall clock
    matched        TEXT,
    candidates     TEXT,
    state          TEXT NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open', 'acknowledged', 'resolved', 'false_alarm')),
    sightings      INTEGER NOT NULL DEFAULT 1,
    last_seen      TEXT NOT NULL,   -- capture time of the latest sighting
    best_event_id  TEXT NOT NULL,   -- the sighting with the best read (and its snapshot)
    best_score     REAL NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL,   -- wall clock
    closed_at      TEXT             -- wall clock (officer) or capture time (ended by its rule)
);
INSERT INTO alerts_v2 (alert_id, alert_key, rule, kind, site, edge, camera, track, zone, plate, at, event_id,
                       message, raised_at, matched, candidates, state, sightings, last_seen, best_event_id,
                       best_score, updated_at, closed_at)
SELECT alert_id, alert_key, rule, kind, site, edge, camera, track, zone, plate, at, event_id,
       message, raised_at, matched, candidates,
       CASE WHEN acked_at IS NULL THEN 'open' ELSE 'acknowledged' END, 1, at, event_id,
       0, COALESCE(acked_at, raised_at), NULL
FROM alerts;

CREATE TABLE alert_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    TEXT NOT NULL,
    at          TEXT NOT NULL,      -- wall clock
    action      TEXT NOT NULL,      -- raised, acknowledged, resolved, false_alarm, ended
    by_officer  TEXT,               -- NULL: the rules
    note        TEXT
);
INSERT INTO alert_history (alert_id, at, action, by_officer, note)
SELECT alert_id, raised_at, 'raised', NULL, NULL FROM alerts;
INSERT INTO alert_history (alert_id, at, action, by_officer, note)
SELECT alert_id, acked_at, 'acknowledged', acked_by, NULL FROM alerts WHERE acked_at IS NOT NULL;

DROP TABLE alerts;
ALTER TABLE alerts_v2 RENAME TO alerts;
CREATE INDEX alerts_by_key ON alerts (alert_key, raised_at);
CREATE UNIQUE INDEX alerts_one_open ON alerts (alert_key) WHERE state IN ('open', 'acknowledged');
CREATE INDEX alerts_by_state ON alerts (state, at);
CREATE INDEX alert_history_by_alert ON alert_history (alert_id, id);

-- Which events showed which alert's incident: a sighting counts once per event, so a replay
-- or a duplicate delivery updates nothing.
CREATE TABLE alert_sightings (
    alert_id  TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    at        TEXT NOT NULL,        -- capture time
    camera    TEXT NOT NULL,        -- site/edge/camera
    PRIMARY KEY (alert_id, event_id)
);
