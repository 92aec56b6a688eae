-- Which list entries changed, in order: the aggregator reads only what changed since its last
-- look (a city's stolen-vehicle list has 10^5 entries), then each changed entry's current row
-- (none: it was removed).
CREATE TABLE plate_list_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    plate       TEXT NOT NULL,    -- personal data
    changed_at  TEXT NOT NULL
);
