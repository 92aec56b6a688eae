//! The watch desk: officers see, judge and close alerts in a browser; admins keep the lists,
//! the users and read the audit log. Server-rendered pages (maud: every value escaped), one
//! small script for the live page (server-sent events), no build step.
//!
//! It reads and writes only the store, never an aggregator's memory: live alerts come from
//! polling `alerts.updated_at` ([`live`]), so one desk serves the alerts of several
//! aggregators sharing a database, and several desks share sessions (they are rows too).
//!
//! Who may do what ([`session`]): officers see and act on alerts and look vehicles up; admins
//! also manage lists and users and read the audit log. Every change is a POST carrying the
//! session's CSRF token from a page of the same origin; logins are rate-limited per user name
//! and per address; every response carries security headers ([`headers`]). Every vehicle
//! look-up, picture opened, list change, alert action and user change is audited.
//!
//! Integrations use the JSON API under `/api/v1` ([`api`], OpenAPI at `/api/v1/openapi.json`)
//! with a bearer token that acts as one desk user.

pub mod api;
pub mod auth;
mod headers;
pub mod i18n;
mod layout;
pub mod live;
mod pages;
mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use gatewatch_core::config::DeskConfig;
use gatewatch_core::rules::LocalTime;
use gatewatch_store::{AuditEntry, Store};

pub use session::{Refusal, User};

/// Where the desk's time comes from: the wall clock, or a test's.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The desk's settings, from `[desk]` and the rules' local time.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session: Duration,
    pub idle: Duration,
    pub secure_cookies: bool,
    pub login_attempts: u32,
    pub lockout: Duration,
    pub lookup: Duration,
    /// The sites' local time, for showing times.
    pub local: LocalTime,
}

impl Settings {
    pub fn new(cfg: &DeskConfig, local: LocalTime) -> Self {
        let minutes = |m: f64| Duration::milliseconds((m * 60_000.0) as i64);
        Self {
            session: minutes(cfg.session_hours * 60.0),
            idle: minutes(cfg.idle_minutes),
            secure_cookies: cfg.secure_cookies,
            login_attempts: cfg.login_attempts,
            lockout: minutes(cfg.lockout_minutes),
            lookup: Duration::days(cfg.lookup_days.into()),
            local,
        }
    }
}

/// What every handler shares.
pub struct Desk {
    store: Store,
    settings: Settings,
    clock: Clock,
    limiter: Mutex<auth::LoginLimiter>,
    live: live::Feed,
    /// When each (user, event) picture was last audited as viewed.
    pictures_seen: Mutex<HashMap<(String, String), DateTime<Utc>>>,
}

/// A picture viewed again within this time is not audited again (a list's thumbnails reload).
const PICTURE_AUDIT_EVERY: Duration = Duration::hours(1);

