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
    #[error("the ingest lease (holder {holder}, epoch {epoch}) is held by another aggregator now")]
    LeaseLost { holder: String, epoch: i64 },
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

/// In an ingest transaction `$tx`: renew the store's lease (statement `$renew`, from
/// [`Store::renew_statement`]) or end with [`StoreError::LeaseLost`], so that nothing of the
/// transaction is stored by a process that no longer holds the lease.
macro_rules! fence {
    ($self:ident, $tx:ident, $renew:expr) => {
        if let Some(l) = $self.fence.as_deref() {
            let renewed = sqlx::query($renew)
                .bind(&l.holder)
                .bind(l.epoch)
                .bind(l.ttl_ms)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if renewed == 0 {
                return Err($self.lease_lost());
            }
        }
    };
}

#[macro_use]
mod alerts;
mod desk;
mod erasure;
mod lease;
mod retention;
mod sessions;
#[macro_use]
mod users;
mod visits;

pub use alerts::{ActError, StoredAlert, StoredSighting};
pub use desk::{AlertFilter, CameraStatus, Picture, PlateSighting, StoreGauges};
pub use erasure::{ErasureReport, ErasureStatus};
pub use lease::{Lease, LeaseState};
pub use retention::Expired;
pub use sessions::{ApiToken, AuditEntry, AuditFilter, DeskSession, NewSession};
pub use users::{DeskUser, MIN_PASSWORD, Role, UserError, one_time_password};
pub use visits::{StoredVisit, VisitFilter};

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The ingest lease every ingest transaction renews (see [`Store::fenced`]).
    fence: Option<std::sync::Arc<Lease>>,
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
                // Deleted rows (expired plates, erased pictures) are overwritten, not left in
                // the file's free pages.
                .pragma("secure_delete", "ON")
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(open)?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Pool::Sqlite(pool)
        };
        Ok(Self { pool, fence: None })
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
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let found = self.present("SELECT event_id FROM events WHERE event_id IN (", &ids).await?;
        Ok(found.iter().filter_map(|id| id.parse::<uuid::Uuid>().ok()).collect())
    }

    /// Which of `values` the query `select` (`SELECT column FROM table WHERE column IN (`, a
    /// constant of this crate) finds, one query per `CHUNK` values, every value bound.
    pub(crate) async fn present(&self, select: &'static str, values: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        for chunk in values.chunks(CHUNK) {
            let stored: Vec<String> = on_pool!(self, pool => {
                let mut q = QueryBuilder::new(select);
                let mut list = q.separated(", ");
                for v in chunk {
                    list.push_bind(v.clone());
                }
                q.push(")");
                q.build_query_scalar::<String>().fetch_all(pool).await?
            });
            found.extend(stored);
        }
        Ok(found)
    }

    /// Keep refused payloads (one transaction; topic and detail cut to their bounds).
    pub async fn store_rejected(&self, rows: &[RejectedPayload]) -> Result<(), StoreError> {
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let renew = self.renew_statement();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            fence!(self, tx, renew);
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

    /// The sequence numbers stored for one edge, ascending (gaps mean lost events). Events the
    /// aggregator recorded itself (seq 0, e.g. cameras of a vanished gate box) are not the edge's.
    pub async fn seqs(&self, site: &str, edge: &str) -> Result<Vec<i64>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT seq FROM events WHERE site = $1 AND edge = $2 AND seq > 0 ORDER BY seq")
                .bind(site)
                .bind(edge)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Stored events of one kind captured in `[since, until)`, in capture order (snapshots
    /// left out; a row that no longer decodes is skipped with a warning).
    pub async fn events_captured(
        &self,
        kind: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT event_id, site, edge, camera, seq, captured_at, body FROM events
                 WHERE kind = $1 AND captured_at >= $2 AND captured_at < $3 ORDER BY captured_at, seq",
            )
            .bind(kind)
            .bind(ts(since))
            .bind(ts(until))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().filter_map(decode_row).collect())
    }

    /// Stored events of these kinds that arrived at or after `received_since`, in capture-time
    /// order (then seq): what the rules replay at start to know who is inside which zone.
    /// Snapshots are left out; a row that no longer decodes is skipped with a warning.
    pub async fn events_since(&self, received_since: DateTime<Utc>, kinds: &[&str]) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = on_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "SELECT event_id, site, edge, camera, seq, captured_at, body FROM events WHERE received_at >= ",
            );
            q.push_bind(ts(received_since)).push(" AND kind IN (");
            let mut list = q.separated(", ");
            for k in kinds {
                list.push_bind(k.to_string());
            }
            q.push(") ORDER BY captured_at, seq");
            q.build_query_as::<EventRow>().fetch_all(pool).await?
        });
        Ok(rows.into_iter().filter_map(decode_row).collect())
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

