-- Which aggregator processes the edges' events now (several may run against one database; one
-- holds the lease, the others wait). `epoch` grows at every change of holder: every ingest
-- transaction renews the lease for its holder and epoch, or fails, so a process that lost the
-- lease cannot store anything after its successor took over. Times are the database's clock,
-- in milliseconds since 1970.
CREATE TABLE ingest_lease (
    name        TEXT PRIMARY KEY,   -- 'ingest'
    holder      TEXT NOT NULL,      -- node/process that holds it, e.g. agg-a/8c1f…
    epoch       BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);

-- Per edge, every seq up to `done` is stored (or settled): what the ack says. Kept here, not
-- only in one aggregator's memory, so a successor acks from where its predecessor was.
CREATE TABLE edge_watermarks (
    site        TEXT NOT NULL,
    edge        TEXT NOT NULL,
    done        BIGINT NOT NULL,
    updated_at  TEXT NOT NULL,      -- RFC 3339, UTC
    PRIMARY KEY (site, edge)
);