impl Desk {
    /// A desk over `store`; call [`live::Feed::run`] on [`Desk::feed`] to make the live page live.
    pub fn new(store: Store, settings: Settings, clock: Clock) -> Arc<Self> {
        let limiter = Mutex::new(auth::LoginLimiter::new(settings.login_attempts, settings.lockout));
        Arc::new(Self { store, settings, clock, limiter, live: live::Feed::new(), pictures_seen: Mutex::default() })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub fn feed(&self) -> &live::Feed {
        &self.live
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether `user` viewing the pictures of `event_id` now is to be audited: the first
    /// time, or an hour after the last time audited.
    fn first_view(&self, user: &str, event_id: &str) -> bool {
        let now = self.now();
        let mut seen = self.pictures_seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, t| now - *t < PICTURE_AUDIT_EVERY);
        }
        let key = (user.to_string(), event_id.to_string());
        match seen.get(&key) {
            Some(t) if now - *t < PICTURE_AUDIT_EVERY => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }

    /// `at` as the officers read it: local date and time to the second.
    fn time(&self, at: DateTime<Utc>) -> String {
        self.settings.local.local(at).format("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// Record who did what; a failure to record is logged, and refuses the request (a look-up
    /// that cannot be audited is not made).
    async fn audit(
        &self,
        user: &str,
        action: &str,
        subject: &str,
        detail: Option<String>,
        source: Option<String>,
    ) -> Result<(), Refusal> {
        let entry = AuditEntry {
            at: self.now(),
            user: user.into(),
            action: action.into(),
            subject: subject.into(),
            detail,
            source,
        };
        self.store.audit(&entry).await.map_err(|e| {
            tracing::error!(error = %e, action, "audit log write failed");
            Refusal::Internal
        })
    }
}

/// The desk's routes, with its security headers on every response.
pub fn router(desk: Arc<Desk>) -> Router {
    Router::new()
        .route("/", get(pages::alerts::live_page))
        .route("/live", get(live::stream))
        .route("/alerts/{id}", get(pages::alerts::detail))
        .route("/alerts/{id}/act", post(pages::alerts::act))
        .route("/alerts/{id}/picture", get(pages::alerts::alert_picture))
        .route("/history", get(pages::alerts::history))
        .route("/pictures/{event_id}/{which}", get(pages::alerts::picture))
        .route("/vehicles", get(pages::vehicles::lookup))
        .route("/gates", get(pages::gates::gates))
        .route("/lists", get(pages::lists::lists))
        .route("/lists.csv", get(pages::lists::export))
        .route("/lists/put", post(pages::lists::put))
        .route("/lists/remove", post(pages::lists::remove))
        .route("/lists/import", post(pages::lists::import).layer(DefaultBodyLimit::max(3 * pages::lists::MAX_IMPORT)))
        .route("/users", get(pages::users::users))
        .route("/users/add", post(pages::users::add))
        .route("/users/change", post(pages::users::change))
        .route("/users/token", post(pages::users::token))
        .route("/audit", get(pages::audit::audit))
        .route("/audit.csv", get(pages::audit::export))
        .route("/login", get(pages::login::form).post(pages::login::login))
        .route("/logout", post(pages::login::logout))
        .route("/settings/lang", post(pages::login::set_lang))
        .route("/settings/password", get(pages::login::password_form).post(pages::login::change_password))
        .route("/static/desk.css", get(layout::css))
        .route("/static/desk.js", get(layout::js))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v1", api::routes())
        .fallback(|| async { Refusal::NotFound })
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(desk)
}

/// Bind `[desk] listen` and serve the desk over `store` until `stop` turns true (the wall
/// clock, the rules' local time). Returns the address bound (port 0 picks a free one).
pub async fn start(
    store: Store,
    cfg: &gatewatch_core::config::AggregatorConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let local = LocalTime::from_config(cfg.rules.timezone.as_deref(), &cfg.rules.utc_offset)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let desk = Desk::new(store, Settings::new(&cfg.desk, local), Arc::new(Utc::now));
    let listener = tokio::net::TcpListener::bind(&cfg.desk.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(url = %format!("http://{addr}/"), "watch desk listening");
    Ok((addr, tokio::spawn(serve(desk, listener, stop))))
}

/// Serve the desk on `listener` until `stop` turns true; the live feed runs beside it.
pub async fn serve(
    desk: Arc<Desk>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let feed = tokio::spawn({
        let desk = desk.clone();
        let stop = stop.clone();
        async move { desk.live.run(&desk.store, stop).await }
    });
    // Expired sessions are forgotten hourly (a live one is checked on every request anyway).
    let purge = tokio::spawn({
        let desk = desk.clone();
        async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                match desk.store.purge_sessions(desk.now()).await {
                    Ok(n) if n > 0 => tracing::debug!(sessions = n, "desk: expired sessions forgotten"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "desk: forgetting expired sessions failed"),
                }
            }
        }
    });
    let app = router(desk).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    feed.abort();
    purge.abort();
    served
}
