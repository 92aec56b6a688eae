-- PostgreSQL twin of ../sqlite/0003: payloads the aggregator refused, kept so that nothing an
-- edge sent disappears unseen.
CREATE TABLE rejected (
    id             BIGSERIAL PRIMARY KEY,
    received_at    TEXT NOT NULL,
    topic          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    detail         TEXT NOT NULL,
    site           TEXT,
    edge           TEXT,
    seq            BIGINT,
    payload        BYTEA NOT NULL,
    payload_bytes  BIGINT NOT NULL
);
CREATE INDEX rejected_by_time ON rejected (received_at);
