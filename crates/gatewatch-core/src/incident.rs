//! Incidents: an alert is one incident with a lifecycle, not one message per sighting.
//!
//! A rule says what is true at an event ([`Signal`]): an incident is seen (a loiterer has
//! stayed, a wanted plate was read) or has ended (the car drove off). The incident key says
//! *which* incident (loitering: camera + track + zone + entry; watchlist: list entry + site;
//! unknown vehicle: plate + site). [`decide`] turns a sighting and the newest stored alert of
//! its key into raise, update or nothing:
//!
//! ```text
//!                 ┌──────── sighting: update (count, last seen, camera, best read) ───┐
//!                 ▼                                                                    │
//!  sighting ─▶ open ──ack──▶ acknowledged ──resolve / false alarm──▶ closed ──(cooldown)┘
//!                 └────────────resolve / false alarm / condition ended──────▶ closed
//! ```
//!
//! A sighting of a closed incident within its cooldown (measured from the close) is
//! suppressed; after it, the incident is raised again as a new alert. Every state change has
//! who, when and an optional note, kept as history by the store.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rules::Alert;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
    FalseAlarm,
}

impl AlertState {
    pub const ALL: [AlertState; 4] = [Self::Open, Self::Acknowledged, Self::Resolved, Self::FalseAlarm];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::FalseAlarm => "false_alarm",
        }
    }

    /// Resolved or false alarm: nothing more happens to this alert.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Resolved | Self::FalseAlarm)
    }

    /// The state after an officer's action, or why the action is refused.
    pub fn apply(self, action: Action) -> Result<AlertState, String> {
        match (self, action) {
            (s, _) if s.is_closed() => Err(format!("the alert is already {}", s.as_str())),
            (Self::Acknowledged, Action::Acknowledge) => Err("the alert is already acknowledged".into()),
            (_, Action::Acknowledge) => Ok(Self::Acknowledged),
            (_, Action::Resolve) => Ok(Self::Resolved),
            (_, Action::FalseAlarm) => Ok(Self::FalseAlarm),
        }
    }
}

impl std::str::FromStr for AlertState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("alert state {s:?} is not one of open, acknowledged, resolved, false_alarm"))
    }
}

/// What an officer does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Acknowledge,
    Resolve,
    FalseAlarm,
}

/// What a rule says about one incident at one event.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a few per alert, short-lived: not worth a box each
pub enum Signal {
    /// The incident's condition holds at this event: raise an alert, or update the open one.
    Seen(Sighting),
    /// The condition is over (the car drove off, the camera is back): close the open alert.
    Ended(Ending),
}

impl Signal {
    pub fn key(&self) -> &str {
        match self {
            Signal::Seen(s) => &s.alert.key,
            Signal::Ended(e) => &e.key,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// The alert as it would be raised now; `key` is the incident key.
    pub alert: Alert,
    /// After a close, the incident is not raised again for this long.
    pub cooldown: Duration,
    /// How good this sighting's evidence is (a plate read's confidence): the alert keeps the
    /// best one's read and snapshot.
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub key: String,
    /// Capture time of the event that ended it.
    pub at: DateTime<Utc>,
    pub event_id: Uuid,
    /// Why, for the history ("drove off after 42 min").
    pub note: String,
}

/// The newest stored alert of an incident key, as [`decide`] needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latest {
    pub alert_id: Uuid,
    pub state: AlertState,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A new alert.
    Raise,
    /// A sighting of this open (or acknowledged) alert.
    Update(Uuid),
    /// The incident was closed less than its cooldown ago.
    Suppress,
}

/// Raise, update or suppress a sighting at capture time `at`, given the newest alert of its key.
pub fn decide(latest: Option<&Latest>, at: DateTime<Utc>, cooldown: Duration) -> Decision {
    match latest {
        None => Decision::Raise,
        Some(l) if !l.state.is_closed() => Decision::Update(l.alert_id),
        Some(l) => match l.closed_at {
            // A close with no time (cannot happen in the store): treat as just closed.
            None => Decision::Suppress,
            Some(closed) => match closed.checked_add_signed(cooldown) {
                Some(until) if at < until => Decision::Suppress,
                None => Decision::Suppress,
                Some(_) => Decision::Raise,
            },
        },
    }
}

/// An alert's life so far, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStatus {
    pub state: AlertState,
    /// Events that showed the incident (the raising one included).
    pub sightings: u64,
    /// Capture time of the latest sighting.
    pub last_seen: DateTime<Utc>,
    /// The event whose read (and snapshot) is the best so far, and its score.
    pub best_event_id: Uuid,
    pub best_score: f32,
    /// When the alert last changed (wall clock).
    pub updated_at: DateTime<Utc>,
    /// When it was resolved or called a false alarm (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl AlertStatus {
    /// The status of an alert raised by `sighting`, seen at capture time `seen`, at wall time `now`.
    pub fn raised(sighting: &Sighting, seen: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            state: AlertState::Open,
            sightings: 1,
            last_seen: seen,
            best_event_id: sighting.alert.event_id,
            best_score: sighting.score,
            updated_at: now,
            closed_at: None,
        }
    }
}

