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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
}

impl StoreError {
    /// Worth retrying: the database is busy or locked, a transaction lost a conflict, or the
    /// connection hiccupped (a restarting PostgreSQL, say).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(db)) => {
                let m = db.message();
                // SQLite: SQLITE_BUSY / SQLITE_LOCKED. PostgreSQL (SQLSTATE): 40001
                // serialization failure, 40P01 deadlock, 53300 too many connections, 08xxx
                // connection exceptions, 57P0x the server shutting down or starting up.
                // Everything else (a missing table, a read-only file, a refused permission, a
                // full disk) needs a person, not a retry.
                let code = db.code().unwrap_or_default();
                m.contains("locked")
                    || m.contains("busy")
                    || matches!(code.as_ref(), "40001" | "40P01" | "53300")
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

/// A payload the aggregator refused, as kept in the `rejected` table.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedPayload {
    pub received_at: DateTime<Utc>,
    pub topic: String,
    /// `too_large`, `malformed`, `schema`, `invalid` or `topic_mismatch`.
    pub reason: String,
    pub detail: String,
    /// `(site, edge, seq)` when the payload names the edge of its topic.
    pub origin: Option<(String, String, u64)>,
    /// The payload, or its first bytes.
    pub payload: Vec<u8>,
    /// The whole payload's size.
    pub payload_bytes: u64,
}

/// Longest topic and detail kept with a rejected payload, in characters.
const MAX_REJECT_TOPIC: usize = 256;
const MAX_REJECT_DETAIL: usize = 1000;

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