/// The body as JSON without its snapshot (a track's best view, a tampered camera's view), and
/// the snapshot's JPEG bytes.
fn split_snapshot(body: &EventBody) -> (String, Option<Vec<u8>>) {
    let mut stripped = body.clone();
    let taken = match &mut stripped {
        EventBody::TrackEnded { snapshot, .. }
        | EventBody::CameraTampered { snapshot, .. }
        | EventBody::StationaryStarted { snapshot, .. }
        | EventBody::CameraStats { thumbnail: snapshot, .. } => snapshot.take(),
        _ => None,
    };
    (serde_json::to_string(&stripped).unwrap_or_default(), taken.and_then(|s| s.bytes().ok()))
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

/// `event_id, site, edge, camera, seq, captured_at, body` of an `events` row.
type EventRow = (String, String, String, String, i64, String, String);

/// An `events` row back as the event (without its snapshot); `None`, with a warning, when it
/// no longer decodes.
fn decode_row((event_id, site, edge, camera, seq, captured_at, body): EventRow) -> Option<Event> {
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
    if decoded.is_none() {
        tracing::warn!(event_id, "a stored event no longer decodes; skipped");
    }
    decoded
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{SCHEMA_V1, Snapshot};
    use gatewatch_core::incident::{Action, AlertMessage, AlertState, Ending, Sighting, Signal};
    use gatewatch_core::rules::{Alert, AlertKind};
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

    /// The incident `key` seen at `ev` (a read scored `score`), with a 10-minute cooldown.
    fn seen(ev: &Event, key: &str, score: f32) -> Signal {
        Signal::Seen(Sighting { alert: alert(ev, key), cooldown: chrono::Duration::minutes(10), score })
    }

    fn raised(messages: &[AlertMessage]) -> Vec<&Alert> {
        messages.iter().filter(|m| matches!(m, AlertMessage::Raised { .. })).map(AlertMessage::alert).collect()
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
        let s = seen(&ev, "k1", 0.5);
        let (new, messages) = store.commit(&ev, std::slice::from_ref(&s)).await.unwrap();
        assert!(new);
        let Signal::Seen(Sighting { alert: a, .. }) = &s else { unreachable!() };
        assert_eq!(raised(&messages), vec![a]);
        // Duplicate delivery: nothing new, and its sighting is not counted twice.
        let (new, messages) = store.commit(&ev, &[seen(&ev, "k1", 0.9)]).await.unwrap();
        assert!(!new && messages.is_empty(), "{messages:?}");
        assert_eq!(store.event_count().await.unwrap(), 1);
        assert!(store.has_event(ev.event_id).await.unwrap());
        assert_eq!(store.snapshot(&ev.event_id.to_string()).await.unwrap(), Some(vec![0xff, 0xd8, 0x01]));

        // Hostile plate text is data, bound as a parameter.
        let stored = store.alerts(true).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(&stored[0].alert, a);
        assert_eq!((stored[0].status.state, stored[0].status.sightings), (AlertState::Open, 1));

        // The lifecycle: acknowledged (still open to the desk), then resolved, each with who and a note.
        let id = a.alert_id.to_string();
        let t0 = Utc::now();
        let ack = store.act_on_alert(&id, Action::Acknowledge, "officer-7", None, t0).await.unwrap();
        assert_eq!((ack.kind(), ack.status().state), ("updated", AlertState::Acknowledged));
        let again = store.act_on_alert(&id, Action::Acknowledge, "officer-8", None, t0).await;
        assert!(matches!(again, Err(ActError::Refused { .. })), "{again:?}");
        assert_eq!(store.alerts(true).await.unwrap().len(), 1);
        let note = "<b>owner</b> came to collect it \u{202e}";
        let done = store.act_on_alert(&id, Action::Resolve, "officer-8", Some(note), t0).await.unwrap();
        assert_eq!((done.kind(), done.status().state), ("closed", AlertState::Resolved));
        assert!(store.alerts(true).await.unwrap().is_empty());
        assert!(
            store.act_on_alert(&id, Action::FalseAlarm, "officer-7", None, t0).await.is_err(),
            "closed stays closed"
        );
        assert!(matches!(
            store.act_on_alert("no-such", Action::Resolve, "officer-7", None, t0).await,
            Err(ActError::NotFound(_))
        ));
        let history = store.alert_history(&id).await.unwrap();
        let who: Vec<_> = history.iter().map(|h| (h.action.as_str(), h.by.as_deref(), h.note.as_deref())).collect();
        assert_eq!(
            who,
            vec![
                ("raised", None, None),
                ("acknowledged", Some("officer-7"), None),
                ("resolved", Some("officer-8"), Some(note))
            ]
        );
        let stored = store.alert(&id).await.unwrap().unwrap();
        assert_eq!((stored.status.state, stored.status.closed_at.is_some()), (AlertState::Resolved, true));
    }

    /// Sightings update the open alert (latest place, best read), once per event; an officer's
    /// close starts the cooldown; after it the incident raises a new alert; a rule's ending
    /// closes one. Officers' actions are readable as a feed from a cursor.
    async fn incidents_update_close_and_cool_down(store: Store) {
        let t0: DateTime<Utc> = "2026-12-01T03:00:00Z".parse().unwrap();
        let at = |secs: i64, camera: &str| {
            let mut ev = event(stats());
            ev.captured_at = t0 + chrono::Duration::seconds(secs);
            ev.camera = camera.into();
            ev
        };
        let cursor = store.alert_history_cursor().await.unwrap();
        let (e1, e2) = (at(0, "cam1"), at(60, "cam2"));
        let first = store.commit(&e1, &[seen(&e1, "car", 0.6)]).await.unwrap().1;
        let id = raised(&first)[0].alert_id;
        let (_, upd) = store.commit(&e2, &[seen(&e2, "car", 0.9)]).await.unwrap();
        let [AlertMessage::Updated { alert, status, change: None }] = upd.as_slice() else { panic!("{upd:?}") };
        assert_eq!((alert.alert_id, alert.camera.as_str(), status.sightings), (id, "cam2", 2));
        assert_eq!((status.best_event_id, status.last_seen), (e2.event_id, e2.captured_at));
        // The same event's signal again (a replay): nothing changes.
        assert!(store.commit_batch(&[(&e2, &[seen(&e2, "car", 0.95)][..])]).await.unwrap()[0].1.is_empty());
        let sightings = store.alert_sightings(&id.to_string()).await.unwrap();
        let cams: Vec<_> = sightings.iter().map(|s| s.camera.as_str()).collect();
        assert_eq!(cams, vec!["north/gate-1/cam1", "north/gate-1/cam2"]);

        // Closed by an officer at t0 + 2 min: 5 minutes later suppressed, 11 minutes later new.
        store
            .act_on_alert(
                &id.to_string(),
                Action::FalseAlarm,
                "officer-7",
                Some("a neighbour"),
                t0 + chrono::Duration::minutes(2),
            )
            .await
            .unwrap();
        let e3 = at(7 * 60, "cam1");
        assert!(store.commit(&e3, &[seen(&e3, "car", 0.9)]).await.unwrap().1.is_empty(), "within the cooldown");
        let e4 = at(13 * 60, "cam1");
        let again = store.commit(&e4, &[seen(&e4, "car", 0.9)]).await.unwrap().1;
        assert_eq!(raised(&again).len(), 1);
        let id2 = raised(&again)[0].alert_id;
        assert_ne!(id2, id);

        // The rule says it is over: the open alert closes, with why.
        let e5 = at(14 * 60, "cam1");
        let end = Signal::Ended(Ending {
            key: "car".into(),
            at: e5.captured_at,
            event_id: e5.event_id,
            note: "drove off".into(),
        });
        let closed = store.commit(&e5, std::slice::from_ref(&end)).await.unwrap().1;
        let [AlertMessage::Closed { alert, status, change }] = closed.as_slice() else { panic!("{closed:?}") };
        assert_eq!((alert.alert_id, status.state, status.closed_at), (id2, AlertState::Resolved, Some(e5.captured_at)));
        assert_eq!((change.action.as_str(), change.by.as_deref()), ("ended", None));
        assert!(store.commit(&at(15 * 60, "cam1"), &[end]).await.unwrap().1.is_empty(), "nothing open to end");
        assert_eq!(store.alerts(false).await.unwrap().len(), 2);
        assert!(store.alerts(true).await.unwrap().is_empty());

        // The officers' feed: the false alarm only (raises and endings are announced by the aggregator).
        let (next, actions) = store.officer_actions_since(cursor).await.unwrap();
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert_eq!((actions[0].kind(), actions[0].alert().alert_id), ("closed", id));
        assert!(store.officer_actions_since(next).await.unwrap().1.is_empty());
    }

    fn stats() -> EventBody {
        EventBody::CameraStats {
            frames_decoded: 10,
            frames_inferred: 5,
            frames_dropped: 0,
            frames_gated: 0,
            period_s: 1.0,
            thumbnail: None,
        }
    }

    async fn a_batch_lands_whole_and_says_what_was_new(store: Store) {
        let old = event(stats());
        store.commit(&old, &[seen(&old, "k-old", 0.5)]).await.unwrap();
        let events: Vec<Event> = (0..1200).map(|_| event(stats())).collect();
        let a1 = seen(&events[0], "k-new", 0.5);
        let again = seen(&events[1], "k-new", 0.5); // same key in the same batch: an update
        let stale = seen(&events[2], "k-old", 0.5); // key stored before: an update
        let mut batch: Vec<(&Event, &[Signal])> = vec![(&old, &[])];
        batch.push((&events[0], std::slice::from_ref(&a1)));
        batch.push((&events[1], std::slice::from_ref(&again)));
        batch.push((&events[2], std::slice::from_ref(&stale)));
        batch.extend(events[3..].iter().map(|e| (e, &[][..])));
        batch.push((&events[5], &[])); // repeated within the batch
        let out = store.commit_batch(&batch).await.unwrap();
        assert_eq!(out.len(), batch.len());
        assert!(!out[0].0, "stored before");
        let kinds = |i: usize| (out[i].0, out[i].1.iter().map(AlertMessage::kind).collect::<Vec<_>>());
        assert_eq!(kinds(1), (true, vec!["raised"]));
        let Signal::Seen(a1) = a1 else { unreachable!() };
        assert_eq!(out[1].1[0].alert(), &a1.alert);
        assert_eq!(kinds(2), (true, vec!["updated"]));
        assert_eq!(kinds(3), (true, vec!["updated"]));
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
            let s = Signal::Seen(Sighting { alert: a, cooldown: chrono::Duration::MAX, score: f32::MAX });
            assert!(store.commit(ev, std::slice::from_ref(&s)).await.unwrap().0);
        }
        let alerts = store.alerts(false).await.unwrap();
        assert_eq!(alerts.len(), 2);
        let dates: Vec<_> = alerts.iter().map(|a| (a.alert.at, a.alert.track)).collect();
        assert_eq!(dates, vec![(latest(), Some(0)), (earliest(), Some(u64::MAX))], "newest first, as sent");
    }

    /// Each check on a fresh store of each backend.
    /// Visit changes land with their event, once each: a replay changes nothing; what a restart
    /// needs comes back (open visits with their entry events, exit-only visits, applied crossings).
    async fn visits_apply_once_and_come_back_at_restart(store: Store) {
        use gatewatch_core::lines::Direction;
        use gatewatch_core::visits::VisitChange;
        let crossing = |secs: i64, direction: Direction| {
            let mut ev =
                event(EventBody::LineCrossed { track: 4, class: ObjectClass::Car, line: "gate".into(), direction });
            ev.captured_at = "2026-12-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(secs);
            ev
        };
        let (a_in, a_out, b_out, b_in, c_in, c_again) = (
            crossing(0, Direction::In),
            crossing(3600, Direction::Out),
            crossing(100, Direction::Out),
            crossing(50, Direction::In),
            crossing(200, Direction::In),
            crossing(300, Direction::In),
        );
        let plate = "'); DROP TABLE visits;--";
        let entered = |ev: &Event, p: &str| VisitChange::Entered {
            visit: ev.event_id,
            site: "north".into(),
            plate: p.into(),
            at: ev.captured_at,
            camera: "gate-1/cam1".into(),
        };
        let changes: Vec<(&Event, Vec<VisitChange>)> = vec![
            (&a_in, vec![entered(&a_in, plate)]),
            (
                &b_out,
                vec![VisitChange::ExitOnly {
                    visit: b_out.event_id,
                    site: "north".into(),
                    plate: "沪B22222".into(),
                    at: b_out.captured_at,
                    camera: "gate-2/cam1".into(),
                }],
            ),
            (&c_in, vec![entered(&c_in, "粤C33333")]),
            (
                &b_in,
                vec![VisitChange::LateEntry {
                    visit: b_out.event_id,
                    at: b_in.captured_at,
                    event_id: b_in.event_id,
                    camera: "gate-1/cam1".into(),
                }],
            ),
            (&c_again, vec![VisitChange::Superseded { visit: c_in.event_id }, entered(&c_again, "粤C33333")]),
            (
                &a_out,
                vec![VisitChange::Left {
                    visit: a_in.event_id,
                    at: a_out.captured_at,
                    event_id: a_out.event_id,
                    camera: "gate-2/cam1".into(),
                }],
            ),
        ];
        for _replay in 0..2 {
            let batch: Vec<(&Event, &[Signal], &[VisitChange])> =
                changes.iter().map(|(e, c)| (*e, &[][..], c.as_slice())).collect();
            store.commit_arrivals(&batch).await.unwrap();
        }
        let all = store.visits(&VisitFilter { limit: 100, ..Default::default() }).await.unwrap();
        let rows: Vec<_> = all.iter().map(|v| (v.plate.as_str(), v.state.as_str())).collect();
        assert_eq!(
            rows,
            vec![("粤C33333", "inside"), ("粤C33333", "superseded"), ("沪B22222", "left"), (plate, "left")],
            "newest entry first, each change once"
        );
        let a = all.iter().find(|v| v.plate == plate).unwrap();
        assert_eq!((a.entered_at, a.left_at), (Some(a_in.captured_at), Some(a_out.captured_at)));
        assert_eq!((a.entry_camera.as_deref(), a.exit_camera.as_deref()), (Some("gate-1/cam1"), Some("gate-2/cam1")));
        let inside = store.visits(&VisitFilter { inside_only: true, limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(inside.len(), 1);
        let one =
            VisitFilter { plate: Some(plate.into()), site: Some("north".into()), limit: 10, ..Default::default() };
        assert_eq!(store.visits(&one).await.unwrap().len(), 1, "a plate looked up as data");
        let (open, exits, applied) = store.visits_to_restore(Utc::now() - chrono::Duration::hours(1)).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].visit, open[0].event.event_id, open[0].plate.as_str()),
            (c_again.event_id, c_again.event_id, "粤C33333")
        );
        assert!(exits.is_empty(), "the exit-only visit got its entry");
        for ev in [&a_in, &a_out, &b_out, &b_in, &c_in, &c_again] {
            assert!(applied.contains(&ev.event_id), "{:?}", ev.body);
        }
    }

    macro_rules! checks {
        ($open:expr) => {{
            let open = $open;
            visits_apply_once_and_come_back_at_restart(open("visits").await).await;
            events_and_alerts_are_stored_once(open("once").await).await;
            incidents_update_close_and_cool_down(open("incidents").await).await;
            a_batch_lands_whole_and_says_what_was_new(open("batch").await).await;
            plate_lists_round_trip(open("lists").await).await;
            rejected_payloads_are_kept(open("rejected").await).await;
            hostile_but_valid_events_are_stored(open("hostile").await).await;
            recent_events_come_back_in_capture_order(open("recent").await).await;
            desk_users_log_in_by_password(open("users").await).await;
            desk_sessions_audit_and_reads(open("desk").await).await;
            retention_forgets_each_class_at_its_age(open("retention").await).await;
            one_lease_holder_and_a_stale_one_cannot_write(open("lease").await).await;
            erasure_takes_the_plate_out_and_keeps_the_rest(open("erasure").await).await;
        }};
    }

    async fn erasure_takes_the_plate_out_and_keeps_the_rest(store: Store) {
        let now: DateTime<Utc> = "2026-11-28T04:00:00Z".parse().unwrap();
        let read = |track, plate: &str, candidates: &[&str]| {
            event(EventBody::PlateRead(gatewatch_core::event::PlateRead {
                track,
                plate: plate.into(),
                candidates: candidates.iter().map(|c| c.to_string()).collect(),
                confidence: 0.9,
                plate_snapshot: Some(Snapshot::jpeg(2, 1, &[0xff, 0xd8, 0x02])),
                vehicle_snapshot: Some(Snapshot::jpeg(4, 3, &[0xff, 0xd8, 0x03])),
                ..Default::default()
            }))
        };
        let ended = |track| {
            event(EventBody::TrackEnded {
                track,
                class: gatewatch_core::detection::ObjectClass::Car,
                duration_s: 4.0,
                detections: 12,
                best_score: 0.8,
                snapshot: Some(Snapshot::jpeg(4, 3, &[0xff, 0xd8, 0x04])),
            })
        };
        let plate_alert = |ev: &Event, plate: &str| Alert {
            plate: Some(plate.into()),
            candidates: vec![],
            message: format!("stolen car {plate}"),
            ..alert(ev, &format!("watchlist:north:{plate}"))
        };
        let (hit, hit_end, as_candidate) = (read(4, "5AU5341", &[]), ended(4), read(6, "5AU5347", &["5AU5341"]));
        let (other, other_end) = (read(5, "B12345", &[]), ended(5));
        store
            .commit(
                &hit,
                &[Signal::Seen(Sighting {
                    alert: plate_alert(&hit, "5AU5341"),
                    cooldown: chrono::Duration::minutes(10),
                    score: 0.9,
                })],
            )
            .await
            .unwrap();
        store
            .commit(
                &other,
                &[Signal::Seen(Sighting {
                    alert: plate_alert(&other, "B12345"),
                    cooldown: chrono::Duration::minutes(10),
                    score: 0.9,
                })],
            )
            .await
            .unwrap();
        for ev in [&hit_end, &as_candidate, &other_end] {
            store.commit(ev, &[]).await.unwrap();
        }
        for (kind, plate) in
            [(ListKind::Resident, "5AU5341"), (ListKind::Stolen, "5AU5341"), (ListKind::Resident, "B12345")]
        {
            let e = ListEntry { kind, plate: plate.into(), label: "flat 3".into(), valid_from: None, valid_to: None };
            store.put_entry(&e).await.unwrap();
        }
        store
            .store_rejected(&[RejectedPayload {
                received_at: now,
                topic: "gatewatch/v1/north/gate-1/cam1/events".into(),
                reason: "schema".into(),
                detail: "d".into(),
                origin: None,
                payload: br#"{"plate":"5AU5341"}"#.to_vec(),
                payload_bytes: 19,
            }])
            .await
            .unwrap();
        let lookup = |subject: &str| AuditEntry {
            at: now,
            user: "officer".into(),
            action: "vehicle_lookup".into(),
            subject: subject.into(),
            detail: None,
            source: None,
        };
        store.audit(&lookup("5AU5341")).await.unwrap();
        store.audit(&lookup("B12345")).await.unwrap();

        let r = store.erase_plate("5AU5341", "cli:test", "resident moved out", now).await.unwrap();
        assert_eq!(
            (r.events, r.pictures, r.alerts, r.list_entries, r.rejected, r.redacted),
            (2, 1, 1, 1, 1, 1),
            "{r:?}"
        );
        assert_eq!(r.kept_on, ["stolen"], "the police's entry stays");
        // The reads keep their ids (a replay is a duplicate), nothing else.
        assert!(store.has_event(hit.event_id).await.unwrap() && store.has_event(as_candidate.event_id).await.unwrap());
        for id in [hit.event_id, as_candidate.event_id] {
            assert!(store.picture(&id.to_string(), Picture::Vehicle).await.unwrap().is_none());
        }
        assert!(store.snapshot(&hit_end.event_id.to_string()).await.unwrap().is_none(), "its track's picture went");
        let kinds: std::collections::BTreeMap<String, i64> =
            store.counts_by_kind().await.unwrap().into_iter().collect();
        assert_eq!((kinds["erased"], kinds["plate_read"]), (2, 1), "{kinds:?}");
        // The other car keeps everything.
        assert!(store.picture(&other.event_id.to_string(), Picture::Vehicle).await.unwrap().is_some());
        assert!(store.snapshot(&other_end.event_id.to_string()).await.unwrap().is_some());
        let alerts = store.alerts(false).await.unwrap();
        assert_eq!(alerts.iter().map(|a| a.alert.plate.clone().unwrap()).collect::<Vec<_>>(), ["B12345"]);
        let lists: Vec<_> = store.list_entries().await.unwrap().into_iter().map(|e| (e.kind, e.plate)).collect();
        assert_eq!(lists.len(), 2, "{lists:?}");
        assert!(
            lists.contains(&(ListKind::Stolen, "5AU5341".into()))
                && lists.contains(&(ListKind::Resident, "B12345".into()))
        );
        assert!(store.rejected(10).await.unwrap().is_empty());
        let audit = store.audit_log(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
        let subjects: Vec<&str> = audit.iter().map(|(_, e)| e.subject.as_str()).collect();
        let hash = gatewatch_core::erasure::plate_hash("5AU5341");
        assert!(!subjects.contains(&"5AU5341") && subjects.contains(&"B12345"), "{subjects:?}");
        let erased = audit.iter().find(|(_, e)| e.action == "plate_erased").expect("the erasure is audited");
        assert_eq!((erased.1.user.as_str(), erased.1.subject.clone()), ("cli:test", format!("sha256:{hash}")));
        // The request is in force for the edges, and their acknowledgements are kept.
        let in_force = store.erasures_since(now - chrono::Duration::days(30), 100).await.unwrap();
        assert_eq!(in_force.len(), 1);
        assert_eq!((in_force[0].id.clone(), in_force[0].plate_sha256.clone()), (r.erasure_id.clone(), hash));
        store.erasure_acked(&[r.erasure_id.clone(), "unknown".into()], "north", "gate-1", 3, now).await.unwrap();
        store.erasure_acked(std::slice::from_ref(&r.erasure_id), "north", "gate-1", 3, now).await.unwrap();
        let status = store.erasure_status(now - chrono::Duration::days(1)).await.unwrap();
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].acks, [("north".into(), "gate-1".into(), now, 3)]);
    }

    async fn one_lease_holder_and_a_stale_one_cannot_write(store: Store) {
        assert_eq!(store.lease_state().await.unwrap(), None, "never taken");
        let a = store.acquire_lease("agg-a/1", 300).await.unwrap().expect("a free lease is taken");
        assert!(store.acquire_lease("agg-b/2", 300).await.unwrap().is_none(), "held: no second holder");
        let a_store = store.fenced(a.clone());
        let ev = event(stats());
        a_store.commit_batch(&[(&ev, &[])]).await.unwrap();
        a_store.renew_lease().await.unwrap();
        let state = store.lease_state().await.unwrap().unwrap();
        assert_eq!((state.holder.as_str(), state.epoch), ("agg-a/1", a.epoch));
        assert!(state.remaining_ms > 0 && state.remaining_ms <= 300, "{state:?}");
        // A holder that stops renewing loses it once it has run out; the taker's epoch is newer.
        tokio::time::sleep(std::time::Duration::from_millis(450)).await;
        let b = store.acquire_lease("agg-b/2", 60_000).await.unwrap().expect("a lease run out is taken");
        assert_eq!(b.epoch, a.epoch + 1);
        // The stale holder can store nothing now, and finds out.
        let late = event(stats());
        let lost = a_store.commit_batch(&[(&late, &[])]).await.unwrap_err();
        assert!(matches!(lost, StoreError::LeaseLost { .. }), "{lost}");
        assert!(!lost.is_transient(), "a lost lease is not retried");
        assert!(!store.has_event(late.event_id).await.unwrap(), "nothing of the fenced transaction landed");
        assert!(matches!(a_store.renew_lease().await, Err(StoreError::LeaseLost { .. })));
        assert!(matches!(
            a_store.save_watermarks(&[("s".into(), "e".into(), 9)]).await,
            Err(StoreError::LeaseLost { .. })
        ));
        a_store.release_lease().await.unwrap();
        assert_eq!(store.lease_state().await.unwrap().unwrap().holder, "agg-b/2", "a stale release changes nothing");
        // Watermarks: stored by the holder, never moved back.
        let b_store = store.fenced(b);
        b_store.save_watermarks(&[("s".into(), "e".into(), 40), ("s".into(), "f".into(), 3)]).await.unwrap();
        b_store.save_watermarks(&[("s".into(), "e".into(), 12)]).await.unwrap();
        let mut marks = store.watermarks().await.unwrap();
        marks.sort();
        assert_eq!(marks, vec![("s".into(), "e".into(), 40), ("s".into(), "f".into(), 3)]);
        // A clean stop hands it over at once.
        b_store.release_lease().await.unwrap();
        assert!(store.acquire_lease("agg-a/3", 300).await.unwrap().is_some());
    }

    async fn desk_sessions_audit_and_reads(store: Store) {
        use gatewatch_core::event::PlateRead;
        let now: DateTime<Utc> = "2026-11-28T03:00:00Z".parse().unwrap();
        let idle = chrono::Duration::minutes(30);
        store.add_user("li", Role::Officer, "an officer's password", now).await.unwrap();
        // Sessions: alive while used, gone after idle time, expiry, logout, or a new password.
        let s = store.open_session("li", now, chrono::Duration::hours(12)).await.unwrap();
        assert_ne!(s.token, s.csrf);
        let found = store.session(&s.token, now + chrono::Duration::minutes(20), idle).await.unwrap().unwrap();
        assert_eq!(
            (found.user.name.as_str(), found.csrf.as_str(), found.user.lang.as_str()),
            ("li", s.csrf.as_str(), "zh")
        );
        assert!(
            store.session(&s.token, now + chrono::Duration::minutes(45), idle).await.unwrap().is_some(),
            "used at 20 min"
        );
        assert!(
            store.session(&s.token, now + chrono::Duration::minutes(80), idle).await.unwrap().is_none(),
            "idle 35 min"
        );
        assert!(store.session(&s.token, now, idle).await.unwrap().is_none(), "an idle session is removed");
        let s = store.open_session("li", now, chrono::Duration::hours(1)).await.unwrap();
        assert!(
            store
                .session(&s.token, now + chrono::Duration::minutes(61), chrono::Duration::hours(2))
                .await
                .unwrap()
                .is_none()
        );
        let s = store.open_session("li", now, chrono::Duration::hours(1)).await.unwrap();
        assert!(store.session("not a token", now, idle).await.unwrap().is_none());
        store.set_password("li", "a brand new password", now).await.unwrap();
        assert!(store.session(&s.token, now, idle).await.unwrap().is_none(), "a new password ends sessions");
        let s = store.open_session("li", now, chrono::Duration::hours(1)).await.unwrap();
        store.set_user_disabled("li", true).await.unwrap();
        assert!(store.session(&s.token, now, idle).await.unwrap().is_none(), "disabling ends sessions");
        store.set_user_disabled("li", false).await.unwrap();
        let kept = store.open_session("li", now, chrono::Duration::hours(12)).await.unwrap();
        store.open_session("li", now, chrono::Duration::hours(1)).await.unwrap();
        assert_eq!(store.purge_sessions(now + chrono::Duration::hours(2)).await.unwrap(), 1, "the expired one only");
        assert!(store.session(&kept.token, now + chrono::Duration::minutes(10), idle).await.unwrap().is_some());
        store.set_user_lang("li", "en").await.unwrap();
        assert!(matches!(store.set_user_lang("li", "xx").await, Err(UserError::BadLang)));
        // API tokens: shown once, hashed, revocable, dead with their user.
        let token = store.add_api_token("li", "dispatch", now).await.unwrap().unwrap();
        assert!(token.starts_with("gw_"));
        assert!(store.add_api_token("li", "dispatch", now).await.unwrap().is_none(), "labels are unique");
        assert_eq!(
            store.api_token_user(&token, now).await.unwrap().map(|(u, l)| (u.name, l)),
            Some(("li".into(), "dispatch".into()))
        );
        assert!(store.api_token_user("gw_forged", now).await.unwrap().is_none());
        store.set_user_disabled("li", true).await.unwrap();
        assert!(store.api_token_user(&token, now).await.unwrap().is_none(), "a disabled user's token opens nothing");
        store.set_user_disabled("li", false).await.unwrap();
        assert!(store.revoke_api_token("dispatch", now).await.unwrap());
        assert!(!store.revoke_api_token("dispatch", now).await.unwrap());
        assert!(store.api_token_user(&token, now).await.unwrap().is_none(), "revoked");
        let tokens = store.api_tokens().await.unwrap();
        assert_eq!((tokens.len(), tokens[0].last_used.is_some(), tokens[0].revoked_at.is_some()), (1, true, true));
        store.set_user_role("li", Role::Admin).await.unwrap();
        let li = store.user("li").await.unwrap().unwrap();
        assert_eq!((li.role, li.lang.as_str()), (Role::Admin, "en"));
        // The audit log: newest first, filtered, paged; hostile text stored as given.
        for (i, action) in ["login", "vehicle_lookup", "vehicle_lookup"].iter().enumerate() {
            let e = AuditEntry {
                at: now + chrono::Duration::seconds(i as i64),
                user: "li".into(),
                action: action.to_string(),
                subject: "京A'); DROP TABLE audit_log;--".into(),
                detail: Some(format!("#{i}")),
                source: Some("127.0.0.1".into()),
            };
            store.audit(&e).await.unwrap();
        }
        let all = store.audit_log(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(all.iter().map(|(_, e)| e.detail.as_deref().unwrap()).collect::<Vec<_>>(), ["#2", "#1", "#0"]);
        let lookups = AuditFilter { action: Some("vehicle_lookup".into()), limit: 1, ..Default::default() };
        let page1 = store.audit_log(&lookups).await.unwrap();
        let page2 = store.audit_log(&AuditFilter { before: Some(page1[0].0), ..lookups }).await.unwrap();
        assert_eq!((page1[0].1.detail.as_deref(), page2[0].1.detail.as_deref()), (Some("#2"), Some("#1")));
        assert_eq!(all[0].1.subject, "京A'); DROP TABLE audit_log;--");
        // Plate reads come back by time with every text read; pictures by kind.
        let mut read = event(EventBody::PlateRead(PlateRead {
            track: 4,
            plate: "京A12345".into(),
            confidence: 0.9,
            valid: Some(true),
            candidates: vec!["京A12346".into()],
            reads: 5,
            stable: true,
            update: false,
            plate_snapshot: Some(Snapshot::jpeg(2, 1, &[0xff, 0xd8, 0x02])),
            vehicle_snapshot: Some(Snapshot::jpeg(4, 3, &[0xff, 0xd8, 0x03])),
        }));
        read.captured_at = now;
        store.commit(&read, &[]).await.unwrap();
        let reads = store
            .plate_sightings(now - chrono::Duration::hours(1), now + chrono::Duration::hours(1), 10)
            .await
            .unwrap();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].plates, ["京A12345", "京A12346"]);
        assert_eq!((reads[0].event_id.clone(), reads[0].track), (read.event_id.to_string(), Some(4)));
        let id = read.event_id.to_string();
        assert_eq!(store.picture(&id, Picture::Plate).await.unwrap().unwrap().1, [0xff, 0xd8, 0x02]);
        assert_eq!(store.picture(&id, Picture::Vehicle).await.unwrap().unwrap().1, [0xff, 0xd8, 0x03]);
        assert!(store.picture(&id, Picture::Snapshot).await.unwrap().is_none());
        // Alerts: changed since a moment, filtered and paged newest first.
        let mut evs = Vec::new();
        for i in 0..3 {
            let mut ev = event(stats());
            ev.captured_at = now + chrono::Duration::minutes(i);
            ev.seq = 10 + i as u64;
            let sig = seen(&ev, &format!("desk-{i}"), 0.5);
            store.commit(&ev, &[sig]).await.unwrap();
            evs.push(ev);
        }
        let changed = store.alerts_changed_since(Utc::now() - chrono::Duration::minutes(5), 100).await.unwrap();
        assert_eq!(changed.len(), 3);
        assert!(changed.windows(2).all(|w| w[0].status.updated_at <= w[1].status.updated_at));
        let f = AlertFilter { state: Some("open".into()), site: Some("north".into()), limit: 2, ..Default::default() };
        let p1 = store.alerts_filtered(&f).await.unwrap();
        assert_eq!(p1.iter().map(|a| a.alert.key.as_str()).collect::<Vec<_>>(), ["desk-2", "desk-1"]);
        let last = p1.last().unwrap();
        let p2 = store
            .alerts_filtered(&AlertFilter {
                before: Some((last.alert.at, last.alert.alert_id.to_string())),
                ..f.clone()
            })
            .await
            .unwrap();
        assert_eq!(p2.iter().map(|a| a.alert.key.as_str()).collect::<Vec<_>>(), ["desk-0"]);
        let none = AlertFilter { state: Some("resolved".into()), limit: 10, ..Default::default() };
        assert!(store.alerts_filtered(&none).await.unwrap().is_empty());
        let window = AlertFilter {
            from: Some(now + chrono::Duration::seconds(30)),
            to: Some(now + chrono::Duration::seconds(90)),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.alerts_filtered(&window).await.unwrap().len(), 1);
        let (rules, sites) = store.alert_rules_and_sites().await.unwrap();
        assert_eq!((rules, sites), (vec!["r".to_string()], vec!["north".to_string()]));
        // Camera status: the latest of each kind.
        let mut on = event(EventBody::CameraOnline { width: 640, height: 360 });
        on.captured_at = now;
        let mut off = event(EventBody::CameraOffline { reason: "gone".into() });
        off.captured_at = now + chrono::Duration::minutes(10);
        store.commit(&on, &[]).await.unwrap();
        store.commit(&off, &[]).await.unwrap();
        let mut beat = event(EventBody::CameraStats {
            frames_decoded: 50,
            frames_inferred: 5,
            frames_dropped: 2,
            frames_gated: 0,
            period_s: 5.0,
            thumbnail: Some(Snapshot::jpeg(8, 6, &[0xff, 0xd8, 0x07])),
        });
        beat.captured_at = now + chrono::Duration::minutes(5);
        store.commit(&beat, &[]).await.unwrap();
        let cams = store.camera_status(now - chrono::Duration::hours(1)).await.unwrap();
        assert_eq!(cams.len(), 1, "{cams:?}");
        let c = &cams[0];
        assert_eq!((c.online, c.decoded_fps, c.dropped, c.tampered), (Some(false), Some(10.0), Some(2), false));
        assert_eq!(c.thumbnail_event.as_deref(), Some(beat.event_id.to_string().as_str()));
        // What a metrics scrape reads, and the readiness write (twice: an upsert).
        assert!(store.probe_write("aggregator@1", now).await && store.probe_write("aggregator@1", now).await);
        let g = store.gauges().await.unwrap();
        assert_eq!(g.alerts, vec![("r".to_string(), "open".to_string(), 3)]);
        assert_eq!(
            g.edges_last_seen.iter().map(|(s, e, _)| (s.as_str(), e.as_str())).collect::<Vec<_>>(),
            [("north", "gate-1")]
        );
        let thumb = store.picture(&beat.event_id.to_string(), Picture::Snapshot).await.unwrap().unwrap();
        assert_eq!(thumb.1, [0xff, 0xd8, 0x07], "the thumbnail is kept as the event's picture, not in its body");
        assert_eq!(c.last_event_at, Some(now + chrono::Duration::minutes(10)));
    }

    async fn retention_forgets_each_class_at_its_age(store: Store) {
        use gatewatch_core::event::PlateRead;
        use gatewatch_core::retention::RetentionConfig;
        let day0: DateTime<Utc> = "2026-10-01T03:00:00Z".parse().unwrap();
        let at = |days: i64| day0 + chrono::Duration::days(days);
        let stored = |ev: &Event| {
            let store = store.clone();
            let ev = ev.clone();
            async move { store.commit(&ev, &[]).await.unwrap() }
        };
        let mut old_beat = event(stats());
        old_beat.captured_at = at(0);
        let mut old_end = event(EventBody::TrackEnded {
            track: 1,
            class: ObjectClass::Person,
            duration_s: 3.0,
            detections: 9,
            best_score: 0.8,
            snapshot: Some(Snapshot::jpeg(1, 1, &[0xff, 0xd8, 0x11])),
        });
        old_end.captured_at = at(0);
        let read = |plate: &str, day: i64| {
            let mut ev = event(EventBody::PlateRead(PlateRead {
                track: 2,
                plate: plate.into(),
                confidence: 0.9,
                valid: Some(true),
                candidates: vec![],
                reads: 3,
                stable: true,
                update: false,
                plate_snapshot: Some(Snapshot::jpeg(2, 1, &[0xff, 0xd8, 0x12])),
                vehicle_snapshot: Some(Snapshot::jpeg(2, 1, &[0xff, 0xd8, 0x13])),
            }));
            ev.captured_at = at(day);
            ev
        };
        let (stranger, listed, fresh) = (read("沪C55555", 0), read("京A12345", 0), read("沪C55555", 60));
        for ev in [&old_beat, &old_end, &stranger, &listed, &fresh] {
            stored(ev).await;
        }
        // An alert closed long ago and one still open.
        let closed_ev = old_beat.clone();
        store.commit(&closed_ev, &[seen(&closed_ev, "old-incident", 0.5)]).await.unwrap();
        let open_ev = old_end.clone();
        store.commit(&open_ev, &[seen(&open_ev, "open-incident", 0.5)]).await.unwrap();
        let closed = store.alerts(false).await.unwrap().into_iter().find(|a| a.alert.key == "old-incident").unwrap();
        store.act_on_alert(&closed.alert.alert_id.to_string(), Action::Resolve, "li", None, at(1)).await.unwrap();
        store
            .audit(&AuditEntry {
                at: at(0),
                user: "li".into(),
                action: "vehicle_lookup".into(),
                subject: "沪C55555".into(),
                detail: None,
                source: None,
            })
            .await
            .unwrap();

        // 40 days on: routine events (7 d), unlisted plate reads (30 d) and pictures (30 d) go;
        // track ends (90 d), the listed car's read, the alerts (365 d) and the audit stay.
        let cfg = RetentionConfig::default();
        let on_list = |reads: &[&str]| reads.contains(&"京A12345");
        let x = store.enforce_retention(&cfg.cutoffs(at(40)), on_list).await.unwrap();
        assert_eq!((x.routine, x.plate_reads, x.events, x.alerts, x.audit), (1, 1, 0, 0, 0), "{x:?}");
        assert!(x.snapshots >= 2, "the track's picture and the listed read's crops: {x:?}");
        let ids = store.event_ids().await.unwrap();
        assert!(!ids.contains(&old_beat.event_id.to_string()) && !ids.contains(&stranger.event_id.to_string()));
        assert!(ids.contains(&listed.event_id.to_string()) && ids.contains(&fresh.event_id.to_string()));
        assert!(store.snapshot(&old_end.event_id.to_string()).await.unwrap().is_none(), "the old picture is gone");
        assert!(store.picture(&listed.event_id.to_string(), Picture::Vehicle).await.unwrap().is_none());
        assert!(
            store.picture(&fresh.event_id.to_string(), Picture::Vehicle).await.unwrap().is_some(),
            "a fresh one stays"
        );
        let reads = store.plate_sightings(at(-1), at(100), 10).await.unwrap();
        assert_eq!(reads.len(), 2, "the listed car's read is kept, without its pictures");
        // A year and more on: the closed alert with its history and the audit entry go; the
        // open alert stays.
        let x = store.enforce_retention(&cfg.cutoffs(at(400)), on_list).await.unwrap();
        assert_eq!((x.alerts, x.audit), (1, 1), "{x:?}");
        let left: Vec<String> = store.alerts(false).await.unwrap().into_iter().map(|a| a.alert.key).collect();
        assert_eq!(left, ["open-incident"]);
        assert!(store.alert_history(&closed.alert.alert_id.to_string()).await.unwrap().is_empty());
        // Nothing to do twice.
        assert_eq!(store.enforce_retention(&cfg.cutoffs(at(400)), on_list).await.unwrap(), Expired::default());
    }

    async fn desk_users_log_in_by_password(store: Store) {
        let now = Utc::now();
        store.add_user("admin-1", Role::Admin, "first admin's password", now).await.unwrap();
        store.add_user("王警官", Role::Officer, "an officer's password", now).await.unwrap();
        assert!(matches!(
            store.add_user("admin-1", Role::Officer, "someone else's password", now).await,
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            store.add_user("x'; DROP TABLE desk_users; --", Role::Admin, "p".repeat(12).as_str(), now).await,
            Err(UserError::BadName)
        ));
        let me = store.check_login("王警官", "an officer's password").await.unwrap().expect("logs in");
        assert_eq!((me.name.as_str(), me.role, me.disabled), ("王警官", Role::Officer, false));
        assert!(store.check_login("王警官", "an officer's passworD").await.unwrap().is_none());
        assert!(store.check_login("nobody", "an officer's password").await.unwrap().is_none());
        store.set_user_disabled("王警官", true).await.unwrap();
        assert!(store.check_login("王警官", "an officer's password").await.unwrap().is_none(), "disabled");
        store.set_user_disabled("王警官", false).await.unwrap();
        store.set_password("王警官", "a new password here", now).await.unwrap();
        assert!(store.check_login("王警官", "an officer's password").await.unwrap().is_none());
        assert!(store.check_login("王警官", "a new password here").await.unwrap().is_some());
        assert!(matches!(store.set_user_disabled("nobody", true).await, Err(UserError::Unknown(_))));
        let users = store.users().await.unwrap();
        assert_eq!(
            users.iter().map(|u| (u.name.as_str(), u.role)).collect::<Vec<_>>(),
            vec![("admin-1", Role::Admin), ("王警官", Role::Officer)]
        );
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

    /// A database from before alerts had a lifecycle (migrations 0001-0004, as the demo's
    /// `--db` keeps one) upgrades in place: its alerts stay, acknowledged ones as acknowledged
    /// with who did it in their history, and new sightings update them.
    #[tokio::test]
    async fn sqlite_alerts_of_an_older_database_upgrade_with_their_acknowledgements() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("migrations");
        std::fs::create_dir(&old).unwrap();
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&here).unwrap() {
            let name = entry.unwrap().file_name();
            if name.to_string_lossy().as_ref() < "0005" {
                std::fs::copy(here.join(&name), old.join(&name)).unwrap();
            }
        }
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let opts = SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = SqlitePool::connect_with(opts).await.unwrap();
        sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
        let ev = event(stats());
        for (id, key, acked) in [("a-1", "k-1", Some(("2026-11-28T03:05:00Z", "officer-7"))), ("a-2", "k-2", None)] {
            sqlx::query(
                "INSERT INTO alerts (alert_id, alert_key, rule, kind, site, edge, camera, at, event_id, message, raised_at, acked_at, acked_by)
                 VALUES ($1, $2, 'r', 'watchlist', 'north', 'gate-1', 'cam1', '2026-11-28T03:00:00Z', $3, 'm', '2026-11-28T03:00:01Z', $4, $5)",
            )
            .bind(id)
            .bind(key)
            .bind(ev.event_id.to_string())
            .bind(acked.map(|a| a.0))
            .bind(acked.map(|a| a.1))
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let store = Store::open(&url).await.unwrap();
        let a1 = store.alert("a-1").await.unwrap().unwrap();
        assert_eq!((a1.status.state, a1.status.sightings), (AlertState::Acknowledged, 1));
        let history = store.alert_history("a-1").await.unwrap();
        let who: Vec<_> = history.iter().map(|h| (h.action.as_str(), h.by.as_deref())).collect();
        assert_eq!(who, vec![("raised", None), ("acknowledged", Some("officer-7"))]);
        assert_eq!(store.alert("a-2").await.unwrap().unwrap().status.state, AlertState::Open);
        // The old alert is the open incident of its key: a new sighting updates it.
        let later = event(stats());
        let messages = store.commit(&later, &[seen(&later, "k-2", 0.5)]).await.unwrap().1;
        assert_eq!(messages.iter().map(|m| (m.kind(), m.status().sightings)).collect::<Vec<_>>(), vec![("updated", 2)]);
        assert_eq!(store.alerts(false).await.unwrap().len(), 2);
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
