//! Live alerts. One task per desk polls the store for alerts whose row changed
//! (`alerts.updated_at`, written in the same transaction as the change) and broadcasts each
//! new version; every open live page holds a server-sent-events stream that renders the
//! alert in its user's language. Polling the database, not listening to one aggregator,
//! is what lets one desk show the alerts of several aggregators sharing a database.
//!
//! Aggregators' clocks and commit order differ slightly, so each poll looks back
//! [`OVERLAP`] before the newest change seen, and a version already sent (same update time,
//! sightings and state) is not sent again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Duration, Utc};
use futures_util::Stream;
use gatewatch_core::incident::AlertState;
use gatewatch_store::{Store, StoredAlert};
use tokio::sync::{broadcast, watch};

use crate::{Desk, User};

/// How far each poll looks back before the newest change seen.
pub const OVERLAP: Duration = Duration::seconds(5);
/// How often the store is polled.
const POLL: StdDuration = StdDuration::from_millis(250);
/// Most changes read per poll.
const PAGE: i64 = 500;
/// How often a stream checks that its session is still alive.
const SESSION_CHECK: StdDuration = StdDuration::from_secs(30);

/// One alert as it is now, and whether this is its first appearance (a new alert).
#[derive(Debug, Clone)]
pub struct Change {
    pub alert: Arc<StoredAlert>,
    pub raised: bool,
}

pub struct Feed {
    tx: broadcast::Sender<Change>,
    stopped: watch::Sender<bool>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

/// What identifies one version of an alert.
type Version = (DateTime<Utc>, u64, AlertState);

/// Which versions were sent, and from when to look next: the feed's pure part.
#[derive(Debug, Default)]
pub struct Tracker {
    sent: HashMap<String, Version>,
    newest: Option<DateTime<Utc>>,
}

impl Tracker {
    /// Where the next poll starts, for a feed started at `now`.
    pub fn since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.newest.unwrap_or(now) - OVERLAP
    }

    /// The changes among `rows` not sent before (in the order given).
    pub fn changes(&mut self, rows: Vec<StoredAlert>) -> Vec<Change> {
        let mut out = Vec::new();
        for a in rows {
            let v = (a.status.updated_at, a.status.sightings, a.status.state);
            self.newest = self.newest.max(Some(a.status.updated_at));
            let id = a.alert.alert_id.to_string();
            let before = self.sent.insert(id, v);
            if before == Some(v) {
                continue;
            }
            let raised = before.is_none() && a.status.state == AlertState::Open && a.status.sightings <= 1;
            out.push(Change { alert: Arc::new(a), raised });
        }
        // Versions older than the look-back cannot come again.
        if let Some(newest) = self.newest {
            self.sent.retain(|_, v| v.0 >= newest - OVERLAP - OVERLAP);
        }
        out
    }
}

impl Feed {
    pub fn new() -> Self {
        Self { tx: broadcast::channel(1024).0, stopped: watch::channel(false).0 }
    }

    /// The changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Poll `store` until `stop` turns true; then every live stream ends.
    pub async fn run(&self, store: &Store, mut stop: watch::Receiver<bool>) {
        let mut tracker = Tracker::default();
        let mut failing = false;
        while !*stop.borrow() {
            match store.alerts_changed_since(tracker.since(Utc::now()), PAGE).await {
                Ok(rows) => {
                    failing = false;
                    let full = rows.len() as i64 == PAGE;
                    for c in tracker.changes(rows) {
                        let _ = self.tx.send(c);
                    }
                    if full {
                        continue; // more changed than one page: read on at once
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "desk: polling alerts failed; retrying");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
        let _ = self.stopped.send(true);
    }
}

/// `GET /live`: the changes as server-sent events (`alert`: `{id, raised, html}`; `reload`
/// when this stream fell behind; `logout` when the session ended).
pub async fn stream(State(desk): State<Arc<Desk>>, user: User) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct S {
        desk: Arc<Desk>,
        user: User,
        rx: broadcast::Receiver<Change>,
        stopped: watch::Receiver<bool>,
        check: tokio::time::Interval,
        ended: bool,
    }
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.reset(); // the first tick after a period, not at once
    let s = S { rx: desk.live.subscribe(), stopped: desk.live.stopped.subscribe(), desk, user, check, ended: false };
    let events = futures_util::stream::unfold(s, |mut s| async move {
        if s.ended || *s.stopped.borrow() {
            return None;
        }
        loop {
            tokio::select! {
                msg = s.rx.recv() => match msg {
                    Ok(c) => {
                        let html = crate::pages::alerts::row(&s.desk, s.user.t(), &c.alert).into_string();
                        let data = serde_json::json!({
                            "id": c.alert.alert.alert_id.to_string(),
                            "raised": c.raised,
                            "updated_at": c.alert.status.updated_at.to_rfc3339(),
                            "updated_ms": c.alert.status.updated_at.timestamp_millis(),
                            "html": html,
                        });
                        return Some((Ok(Event::default().event("alert").data(data.to_string())), s));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event("reload").data("lagged")), s));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = s.stopped.changed() => return None,
                _ = s.check.tick() => {
                    let alive = s.desk.store.session(&s.user.token, s.desk.now(), s.desk.settings.idle).await;
                    if !matches!(alive, Ok(Some(_))) {
                        s.ended = true;
                        return Some((Ok(Event::default().event("logout").data("session ended")), s));
                    }
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(StdDuration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use gatewatch_core::incident::AlertStatus;
    use gatewatch_core::rules::{Alert, AlertKind};

    fn alert(id: u128, updated: i64, sightings: u64, state: AlertState) -> StoredAlert {
        let t = Utc.timestamp_opt(1_800_000_000 + updated, 0).unwrap();
        StoredAlert {
            alert: Alert {
                alert_id: uuid::Uuid::from_u128(id),
                key: format!("k{id}"),
                rule: "r".into(),
                kind: AlertKind::Loitering,
                site: "s".into(),
                edge: "e".into(),
                camera: "c".into(),
                track: None,
                zone: None,
                plate: None,
                matched: None,
                candidates: vec![],
                at: t,
                event_id: uuid::Uuid::nil(),
                message: "m".into(),
            },
            status: AlertStatus {
                state,
                sightings,
                last_seen: t,
                best_event_id: uuid::Uuid::nil(),
                best_score: 0.0,
                updated_at: t,
                closed_at: None,
            },
        }
    }

    #[test]
    fn each_version_is_sent_once_and_only_the_first_is_new() {
        let mut tr = Tracker::default();
        let c = tr.changes(vec![alert(1, 0, 1, AlertState::Open)]);
        assert_eq!(c.len(), 1);
        assert!(c[0].raised);
        // The overlap reads it again: nothing to send.
        assert!(tr.changes(vec![alert(1, 0, 1, AlertState::Open)]).is_empty());
        // Seen again, then acknowledged: two updates, neither new.
        let c = tr.changes(vec![alert(1, 1, 2, AlertState::Open), alert(1, 2, 2, AlertState::Acknowledged)]);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| !c.raised));
        assert_eq!(tr.since(Utc::now()), Utc.timestamp_opt(1_800_000_002, 0).unwrap() - OVERLAP);
        // An alert first met already acknowledged (the desk started late) is not announced as new.
        let c = tr.changes(vec![alert(2, 3, 1, AlertState::Acknowledged)]);
        assert!(!c[0].raised);
    }
}
