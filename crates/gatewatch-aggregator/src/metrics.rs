//! The aggregator's Prometheus endpoint and health checks, on `[metrics] listen`:
//!
//! - `GET /metrics`: the ingest counters (received, stored and stored by kind, duplicates,
//!   refusals by reason, alerts raised and updated, MQTT connects), per edge the ack lag and the
//!   spool depth its status reports, the store commit latency, and from the store at scrape
//!   time alerts by rule and state, list size and each edge's last event;
//! - `GET /healthz`: 200 while the process serves requests (it is alive);
//! - `GET /readyz`: 200 when this aggregator holds the ingest lease, the broker holds its
//!   subscriptions and the database took a write just now; otherwise 503 saying which is not
//!   (a standby says so).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use gatewatch_store::Store;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::IngestCounters;

/// What the aggregator measures as it runs (beside [`IngestCounters`]).
#[derive(Clone)]
pub struct Timings {
    /// Seconds per event-batch commit (the store's latency as ingest sees it).
    pub commit: Histogram,
}

impl Default for Timings {
    fn default() -> Self {
        Self { commit: Histogram::new(exponential_buckets(0.001, 2.0, 14)) }
    }
}

#[derive(Clone)]
struct Shared {
    counters: Arc<IngestCounters>,
    timings: Timings,
    store: Store,
    process: String,
}

/// The endpoint's routes.
pub fn router(counters: Arc<IngestCounters>, timings: Timings, store: Store) -> Router {
    let process = format!("aggregator@{}", std::process::id());
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(Shared { counters, timings, store, process })
}

fn counter(registry: &mut Registry, name: &str, help: &str, n: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(n);
    registry.register(name, help, c);
}

type Labels = Vec<(&'static str, String)>;

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    let snap = s.counters.snapshot();
    let mut r = Registry::default();
    counter(&mut r, "gatewatch_events_received", "Event payloads received from the broker", snap.received);
    counter(&mut r, "gatewatch_events_stored", "Events stored (new)", snap.stored);
    counter(&mut r, "gatewatch_events_duplicate", "Events received again and not stored twice", snap.duplicates);
    let rejected = Family::<Labels, Counter>::default();
    for (reason, n) in &snap.rejected {
        rejected.get_or_create(&vec![("reason", reason.to_string())]).inc_by(*n);
    }
    r.register("gatewatch_payloads_rejected", "Payloads refused, by reason", rejected);
    let by_kind = Family::<Labels, Counter>::default();
    for (kind, n) in &snap.stored_by_kind {
        by_kind.get_or_create(&vec![("kind", kind.to_string())]).inc_by(*n);
    }
    r.register("gatewatch_events_stored_by_kind", "Events stored (new), by kind", by_kind);
    let (lag, spooled) = (Family::<Labels, Gauge>::default(), Family::<Labels, Gauge>::default());
    for ((site, edge), d) in &snap.edges {
        let labels = vec![("site", site.clone()), ("edge", edge.clone())];
        lag.get_or_create(&labels).set(i64::try_from(d.ack_lag).unwrap_or(i64::MAX));
        spooled.get_or_create(&labels).set(i64::try_from(d.spooled).unwrap_or(i64::MAX));
    }
    r.register(
        "gatewatch_edge_ack_lag_events",
        "Events stored but not yet acknowledged to the edge (waiting for the next ack or behind a gap)",
        lag,
    );
    r.register(
        "gatewatch_edge_spool_reported_events",
        "Unacknowledged events in the edge's spool, as its last status said",
        spooled,
    );
    counter(&mut r, "gatewatch_alerts_raised", "Alerts raised", snap.alerts);
    counter(&mut r, "gatewatch_alert_updates", "Sightings that updated an open alert", snap.alert_updates);
    counter(&mut r, "gatewatch_mqtt_connects", "Connections made to the broker", snap.connects);
    counter(&mut r, "gatewatch_retention_runs", "Retention passes completed", snap.retention_runs);
    let subscribed = Gauge::<i64>::default();
    subscribed.set(i64::from(snap.subscribed));
    r.register("gatewatch_mqtt_subscribed", "1 while the broker holds the subscriptions", subscribed);
    let leader = Gauge::<i64>::default();
    leader.set(i64::from(snap.leader));
    r.register("gatewatch_ingest_lease_held", "1 while this aggregator holds the ingest lease (0: standby)", leader);
    r.register("gatewatch_store_commit_seconds", "Seconds per event-batch commit", s.timings.commit.clone());
    match s.store.gauges().await {
        Ok(g) => {
            let alerts = Family::<Labels, Gauge>::default();
            for (rule, state, n) in g.alerts {
                alerts.get_or_create(&vec![("rule", rule), ("state", state)]).set(n);
            }
            r.register("gatewatch_alerts", "Stored alerts by rule and state", alerts);
            let lists = Gauge::<i64>::default();
            lists.set(g.list_entries);
            r.register("gatewatch_plate_list_entries", "Entries on the plate lists", lists);
            let seen = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            for (site, edge, at) in g.edges_last_seen {
                seen.get_or_create(&vec![("site", site), ("edge", edge)]).set(at.timestamp_millis() as f64 / 1000.0);
            }
            r.register(
                "gatewatch_edge_last_event_received_seconds",
                "When each edge's latest event arrived (Unix time)",
                seen,
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the store's figures are missing from this scrape"),
    }
    let mut text = String::new();
    if encode(&mut text, &r).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, [(CONTENT_TYPE, "text/plain")], String::new());
    }
    (StatusCode::OK, [(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

async fn ready(State(s): State<Shared>) -> impl IntoResponse {
    let snap = s.counters.snapshot();
    if !snap.leader {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: standby, another aggregator holds the ingest lease\n");
    }
    let subscribed = snap.subscribed;
    let writable = s.store.probe_write(&s.process, chrono::Utc::now()).await;
    match (subscribed, writable) {
        (true, true) => (StatusCode::OK, "ready\n"),
        (false, true) => (StatusCode::SERVICE_UNAVAILABLE, "not ready: the broker does not hold the subscriptions\n"),
        (true, false) => (StatusCode::SERVICE_UNAVAILABLE, "not ready: the database refused a write\n"),
        (false, false) => {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: no broker subscription, and the database refused a write\n")
        }
    }
}
