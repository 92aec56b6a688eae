//! Watch-desk sessions and the audit log in the store. A session is a random token the browser
//! keeps in a cookie; only its SHA-256 is stored. Every desk process reads the same table, so
//! several desks (and restarts) share sessions. The audit log records who looked at or changed
//! what; it is written by the desk and the CLI, and read by admins.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::users::user;
use crate::{DeskUser, Pool, Store, StoreError, parse_time, ts};

/// A session just opened: the token goes into the cookie, the CSRF token into every form.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// A live session, as a request finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskSession {
    pub user: DeskUser,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// A desk user, or `cli:<login>`.
    pub user: String,
    pub action: String,
    /// What it was done to (an alert or event id, a plate, a user). May be personal data.
    pub subject: String,
    pub detail: Option<String>,
    /// The client's address, when it came over the network.
    pub source: Option<String>,
}

/// An API token as admins see it (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub label: String,
    pub user: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this user's entries.
    pub user: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Entries older than this id (the previous page's last).
    pub before: Option<i64>,
    pub limit: i64,
}

/// 32 random bytes, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// How often a session's `last_seen` is written: not on every request.
const TOUCH_EVERY_S: i64 = 30;

/// `csrf, last_seen, expires_at`, then a user [`Row`].
type SessionRow = (String, String, String, String, String, i64, String, String, String);

/// An `audit_log` row: `id, at, user_name, action, subject, detail, source`.
type AuditRow = (i64, String, String, String, String, Option<String>, Option<String>);

impl Store {
    /// Open a session for `user` that lasts `lifetime` at most.
    pub async fn open_session(
        &self,
        user: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<NewSession, StoreError> {
        let s = NewSession { token: random_token(), csrf: random_token(), expires_at: now + lifetime };
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO desk_sessions (token_hash, user_name, csrf, created_at, last_seen, expires_at) \
                 VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(token_hash(&s.token))
            .bind(user)
            .bind(&s.csrf)
            .bind(ts(now))
            .bind(ts(s.expires_at))
            .execute(pool)
            .await?;
        });
        Ok(s)
    }

    /// The session of `token` if it is still alive at `now`: not expired, used within `idle`,
    /// its user not disabled. A dead one is removed; a live one is marked used.
    pub async fn session(
        &self,
        token: &str,
        now: DateTime<Utc>,
        idle: Duration,
    ) -> Result<Option<DeskSession>, StoreError> {
        let hash = token_hash(token);
        const Q: &str = "SELECT s.csrf, s.last_seen, s.expires_at, u.name, u.role, u.disabled, u.created_at, \
             u.password_set_at, u.lang FROM desk_sessions s JOIN desk_users u ON u.name = s.user_name \
             WHERE s.token_hash = $1";
        let found: Option<SessionRow> = on_pool!(self, pool => {
            sqlx::query_as(Q).bind(&hash).fetch_optional(pool).await?
        });
        let Some((csrf, last_seen, expires_at, name, role, disabled, created, set, lang)) = found else {
            return Ok(None);
        };
        let last_seen = parse_time(&last_seen);
        let expires_at = parse_time(&expires_at);
        let user = user((name, role, disabled, created, set, lang));
        let alive = match (last_seen, expires_at, &user) {
            (Some(seen), Some(exp), Some(u)) => now < exp && now < seen + idle && !u.disabled,
            _ => false,
        };
        let (Some(seen), Some(expires_at), Some(user), true) = (last_seen, expires_at, user, alive) else {
            self.end_session(token).await?;
            return Ok(None);
        };
        if now - seen >= Duration::seconds(TOUCH_EVERY_S) {
            on_pool!(self, pool => {
                sqlx::query("UPDATE desk_sessions SET last_seen = $1 WHERE token_hash = $2")
                    .bind(ts(now))
                    .bind(&hash)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(Some(DeskSession { user, csrf, expires_at }))
    }

    /// End the session of `token` (logout).
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM desk_sessions WHERE token_hash = $1").bind(token_hash(token)).execute(pool).await?;
        });
        Ok(())
    }

    /// End every session of a user (disabled, or a new password).
    pub async fn end_sessions_of(&self, user: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM desk_sessions WHERE user_name = $1").bind(user).execute(pool).await?;
        });
        Ok(())
    }

    /// Forget sessions that expired before `now`; returns how many.
    pub async fn purge_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM desk_sessions WHERE expires_at < $1").bind(ts(now)).execute(pool).await?.rows_affected()
        }))
    }

    /// A new API token acting as `user`, named `label`; the token is returned once, only its
    /// hash kept. `None` when the label is taken.
    pub async fn add_api_token(
        &self,
        user: &str,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let token = format!("gw_{}", random_token());
        let added = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (token_hash, label, user_name, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (label) DO NOTHING",
            )
            .bind(token_hash(&token))
            .bind(label)
            .bind(user)
            .bind(ts(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok((added == 1).then_some(token))
    }

    /// The user an API token acts as (and its label), unless it is revoked or its user disabled.
    pub async fn api_token_user(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeskUser, String)>, StoreError> {
        const Q: &str = "SELECT t.label, u.name, u.role, u.disabled, u.created_at, u.password_set_at, u.lang \
             FROM api_tokens t JOIN desk_users u ON u.name = t.user_name \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
        let hash = token_hash(token);
        let found: Option<(String, String, String, i64, String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(Q).bind(&hash).fetch_optional(pool).await?
        });
        let Some((label, name, role, disabled, created, set, lang)) = found else { return Ok(None) };
        let Some(user) = user((name, role, disabled, created, set, lang)).filter(|u| !u.disabled) else {
            return Ok(None);
        };
        on_pool!(self, pool => {
            sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE token_hash = $2").bind(ts(now)).bind(&hash).execute(pool).await?;
        });
        Ok(Some((user, label)))
    }

    /// Revoke the token named `label`; false if there is none (or it was revoked already).
    pub async fn revoke_api_token(&self, label: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE label = $2 AND revoked_at IS NULL")
                .bind(ts(now))
                .bind(label)
                .execute(pool)
                .await?
                .rows_affected()
        }) == 1)
    }

    /// Every API token, by label.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        type Row = (String, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as("SELECT label, user_name, created_at, last_used, revoked_at FROM api_tokens ORDER BY label")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(label, user, created, used, revoked)| ApiToken {
                label,
                user,
                created_at: parse_time(&created),
                last_used: used.as_deref().and_then(parse_time),
                revoked_at: revoked.as_deref().and_then(parse_time),
            })
            .collect())
    }

    /// Add an entry to the audit log.
    pub async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_log (at, user_name, action, subject, detail, source) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(ts(e.at))
            .bind(&e.user)
            .bind(&e.action)
            .bind(&e.subject)
            .bind(&e.detail)
            .bind(&e.source)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Audit log entries, newest first, with their ids (for paging with `before`).
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        const Q: &str = "SELECT id, at, user_name, action, subject, detail, source FROM audit_log \
             WHERE ($1 IS NULL OR user_name = $1) AND ($2 IS NULL OR action = $2) AND id < $3 \
             ORDER BY id DESC LIMIT $4";
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(Q)
                .bind(&f.user)
                .bind(&f.action)
                .bind(f.before.unwrap_or(i64::MAX))
                .bind(f.limit.clamp(1, 10_000))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, at, user, action, subject, detail, source)| {
                (id, AuditEntry { at: parse_time(&at).unwrap_or_default(), user, action, subject, detail, source })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes, base64url without padding: {a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert_ne!(h, token_hash(&b));
        assert!(!h.contains(&a));
    }
}
