-- PostgreSQL twin of ../sqlite/0001 (same tables, columns and keys; the store binds the same
-- values to both). Times are RFC 3339 UTC text with microseconds, as in SQLite: fixed width,
-- so they sort and compare as times.

-- Every event an edge sent, once (event_id is the idempotency key).
CREATE TABLE events (
    event_id     TEXT PRIMARY KEY,
    site         TEXT NOT NULL,
    edge         TEXT NOT NULL,
    camera       TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    track        BIGINT,
    captured_at  TEXT NOT NULL,   -- RFC 3339, UTC
    received_at  TEXT NOT NULL,   -- RFC 3339, UTC
    body         TEXT NOT NULL,   -- the event body as JSON, snapshot removed
    snapshot     BYTEA            -- JPEG bytes (personal data)
);
CREATE INDEX events_by_camera_time ON events (site, edge, camera, captured_at);
CREATE INDEX events_by_edge_seq ON events (site, edge, seq);

-- Alerts for the watch desk; one per dedupe key, ever.
CREATE TABLE alerts (
    alert_id     TEXT PRIMARY KEY,
    alert_key    TEXT NOT NULL UNIQUE,
    rule         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    site         TEXT NOT NULL,
    edge         TEXT NOT NULL,
    camera       TEXT NOT NULL,
    track        BIGINT,
    zone         TEXT,
    plate        TEXT,            -- personal data
    at           TEXT NOT NULL,   -- when the condition became true (capture time)
    event_id     TEXT NOT NULL,
    message      TEXT NOT NULL,
    raised_at    TEXT NOT NULL,   -- when the aggregator raised it (wall clock)
    acked_at     TEXT,
    acked_by     TEXT
);
CREATE INDEX alerts_open ON alerts (acked_at, at);
