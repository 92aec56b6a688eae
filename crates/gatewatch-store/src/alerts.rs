//! Alerts as incidents: what the rules' signals make of them (raise, update, close) inside the
//! event batch's transaction, what officers do to them, and what the desk reads. The decisions
//! are the core's ([`gatewatch_core::incident`]); this is only their SQL.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use gatewatch_core::event::Event;
use gatewatch_core::incident::{
    self, Action, AlertMessage, AlertState, AlertStatus, Decision, HistoryEntry, Latest, Signal,
};
use gatewatch_core::rules::{Alert, AlertKind};
use gatewatch_core::visits::VisitChange;
use sqlx::QueryBuilder;

use crate::{CHUNK, Pool, Store, StoreError, parse_time, split_snapshot, ts};

/// The columns of an [`AlertRow`], in its order.
macro_rules! alert_columns {
    () => {
        "alert_id, alert_key, rule, kind, site, edge, camera, track, zone, plate, at, event_id, message, \
         matched, candidates, state, sightings, last_seen, best_event_id, best_score, updated_at, closed_at"
    };
}

const SELECT_LATEST: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts WHERE alert_key = $1 ORDER BY raised_at DESC, alert_id DESC LIMIT 1"
);
const SELECT_ONE: &str = concat!("SELECT ", alert_columns!(), " FROM alerts WHERE alert_id = $1");
const INSERT_ALERT: &str = concat!(
    "INSERT INTO alerts (",
    alert_columns!(),
    ", raised_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
     $21, $22, $23)"
);
const UPDATE_SEEN: &str = "UPDATE alerts SET edge = $1, camera = $2, track = $3, message = $4, plate = $5, matched = $6, \
     candidates = $7, sightings = $8, last_seen = $9, best_event_id = $10, best_score = $11, updated_at = $12 \
     WHERE alert_id = $13";
const INSERT_SIGHTING: &str = "INSERT INTO alert_sightings (alert_id, event_id, at, camera) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (alert_id, event_id) DO NOTHING";
const INSERT_HISTORY: &str =
    "INSERT INTO alert_history (alert_id, at, action, by_officer, note) VALUES ($1, $2, $3, $4, $5)";
const CLOSE: &str = "UPDATE alerts SET state = $1, updated_at = $2, closed_at = $3 WHERE alert_id = $4 AND state = $5";

/// A stored alert as the desk sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub alert: Alert,
    pub status: AlertStatus,
}

/// One event that showed an alert's incident.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSighting {
    pub event_id: String,
    /// Capture time.
    pub at: DateTime<Utc>,
    /// `site/edge/camera`.
    pub camera: String,
}

