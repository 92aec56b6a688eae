-- Alerts become incidents with a lifecycle (see the SQLite migration of the same number for
-- the meaning of every column; the tables, columns and keys are the same).
DROP INDEX IF EXISTS alerts_open;
ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_alert_key_key;
ALTER TABLE alerts
    ADD COLUMN state TEXT NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'acknowledged', 'resolved', 'false_alarm')),
    ADD COLUMN sightings BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN last_seen TEXT,
    ADD COLUMN best_event_id TEXT,
    ADD COLUMN best_score REAL NOT NULL DEFAULT 0,
    ADD COLUMN updated_at TEXT,
    ADD COLUMN closed_at TEXT;
UPDATE alerts SET state = CASE WHEN acked_at IS NULL THEN 'open' ELSE 'acknowledged' END,
                  last_seen = at, best_event_id = event_id, updated_at = COALESCE(acked_at, raised_at);
ALTER TABLE alerts ALTER COLUMN last_seen SET NOT NULL,
                   ALTER COLUMN best_event_id SET NOT NULL,
                   ALTER COLUMN updated_at SET NOT NULL;

CREATE TABLE alert_history (
    id          BIGSERIAL PRIMARY KEY,
    alert_id    TEXT NOT NULL,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    by_officer  TEXT,
    note        TEXT
);
INSERT INTO alert_history (alert_id, at, action, by_officer, note)
SELECT alert_id, raised_at, 'raised', NULL, NULL FROM alerts ORDER BY raised_at;
INSERT INTO alert_history (alert_id, at, action, by_officer, note)
SELECT alert_id, acked_at, 'acknowledged', acked_by, NULL FROM alerts WHERE acked_at IS NOT NULL ORDER BY acked_at;
ALTER TABLE alerts DROP COLUMN acked_at, DROP COLUMN acked_by;

CREATE INDEX alerts_by_key ON alerts (alert_key, raised_at);
CREATE UNIQUE INDEX alerts_one_open ON alerts (alert_key) WHERE state IN ('open', 'acknowledged');
CREATE INDEX alerts_by_state ON alerts (state, at);
CREATE INDEX alert_history_by_alert ON alert_history (alert_id, id);

CREATE TABLE alert_sightings (
    alert_id  TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    at        TEXT NOT NULL,
    camera    TEXT NOT NULL,
    PRIMARY KEY (alert_id, event_id)
);
