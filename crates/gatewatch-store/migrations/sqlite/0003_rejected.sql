-- Payloads the aggregator refused (wrong schema, malformed, too large, wrong topic). An edge's
-- sequenced event that is refused is still acknowledged (a replay would be refused again), so
-- it is kept here instead of vanishing: reason, topic, time, who sent it, and the payload up
-- to a bound (whole for a sequenced event from the edge its topic names; the first 4 KiB of
-- anything else).
CREATE TABLE rejected (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at    TEXT NOT NULL,     -- RFC 3339, UTC (wall clock)
    topic          TEXT NOT NULL,     -- at most 256 characters
    reason         TEXT NOT NULL,     -- too_large, malformed, schema, invalid, topic_mismatch
    detail         TEXT NOT NULL,     -- the refusal, at most 1,000 characters
    site           TEXT,              -- when the payload names the edge of its topic
    edge           TEXT,
    seq            INTEGER,
    payload        BLOB NOT NULL,     -- may hold personal data (plates, snapshots)
    payload_bytes  INTEGER NOT NULL   -- the whole payload's size
);
CREATE INDEX rejected_by_time ON rejected (received_at);