/// Apply one event's signals inside the open transaction `$tx` (either backend): the body is
/// compiled once per backend, like [`on_pool!`]'s. Evaluates to `Result<Vec<AlertMessage>, _>`.
macro_rules! apply_signals {
    ($tx:ident, $ev:expr, $signals:expr, $now:expr) => {{
        let ev: &Event = $ev;
        let now: DateTime<Utc> = $now;
        let mut messages = Vec::new();
        for signal in $signals.iter() {
            let latest: Option<AlertRow> =
                sqlx::query_as(SELECT_LATEST).bind(signal.key()).fetch_optional(&mut *$tx).await?;
            let latest = latest.map(AlertRow::into_stored);
            match signal {
                Signal::Seen(s) => {
                    let l = latest.as_ref().map(|x| Latest {
                        alert_id: x.alert.alert_id,
                        state: x.status.state,
                        closed_at: x.status.closed_at,
                    });
                    match incident::decide(l.as_ref(), s.alert.at, s.cooldown) {
                        Decision::Raise => {
                            let (a, st) = (&s.alert, AlertStatus::raised(s, ev.captured_at, now));
                            let (matched, candidates) = read_json(a);
                            sqlx::query(INSERT_ALERT)
                                .bind(a.alert_id.to_string())
                                .bind(&a.key)
                                .bind(&a.rule)
                                .bind(a.kind.as_str())
                                .bind(&a.site)
                                .bind(&a.edge)
                                .bind(&a.camera)
                                .bind(a.track.map(|t| t as i64))
                                .bind(&a.zone)
                                .bind(&a.plate)
                                .bind(ts(a.at))
                                .bind(a.event_id.to_string())
                                .bind(&a.message)
                                .bind(matched)
                                .bind(candidates)
                                .bind(st.state.as_str())
                                .bind(st.sightings as i64)
                                .bind(ts(st.last_seen))
                                .bind(st.best_event_id.to_string())
                                .bind(st.best_score)
                                .bind(ts(st.updated_at))
                                .bind(None::<String>)
                                .bind(ts(now))
                                .execute(&mut *$tx)
                                .await?;
                            sqlx::query(INSERT_SIGHTING)
                                .bind(a.alert_id.to_string())
                                .bind(ev.event_id.to_string())
                                .bind(ts(ev.captured_at))
                                .bind(camera_path(ev))
                                .execute(&mut *$tx)
                                .await?;
                            sqlx::query(INSERT_HISTORY)
                                .bind(a.alert_id.to_string())
                                .bind(ts(now))
                                .bind("raised")
                                .bind(None::<String>)
                                .bind(None::<String>)
                                .execute(&mut *$tx)
                                .await?;
                            messages.push(AlertMessage::Raised { alert: a.clone(), status: st });
                        }
                        Decision::Update(id) => {
                            let stored = latest.expect("an update decides on a stored alert");
                            let new = sqlx::query(INSERT_SIGHTING)
                                .bind(id.to_string())
                                .bind(ev.event_id.to_string())
                                .bind(ts(ev.captured_at))
                                .bind(camera_path(ev))
                                .execute(&mut *$tx)
                                .await?
                                .rows_affected();
                            // A sighting counts once per event: a replayed event updates nothing.
                            if new == 1 {
                                let (a, st) = incident::updated(&stored.alert, &stored.status, s, ev.captured_at, now);
                                let (matched, candidates) = read_json(&a);
                                sqlx::query(UPDATE_SEEN)
                                    .bind(&a.edge)
                                    .bind(&a.camera)
                                    .bind(a.track.map(|t| t as i64))
                                    .bind(&a.message)
                                    .bind(&a.plate)
                                    .bind(matched)
                                    .bind(candidates)
                                    .bind(st.sightings as i64)
                                    .bind(ts(st.last_seen))
                                    .bind(st.best_event_id.to_string())
                                    .bind(st.best_score)
                                    .bind(ts(st.updated_at))
                                    .bind(id.to_string())
                                    .execute(&mut *$tx)
                                    .await?;
                                messages.push(AlertMessage::Updated { alert: a, status: st, change: None });
                            }
                        }
                        Decision::Suppress => {
                            tracing::debug!(key = %s.alert.key, "sighting of an incident closed within its cooldown");
                        }
                    }
                }
                Signal::Ended(e) => {
                    if let Some(mut stored) = latest.filter(|l| !l.status.state.is_closed()) {
                        let id = stored.alert.alert_id.to_string();
                        sqlx::query(CLOSE)
                            .bind(AlertState::Resolved.as_str())
                            .bind(ts(now))
                            .bind(ts(e.at))
                            .bind(&id)
                            .bind(stored.status.state.as_str())
                            .execute(&mut *$tx)
                            .await?;
                        let change = HistoryEntry { at: now, action: "ended".into(), by: None, note: Some(e.note.clone()) };
                        sqlx::query(INSERT_HISTORY)
                            .bind(&id)
                            .bind(ts(now))
                            .bind("ended")
                            .bind(None::<String>)
                            .bind(&change.note)
                            .execute(&mut *$tx)
                            .await?;
                        stored.status.state = AlertState::Resolved;
                        stored.status.closed_at = Some(e.at);
                        stored.status.updated_at = now;
                        messages.push(AlertMessage::Closed { alert: stored.alert, status: stored.status, change });
                    }
                }
            }
        }
        Ok::<_, sqlx::Error>(messages)
    }};
}

fn camera_path(ev: &Event) -> String {
    format!("{}/{}/{}", ev.site, ev.edge, ev.camera)
}

/// `matched` and `candidates` as their JSON columns.
fn read_json(a: &Alert) -> (Option<String>, Option<String>) {
    (
        a.matched.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()),
        (!a.candidates.is_empty()).then(|| serde_json::to_string(&a.candidates).unwrap_or_default()),
    )
}

