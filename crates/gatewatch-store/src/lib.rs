//! Storage adapter: events and alerts in SQLite through sqlx (migrations in `migrations/`).
//!
//! Idempotent by construction: an event is stored once per `event_id`, an alert once per
//! dedupe key, whatever the delivery does. Values are always bound parameters, never
//! formatted into SQL. A locked database is an error the caller retries, not a loss.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use gatewatch_core::event::{Event, EventBody};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_core::rules::Alert;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite};

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
    /// Worth retrying: the database is busy or locked, or the connection hiccupped.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(db)) => {
                let m = db.message();
                m.contains("locked") || m.contains("busy")
            }
            StoreError::Sql(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
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

/// Rows per multi-row statement: 16 columns x 500 stays far below SQLite's 32,766 bound
/// parameters.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Open (creating if missing) and migrate. `url` like `sqlite://gatewatch.db`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open { url: url.into(), source };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(open)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(open)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn has_event(&self, event_id: uuid::Uuid) -> Result<bool, StoreError> {
        Ok(!self.existing(&[event_id]).await?.is_empty())
    }

    /// Which of these event ids are already stored (one query per `CHUNK` ids).
    pub async fn existing(&self, ids: &[uuid::Uuid]) -> Result<HashSet<uuid::Uuid>, StoreError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT event_id FROM events WHERE event_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await? {
                if let Ok(id) = row.try_get::<String, _>(0)?.parse() {
                    found.insert(id);
                }
            }
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
        let mut tx = self.pool.begin().await?;
        let mut new_events = HashSet::new();
        for chunk in batch.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
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
            for row in q.build().fetch_all(&mut *tx).await? {
                new_events.insert(row.try_get::<String, _>(0)?);
            }
        }
        let alerts: Vec<&Alert> = batch.iter().flat_map(|(_, a)| a.iter()).collect();
        let mut new_alerts = HashSet::new();
        for chunk in alerts.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
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
            for row in q.build().fetch_all(&mut *tx).await? {
                new_alerts.insert(row.try_get::<String, _>(0)?);
            }
        }
        tx.commit().await?;
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
        Ok(sqlx::query("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// Every stored event id (for tests and audits).
    pub async fn event_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT event_id FROM events ORDER BY event_id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| r.try_get(0).map_err(StoreError::from)).collect()
    }

    /// The sequence numbers stored for one edge, ascending (gaps mean lost events).
    pub async fn seqs(&self, site: &str, edge: &str) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT seq FROM events WHERE site = ? AND edge = ? ORDER BY seq")
            .bind(site)
            .bind(edge)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get(0).map_err(StoreError::from)).collect()
    }

    /// Events per kind, sorted by kind.
    pub async fn counts_by_kind(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT kind, COUNT(*) FROM events GROUP BY kind ORDER BY kind").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// The JPEG snapshot stored with an event, if any.
    pub async fn snapshot(&self, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT snapshot FROM events WHERE event_id = ?")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.try_get::<Option<Vec<u8>>, _>(0).ok().flatten()))
    }

    /// Alerts, newest first; only unacknowledged ones when `open_only`.
    pub async fn alerts(&self, open_only: bool) -> Result<Vec<StoredAlert>, StoreError> {
        let rows = sqlx::query(
            "SELECT alert_id, alert_key, rule, kind, site, edge, camera, track, zone, plate, at, event_id, message, acked_at, acked_by,
                    matched, candidates
             FROM alerts WHERE (? = 0 OR acked_at IS NULL) ORDER BY at DESC, alert_id DESC",
        )
        .bind(open_only as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_alert).collect()
    }

    /// An officer acknowledges an alert. Returns false if there is no such open alert.
    pub async fn ack_alert(&self, alert_id: &str, officer: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE alerts SET acked_at = ?, acked_by = ? WHERE alert_id = ? AND acked_at IS NULL")
            .bind(ts(at))
            .bind(officer)
            .bind(alert_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every plate list entry, by kind then plate.
    pub async fn list_entries(&self) -> Result<Vec<ListEntry>, StoreError> {
        let rows = sqlx::query("SELECT kind, plate, label, valid_from, valid_to FROM plate_lists ORDER BY kind, plate")
            .fetch_all(&self.pool)
            .await?;
        let parse_time =
            |s: Option<String>| s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc));
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = r.try_get(0)?;
            let entry = ListEntry::new(
                kind.parse().map_err(|e: String| StoreError::Sql(sqlx::Error::Protocol(e)))?,
                &r.try_get::<String, _>(1)?,
                &r.try_get::<String, _>(2)?,
                parse_time(r.try_get(3)?),
                parse_time(r.try_get(4)?),
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
        let existed = sqlx::query("SELECT 1 FROM plate_lists WHERE kind = ? AND plate = ?")
            .bind(e.kind.as_str())
            .bind(&e.plate)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO plate_lists (kind, plate, label, valid_from, valid_to, added_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (kind, plate) DO UPDATE SET label = excluded.label, valid_from = excluded.valid_from,
                 valid_to = excluded.valid_to",
        )
        .bind(e.kind.as_str())
        .bind(&e.plate)
        .bind(&e.label)
        .bind(e.valid_from.map(ts))
        .bind(e.valid_to.map(ts))
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(!existed)
    }

    /// Remove an entry; false if there was none.
    pub async fn remove_entry(&self, kind: ListKind, plate: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM plate_lists WHERE kind = ? AND plate = ?")
            .bind(kind.as_str())
            .bind(plate)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn close(&self) {
        self.pool.close().await;
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

fn row_to_alert(r: &sqlx::sqlite::SqliteRow) -> Result<StoredAlert, StoreError> {
    let parse_time = |s: String| DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).ok();
    let kind: String = r.try_get("kind")?;
    let alert = Alert {
        alert_id: r.try_get::<String, _>("alert_id")?.parse().unwrap_or_default(),
        key: r.try_get("alert_key")?,
        rule: r.try_get("rule")?,
        kind: serde_json::from_value(serde_json::Value::String(kind))
            .unwrap_or(gatewatch_core::rules::AlertKind::Loitering),
        site: r.try_get("site")?,
        edge: r.try_get("edge")?,
        camera: r.try_get("camera")?,
        track: r.try_get::<Option<i64>, _>("track")?.map(|t| t as u64),
        zone: r.try_get("zone")?,
        plate: r.try_get("plate")?,
        matched: r.try_get::<Option<String>, _>("matched")?.and_then(|j| serde_json::from_str(&j).ok()),
        candidates: r
            .try_get::<Option<String>, _>("candidates")?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        at: parse_time(r.try_get("at")?).unwrap_or_default(),
        event_id: r.try_get::<String, _>("event_id")?.parse().unwrap_or_default(),
        message: r.try_get("message")?,
    };
    Ok(StoredAlert {
        alert,
        acked_at: r.try_get::<Option<String>, _>("acked_at")?.and_then(parse_time),
        acked_by: r.try_get("acked_by")?,
    })
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

    #[tokio::test]
    async fn events_and_alerts_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
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

    #[tokio::test]
    async fn a_batch_lands_whole_and_says_what_was_new() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("b.db").display())).await.unwrap();
        let stats =
            || EventBody::CameraStats { frames_decoded: 10, frames_inferred: 5, frames_dropped: 0, period_s: 1.0 };
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

    #[tokio::test]
    async fn plate_lists_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("l.db").display())).await.unwrap();
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
}