/// `url` with every password replaced by `***`, for errors and logs.
pub fn redacted(url: &str) -> String {
    gatewatch_core::config::redact_url(url)
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
                // An ack tells the edge to delete its copy, so a commit must survive a power
                // cut: NORMAL in WAL mode may roll the last transactions back, FULL does not.
                .synchronous(SqliteSynchronous::Full)
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

    /// Keep refused payloads (one transaction; topic and detail cut to their bounds).
    pub async fn store_rejected(&self, rows: &[RejectedPayload]) -> Result<(), StoreError> {
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO rejected (received_at, topic, reason, detail, site, edge, seq, payload, payload_bytes) ",
                );
                q.push_values(chunk, |mut row, r| {
                    let (site, edge, seq) = match &r.origin {
                        Some((site, edge, seq)) => (Some(site.clone()), Some(edge.clone()), Some(*seq as i64)),
                        None => (None, None, None),
                    };
                    row.push_bind(ts(r.received_at))
                        .push_bind(cut(&r.topic, MAX_REJECT_TOPIC))
                        .push_bind(r.reason.clone())
                        .push_bind(cut(&r.detail, MAX_REJECT_DETAIL))
                        .push_bind(site)
                        .push_bind(edge)
                        .push_bind(seq)
                        .push_bind(r.payload.clone())
                        .push_bind(r.payload_bytes as i64);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// Refused payloads, newest first, at most `limit`.
    pub async fn rejected(&self, limit: u32) -> Result<Vec<RejectedPayload>, StoreError> {
        type Row = (String, String, String, String, Option<String>, Option<String>, Option<i64>, Vec<u8>, i64);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT received_at, topic, reason, detail, site, edge, seq, payload, payload_bytes
                 FROM rejected ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(at, topic, reason, detail, site, edge, seq, payload, bytes)| RejectedPayload {
                received_at: parse_time(&at).unwrap_or_default(),
                topic,
                reason,
                detail,
                origin: match (site, edge, seq) {
                    (Some(site), Some(edge), Some(seq)) => Some((site, edge, seq as u64)),
                    _ => None,
                },
                payload,
                payload_bytes: bytes as u64,
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

    /// Stored events of these kinds that arrived at or after `received_since`, in capture-time
    /// order (then seq): what the rules replay at start to know who is inside which zone.
    /// Snapshots are left out; a row that no longer decodes is skipped with a warning.
    pub async fn events_since(&self, received_since: DateTime<Utc>, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        type Row = (String, String, String, String, i64, String, String);
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "SELECT event_id, site, edge, camera, seq, captured_at, body FROM events WHERE received_at >= ",
            );
            q.push_bind(ts(received_since)).push(" AND kind IN (");
            let mut list = q.separated(", ");
            for k in kinds {
                list.push_bind(k.to_string());
            }
            q.push(") ORDER BY captured_at, seq");
            q.build_query_as::<Row>().fetch_all(pool).await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (event_id, site, edge, camera, seq, captured_at, body) in rows {
            let decoded = (|| {
                Some(Event {
                    schema: gatewatch_core::event::SCHEMA_V1.into(),
                    event_id: event_id.parse().ok()?,
                    site,
                    edge,
                    camera,
                    seq: seq as u64,
                    captured_at: parse_time(&captured_at)?,
                    body: serde_json::from_str(&body).ok()?,
                })
            })();
            match decoded {
                Some(ev) => out.push(ev),
                None => tracing::warn!(event_id, "a stored event no longer decodes; not replayed"),
            }
        }
        Ok(out)
    }

    /// The track ids of one edge's events of one kind, in seq order (audits and tests: a
    /// `track_started` id seen twice would be an id reused).
    pub async fn track_ids(&self, site: &str, edge: &str, kind: &str) -> Result<Vec<u64>, StoreError> {
        let ids: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT track FROM events WHERE site = $1 AND edge = $2 AND kind = $3 AND track IS NOT NULL ORDER BY seq",
            )
            .bind(site)
            .bind(edge)
            .bind(kind)
            .fetch_all(pool)
            .await?
        });
        Ok(ids.into_iter().map(|t| t as u64).collect())
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
        let rows: Vec<EntryRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT kind, plate, label, valid_from, valid_to FROM plate_lists ORDER BY kind, plate")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().filter_map(entry_from_row).collect())
    }

    /// Every entry and the list version they are as of (see [`list_changes`](Self::list_changes)).
    pub async fn list_snapshot(&self) -> Result<(i64, Vec<ListEntry>), StoreError> {
        // The version first: a change landing in between is in the entries and read again as
        // a change, which is harmless (changes are applied as "the entry is now this").
        let version = self.list_version().await?;
        Ok((version, self.list_entries().await?))
    }

    /// The id of the newest list change (0: none yet).
    pub async fn list_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM plate_list_changes").fetch_one(pool).await?
        });
        Ok(v.unwrap_or(0))
    }

    /// What changed in the lists after version `after`: each changed entry as it is now
    /// (`Put`) or gone (`Removed`), and the version this brings the reader to.
    pub async fn list_changes(&self, after: i64) -> Result<(i64, Vec<ListChange>), StoreError> {
        let changed: Vec<(i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, kind, plate FROM plate_list_changes WHERE id > $1 ORDER BY id")
                .bind(after)
                .fetch_all(pool)
                .await?
        });
        let Some(version) = changed.last().map(|c| c.0) else { return Ok((after, Vec::new())) };
        let mut keys: Vec<(String, String)> = changed.into_iter().map(|(_, k, p)| (k, p)).collect();
        keys.sort();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let rows: Vec<EntryRow> = on_pool!(self, pool => {
                let mut q = QueryBuilder::new(
                    "SELECT kind, plate, label, valid_from, valid_to FROM plate_lists WHERE (kind, plate) IN (",
                );
                let mut list = q.separated(", ");
                for (kind, plate) in chunk {
                    list.push("(").push_bind_unseparated(kind.clone()).push_unseparated(", ");
                    list.push_bind_unseparated(plate.clone()).push_unseparated(")");
                }
                q.push(")");
                q.build_query_as::<EntryRow>().fetch_all(pool).await?
            });
            let present: HashSet<(String, String)> = rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect();
            out.extend(rows.into_iter().filter_map(entry_from_row).map(ListChange::Put));
            for (kind, plate) in chunk.iter().filter(|k| !present.contains(*k)) {
                if let Ok(kind) = kind.parse() {
                    out.push(ListChange::Removed(kind, plate.clone()));
                }
            }
        }
        Ok((version, out))
    }

    /// Add or replace an entry (same kind and plate). Returns true if it was new.
    pub async fn put_entry(&self, e: &ListEntry) -> Result<bool, StoreError> {
        let now = ts(Utc::now());
        let existed = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if self.backend() == "postgres" {
                // One list writer at a time, so change ids become visible in id order and a
                // reader remembering the highest id it saw misses none (SQLite writers are
                // serial anyway).
                sqlx::query("LOCK TABLE plate_list_changes IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let existed = sqlx::query("SELECT 1 FROM plate_lists WHERE kind = $1 AND plate = $2")
                .bind(e.kind.as_str())
                .bind(&e.plate)
                .fetch_optional(&mut *tx)
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
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO plate_list_changes (kind, plate, changed_at) VALUES ($1, $2, $3)")
                .bind(e.kind.as_str())
                .bind(&e.plate)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            existed
        });
        Ok(!existed)
    }

    /// Remove an entry; false if there was none.
    pub async fn remove_entry(&self, kind: ListKind, plate: &str) -> Result<bool, StoreError> {
        let removed = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if self.backend() == "postgres" {
                // One list writer at a time, so change ids become visible in id order and a
                // reader remembering the highest id it saw misses none (SQLite writers are
                // serial anyway).
                sqlx::query("LOCK TABLE plate_list_changes IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let removed = sqlx::query("DELETE FROM plate_lists WHERE kind = $1 AND plate = $2")
                .bind(kind.as_str())
                .bind(plate)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed > 0 {
                sqlx::query("INSERT INTO plate_list_changes (kind, plate, changed_at) VALUES ($1, $2, $3)")
                    .bind(kind.as_str())
                    .bind(plate)
                    .bind(ts(Utc::now()))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            removed
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

/// A change to the plate lists, as [`Store::list_changes`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ListChange {
    /// The entry is now this (added or edited).
    Put(ListEntry),
    /// The entry of this kind and plate is gone.
    Removed(ListKind, String),
}

/// `kind, plate, label, valid_from, valid_to` of a `plate_lists` row.
type EntryRow = (String, String, String, Option<String>, Option<String>);

fn entry_from_row((kind, plate, label, valid_from, valid_to): EntryRow) -> Option<ListEntry> {
    let entry = kind.parse().and_then(|kind| {
        ListEntry::new(
            kind,
            &plate,
            &label,
            valid_from.as_deref().and_then(parse_time),
            valid_to.as_deref().and_then(parse_time),
        )
    });
    match entry {
        Ok(e) => Some(e),
        Err(why) => {
            tracing::warn!(kind, why, "skipping an invalid plate list entry");
            None
        }
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
    use gatewatch_harness::LocalPostgres;

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
        assert_eq!(store.list_entries().await.unwrap(), vec![relabelled.clone(), wanted]);
        let (v1, snapshot) = store.list_snapshot().await.unwrap();
        assert_eq!(snapshot.len(), 2);
        assert_eq!(store.list_changes(v1).await.unwrap(), (v1, vec![]), "nothing new");
        assert!(store.remove_entry(ListKind::Wanted, "沪A77777").await.unwrap());
        assert!(!store.remove_entry(ListKind::Wanted, "沪A77777").await.unwrap());
        assert_eq!(store.list_entries().await.unwrap().len(), 1);
        // Only what changed since v1, as it is now: the removal, and a relabelled visitor
        // (edited twice: reported once).
        let again = ListEntry { label: "guest of 5-104".into(), ..relabelled.clone() };
        store.put_entry(&ListEntry { label: "x".into(), ..relabelled.clone() }).await.unwrap();
        store.put_entry(&again).await.unwrap();
        let (v2, changes) = store.list_changes(v1).await.unwrap();
        assert!(v2 > v1);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.contains(&ListChange::Put(again)));
        assert!(changes.contains(&ListChange::Removed(ListKind::Wanted, "沪A77777".into())));
        assert_eq!(store.list_changes(v2).await.unwrap(), (v2, vec![]));
    }

    async fn rejected_payloads_are_kept(store: Store) {
        let row = |i: u64, origin: bool| RejectedPayload {
            received_at: "2026-11-28T03:00:00Z".parse().unwrap(),
            topic: "gatewatch/v1/north/gate-1/cam1/events".into(),
            reason: "schema".into(),
            detail: format!("unsupported schema {i}"),
            origin: origin.then(|| ("north".into(), "gate-1".into(), i)),
            payload: vec![0, 159, 146, 150, i as u8],
            payload_bytes: 5,
        };
        let rows: Vec<RejectedPayload> = (1..=600).map(|i| row(i, i % 2 == 0)).collect();
        store.store_rejected(&rows).await.unwrap();
        let long = RejectedPayload { topic: "t".repeat(5000), detail: "d".repeat(5000), ..row(601, false) };
        store.store_rejected(std::slice::from_ref(&long)).await.unwrap();
        let newest = store.rejected(3).await.unwrap();
        assert_eq!(newest.len(), 3);
        assert_eq!((newest[0].topic.len(), newest[0].detail.len()), (MAX_REJECT_TOPIC, MAX_REJECT_DETAIL));
        assert_eq!(newest[1], rows[599], "binary payload and origin round-trip");
        assert_eq!(newest[2], rows[598]);
        assert_eq!(store.rejected(10_000).await.unwrap().len(), 601);
    }

    /// Events the schema accepts at the edges of every range: stored and read back as sent.
    async fn recent_events_come_back_in_capture_order(store: Store) {
        let mut later = event(EventBody::ZoneEntered { track: 2, class: ObjectClass::Person, zone: "shed".into() });
        later.captured_at += chrono::Duration::seconds(10);
        let earlier =
            event(EventBody::ZoneLeft { track: 1, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 3.5 });
        let other_kind = event(stats());
        for ev in [&later, &earlier, &other_kind] {
            store.commit(ev, &[]).await.unwrap();
        }
        let since = Utc::now() - chrono::Duration::hours(1);
        let back = store.events_since(since, &["zone_entered", "zone_left"]).await.unwrap();
        assert_eq!(back, vec![earlier, later], "whole events, oldest capture first, only the kinds asked");
        assert!(store.events_since(Utc::now() + chrono::Duration::hours(1), &["zone_left"]).await.unwrap().is_empty());
    }

    async fn hostile_but_valid_events_are_stored(store: Store) {
        use gatewatch_core::event::{earliest, latest};
        let mut events = Vec::new();
        for (at, track, seq) in [(earliest(), u64::MAX, u64::MAX), (latest(), 0, i64::MAX as u64 + 1)] {
            let mut ev = event(EventBody::ZoneLeft {
                track,
                class: ObjectClass::Person,
                zone: "z".repeat(64),
                dwell_s: f64::MAX,
            });
            ev.captured_at = at;
            ev.seq = seq;
            assert!(ev.validate().is_ok());
            events.push(ev);
        }
        for ev in &events {
            let mut a = alert(ev, &format!("k-{}", ev.seq));
            a.track = ev.body.track();
            assert!(store.commit(ev, std::slice::from_ref(&a)).await.unwrap().0);
        }
        let alerts = store.alerts(false).await.unwrap();
        assert_eq!(alerts.len(), 2);
        let dates: Vec<_> = alerts.iter().map(|a| (a.alert.at, a.alert.track)).collect();
        assert_eq!(dates, vec![(latest(), Some(0)), (earliest(), Some(u64::MAX))], "newest first, as sent");
    }

    /// Each check on a fresh store of each backend.
    macro_rules! checks {
        ($open:expr) => {{
            let open = $open;
            events_and_alerts_are_stored_once(open("once").await).await;
            a_batch_lands_whole_and_says_what_was_new(open("batch").await).await;
            plate_lists_round_trip(open("lists").await).await;
            rejected_payloads_are_kept(open("rejected").await).await;
            hostile_but_valid_events_are_stored(open("hostile").await).await;
            recent_events_come_back_in_capture_order(open("recent").await).await;
        }};
    }

    #[tokio::test]
    async fn sqlite_commits_survive_a_power_cut() {
        // An ack lets the edge delete its copy: a commit must be on disk, not only in the WAL
        // that NORMAL may lose (PRAGMA synchronous: 2 = FULL).
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
        let Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let mut conns = Vec::new();
        for _ in 0..4 {
            let mut c = pool.acquire().await.unwrap();
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *c).await.unwrap();
            assert_eq!(level, 2, "every pooled connection runs synchronous = FULL");
            conns.push(c);
        }
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

    /// Plates cross the network only encrypted: against a server that refuses plain
    /// connections, `sslmode=require` and `sslmode=verify-full` (checked against the cluster's
    /// CA) connect and store; a plain connection and a certificate from another CA are refused.
    #[tokio::test]
    async fn postgres_over_tls() {
        let pg = LocalPostgres::start_tls().unwrap();
        let required = pg.database("tls").await.unwrap();
        assert!(required.ends_with("?sslmode=require"), "{required}");
        let ca = pg.tls().unwrap().ca.display().to_string();
        let verified = format!("postgres://postgres@localhost:{}/tls?sslmode=verify-full&sslrootcert={ca}", pg.port());
        for url in [&required, &verified] {
            let store = Store::open(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let Pool::Postgres(pool) = &store.pool else { unreachable!() };
            let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(pool)
                .await
                .unwrap();
            assert!(ssl, "{url}: the session is encrypted");
            assert!(store.commit(&event(stats()), &[]).await.unwrap().0);
        }
        let plain = format!("postgres://postgres@127.0.0.1:{}/tls?sslmode=disable", pg.port());
        let refused = Store::open(&plain).await.err().expect("plain connections are refused").to_string();
        assert!(refused.contains("no encryption") || refused.contains("pg_hba"), "{refused}");

        // A CA that did not sign the server's certificate: verify-full refuses the server.
        let other = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=another CA"])
            .args(["-keyout", "ca.key", "-out", "ca.crt"])
            .current_dir(other.path())
            .output()
            .unwrap();
        assert!(made.status.success());
        let wrong = format!(
            "postgres://postgres@localhost:{}/tls?sslmode=verify-full&sslrootcert={}",
            pg.port(),
            other.path().join("ca.crt").display()
        );
        assert!(Store::open(&wrong).await.is_err(), "a server certificate from another CA is refused");
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

    #[tokio::test]
    async fn open_errors_carry_no_password() {
        // Nothing listens on port 1: the error names the URL, redacted.
        let url = "postgres://gw:s3cret@127.0.0.1:1/gw?password=s3cret";
        let err = Store::open(url).await.err().expect("nothing listens there").to_string();
        assert!(!err.contains("s3cret") && err.contains("gw:***@127.0.0.1:1"), "{err}");
    }
}