/// Why an officer's action was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("no alert {0}")]
    NotFound(String),
    #[error("alert {id}: {why}")]
    Refused { id: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Store an event and what its signals do to alerts in one transaction. Returns whether
    /// the event was new, and the alert messages to announce.
    pub async fn commit(&self, ev: &Event, signals: &[Signal]) -> Result<(bool, Vec<AlertMessage>), StoreError> {
        let mut out = self.commit_batch(&[(ev, signals)]).await?;
        Ok(out.pop().expect("one result per event"))
    }

    /// Store many events (multi-row inserts) and apply their signals to the alerts, in one
    /// transaction. Returns, per event and in order, whether it was new and the alert messages
    /// its signals made (raised, updated, closed). Either all of it lands or none of it does.
    ///
    /// Signals are applied whether or not their event is new: the aggregator sends only new
    /// events' signals, and a replay of stored events (rebuilding rule state) updates nothing
    /// twice, as a sighting counts once per event.
    pub async fn commit_batch(
        &self,
        batch: &[(&Event, &[Signal])],
    ) -> Result<Vec<(bool, Vec<AlertMessage>)>, StoreError> {
        let arrivals: Vec<(&Event, &[Signal], &[VisitChange])> = batch.iter().map(|(e, s)| (*e, *s, &[][..])).collect();
        self.commit_arrivals(&arrivals).await
    }

    /// [`commit_batch`](Self::commit_batch) with what each event did to the visits, applied in
    /// the same transaction.
    pub async fn commit_arrivals(
        &self,
        batch: &[(&Event, &[Signal], &[VisitChange])],
    ) -> Result<Vec<(bool, Vec<AlertMessage>)>, StoreError> {
        let now_t = Utc::now();
        let now = ts(now_t);
        let mut new_events = HashSet::<String>::new();
        let mut messages = Vec::with_capacity(batch.len());
        let renew = self.renew_statement();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            fence!(self, tx, renew);
            for chunk in batch.chunks(CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO events (event_id, site, edge, camera, seq, kind, track, captured_at, received_at, body, snapshot, plates) ",
                );
                q.push_values(chunk, |mut row, (ev, _, _)| {
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
                        .push_bind(snapshot)
                        .push_bind(plates_read(&ev.body));
                });
                q.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
                new_events.extend(q.build_query_scalar::<String>().fetch_all(&mut *tx).await?);
            }
            for (ev, signals, visits) in batch {
                messages.push(apply_signals!(tx, ev, signals, now_t)?);
                crate::visits::apply_visits!(tx, visits, now.clone())?;
            }
            tx.commit().await?
        });
        // `remove`: an id repeated in the batch counts as new once.
        Ok(batch.iter().zip(messages).map(|((ev, _, _), m)| (new_events.remove(&ev.event_id.to_string()), m)).collect())
    }

    /// Alerts, newest first (at most `limit`); only those not yet closed when `open_only`.
    pub async fn alerts(&self, open_only: bool) -> Result<Vec<StoredAlert>, StoreError> {
        self.alerts_page(open_only, i64::MAX).await
    }

    /// Like [`alerts`](Self::alerts), at most `limit` of them.
    pub async fn alerts_page(&self, open_only: bool, limit: i64) -> Result<Vec<StoredAlert>, StoreError> {
        const Q: &str = concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE ($1 OR state IN ('open', 'acknowledged')) ORDER BY at DESC, alert_id DESC LIMIT $2"
        );
        let rows: Vec<AlertRow> = on_pool!(self, pool => {
            sqlx::query_as(Q).bind(!open_only).bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(AlertRow::into_stored).collect())
    }

    pub async fn alert(&self, alert_id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let row: Option<AlertRow> = on_pool!(self, pool => {
            sqlx::query_as(SELECT_ONE).bind(alert_id).fetch_optional(pool).await?
        });
        Ok(row.map(AlertRow::into_stored))
    }

    /// Who did what to an alert, oldest first.
    pub async fn alert_history(&self, alert_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows: Vec<(String, String, Option<String>, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT at, action, by_officer, note FROM alert_history WHERE alert_id = $1 ORDER BY id")
                .bind(alert_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(at, action, by, note)| HistoryEntry { at: parse_time(&at).unwrap_or_default(), action, by, note })
            .collect())
    }

    /// The events that showed an alert's incident, in capture order.
    pub async fn alert_sightings(&self, alert_id: &str) -> Result<Vec<StoredSighting>, StoreError> {
        let rows: Vec<(String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT event_id, at, camera FROM alert_sightings WHERE alert_id = $1 ORDER BY at, event_id")
                .bind(alert_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(event_id, at, camera)| StoredSighting { event_id, at: parse_time(&at).unwrap_or_default(), camera })
            .collect())
    }

    /// An officer acknowledges, resolves or calls a false alarm, with an optional note; returns
    /// the message announcing it. Refused when the alert is already past that state, or
    /// changed by someone else at the same moment.
    pub async fn act_on_alert(
        &self,
        alert_id: &str,
        action: Action,
        officer: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AlertMessage, ActError> {
        let refused = |why: String| ActError::Refused { id: alert_id.into(), why };
        let msg = on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            let row: Option<AlertRow> =
                sqlx::query_as(SELECT_ONE).bind(alert_id).fetch_optional(&mut *tx).await.map_err(StoreError::from)?;
            let mut stored = row.map(AlertRow::into_stored).ok_or_else(|| ActError::NotFound(alert_id.into()))?;
            let before = stored.status.state;
            let after = before.apply(action).map_err(refused)?;
            let closed_at = after.is_closed().then(|| ts(now));
            let changed = sqlx::query(CLOSE)
                .bind(after.as_str())
                .bind(ts(now))
                .bind(closed_at)
                .bind(alert_id)
                .bind(before.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected();
            if changed != 1 {
                return Err(refused("it was changed meanwhile; look again".into()));
            }
            let change = HistoryEntry { at: now, action: after.as_str().into(), by: Some(officer.into()), note: note.map(Into::into) };
            sqlx::query(INSERT_HISTORY)
                .bind(alert_id)
                .bind(ts(now))
                .bind(after.as_str())
                .bind(officer)
                .bind(note)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            tx.commit().await.map_err(StoreError::from)?;
            stored.status.state = after;
            stored.status.updated_at = now;
            if after.is_closed() {
                stored.status.closed_at = Some(now);
                AlertMessage::Closed { alert: stored.alert, status: stored.status, change }
            } else {
                AlertMessage::Updated { alert: stored.alert, status: stored.status, change: Some(change) }
            }
        });
        Ok(msg)
    }

    /// Which of these incident keys have an alert stored (open or closed).
    pub async fn alert_keys_stored(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        self.present("SELECT DISTINCT alert_key FROM alerts WHERE alert_key IN (", keys).await
    }

    /// The newest history entry's number: where [`officer_actions_since`](Self::officer_actions_since)
    /// starts for someone who wants only what happens from now on.
    pub async fn alert_history_cursor(&self) -> Result<i64, StoreError> {
        let max: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(id) FROM alert_history").fetch_one(pool).await?
        });
        Ok(max.unwrap_or(0))
    }

    /// What officers did to alerts after history entry `cursor` (from any desk or CLI), as the
    /// messages announcing it, and the cursor to ask from next time. At most 1,000 at a time.
    pub async fn officer_actions_since(&self, cursor: i64) -> Result<(i64, Vec<AlertMessage>), StoreError> {
        let rows: Vec<HistoryRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, alert_id, at, action, by_officer, note FROM alert_history
                 WHERE id > $1 AND by_officer IS NOT NULL ORDER BY id LIMIT 1000",
            )
            .bind(cursor)
            .fetch_all(pool)
            .await?
        });
        let mut next = cursor;
        let mut out = Vec::new();
        for (id, alert_id, at, action, by, note) in rows {
            next = next.max(id);
            let Some(stored) = self.alert(&alert_id).await? else { continue };
            let change = HistoryEntry { at: parse_time(&at).unwrap_or_default(), action, by, note };
            out.push(if change.action == AlertState::Acknowledged.as_str() {
                AlertMessage::Updated { alert: stored.alert, status: stored.status, change: Some(change) }
            } else {
                AlertMessage::Closed { alert: stored.alert, status: stored.status, change }
            });
        }
        Ok((next, out))
    }
}

