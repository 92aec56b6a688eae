-- Watch-desk users: officers (see and act on alerts, look vehicles up) and admins (lists,
-- users, settings). Passwords as argon2id PHC strings; the first admin is made from the CLI.
CREATE TABLE desk_users (
    name            TEXT PRIMARY KEY,
    role            TEXT NOT NULL CHECK (role IN ('officer', 'admin')),
    password_hash   TEXT NOT NULL,
    disabled        BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at      TEXT NOT NULL,    -- RFC 3339, UTC
    password_set_at TEXT NOT NULL
);
