//! Ingest counters: what came in, what was stored, what was refused and why.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct IngestCounters {
    received: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    alerts: AtomicU64,
    alert_updates: AtomicU64,
    connects: AtomicU64,
    retention_runs: AtomicU64,
    subscribed: std::sync::atomic::AtomicBool,
    leader: std::sync::atomic::AtomicBool,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    stored_by_kind: Mutex<BTreeMap<&'static str, u64>>,
    edges: Mutex<BTreeMap<(String, String), EdgeDelivery>>,
}

/// Delivery from one edge as the aggregator sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeDelivery {
    /// Events stored but not yet acknowledged to the edge (waiting for the next ack, or held
    /// behind a gap in its sequence).
    pub ack_lag: u64,
    /// Unacknowledged events in the edge's spool, as its last status said.
    pub spooled: u64,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestSnapshot {
    pub received: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Sightings that updated an open alert, and acknowledgements.
    pub alert_updates: u64,
    /// MQTT connections made (1 when the broker never went away).
    pub connects: u64,
    /// The broker has acknowledged the aggregator's subscriptions on the current connection.
    pub subscribed: bool,
    /// This aggregator holds the ingest lease (it processes the edges' events).
    pub leader: bool,
    /// Retention passes completed (one at start, then hourly).
    pub retention_runs: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    /// Events stored, by kind (`track_started`, `plate_read`, ...).
    pub stored_by_kind: BTreeMap<&'static str, u64>,
    /// Per `(site, edge)`.
    pub edges: BTreeMap<(String, String), EdgeDelivery>,
}

impl IngestSnapshot {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Messages fully handled (stored, duplicate or rejected).
    pub fn handled(&self) -> u64 {
        self.stored + self.duplicates + self.rejected_total()
    }
}

impl IngestCounters {
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn stored(&self, kind: &'static str) {
        self.stored.fetch_add(1, Ordering::Relaxed);
        *self.stored_by_kind.lock().unwrap_or_else(|p| p.into_inner()).entry(kind).or_default() += 1;
    }
    /// Each edge's ack lag now (edges not named keep theirs).
    pub(crate) fn set_ack_lag(&self, lags: Vec<(String, String, u64)>) {
        let mut edges = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        for (site, edge, lag) in lags {
            edges.entry((site, edge)).or_default().ack_lag = lag;
        }
    }
    pub(crate) fn edge_spooled(&self, site: &str, edge: &str, spooled: u64) {
        let mut edges = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        edges.entry((site.to_string(), edge.to_string())).or_default().spooled = spooled;
    }
    pub(crate) fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set_link(&self, connects: u64, subscribed: bool) {
        self.connects.store(connects, Ordering::Relaxed);
        self.subscribed.store(subscribed, Ordering::Relaxed);
    }
    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }
    pub(crate) fn alert(&self) {
        self.alerts.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn alert_update(&self) {
        self.alert_updates.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn retention_ran(&self) {
        self.retention_runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a rejection; true when it should be logged (the first 10 of a reason, then
    /// every 1000th), so a flood of garbage cannot flood the log.
    pub(crate) fn rejected(&self, reason: &'static str) -> bool {
        let mut map = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(reason).or_default();
        *n += 1;
        *n <= 10 || n.is_multiple_of(1000)
    }

    pub fn snapshot(&self) -> IngestSnapshot {
        IngestSnapshot {
            received: self.received.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            alerts: self.alerts.load(Ordering::Relaxed),
            alert_updates: self.alert_updates.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            subscribed: self.subscribed.load(Ordering::Relaxed),
            leader: self.leader.load(Ordering::Relaxed),
            retention_runs: self.retention_runs.load(Ordering::Relaxed),
            rejected: self.rejected.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            stored_by_kind: self.stored_by_kind.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            edges: self.edges.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
