//! Watch-desk users in the store: who may log in, with which role. Passwords are kept only as
//! argon2id hashes (PHC strings, salt inside); a login check costs the same whether the name
//! exists or not, so timing does not tell which names do.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};

use crate::{Pool, Store, StoreError, parse_time, ts};

/// What a desk user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// See and act on alerts, look vehicles up.
    Officer,
    /// Also lists, users and settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "officer" => Ok(Role::Officer),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?} (officer or admin)")),
        }
    }
}

/// A desk user, without the password hash.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskUser {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub password_set_at: Option<DateTime<Utc>>,
    /// The language the desk is shown in: `zh` (the default) or `en`.
    pub lang: String,
}

/// Why a user could not be added or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name must be 1-64 letters, digits, '.', '_' or '-'")]
    BadName,
    #[error("password must be 12 to 256 characters")]
    BadPassword,
    #[error("there is already a user {0:?}")]
    Exists(String),
    #[error("language must be zh or en")]
    BadLang,
    #[error("no user {0:?}")]
    Unknown(String),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shortest and longest password accepted.
pub const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 256;

/// A fresh random password to hand over once (20 characters without look-alikes: 0/O, 1/l/I).
pub fn one_time_password() -> String {
    use argon2::password_hash::rand_core::RngCore;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    // 256 % 56 != 0: a slight bias towards the first letters, of no use to a guesser at 20 characters.
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(UserError::BadName) }
}

fn hash(password: &str) -> Result<String, UserError> {
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.chars().count()) {
        return Err(UserError::BadPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// A hash of a password nobody has, checked when the name is unknown (same cost as a real one).
static DECOY: LazyLock<String> = LazyLock::new(|| hash("decoy password, never anyone's").unwrap_or_default());

fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

pub(crate) type Row = (String, String, i64, String, String, String);

/// The columns of a [`Row`], in its order.
macro_rules! user_columns {
    () => {
        "name, role, disabled, created_at, password_set_at, lang"
    };
}

pub(crate) fn user(row: Row) -> Option<DeskUser> {
    let (name, role, disabled, created, set, lang) = row;
    Some(DeskUser {
        name,
        role: role.parse().ok()?,
        disabled: disabled != 0,
        created_at: parse_time(&created),
        password_set_at: parse_time(&set),
        lang,
    })
}

/// An update by name changed a row, or there is no such user.
fn one_user(rows: u64, name: &str) -> Result<(), UserError> {
    if rows == 0 { Err(UserError::Unknown(name.into())) } else { Ok(()) }
}

impl Store {
    /// Add a desk user with this password (hashed here; never stored or logged as given).
    pub async fn add_user(&self, name: &str, role: Role, password: &str, now: DateTime<Utc>) -> Result<(), UserError> {
        check_name(name)?;
        let phc = hash(password)?;
        let at = ts(now);
        let added = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO desk_users (name, role, password_hash, disabled, created_at, password_set_at) \
                 VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(role.as_str())
            .bind(&phc)
            .bind(&at)
            .execute(pool)
            .await
            .map_err(StoreError::from)?
            .rows_affected()
        });
        if added == 0 { Err(UserError::Exists(name.into())) } else { Ok(()) }
    }

    /// The user `name` if the password is theirs and they are not disabled.
    pub async fn check_login(&self, name: &str, password: &str) -> Result<Option<DeskUser>, StoreError> {
        let found: Option<(String, Row)> = on_pool!(self, pool => {
            sqlx::query_as::<_, (String, String, String, i64, String, String, String)>(
                "SELECT password_hash, name, role, disabled, created_at, password_set_at, lang FROM desk_users WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
            .map(|(h, n, r, d, c, s, l)| (h, (n, r, d, c, s, l)))
        });
        let Some((phc, row)) = found else {
            verify(password, &DECOY);
            return Ok(None);
        };
        let ok = verify(password, &phc);
        Ok(user(row).filter(|u| ok && !u.disabled))
    }

    /// Every desk user, by name.
    pub async fn users(&self) -> Result<Vec<DeskUser>, StoreError> {
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM desk_users ORDER BY name")).fetch_all(pool).await?
        });
        Ok(rows.into_iter().filter_map(user).collect())
    }

    /// One desk user by name, disabled or not.
    pub async fn user(&self, name: &str) -> Result<Option<DeskUser>, StoreError> {
        let row: Option<Row> = on_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM desk_users WHERE name = $1"))
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(user))
    }

    /// Change a user's role.
    pub async fn set_user_role(&self, name: &str, role: Role) -> Result<(), UserError> {
        let changed = on_pool!(self, pool => {
            sqlx::query("UPDATE desk_users SET role = $1 WHERE name = $2")
                .bind(role.as_str())
                .bind(name)
                .execute(pool)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
        });
        one_user(changed, name)
    }

    /// The language a user reads the desk in: `zh` or `en`.
    pub async fn set_user_lang(&self, name: &str, lang: &str) -> Result<(), UserError> {
        if !matches!(lang, "zh" | "en") {
            return Err(UserError::BadLang);
        }
        let changed = on_pool!(self, pool => {
            sqlx::query("UPDATE desk_users SET lang = $1 WHERE name = $2")
                .bind(lang)
                .bind(name)
                .execute(pool)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
        });
        one_user(changed, name)
    }

    /// Disable (or enable again) a user: a disabled one cannot log in.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<(), UserError> {
        let changed = on_pool!(self, pool => {
            sqlx::query("UPDATE desk_users SET disabled = $1 WHERE name = $2")
                .bind(i64::from(disabled))
                .bind(name)
                .execute(pool)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
        });
        one_user(changed, name)?;
        if disabled {
            self.end_sessions_of(name).await?;
        }
        Ok(())
    }

    /// Give a user a new password (their open sessions end).
    pub async fn set_password(&self, name: &str, password: &str, now: DateTime<Utc>) -> Result<(), UserError> {
        let phc = hash(password)?;
        let changed = on_pool!(self, pool => {
            sqlx::query("UPDATE desk_users SET password_hash = $1, password_set_at = $2 WHERE name = $3")
                .bind(&phc)
                .bind(ts(now))
                .bind(name)
                .execute(pool)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
        });
        one_user(changed, name)?;
        self.end_sessions_of(name).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roles_and_passwords_are_checked() {
        assert!(check_name("li.wei_2").is_ok());
        assert!(check_name("王警官").is_ok(), "officers' own names");
        for bad in ["", "a b", "<b>x</b>", "x\u{202e}y", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert!(matches!(hash("short"), Err(UserError::BadPassword)));
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse battery", &phc) && !verify("correct horse batterx", &phc));
        assert!(!verify("anything", "not a hash"));
        let (a, b) = (one_time_password(), one_time_password());
        assert!(a.len() == 20 && a != b && hash(&a).is_ok(), "{a} {b}");
    }
}