/// The `plates` column of an event: a plate read's voted plate, then its candidates.
fn plates_read(body: &gatewatch_core::event::EventBody) -> Option<String> {
    match body {
        gatewatch_core::event::EventBody::PlateRead(p) => {
            Some(std::iter::once(&p.plate).chain(&p.candidates).cloned().collect::<Vec<_>>().join(" "))
        }
        _ => None,
    }
}

/// `id, alert_id, at, action, by_officer, note` of an `alert_history` row.
type HistoryRow = (i64, String, String, String, Option<String>, Option<String>);

/// An `alerts` row as both backends return it.
#[derive(sqlx::FromRow)]
pub(crate) struct AlertRow {
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
    matched: Option<String>,
    candidates: Option<String>,
    state: String,
    sightings: i64,
    last_seen: String,
    best_event_id: String,
    best_score: f32,
    updated_at: String,
    closed_at: Option<String>,
}

impl AlertRow {
    pub(crate) fn into_stored(self) -> StoredAlert {
        let alert = Alert {
            alert_id: self.alert_id.parse().unwrap_or_default(),
            key: self.alert_key,
            rule: self.rule,
            kind: serde_json::from_value(serde_json::Value::String(self.kind)).unwrap_or(AlertKind::Loitering),
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
        let status = AlertStatus {
            state: self.state.parse().unwrap_or(AlertState::Open),
            sightings: self.sightings.max(0) as u64,
            last_seen: parse_time(&self.last_seen).unwrap_or_default(),
            best_event_id: self.best_event_id.parse().unwrap_or_default(),
            best_score: self.best_score,
            updated_at: parse_time(&self.updated_at).unwrap_or_default(),
            closed_at: self.closed_at.as_deref().and_then(parse_time),
        };
        StoredAlert { alert, status }
    }
}
