-- Watch-desk sessions. The browser holds a random token in a cookie; the store keeps only its
-- SHA-256, so a copy of the database opens no session. A session ends at expires_at, after
-- the desk's idle time without a request (last_seen), at logout, or when its user is disabled
-- or given a new password. csrf: the token every form of the session must carry.
CREATE TABLE desk_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,   -- RFC 3339, UTC
    last_seen   TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX desk_sessions_by_user ON desk_sessions (user_name);

-- Who looked at or changed what, for the admins: every vehicle look-up, every snapshot
-- opened, every list change, every alert action, logins and user changes. subject may be
-- personal data (a plate typed); kept as long as the retention settings allow.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TEXT NOT NULL,    -- RFC 3339, UTC (wall clock)
    user_name  TEXT NOT NULL,    -- a desk user, or "cli:<login>" for the command line
    action     TEXT NOT NULL,    -- e.g. login, vehicle_lookup, snapshot_viewed, list_put, alert_acknowledged
    subject    TEXT NOT NULL,    -- what it was done to: an alert or event id, a plate, a user
    detail     TEXT,             -- a note, the list kind, the number found
    source     TEXT              -- the client's address as the desk saw it
);
CREATE INDEX audit_by_time ON audit_log (at);

-- The language a desk user reads the desk in: Simplified Chinese unless they choose English.
ALTER TABLE desk_users ADD COLUMN lang TEXT NOT NULL DEFAULT 'zh' CHECK (lang IN ('zh', 'en'));

-- The plates a plate_read event read (the voted plate, then its candidates, space-separated;
-- personal data), so the desk's vehicle look-up reads a column, not every body. Rows stored
-- before this get the voted plate only.
ALTER TABLE events ADD COLUMN plates TEXT;
UPDATE events SET plates = (body::json ->> 'plate') WHERE kind = 'plate_read';
-- Look-ups by kind over a time range: plate reads for the vehicle look-up, camera status for
-- the gates page, line crossings for the counts.
CREATE INDEX events_by_kind_time ON events (kind, captured_at);