/// An open alert after another sighting (captured at `seen`): one more sighting; the latest
/// sighting's whereabouts (edge, camera, track, message); the best-scored sighting's read
/// (plate, match, candidates) and event. `key`, `at`, `event_id` and the state stay.
pub fn updated(
    alert: &Alert,
    status: &AlertStatus,
    sighting: &Sighting,
    seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Alert, AlertStatus) {
    let (mut a, mut s) = (alert.clone(), status.clone());
    let new = &sighting.alert;
    s.sightings = s.sightings.saturating_add(1);
    s.updated_at = now;
    if seen >= s.last_seen {
        s.last_seen = seen;
        a.edge.clone_from(&new.edge);
        a.camera.clone_from(&new.camera);
        a.track = new.track;
        a.message.clone_from(&new.message);
    }
    if sighting.score > s.best_score {
        s.best_score = sighting.score;
        s.best_event_id = new.event_id;
        a.plate.clone_from(&new.plate);
        a.matched.clone_from(&new.matched);
        a.candidates.clone_from(&new.candidates);
    }
    (a, s)
}

/// One entry of an alert's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Wall clock.
    pub at: DateTime<Utc>,
    /// `raised`, `acknowledged`, `resolved`, `false_alarm` or `ended` (closed by its rule).
    pub action: String,
    /// The officer; none for what the rules did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the aggregator publishes on `gatewatch/v1/{site}/alerts`: the whole alert as it is now,
/// tagged with what just happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertMessage {
    /// A new incident.
    Raised { alert: Alert, status: AlertStatus },
    /// Seen again, or acknowledged (`change` is the history entry when an officer acted).
    Updated {
        alert: Alert,
        status: AlertStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<HistoryEntry>,
    },
    /// Resolved, called a false alarm, or ended by its rule.
    Closed { alert: Alert, status: AlertStatus, change: HistoryEntry },
}

impl AlertMessage {
    pub fn alert(&self) -> &Alert {
        match self {
            Self::Raised { alert, .. } | Self::Updated { alert, .. } | Self::Closed { alert, .. } => alert,
        }
    }

    pub fn status(&self) -> &AlertStatus {
        match self {
            Self::Raised { status, .. } | Self::Updated { status, .. } | Self::Closed { status, .. } => status,
        }
    }

    /// `raised`, `updated` or `closed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Raised { .. } => "raised",
            Self::Updated { .. } => "updated",
            Self::Closed { .. } => "closed",
        }
    }
}

/// What became of a signal in an [`IncidentBook`].
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per signal, short-lived
pub enum Outcome {
    Raised(Alert),
    /// The open alert's id and its sightings now.
    Updated(Uuid, u64),
    Suppressed,
    Closed(Uuid),
    /// An ending with no open alert.
    Nothing,
}

/// The incident lifecycle in memory: what the store does in SQL, for the rules' tests, the
/// benchmarks and tools that replay events. Decisions are [`decide`]'s, the same as the store's.
#[derive(Debug, Default)]
pub struct IncidentBook {
    latest: std::collections::HashMap<String, (Latest, u64)>,
}

impl IncidentBook {
    pub fn apply(&mut self, signal: &Signal) -> Outcome {
        match signal {
            Signal::Seen(s) => {
                let latest = self.latest.get(&s.alert.key).map(|(l, _)| l);
                match decide(latest, s.alert.at, s.cooldown) {
                    Decision::Raise => {
                        let l = Latest { alert_id: s.alert.alert_id, state: AlertState::Open, closed_at: None };
                        self.latest.insert(s.alert.key.clone(), (l, 1));
                        Outcome::Raised(s.alert.clone())
                    }
                    Decision::Update(id) => {
                        let seen = &mut self.latest.get_mut(&s.alert.key).expect("decided on it").1;
                        *seen += 1;
                        Outcome::Updated(id, *seen)
                    }
                    Decision::Suppress => Outcome::Suppressed,
                }
            }
            Signal::Ended(e) => match self.latest.get_mut(&e.key) {
                Some((l, _)) if !l.state.is_closed() => {
                    l.state = AlertState::Resolved;
                    l.closed_at = Some(e.at);
                    Outcome::Closed(l.alert_id)
                }
                _ => Outcome::Nothing,
            },
        }
    }

