//! Storage adapter: events and alerts through sqlx, in SQLite (one file, the default) or
//! PostgreSQL (a district or a city; several aggregators may share one database). Migrations
//! live in `migrations/sqlite` and `migrations/postgres`: the same tables, columns and keys.
//!
//! Idempotent by construction: an event is stored once per `event_id`, an alert once per
//! dedupe key, whatever the delivery does. Values are always bound parameters, never
//! formatted into SQL. A locked or busy database is an error the caller retries, not a loss.
//!
//! Every statement is written once, with `$n` placeholders (which SQLite accepts as well), and
//! compiled for each backend by [`on_pool!`].

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use gatewatch_core::event::{Event, EventBody};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_core::rules::Alert;
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

mod local_pg;
pub use local_pg::LocalPostgres;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("local PostgreSQL: {0}")]
    LocalServer(String),
}

impl StoreError {
    /// Worth retrying: the database is busy or locked, a transaction lost a conflict, or the
    /// connection hiccupped (a restarting PostgreSQL, say).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(db)) => {
                let m = db.message();
                // SQLite: SQLITE_BUSY / SQLITE_LOCKED. PostgreSQL (SQLSTATE): 40001
                // serialization failure, 40P01 deadlock, 08xxx connection exceptions, 57P0x
                // the server shutting down or starting up.
                let code = db.code().unwrap_or_default();
                m.contains("locked")
                    || m.contains("busy")
                    || matches!(code.as_ref(), "40001" | "40P01")
                    || code.starts_with("08")
                    || code.starts_with("57P0")
            }
            StoreError::Sql(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed,
            ) => true,
            _ => false,
        }
    }
}

/// A stored alert as the desk sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub alert: Alert,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
}

