-- PostgreSQL twin of ../sqlite/0004. Writers take a lock on this table in their transaction,
-- so ids become visible in id order and a reader that remembers the highest id it saw misses
-- none.
CREATE TABLE plate_list_changes (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    plate       TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);