    /// An officer acts on the alert of `key` at `at`; returns its new state.
    pub fn act(&mut self, key: &str, action: Action, at: DateTime<Utc>) -> Result<AlertState, String> {
        let (l, _) = self.latest.get_mut(key).ok_or_else(|| format!("no alert for {key}"))?;
        l.state = l.state.apply(action)?;
        if l.state.is_closed() {
            l.closed_at = Some(at);
        }
        Ok(l.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn officers_move_an_alert_forward_only() {
        use AlertState::*;
        assert_eq!(Open.apply(Action::Acknowledge), Ok(Acknowledged));
        assert_eq!(Open.apply(Action::Resolve), Ok(Resolved));
        assert_eq!(Acknowledged.apply(Action::FalseAlarm), Ok(FalseAlarm));
        assert!(Acknowledged.apply(Action::Acknowledge).is_err());
        for closed in [Resolved, FalseAlarm] {
            for action in [Action::Acknowledge, Action::Resolve, Action::FalseAlarm] {
                assert!(closed.apply(action).is_err(), "{closed:?} {action:?}");
            }
        }
        for s in AlertState::ALL {
            assert_eq!(s.as_str().parse::<AlertState>(), Ok(s));
        }
        assert!("closed".parse::<AlertState>().is_err());
    }

    #[test]
    fn sightings_update_open_alerts_and_wait_out_the_cooldown_after_a_close() {
        let id = Uuid::now_v7();
        let cooldown = Duration::minutes(10);
        let now = t("2026-12-01T03:00:00Z");
        assert_eq!(decide(None, now, cooldown), Decision::Raise);
        for state in [AlertState::Open, AlertState::Acknowledged] {
            let open = Latest { alert_id: id, state, closed_at: None };
            assert_eq!(decide(Some(&open), now, cooldown), Decision::Update(id), "{state:?}");
        }
        let closed = Latest { alert_id: id, state: AlertState::Resolved, closed_at: Some(t("2026-12-01T02:55:00Z")) };
        assert_eq!(decide(Some(&closed), now, cooldown), Decision::Suppress, "5 min after the close");
        assert_eq!(decide(Some(&closed), t("2026-12-01T03:04:59Z"), cooldown), Decision::Suppress);
        assert_eq!(decide(Some(&closed), t("2026-12-01T03:05:00Z"), cooldown), Decision::Raise, "cooldown over");
        // A delayed event captured before the close is not a new incident.
        assert_eq!(decide(Some(&closed), t("2026-12-01T02:00:00Z"), cooldown), Decision::Suppress);
        // A cooldown past the end of time never overflows.
        assert_eq!(decide(Some(&closed), now, Duration::MAX), Decision::Suppress);
    }

    fn sighting(camera: &str, plate: &str, score: f32) -> Sighting {
        let alert = Alert {
            alert_id: Uuid::now_v7(),
            key: "watchlist:stolen:north:京A12345".into(),
            rule: "stolen".into(),
            kind: crate::rules::AlertKind::Watchlist,
            site: "north".into(),
            edge: "gate-1".into(),
            camera: camera.into(),
            track: Some(1),
            zone: None,
            plate: Some(plate.into()),
            matched: None,
            candidates: vec![],
            at: t("2026-12-01T03:00:00Z"),
            event_id: Uuid::now_v7(),
            message: format!("seen at {camera}"),
        };
        Sighting { alert, cooldown: Duration::minutes(10), score }
    }

    #[test]
    fn an_update_keeps_the_latest_place_and_the_best_read() {
        let now = t("2026-12-01T03:00:05Z");
        let first = sighting("cam1", "京A1234S", 0.8);
        let status = AlertStatus::raised(&first, t("2026-12-01T03:00:00Z"), now);
        let better = sighting("cam2", "京A12345", 0.95);
        let (a, s) = updated(&first.alert, &status, &better, t("2026-12-01T03:01:00Z"), now);
        assert_eq!((a.camera.as_str(), a.plate.as_deref(), s.sightings), ("cam2", Some("京A12345"), 2));
        assert_eq!((s.best_event_id, s.last_seen), (better.alert.event_id, t("2026-12-01T03:01:00Z")));
        assert_eq!((a.alert_id, a.event_id, a.at), (first.alert.alert_id, first.alert.event_id, first.alert.at));
        // A worse read arriving late (from an edge's spool): counted, but changes neither.
        let late = sighting("cam3", "京A1Z345", 0.5);
        let (a, s) = updated(&a, &s, &late, t("2026-12-01T03:00:30Z"), now);
        assert_eq!((a.camera.as_str(), a.plate.as_deref(), s.sightings), ("cam2", Some("京A12345"), 3));
        assert_eq!(s.last_seen, t("2026-12-01T03:01:00Z"));
    }
}
