//! Who is asking: the session cookie, the CSRF token every change must carry, and the login
//! rate limit. Pure where it can be (the limiter takes the time in); the session itself is the
//! store's ([`gatewatch_store::Store::session`]).

use std::collections::{HashMap, VecDeque};

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, ORIGIN, SET_COOKIE};
use chrono::{DateTime, Duration, Utc};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gw_session";
/// The cookie that carries the login form's CSRF token (no session exists yet).
pub const LOGIN_COOKIE: &str = "gw_login";

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, the whole site; `max_age` none = delete.
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> String {
    let age = max_age.map_or(0, |d| d.num_seconds().max(0));
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={age}{secure}")
}

/// Add a `Set-Cookie` header.
pub fn push_cookie(headers: &mut HeaderMap, value: String) {
    if let Ok(v) = value.parse() {
        headers.append(SET_COOKIE, v);
    }
}

/// Compare two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A change must come from the desk's own pages: a browser that names another origin (or
/// says the request is cross-site) is refused before the CSRF token is even looked at.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|s| s == "cross-site") {
        return false;
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

/// Wrong passwords per key (`user:NAME`, `addr:IP`) within a window: past `attempts` of them,
/// every login with that key is refused until the oldest falls out of the window, even with
/// the right password (a guesser learns nothing from trying on). Keys are bounded in number.
#[derive(Debug)]
pub struct LoginLimiter {
    attempts: usize,
    window: Duration,
    failures: HashMap<String, VecDeque<DateTime<Utc>>>,
}

/// Most keys the limiter keeps; past it, the stalest are forgotten first.
const MAX_KEYS: usize = 10_000;

impl LoginLimiter {
    pub fn new(attempts: u32, window: Duration) -> Self {
        Self { attempts: attempts.max(1) as usize, window, failures: HashMap::new() }
    }

    /// Whether a login with these keys may be tried at `now`.
    pub fn allowed(&mut self, keys: &[String], now: DateTime<Utc>) -> bool {
        self.forget_before(now - self.window);
        keys.iter().all(|k| self.failures.get(k).is_none_or(|f| f.len() < self.attempts))
    }

    /// A wrong password for these keys at `now`.
    pub fn failed(&mut self, keys: &[String], now: DateTime<Utc>) {
        if self.failures.len() >= MAX_KEYS {
            self.forget_before(now - self.window);
            if self.failures.len() >= MAX_KEYS {
                let stalest = self.failures.iter().min_by_key(|(_, f)| f.back().copied()).map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    self.failures.remove(&k);
                }
            }
        }
        for k in keys {
            self.failures.entry(k.clone()).or_default().push_back(now);
        }
    }

    /// A successful login clears that user's failures (not the address's).
    pub fn succeeded(&mut self, user_key: &str) {
        self.failures.remove(user_key);
    }

    fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        self.failures.retain(|_, f| {
            while f.front().is_some_and(|t| *t <= cutoff) {
                f.pop_front();
            }
            !f.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_guesser_is_locked_out_for_the_window_even_with_the_right_password() {
        let mut l = LoginLimiter::new(5, Duration::minutes(15));
        let keys = vec!["user:li".to_string(), "addr:10.0.0.9".to_string()];
        for i in 0..5 {
            assert!(l.allowed(&keys, t(i)), "attempt {i}");
            l.failed(&keys, t(i));
        }
        assert!(!l.allowed(&keys, t(10)), "the 6th attempt is refused");
        // Another address trying the same user is refused too; the same address another user too.
        assert!(!l.allowed(&["user:li".into(), "addr:10.0.0.1".into()], t(11)));
        assert!(!l.allowed(&["user:wang".into(), "addr:10.0.0.9".into()], t(11)));
        assert!(l.allowed(&["user:wang".into(), "addr:10.0.0.1".into()], t(11)));
        // Once the first failure is older than the window, one more try is allowed.
        assert!(l.allowed(&keys, t(15 * 60 + 1)));
        l.succeeded("user:li");
        assert!(l.allowed(&["user:li".into(), "addr:10.0.0.1".into()], t(15 * 60 + 2)));
    }

    #[test]
    fn the_limiter_stays_bounded_under_a_spray_of_names() {
        let mut l = LoginLimiter::new(3, Duration::minutes(15));
        for i in 0..(MAX_KEYS as i64 + 500) {
            l.failed(&[format!("user:n{i}")], t(i));
        }
        assert!(l.failures.len() <= MAX_KEYS);
    }

    #[test]
    fn cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; gw_session=abc".parse().unwrap());
        h.append(COOKIE, "gw_login=xyz".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "gw"), None);
        let c = set_cookie(SESSION_COOKIE, "abc", Some(Duration::hours(12)), true);
        assert!(
            c.contains("HttpOnly")
                && c.contains("SameSite=Strict")
                && c.contains("Max-Age=43200")
                && c.ends_with("Secure")
        );
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h), "no Origin header: a same-origin form post from older browsers");
        h.insert(ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
