-- Erasures by plate (`gatewatch erase --plate`): the request, by the SHA-256 of the normalised
-- plate (never the plate itself), and each edge's acknowledgement that its spool is erased too.
CREATE TABLE erasures (
    erasure_id    TEXT PRIMARY KEY,   -- a UUID
    plate_sha256  TEXT NOT NULL,
    requested_at  TEXT NOT NULL,      -- RFC 3339, UTC: what was captured up to here is erased
    requested_by  TEXT NOT NULL,      -- "cli:<login>"
    reason        TEXT NOT NULL,
    summary       TEXT NOT NULL       -- what the database erasure removed, as JSON counts
);
CREATE INDEX erasures_by_time ON erasures (requested_at);

CREATE TABLE erasure_acks (
    erasure_id  TEXT NOT NULL,
    site        TEXT NOT NULL,
    edge        TEXT NOT NULL,
    acked_at    TEXT NOT NULL,        -- RFC 3339, UTC (the aggregator's clock)
    events      BIGINT NOT NULL,      -- spooled events the edge changed
    PRIMARY KEY (erasure_id, site, edge)
);
