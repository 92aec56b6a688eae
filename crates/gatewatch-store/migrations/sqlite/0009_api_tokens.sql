-- Tokens for integrations using the desk's JSON API: each acts as one desk user (their role,
-- and nothing once the user is disabled). Only the token's SHA-256 is stored; label names it
-- for people (`gatewatch users token USER --label LABEL`), unique, so it can be revoked.
CREATE TABLE api_tokens (
    token_hash  TEXT PRIMARY KEY,
    label       TEXT NOT NULL UNIQUE,
    user_name   TEXT NOT NULL,
    created_at  TEXT NOT NULL,   -- RFC 3339, UTC
    last_used   TEXT,
    revoked_at  TEXT
);