/// Rows per multi-row statement: 16 columns x 500 stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters.
const CHUNK: usize = 500;

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the store's pool: the body is compiled once per backend,
/// so one statement text serves both.
macro_rules! on_pool {
    ($self:ident, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`, for errors and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Store {
    /// Open and migrate: `sqlite://gatewatch.db` (created if missing) or
    /// `postgres://user:password@host/db` (the database must exist).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open { url: redacted(url), source };
        let pool = if is_postgres_url(url) {
            // Notices ("relation already exists, skipping") would be INFO logs otherwise.
            let opts = PgConnectOptions::from_str(url).map_err(open)?.options([("client_min_messages", "warning")]);
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(open)?;
            // Several aggregators may start at once: sqlx takes an advisory lock around this.
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(open)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(open)?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Pool::Sqlite(pool)
        };
        Ok(Self { pool })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    pub async fn has_event(&self, event_id: uuid::Uuid) -> Result<bool, StoreError> {
        Ok(!self.existing(&[event_id]).await?.is_empty())
    }

    /// Which of these event ids are already stored (one query per `CHUNK` ids).
    pub async fn existing(&self, ids: &[uuid::Uuid]) -> Result<HashSet<uuid::Uuid>, StoreError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let stored: Vec<String> = on_pool!(self, pool => {
                let mut q = QueryBuilder::new("SELECT event_id FROM events WHERE event_id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.to_string());
                }
                q.push(")");
                q.build_query_scalar::<String>().fetch_all(pool).await?
            });
            found.extend(stored.iter().filter_map(|id| id.parse::<uuid::Uuid>().ok()));
        }
        Ok(found)
    }

    /// Store an event and the alerts it raised in one transaction. Returns whether the event
    /// was new, and the alerts that were new (a key already stored is skipped).
    pub async fn commit(&self, ev: &Event, alerts: &[Alert]) -> Result<(bool, Vec<Alert>), StoreError> {
        let mut out = self.commit_batch(&[(ev, alerts)]).await?;
        Ok(out.pop().expect("one result per event"))
    }

    /// Store many events and their alerts in one transaction (multi-row inserts). Returns,
    /// per event and in order, whether it was new and which of its alerts were new. Either
    /// all of it lands or none of it does.
    pub async fn commit_batch(&self, batch: &[(&Event, &[Alert])]) -> Result<Vec<(bool, Vec<Alert>)>, StoreError> {
        let now = ts(Utc::now());
        let alerts: Vec<&Alert> = batch.iter().flat_map(|(_, a)| a.iter()).collect();
        let mut new_events = HashSet::<String>::new();
        let mut new_alerts = HashSet::<String>::new();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in batch.chunks(CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO events (event_id, site, edge, camera, seq, kind, track, captured_at, received_at, body, snapshot) ",
                );
                q.push_values(chunk, |mut row, (ev, _)| {
                    let (body, snapshot) = split_snapshot(&ev.body);
                    row.push_bind(ev.event_id.to_string())
                        .push_bind(ev.site.clone())
                        .push_bind(ev.edge.clone())
                        .push_bind(ev.camera.clone())
                        .push_bind(ev.seq as i64)
                        .push_bind(ev.body.kind())
                        .push_bind(ev.body.track().map(|t| t as i64))
                        .push_bind(ts(ev.captured_at))
                        .push_bind(now.clone())
                        .push_bind(body)
                        .push_bind(snapshot);
                });
                q.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
                new_events.extend(q.build_query_scalar::<String>().fetch_all(&mut *tx).await?);
            }
            for chunk in alerts.chunks(CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO alerts (alert_id, alert_key, rule, kind, site, edge, camera, track, zone, plate, at, event_id, message, raised_at, matched, candidates) ",
                );
                q.push_values(chunk, |mut row, a| {
                    row.push_bind(a.alert_id.to_string())
                        .push_bind(a.key.clone())
                        .push_bind(a.rule.clone())
                        .push_bind(a.kind.as_str())
                        .push_bind(a.site.clone())
                        .push_bind(a.edge.clone())
                        .push_bind(a.camera.clone())
                        .push_bind(a.track.map(|t| t as i64))
                        .push_bind(a.zone.clone())
                        .push_bind(a.plate.clone())
                        .push_bind(ts(a.at))
                        .push_bind(a.event_id.to_string())
                        .push_bind(a.message.clone())
                        .push_bind(now.clone())
                        .push_bind(a.matched.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()))
                        .push_bind(
                            (!a.candidates.is_empty()).then(|| serde_json::to_string(&a.candidates).unwrap_or_default()),
                        );
                });
                q.push(" ON CONFLICT (alert_key) DO NOTHING RETURNING alert_id");
                new_alerts.extend(q.build_query_scalar::<String>().fetch_all(&mut *tx).await?);
            }
            tx.commit().await?
        });
        // `remove`: an id repeated in the batch counts as new once.
        Ok(batch
            .iter()
            .map(|(ev, alerts)| {
                let new_event = new_events.remove(&ev.event_id.to_string());
                let new = alerts.iter().filter(|a| new_alerts.remove(&a.alert_id.to_string())).cloned().collect();
                (new_event, new)
            })
            .collect())
    }

    pub async fn event_count(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(pool).await?))
    }

    /// Every stored event id (for tests and audits).
    pub async fn event_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT event_id FROM events ORDER BY event_id").fetch_all(pool).await?
        }))
    }

    /// The sequence numbers stored for one edge, ascending (gaps mean lost events).
    pub async fn seqs(&self, site: &str, edge: &str) -> Result<Vec<i64>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT seq FROM events WHERE site = $1 AND edge = $2 ORDER BY seq")
                .bind(site)
                .bind(edge)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Events per kind, sorted by kind.
    pub async fn counts_by_kind(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT kind, COUNT(*) FROM events GROUP BY kind ORDER BY kind").fetch_all(pool).await?
        }))
    }

    /// The JPEG snapshot stored with an event, if any.
    pub async fn snapshot(&self, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let found: Option<Option<Vec<u8>>> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT snapshot FROM events WHERE event_id = $1")
                .bind(event_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.flatten())
    }

    /// Alerts, newest first; only unacknowledged ones when `open_only`.
    pub async fn alerts(&self, open_only: bool) -> Result<Vec<StoredAlert>, StoreError> {
        let rows: Vec<AlertRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT alert_id, alert_key, rule, kind, site, edge, camera, track, zone, plate, at, event_id, message,
                        acked_at, acked_by, matched, candidates
                 FROM alerts WHERE ($1 OR acked_at IS NULL) ORDER BY at DESC, alert_id DESC",
            )
            .bind(!open_only)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(AlertRow::into_stored).collect())
    }

    /// An officer acknowledges an alert. Returns false if there is no such open alert.
    pub async fn ack_alert(&self, alert_id: &str, officer: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let acked = on_pool!(self, pool => {
            sqlx::query("UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE alert_id = $3 AND acked_at IS NULL")
                .bind(ts(at))
                .bind(officer)
                .bind(alert_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(acked == 1)
    }

    /// Every plate list entry, by kind then plate.
    pub async fn list_entries(&self) -> Result<Vec<ListEntry>, StoreError> {
        type EntryRow = (String, String, String, Option<String>, Option<String>);
        let rows: Vec<EntryRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT kind, plate, label, valid_from, valid_to FROM plate_lists ORDER BY kind, plate")
                .fetch_all(pool)
                .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (kind, plate, label, valid_from, valid_to) in rows {
            let entry = ListEntry::new(
                kind.parse().map_err(|e: String| StoreError::Sql(sqlx::Error::Protocol(e)))?,
                &plate,
                &label,
                valid_from.as_deref().and_then(parse_time),
                valid_to.as_deref().and_then(parse_time),
            );
            match entry {
                Ok(e) => out.push(e),
                Err(why) => tracing::warn!(kind, why, "skipping an invalid plate list entry"),
            }
        }
        Ok(out)
    }

    /// Add or replace an entry (same kind and plate). Returns true if it was new.
    pub async fn put_entry(&self, e: &ListEntry) -> Result<bool, StoreError> {
        let existed = on_pool!(self, pool => {
            let existed = sqlx::query("SELECT 1 FROM plate_lists WHERE kind = $1 AND plate = $2")
                .bind(e.kind.as_str())
                .bind(&e.plate)
                .fetch_optional(pool)
                .await?
                .is_some();
            sqlx::query(
                "INSERT INTO plate_lists (kind, plate, label, valid_from, valid_to, added_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (kind, plate) DO UPDATE SET label = excluded.label, valid_from = excluded.valid_from,
                     valid_to = excluded.valid_to",
            )
            .bind(e.kind.as_str())
            .bind(&e.plate)
            .bind(&e.label)
            .bind(e.valid_from.map(ts))
            .bind(e.valid_to.map(ts))
            .bind(ts(Utc::now()))
            .execute(pool)
            .await?;
            existed
        });
        Ok(!existed)
    }

    /// Remove an entry; false if there was none.
    pub async fn remove_entry(&self, kind: ListKind, plate: &str) -> Result<bool, StoreError> {
        let removed = on_pool!(self, pool => {
            sqlx::query("DELETE FROM plate_lists WHERE kind = $1 AND plate = $2")
                .bind(kind.as_str())
                .bind(plate)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed == 1)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// The body as JSON without its snapshot, and the snapshot's JPEG bytes.
fn split_snapshot(body: &EventBody) -> (String, Option<Vec<u8>>) {
    match body {
        EventBody::TrackEnded { snapshot: Some(s), .. } => {
            let mut stripped = body.clone();
            if let EventBody::TrackEnded { snapshot, .. } = &mut stripped {
                *snapshot = None;
            }
            (serde_json::to_string(&stripped).unwrap_or_default(), s.bytes().ok())
        }
        _ => (serde_json::to_string(body).unwrap_or_default(), None),
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// An `alerts` row as both backends return it.
#[derive(sqlx::FromRow)]
struct AlertRow {
    alert_id: String,
    alert_key: String,
    rule: String,
    kind: String,
    site: String,
    edge: String,
    camera: String,
    track: Option<i64>,
    zone: Option<String>,
    plate: Option<String>,
    at: String,
    event_id: String,
    message: String,
    acked_at: Option<String>,
    acked_by: Option<String>,
    matched: Option<String>,
    candidates: Option<String>,
}

impl AlertRow {
    fn into_stored(self) -> StoredAlert {
        let alert = Alert {
            alert_id: self.alert_id.parse().unwrap_or_default(),
            key: self.alert_key,
            rule: self.rule,
            kind: serde_json::from_value(serde_json::Value::String(self.kind))
                .unwrap_or(gatewatch_core::rules::AlertKind::Loitering),
            site: self.site,
            edge: self.edge,
            camera: self.camera,
            track: self.track.map(|t| t as u64),
            zone: self.zone,
            plate: self.plate,
            matched: self.matched.and_then(|j| serde_json::from_str(&j).ok()),
            candidates: self.candidates.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default(),
            at: parse_time(&self.at).unwrap_or_default(),
            event_id: self.event_id.parse().unwrap_or_default(),
            message: self.message,
        };
        StoredAlert { alert, acked_at: self.acked_at.as_deref().and_then(parse_time), acked_by: self.acked_by }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{SCHEMA_V1, Snapshot};
    use gatewatch_core::rules::AlertKind;

    fn event(body: EventBody) -> Event {
        Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "north".into(),
            edge: "gate-1".into(),
            camera: "cam1".into(),
            seq: 1,
            captured_at: "2026-11-28T03:00:00.123456Z".parse().unwrap(),
            body,
        }
    }

    fn alert(ev: &Event, key: &str) -> Alert {
        Alert {
            alert_id: uuid::Uuid::now_v7(),
            key: key.into(),
            rule: "r".into(),
            kind: AlertKind::Watchlist,
            site: ev.site.clone(),
            edge: ev.edge.clone(),
            camera: ev.camera.clone(),
            track: Some(3),
            zone: None,
            plate: Some("'); DROP TABLE alerts;--".into()),
            matched: None,
            candidates: vec!["<script>".into()],
            at: ev.captured_at,
            event_id: ev.event_id,
            message: "m".into(),
        }
    }

    async fn events_and_alerts_are_stored_once(store: Store) {
        let ev = event(EventBody::TrackEnded {
            track: 3,
            class: ObjectClass::Car,
            duration_s: 1.0,
            detections: 4,
            best_score: 0.7,
            snapshot: Some(Snapshot::jpeg(1, 1, &[0xff, 0xd8, 0x01])),
        });
        let a = alert(&ev, "k1");
        let (new, alerts) = store.commit(&ev, std::slice::from_ref(&a)).await.unwrap();
        assert!(new);
        assert_eq!(alerts, vec![a.clone()]);
        // Duplicate delivery: nothing new; a second alert with the same key is skipped.
        let (new, alerts) = store.commit(&ev, &[alert(&ev, "k1")]).await.unwrap();
        assert!(!new && alerts.is_empty());
        assert_eq!(store.event_count().await.unwrap(), 1);
        assert!(store.has_event(ev.event_id).await.unwrap());
        assert_eq!(store.snapshot(&ev.event_id.to_string()).await.unwrap(), Some(vec![0xff, 0xd8, 0x01]));

        // Hostile plate text is data, bound as a parameter.
        let stored = store.alerts(true).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].alert, a);
        assert!(store.ack_alert(&a.alert_id.to_string(), "officer-7", Utc::now()).await.unwrap());
        assert!(!store.ack_alert(&a.alert_id.to_string(), "officer-7", Utc::now()).await.unwrap());
        assert!(store.alerts(true).await.unwrap().is_empty());
        assert_eq!(store.alerts(false).await.unwrap()[0].acked_by.as_deref(), Some("officer-7"));
    }

    fn stats() -> EventBody {
        EventBody::CameraStats {
            frames_decoded: 10,
            frames_inferred: 5,
            frames_dropped: 0,
            frames_gated: 0,
            period_s: 1.0,
        }
    }

    async fn a_batch_lands_whole_and_says_what_was_new(store: Store) {
        let old = event(stats());
        store.commit(&old, &[alert(&old, "k-old")]).await.unwrap();
        let events: Vec<Event> = (0..1200).map(|_| event(stats())).collect();
        let a1 = alert(&events[0], "k-new");
        let again = alert(&events[1], "k-new"); // same key in the same batch: stored once
        let stale = alert(&events[2], "k-old"); // key stored before
        let mut batch: Vec<(&Event, &[Alert])> = vec![(&old, &[])];
        batch.push((&events[0], std::slice::from_ref(&a1)));
        batch.push((&events[1], std::slice::from_ref(&again)));
        batch.push((&events[2], std::slice::from_ref(&stale)));
        batch.extend(events[3..].iter().map(|e| (e, &[][..])));
        batch.push((&events[5], &[])); // repeated within the batch
        let out = store.commit_batch(&batch).await.unwrap();
        assert_eq!(out.len(), batch.len());
        assert!(!out[0].0, "stored before");
        assert_eq!(out[1], (true, vec![a1]));
        assert_eq!(out[2], (true, vec![]));
        assert_eq!(out[3], (true, vec![]));
        assert_eq!(out.iter().filter(|(new, _)| *new).count(), 1200);
        assert!(!out.last().unwrap().0, "the repeat is not new");
        assert_eq!(store.event_count().await.unwrap(), 1201);
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).chain([uuid::Uuid::now_v7()]).collect();
        assert_eq!(store.existing(&ids).await.unwrap().len(), 1200, "chunked lookup finds every stored id");
        assert_eq!(store.alerts(false).await.unwrap().len(), 2);
    }

    async fn plate_lists_round_trip(store: Store) {
        let until = Some("2026-12-01T00:00:00Z".parse().unwrap());
        let visitor = ListEntry::new(ListKind::Visitor, "京c 12345", "guest of 5-102", None, until).unwrap();
        assert!(store.put_entry(&visitor).await.unwrap());
        let relabelled = ListEntry { label: "guest of 5-103".into(), ..visitor.clone() };
        assert!(!store.put_entry(&relabelled).await.unwrap(), "same kind and plate: replaced");
        let wanted = ListEntry::new(ListKind::Wanted, "沪A77777", "case 9", None, None).unwrap();
        store.put_entry(&wanted).await.unwrap();
        assert_eq!(store.list_entries().await.unwrap(), vec![relabelled, wanted]);
        assert!(store.remove_entry(ListKind::Wanted, "沪A77777").await.unwrap());
        assert!(!store.remove_entry(ListKind::Wanted, "沪A77777").await.unwrap());
        assert_eq!(store.list_entries().await.unwrap().len(), 1);
    }

    /// Each check on a fresh store of each backend.
    macro_rules! checks {
        ($open:expr) => {{
            let open = $open;
            events_and_alerts_are_stored_once(open("once").await).await;
            a_batch_lands_whole_and_says_what_was_new(open("batch").await).await;
            plate_lists_round_trip(open("lists").await).await;
        }};
    }

    #[tokio::test]
    async fn sqlite_backend() {
        let dir = tempfile::tempdir().unwrap();
        checks!(|name: &str| {
            let url = format!("sqlite://{}", dir.path().join(format!("{name}.db")).display());
            async move { Store::open(&url).await.unwrap() }
        });
    }

    #[tokio::test]
    async fn postgres_backend() {
        let pg = LocalPostgres::start().unwrap();
        checks!(|name: &str| {
            let pg = &pg;
            let name = name.to_string();
            async move {
                let store = Store::open(&pg.database(&name).await.unwrap()).await.unwrap();
                assert_eq!(store.backend(), "postgres");
                store
            }
        });
    }

    /// A PostgreSQL restart fails a commit with an error the aggregator retries, and the same
    /// store (pool) commits again once the server is back; what was committed before is kept.
    #[tokio::test]
    async fn postgres_restart_is_transient_and_recovers() {
        let mut pg = LocalPostgres::start().unwrap();
        let store = Store::open(&pg.database("restart").await.unwrap()).await.unwrap();
        let before = event(stats());
        assert!(store.commit(&before, &[]).await.unwrap().0);
        pg.stop();
        let during = event(stats());
        let failed = store.commit(&during, &[]).await.expect_err("the server is down");
        assert!(failed.is_transient(), "{failed}");
        pg.restart().unwrap();
        let mut stored = None;
        for _ in 0..50 {
            match store.commit(&during, &[]).await {
                Ok(r) => {
                    stored = Some(r);
                    break;
                }
                Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("not transient: {e}"),
            }
        }
        assert_eq!(stored.map(|r| r.0), Some(true));
        let ids = store.existing(&[before.event_id, during.event_id]).await.unwrap();
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgres://gw:s3cret@db.local:5432/gatewatch"),
            "postgres://gw:***@db.local:5432/gatewatch"
        );
        assert_eq!(redacted("postgres://gw@db.local/gatewatch"), "postgres://gw@db.local/gatewatch");
        assert_eq!(redacted("postgresql://gw:p@ss@db/x?sslmode=require"), "postgresql://gw:***@db/x?sslmode=require");
        assert_eq!(redacted("sqlite://gatewatch.db"), "sqlite://gatewatch.db");
    }
}
