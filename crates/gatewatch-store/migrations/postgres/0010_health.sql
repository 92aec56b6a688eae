-- One row each process writes when asked whether it is ready: a write that lands says the
-- database is writable (not only readable) for it.
CREATE TABLE health (
    process  TEXT PRIMARY KEY,   -- e.g. aggregator@host:pid
    at       TEXT NOT NULL       -- RFC 3339, UTC
);
