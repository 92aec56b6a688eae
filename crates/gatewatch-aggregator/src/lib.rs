//! The aggregator: subscribes to every gate's events and turns them into stored events and
//! alerts.
//!
//! ```text
//! ingest lease (database) ─ wait as a standby until held ─▶ connect, subscribe, replay rule state
//! MQTT gatewatch/v1/+/+/+/events ─▶ size limit ─▶ decode + schema check ─▶ topic check
//!   ─▶ duplicate? ─▶ rules (pure: signals about incidents) ─▶ one database transaction for
//!   what has arrived (events + alerts raised, updated or closed) ─▶ publish those on
//!   gatewatch/v1/{site}/alerts ─▶ (every 200 ms) cumulative ack per edge on
//!   gatewatch/v1/{site}/{edge}/ack
//! MQTT gatewatch/v1/+/+/status (retained) ─▶ edge online/offline, spool floor
//! alert_history (every second) ─▶ officers' acknowledgements and closes, published likewise
//! ```
//!
//! The per-edge ack says "everything of yours up to seq N is stored": the edge deletes those
//! from its spool. See `gatewatch_core::delivery`. Each ack is stored as the edge's watermark
//! before it is published, and every ingest transaction renews the lease or fails: several
//! aggregators may share a database and a broker, one ingests, the others stand by (see
//! `gatewatch_store::lease`). A lost lease ends [`Aggregator::run`] with [`LeaseLost`].
//!
//! A bad payload is counted by reason, logged (rate-limited) and kept in the `rejected` table
//! (whole for an edge's sequenced event, the first 4 KiB of anything else), so it can never
//! wedge the loop or cause a redelivery storm, and never disappears unseen. An event counts toward its edge's ack only
//! after its transaction committed; a busy or unreachable database is retried with backoff,
//! never skipped; an error no retry can fix (a missing table, a read-only file) stops ingest
//! with that error. A crash or stop before the commit loses nothing: the edge replays what was
//! not acked.

mod cameras;
mod counters;
pub mod metrics;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often changed per-edge acks are published.
const ACK_EVERY: Duration = Duration::from_millis(200);

/// Most messages committed in one transaction (what has arrived, up to this).
const MAX_BATCH: usize = 1000;

/// Bytes kept of a refused payload that names no edge of its topic (garbage, a stranger).
const KEEP_UNSEQUENCED: usize = 4096;

/// Plate list changes (`gatewatch lists`) reach the rules within this time (what changed is
/// read, not the whole list).
const LISTS_MAX_AGE: Duration = Duration::from_secs(10);

/// How often the erasures in force are read (a new one goes to the edges within this).
const ERASURES_EVERY: Duration = Duration::from_secs(2);

/// How long an erasure stays in force for the edges: longer than an edge keeps an
/// unacknowledged event by default (7 days).
const ERASURE_IN_FORCE: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// How often officers' actions (from the CLI or a desk, in the database) are looked for and
/// announced on the alerts topic.
const ACTIONS_EVERY: Duration = Duration::from_secs(1);
/// How often expired data is deleted (`[retention]`).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

use gatewatch_core::config::AggregatorConfig;
use gatewatch_core::delivery::{AckBook, EdgeStatus};
use gatewatch_core::event::EventBody;
use gatewatch_core::event::{Event, Reject};
use gatewatch_core::incident::{AlertMessage, Signal};
use gatewatch_core::registry::Registry;
use gatewatch_core::rules::RuleSet;
use gatewatch_core::topic;
use gatewatch_core::visits::{VisitChange, Visits};
use gatewatch_mqtt::client::Session;
use gatewatch_mqtt::{Message, MqttClient};
use gatewatch_store::{ListChange, RejectedPayload, Store};
use tokio::sync::{mpsc, watch};

pub use counters::{IngestCounters, IngestSnapshot};

pub struct Aggregator {
    cfg: AggregatorConfig,
    store: Store,
    rules: RuleSet,
    /// Entries and exits paired into visits, with their alerts.
    visits: Visits,
    /// Plate lists from the store, loaded whole once, then brought up to date with what
    /// changed when older than `LISTS_MAX_AGE` at a plate read.
    lists: Registry,
    /// The list version `lists` is at, and when it was last brought up to date.
    lists_version: Option<(i64, Instant)>,
    /// Erasures by plate in force: applied to every arriving event; their ids, as published.
    eraser: gatewatch_core::erasure::Eraser,
    erasures: Option<Vec<String>>,
    counters: Arc<IngestCounters>,
    on_alert: Option<mpsc::UnboundedSender<AlertMessage>>,
    acks: AckBook,
    /// The last officer action announced (an `alert_history` id).
    actions_cursor: i64,
    /// Which cameras each edge has online, for when an edge vanishes.
    cameras: cameras::CameraBook,
    /// Latencies for the metrics endpoint.
    timings: metrics::Timings,
    /// New rules to apply while running (`gatewatch aggregator` sends them on SIGHUP).
    rules_updates: Option<watch::Receiver<gatewatch_core::rules::RulesConfig>>,
}

impl Aggregator {
    pub async fn new(cfg: AggregatorConfig) -> anyhow::Result<Self> {
        let rules = RuleSet::new(&cfg.rules).map_err(|e| anyhow::anyhow!("rules: {}", e.join("; ")))?;
        let visits = Visits::new(&cfg.rules).map_err(|e| anyhow::anyhow!("rules: {}", e.join("; ")))?;
        let store = Store::open(&cfg.database.url).await?;
        Ok(Self {
            cfg,
            store,
            rules,
            visits,
            lists: Registry::default(),
            lists_version: None,
            eraser: Default::default(),
            erasures: None,
            counters: Arc::new(IngestCounters::default()),
            on_alert: None,
            acks: AckBook::default(),
            actions_cursor: 0,
            cameras: cameras::CameraBook::default(),
            timings: metrics::Timings::default(),
            rules_updates: None,
        })
    }

    /// Apply every rules configuration sent on `rx` while running (already validated, as by
    /// `AggregatorConfig::from_toml`); the rules' state is rebuilt from the stored events.
    pub fn with_rules_updates(mut self, rx: watch::Receiver<gatewatch_core::rules::RulesConfig>) -> Self {
        self.rules_updates = Some(rx);
        self
    }

    /// Also hand every alert message (raised, updated, closed) to `tx` (the demo prints them live).
    pub fn with_alert_channel(mut self, tx: mpsc::UnboundedSender<AlertMessage>) -> Self {
        self.on_alert = Some(tx);
        self
    }

    pub fn counters(&self) -> Arc<IngestCounters> {
        self.counters.clone()
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Ingest until `stop` turns true. Returns an error when the store fails in a way that
    /// retrying cannot fix (a missing table, a read-only file, a refused permission): ingest
    /// stops, nothing uncommitted is acknowledged, and the edges keep those events.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<IngestSnapshot> {
        let metrics = match &self.cfg.metrics.listen {
            Some(addr) => {
                let listener = anyhow::Context::with_context(tokio::net::TcpListener::bind(addr).await, || {
                    format!("metrics on {addr}")
                })?;
                tracing::info!(addr = %addr, "metrics on /metrics, health on /healthz and /readyz");
                let app = metrics::router(self.counters.clone(), self.timings.clone(), self.store.clone());
                let mut stop = stop.clone();
                Some(tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop.wait_for(|s| *s).await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::warn!(error = %e, "metrics endpoint stopped");
                    }
                }))
            }
            None => None,
        };
        let lease = match self.wait_for_lease(&mut stop).await {
            Ok(Some(lease)) => lease,
            other => {
                if let Some(m) = metrics {
                    m.abort();
                }
                return other.map(|_| self.counters.snapshot());
            }
        };
        let lease_ttl = Duration::from_millis(lease.ttl_ms as u64);
        let renew_every = lease_ttl / 5;
        self.store = self.store.fenced(lease);
        self.counters.set_leader(true);
        let session = Session {
            subscribe: vec![topic::EVENTS_FILTER.into(), topic::STATUS_FILTER.into(), topic::ERASED_FILTER.into()],
            persistent: true,
            last_will: None,
        };
        // Every aggregator of a centre uses the same client id: the broker keeps one session
        // (subscriptions and the QoS 1 messages queued while nobody held the lease), and the
        // lease holder resumes it.
        let mut mqtt = MqttClient::connect(&self.cfg.mqtt, "gatewatch-aggregator", session)?;
        tracing::info!(filter = topic::EVENTS_FILTER, "aggregator subscribed");
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_acks = Instant::now();
        let mut last_erasures = Instant::now();
        let mut last_actions = Instant::now();
        // Retention runs at start and then hourly, beside ingest (never two at once).
        let mut retention: Option<tokio::task::JoinHandle<()>> = None;
        let mut last_retention: Option<Instant> = None;
        let mut halt = stop.clone();
        let mut renewed = Instant::now();
        let mut last_renew = Instant::now();
        let mut ended = self.restore_watermarks(&mut halt).await.err();
        if ended.is_none() {
            ended = self.refresh_erasures(&mqtt, &mut halt).await.err();
        }
        if ended.is_none() {
            ended = self.restore_rules(&mqtt, &mut halt, true).await.err();
        }
        let mut rules_updates = self.rules_updates.take();
        if ended.is_none() {
            let store = self.store.clone();
            match retry("alert history", &mut halt, || store.alert_history_cursor()).await {
                Ok(cursor) => self.actions_cursor = cursor,
                Err(e) => ended = Some(e),
            }
        }
        while ended.is_none() {
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() { break; }
                }
                Some(rules) = next_rules(&mut rules_updates) => {
                    ended = self.reload_rules(rules, &mqtt, &mut halt).await.err();
                }
                msg = mqtt.recv() => {
                    let Some(msg) = msg else { break };
                    // Whatever else has arrived goes into the same transaction.
                    let mut batch = vec![msg];
                    while batch.len() < MAX_BATCH {
                        let Some(more) = mqtt.try_recv() else { break };
                        batch.push(more);
                    }
                    ended = self.handle(&mqtt, batch, &mut halt).await.err();
                }
                _ = tick.tick() => {
                    self.counters.set_link(mqtt.connects(), mqtt.is_subscribed());
                    if last_renew.elapsed() >= renew_every {
                        last_renew = Instant::now();
                        ended = self.renew_lease(renew_every, lease_ttl, &mut renewed).await.err();
                        if ended.is_some() { break; }
                    }
                    if last_acks.elapsed() >= ACK_EVERY {
                        last_acks = Instant::now();
                        ended = self.publish_acks(&mqtt).await.err();
                        self.counters.set_ack_lag(self.acks.lag());
                        if ended.is_some() { break; }
                    }
                    let idle = retention.as_ref().is_none_or(|t| t.is_finished());
                    if idle && last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                        last_retention = Some(Instant::now());
                        retention = Some(self.spawn_retention());
                    }
                    if last_actions.elapsed() >= ACTIONS_EVERY {
                        last_actions = Instant::now();
                        self.announce_officer_actions(&mqtt).await;
                        ended = self.on_clock(&mqtt, &mut halt).await.err();
                    }
                    if ended.is_none() && last_erasures.elapsed() >= ERASURES_EVERY {
                        last_erasures = Instant::now();
                        ended = self.refresh_erasures(&mqtt, &mut halt).await.err();
                    }
                }
            }
        }
        if let Some(t) = retention {
            t.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        let lost = matches!(&ended, Some(Halt::Fatal(e)) if e.is::<LeaseLost>());
        if !lost {
            let _ = self.publish_acks(&mqtt).await;
        }
        if let Err(e) = mqtt.flush(Duration::from_secs(5)).await {
            tracing::warn!(error = %e, "alerts not acknowledged by the broker at shutdown");
        }
        mqtt.disconnect().await;
        if !lost {
            match self.store.release_lease().await {
                Ok(()) => tracing::info!("ingest lease released"),
                Err(e) => tracing::warn!(error = %e, "ingest lease not released; it runs out by itself"),
            }
        }
        self.counters.set_leader(false);
        match ended {
            Some(Halt::Fatal(e)) => Err(e),
            _ => Ok(self.counters.snapshot()),
        }
    }

    /// Delete what is past its age (`[retention]`), beside ingest: plate reads of listed
    /// vehicles are kept as the lists in the store are now (read afresh: the aggregator's own
    /// copy is loaded only at its first plate read).
    fn spawn_retention(&self) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let max_distance = self.rules.max_distance();
        let cutoffs = self.cfg.retention.cutoffs(chrono::Utc::now());
        let counters = self.counters.clone();
        tokio::spawn(async move {
            let lists = match store.list_entries().await {
                Ok(entries) => Registry::new(entries, max_distance),
                Err(e) => {
                    tracing::warn!(error = %e, "retention: lists not readable; tried again in an hour");
                    return;
                }
            };
            let on_a_list = |reads: &[&str]| !lists.entries_for(reads).is_empty();
            match store.enforce_retention(&cutoffs, on_a_list).await {
                Ok(x) => {
                    counters.retention_ran();
                    if x != gatewatch_store::Expired::default() {
                        tracing::info!(
                            routine = x.routine,
                            events = x.events,
                            plate_reads = x.plate_reads,
                            visits = x.visits,
                            snapshots = x.snapshots,
                            alerts = x.alerts,
                            audit = x.audit,
                            rejected = x.rejected,
                            "retention: expired data deleted"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention failed; tried again in an hour"),
            }
        })
    }

    /// Cumulative acks to every edge whose stored prefix grew, each stored as that edge's
    /// watermark first (so a successor acks from there). Fails only when the lease is lost.
    async fn publish_acks(&mut self, mqtt: &MqttClient) -> Result<(), Halt> {
        if !mqtt.is_connected() {
            return Ok(());
        }
        let due = self.acks.due();
        if due.is_empty() {
            return Ok(());
        }
        let marks: Vec<(String, String, u64)> = due.iter().map(|(s, e, a)| (s.clone(), e.clone(), a.seq)).collect();
        match self.store.save_watermarks(&marks).await {
            Ok(()) => {}
            Err(e @ gatewatch_store::StoreError::LeaseLost { .. }) => return Err(lease_lost(&e)),
            // The events are stored: the ack goes out; the stored watermark catches up later.
            Err(e) => tracing::warn!(error = %e, "ack watermarks not stored; acks sent anyway"),
        }
        for (site, edge, ack) in due {
            let payload = serde_json::to_vec(&ack).expect("acks serialise");
            if let Err(e) = mqtt.publish(topic::ack_topic(&site, &edge), payload).await {
                tracing::warn!(site, edge, seq = ack.seq, error = %e, "ack not published");
            }
        }
        Ok(())
    }

    /// Wait, as a standby, until this aggregator holds the ingest lease; `None` when asked to
    /// stop first.
    async fn wait_for_lease(&self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<Option<gatewatch_store::Lease>> {
        let node = self.cfg.ingest.node.clone().unwrap_or_else(host_name);
        // Unique per process: a restarted aggregator waits out its own dead predecessor.
        let id = uuid::Uuid::now_v7().simple().to_string();
        let holder = format!("{node}/{}", &id[id.len() - 8..]);
        let ttl_ms = (self.cfg.ingest.lease_s * 1000.0) as i64;
        let every = Duration::from_millis((ttl_ms / 5).clamp(200, 1000) as u64);
        let waiting = Instant::now();
        let mut said = false;
        let mut failures = 0u32;
        loop {
            match self.store.acquire_lease(&holder, ttl_ms).await {
                Ok(Some(lease)) => {
                    tracing::info!(holder = %lease.holder, epoch = lease.epoch, waited_ms = waiting.elapsed().as_millis() as u64,
                        "ingest lease taken: this aggregator processes the edges' events");
                    return Ok(Some(lease));
                }
                Ok(None) if !said => {
                    said = true;
                    let now = self.store.lease_state().await.ok().flatten();
                    tracing::info!(holder = %holder, active = ?now.map(|l| l.holder),
                        "standby: another aggregator holds the ingest lease; taking over when it stops or dies");
                }
                Ok(None) => {}
                Err(e) if e.is_transient() => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(60) {
                        tracing::warn!(failures, error = %e, "ingest lease not readable; retrying");
                    }
                }
                Err(e) => return Err(anyhow::anyhow!("ingest lease: {e}")),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped(stop) => return Ok(None),
            }
        }
    }

    /// Renew the lease (every fifth of its TTL). A lease another holder has now ends ingest;
    /// so does one not renewed for most of its TTL (the database out of reach): by then a
    /// standby may take it, and this one must stop delivering acks and alerts.
    async fn renew_lease(&self, limit: Duration, ttl: Duration, renewed: &mut Instant) -> Result<(), Halt> {
        match tokio::time::timeout(limit, self.store.renew_lease()).await {
            Ok(Ok(())) => *renewed = Instant::now(),
            Ok(Err(e @ gatewatch_store::StoreError::LeaseLost { .. })) => return Err(lease_lost(&e)),
            Ok(Err(e)) => tracing::warn!(error = %e, "ingest lease not renewed; retrying"),
            Err(_) => tracing::warn!(limit_ms = limit.as_millis() as u64, "ingest lease renewal timed out; retrying"),
        }
        if renewed.elapsed() >= ttl * 4 / 5 {
            let e = LeaseLost(format!("the ingest lease was not renewed for {} ms", renewed.elapsed().as_millis()));
            tracing::error!(error = %e, "ingest stops: another aggregator may hold the lease now");
            return Err(Halt::Fatal(e.into()));
        }
        Ok(())
    }

    /// Start acking every edge from its stored watermark (where the last holder was).
    async fn restore_watermarks(&mut self, halt: &mut Halting) -> Result<(), Halt> {
        let store = self.store.clone();
        let marks = retry("ack watermarks", halt, || store.watermarks()).await?;
        for (site, edge, done) in &marks {
            self.acks.floor(site, edge, done.saturating_add(1));
        }
        tracing::debug!(edges = marks.len(), "ack watermarks restored");
        Ok(())
    }

    /// Read the erasures in force; when they changed, tell the edges (retained) and apply them
    /// to arrivals. A new one after the first read also rebuilds the rules' state and reloads
    /// the lists whole: the database no longer holds what the erasure took.
    async fn refresh_erasures(&mut self, mqtt: &MqttClient, halt: &mut Halting) -> Result<(), Halt> {
        use gatewatch_core::erasure::{InForce, MAX_IN_FORCE};
        let store = self.store.clone();
        let since = chrono::Utc::now() - ERASURE_IN_FORCE;
        let list = retry("erasures", halt, || store.erasures_since(since, MAX_IN_FORCE as i64)).await?;
        let ids: Vec<String> = list.iter().map(|e| e.id.clone()).collect();
        let first = self.erasures.is_none();
        if self.erasures.as_ref() == Some(&ids) {
            return Ok(());
        }
        let payload = serde_json::to_vec(&InForce { erasures: list.clone() }).expect("erasures serialise");
        if let Err(e) = mqtt.publish_retained(topic::ERASURES_TOPIC.to_string(), payload).await {
            // Not marked as published: tried again at the next read.
            tracing::warn!(error = %e, "erasures not published to the edges; again in 2 s");
            self.eraser.set(&list);
            return Ok(());
        }
        let new = ids.iter().filter(|id| !self.erasures.as_ref().is_some_and(|old| old.contains(id))).count();
        self.eraser.set(&list);
        self.erasures = Some(ids);
        tracing::info!(in_force = list.len(), new, "erasures by plate sent to the edges");
        if !first && new > 0 {
            self.reload_rules(self.cfg.rules.clone(), mqtt, halt).await?;
        }
        Ok(())
    }

    /// An edge says it has carried out erasures on its spool.
    async fn on_erased(&mut self, site: &str, edge: &str, msg: &Message, halt: &mut Halting) -> Result<(), Halt> {
        use gatewatch_core::erasure::{Done, MAX_IN_FORCE};
        match serde_json::from_slice::<Done>(&msg.payload) {
            Ok(done) if done.ids.len() <= MAX_IN_FORCE && done.ids.iter().all(|id| id.len() <= 64) => {
                let store = self.store.clone();
                let now = chrono::Utc::now();
                retry("erasure acknowledgement", halt, || store.erasure_acked(&done.ids, site, edge, done.events, now))
                    .await?;
                tracing::info!(
                    site,
                    edge,
                    erasures = done.ids.len(),
                    events = done.events,
                    "edge carried out erasures"
                );
            }
            _ => {
                if self.counters.rejected("malformed") {
                    tracing::warn!(topic = %msg.topic, bytes = msg.payload.len(), "erasure acknowledgement rejected");
                }
            }
        }
        Ok(())
    }

    /// An edge's retained status. Returns the `camera_offline` events to record for an edge that
    /// vanished (its last will), one per camera it had online.
    fn on_status(&mut self, site: &str, edge: &str, msg: &Message) -> Vec<Event> {
        match serde_json::from_slice::<EdgeStatus>(&msg.payload) {
            Ok(EdgeStatus { online, floor, spooled, dropped }) => {
                let mut vanished = Vec::new();
                match (online, floor) {
                    (true, _) => tracing::debug!(site, edge, ?floor, spooled, dropped, "edge status"),
                    (false, Some(_)) => tracing::info!(site, edge, spooled, dropped, "edge stopped"),
                    (false, None) => {
                        vanished = self.cameras.vanished(site, edge, chrono::Utc::now());
                        tracing::warn!(site, edge, cameras = vanished.len(), "edge offline (last will)");
                    }
                }
                if let Some(floor) = floor {
                    self.acks.floor(site, edge, floor);
                }
                self.counters.edge_spooled(site, edge, spooled);
                vanished
            }
            Err(e) => {
                if self.counters.rejected("malformed") {
                    tracing::warn!(topic = %msg.topic, error = %gatewatch_core::event::without_quoted(&e.to_string()), "status payload rejected");
                }
                Vec::new()
            }
        }
    }

    /// Store events the aggregator records itself (`seq` 0, never acknowledged to an edge)
    /// through the rules, and announce what they raise.
    async fn record(&mut self, mqtt: &MqttClient, events: &[Event], halt: &mut Halting) -> Result<(), Halt> {
        let signals: Vec<Vec<Signal>> = events.iter().map(|e| self.rules.on_event(e, &self.lists)).collect();
        let batch: Vec<(&Event, &[Signal])> = events.iter().zip(&signals).map(|(e, s)| (e, s.as_slice())).collect();
        let store = self.store.clone();
        for (_, messages) in retry("recorded events", halt, || store.commit_batch(&batch)).await? {
            for msg in messages {
                self.announce(mqtt, msg).await;
            }
        }
        Ok(())
    }

    async fn handle(&mut self, mqtt: &MqttClient, batch: Vec<Message>, halt: &mut Halting) -> Result<(), Halt> {
        let mut events = Vec::with_capacity(batch.len());
        let mut rejects = Vec::new();
        let mut recorded = Vec::new();
        for msg in &batch {
            if let Some((site, edge)) = topic::parse_status_topic(&msg.topic) {
                recorded.extend(self.on_status(site, edge, msg));
                continue;
            }
            if let Some((site, edge)) = topic::parse_erased_topic(&msg.topic) {
                self.on_erased(site, edge, msg, halt).await?;
                continue;
            }
            self.counters.received();
            match self.decode(msg) {
                Ok(mut ev) => {
                    // Captured before an erasure of its plate (an edge that was offline when
                    // asked): stored erased.
                    if self.eraser.apply(&mut ev) {
                        tracing::info!(event_id = %ev.event_id, "arriving event erased by plate");
                    }
                    events.push(ev)
                }
                Err(reject) => {
                    if self.counters.rejected(reject.as_str()) {
                        tracing::warn!(topic = %msg.topic, reason = reject.as_str(), detail = %reject.for_log(), "payload rejected");
                    }
                    rejects.push(self.kept(msg, &reject));
                }
            }
        }
        if !events.is_empty() {
            self.store_events(mqtt, &events, halt).await?;
        }
        if !recorded.is_empty() {
            self.record(mqtt, &recorded, halt).await?;
        }
        if !rejects.is_empty() {
            let store = self.store.clone();
            retry("rejected payloads", halt, || store.store_rejected(&rejects)).await?;
            // A sequenced event from the edge its topic names would be refused again if
            // replayed: now that it is kept, it counts as settled so the edge's ack moves on.
            for (site, edge, seq) in rejects.iter().filter_map(|r| r.origin.as_ref()) {
                self.acks.settle(site, edge, *seq);
            }
        }
        Ok(())
    }

    /// What is kept of a refused payload: all of a sequenced event from the edge its topic
    /// names (up to the size limit), the first `KEEP_UNSEQUENCED` bytes of anything else.
    fn kept(&self, msg: &Message, reject: &Reject) -> RejectedPayload {
        let origin = sequenced(msg);
        let keep = if origin.is_some() { self.cfg.ingest.max_payload_bytes } else { KEEP_UNSEQUENCED };
        RejectedPayload {
            received_at: chrono::Utc::now(),
            topic: msg.topic.clone(),
            reason: reject.as_str().into(),
            detail: reject.to_string(),
            origin,
            payload: msg.payload[..msg.payload.len().min(keep)].to_vec(),
            payload_bytes: msg.payload.len() as u64,
        }
    }

    /// Announce what officers did since the last look (acknowledged: `updated`; resolved or
    /// false alarm: `closed`). A failing database only delays this: ingest's retries handle it.
    async fn announce_officer_actions(&mut self, mqtt: &MqttClient) {
        match self.store.officer_actions_since(self.actions_cursor).await {
            Ok((cursor, messages)) => {
                self.actions_cursor = cursor;
                for msg in messages {
                    self.announce(mqtt, msg).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "officer actions not read; next time"),
        }
    }

    /// What time alone makes true (a camera offline too long): committed and announced like
    /// any other signal, with the stored event each is about.
    async fn on_clock(&mut self, mqtt: &MqttClient, halt: &mut Halting) -> Result<(), Halt> {
        let now = chrono::Utc::now();
        let mut due = self.rules.on_clock(now);
        if self.visits.has_clock_rules() {
            // Whether a vehicle inside is known depends on the lists as they are now.
            self.refresh_lists(halt).await?;
            due.extend(self.visits.on_clock(now, &self.lists));
        }
        if due.is_empty() {
            return Ok(());
        }
        let batch: Vec<(&Event, &[Signal])> = due.iter().map(|(ev, s)| (ev, std::slice::from_ref(s))).collect();
        let store = self.store.clone();
        for (_, messages) in retry("clock alerts", halt, || store.commit_batch(&batch)).await? {
            for msg in messages {
                self.announce(mqtt, msg).await;
            }
        }
        Ok(())
    }

    /// Store decoded events with their alerts, settle their acks, publish the new alerts.
    async fn store_events(&mut self, mqtt: &MqttClient, events: &[Event], halt: &mut Halting) -> Result<(), Halt> {
        let settled = self.commit(events, halt).await?;
        for (ev, new_alerts) in events.iter().zip(settled) {
            self.acks.settle(&ev.site, &ev.edge, ev.seq);
            let Some(new_alerts) = new_alerts else {
                self.counters.duplicate();
                tracing::debug!(event_id = %ev.event_id, "duplicate event");
                continue;
            };
            self.counters.stored(ev.body.kind());
            for msg in new_alerts {
                self.announce(mqtt, msg).await;
            }
        }
        Ok(())
    }

    fn decode(&self, msg: &Message) -> Result<Event, Reject> {
        let ev = Event::decode(&msg.payload, self.cfg.ingest.max_payload_bytes)?;
        let Some((site, edge, camera)) = topic::parse_events_topic(&msg.topic) else {
            return Err(Reject::TopicMismatch {
                topic: msg.topic.chars().take(200).collect(),
                event: "an events topic".into(),
            });
        };
        if (site, edge, camera) != (ev.site.as_str(), ev.edge.as_str(), ev.camera.as_str()) {
            return Err(Reject::TopicMismatch {
                topic: msg.topic.clone(),
                event: format!("{}/{}/{}", ev.site, ev.edge, ev.camera),
            });
        }
        Ok(ev)
    }

    /// Store the events (and their alerts) in one transaction, skipping duplicates; returns,
    /// per event, its new alerts or `None` for a duplicate. The rules see each new event
    /// once, in arrival order, before the write; a busy database is retried with the same
    /// alerts until the write lands, the aggregator is stopped, or the store fails for good.
    async fn commit(&mut self, events: &[Event], halt: &mut Halting) -> Result<Vec<Option<Vec<AlertMessage>>>, Halt> {
        let store = self.store.clone();
        let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
        let stored = retry("duplicate lookup", halt, || store.existing(&ids)).await?;
        let mut seen = HashSet::new();
        let fresh: Vec<bool> =
            events.iter().map(|e| !stored.contains(&e.event_id) && seen.insert(e.event_id)).collect();
        let plates = events.iter().zip(&fresh).any(|(e, f)| *f && matches!(e.body, EventBody::PlateRead(_)));
        if plates {
            self.refresh_lists(halt).await?;
        }
        let found: Vec<(Vec<Signal>, Vec<VisitChange>)> = events
            .iter()
            .zip(&fresh)
            .map(|(e, f)| {
                if !*f {
                    return (Vec::new(), Vec::new());
                }
                let mut signals = self.rules.on_event(e, &self.lists);
                let (visits, visit_signals) = self.visits.on_event(e);
                signals.extend(visit_signals);
                (signals, visits)
            })
            .collect();
        for e in events.iter().zip(&fresh).filter(|(_, f)| **f).map(|(e, _)| e) {
            self.cameras.on_event(e);
        }
        let batch: Vec<(&Event, &[Signal], &[VisitChange])> = events
            .iter()
            .zip(&found)
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|((e, (s, v)), _)| (e, s.as_slice(), v.as_slice()))
            .collect();
        let started = Instant::now();
        let mut written = retry("event batch", halt, || store.commit_arrivals(&batch)).await?.into_iter();
        self.timings.commit.observe(started.elapsed().as_secs_f64());
        Ok(fresh
            .iter()
            .map(|f| match f.then(|| written.next()).flatten() {
                Some((true, new_alerts)) => Some(new_alerts),
                _ => None,
            })
            .collect())
    }
}

/// What the visits replay besides: which tracks crossed a gate line with which plate.
const VISIT_KINDS: [&str; 2] = ["line_crossed", "plate_read"];

/// How far back the rules' state is rebuilt at start: a presence older than this is
/// forgotten by the rules anyway.
const RESTORE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The event kinds that carry the rules' state (who is in which zone, which camera is down,
/// which vehicle is parked where).
const STATEFUL_KINDS: [&str; 7] = [
    "zone_entered",
    "zone_left",
    "track_ended",
    "camera_offline",
    "camera_online",
    "stationary_started",
    "stationary_ended",
];

impl Aggregator {
    /// Rebuild the rules' state from the zone events stored in the last `RESTORE_WINDOW`, in
    /// capture order, so a loiterer present across a restart is alerted on time, once. What
    /// the replay signals is committed like any other signal: an incident already stored is
    /// not raised again, and a sighting counts once per event, so only what came true while
    /// the aggregator was down is raised (and published).
    ///
    /// `raise: false` (a reload): the replay only rebuilds the state; what it signals happened
    /// before, under the old rules, and is not raised now.
    async fn restore_rules(&mut self, mqtt: &MqttClient, halt: &mut Halting, raise: bool) -> Result<(), Halt> {
        let store = self.store.clone();
        let since = chrono::Utc::now() - RESTORE_WINDOW;
        let (open, exits, applied) = retry("visits", halt, || store.visits_to_restore(since)).await?;
        let inside = open.len();
        self.visits.restore(open, exits, applied);
        let kinds: Vec<&str> = STATEFUL_KINDS.iter().chain(&VISIT_KINDS).copied().collect();
        let events = retry("rule state", halt, || store.events_since(since, &kinds)).await?;
        let no_lists = Registry::default();
        let found: Vec<(&Event, Vec<Signal>, Vec<VisitChange>)> = events
            .iter()
            .map(|ev| {
                // Plate reads replay only into the visits: the lists they were judged against
                // are not these (and their alerts are stored already).
                let mut signals =
                    if STATEFUL_KINDS.contains(&ev.body.kind()) { self.rules.on_event(ev, &no_lists) } else { vec![] };
                let (visits, visit_signals) = self.visits.on_event(ev);
                signals.extend(visit_signals);
                self.cameras.on_event(ev);
                (ev, signals, visits)
            })
            .filter(|(_, signals, visits)| !signals.is_empty() || !visits.is_empty())
            .collect();
        self.visits.replayed();
        if !raise {
            tracing::info!(replayed = events.len(), vehicles_inside = inside, "rule state rebuilt for the new rules");
            return Ok(());
        }
        // A replay raises what came true while the aggregator was down and ends what ended; an
        // incident already stored was seen then, by the events seen then: no sighting again.
        let keys: Vec<String> = found
            .iter()
            .flat_map(|(_, s, _)| s.iter())
            .filter(|s| matches!(s, Signal::Seen(_)))
            .map(|s| s.key().to_string())
            .collect();
        let stored = retry("stored incidents", halt, || store.alert_keys_stored(&keys)).await?;
        let found: Vec<(&Event, Vec<Signal>, Vec<VisitChange>)> = found
            .into_iter()
            .map(|(ev, signals, visits)| {
                let signals = signals
                    .into_iter()
                    .filter(|s| !(matches!(s, Signal::Seen(_)) && stored.contains(s.key())))
                    .collect();
                (ev, signals, visits)
            })
            .collect();
        let batch: Vec<(&Event, &[Signal], &[VisitChange])> =
            found.iter().map(|(ev, s, v)| (*ev, s.as_slice(), v.as_slice())).collect();
        let written = retry("replayed alerts", halt, || store.commit_arrivals(&batch)).await?;
        let mut new = 0;
        for (_, messages) in written {
            for msg in messages {
                new += 1;
                self.announce(mqtt, msg).await;
            }
        }
        tracing::info!(
            replayed = events.len(),
            alert_changes = new,
            vehicles_inside = inside,
            "rule state rebuilt from stored zone, camera, parking and gate events"
        );
        Ok(())
    }

    /// New rules (SIGHUP): built, then their state rebuilt from the stored events as at a
    /// start. Rules that do not build (they were validated before, so this is a bug) leave the
    /// old ones running.
    async fn reload_rules(
        &mut self,
        rules: gatewatch_core::rules::RulesConfig,
        mqtt: &MqttClient,
        halt: &mut Halting,
    ) -> Result<(), Halt> {
        let built = RuleSet::new(&rules).and_then(|r| Visits::new(&rules).map(|v| (r, v)));
        match built {
            Ok((set, visits)) => {
                self.rules = set;
                self.visits = visits;
                self.cameras = cameras::CameraBook::default();
                // The lists' fuzzy index is built for the rules' `max_distance`: whole again.
                self.lists_version = None;
                self.cfg.rules = rules;
                self.restore_rules(mqtt, halt, false).await?;
                tracing::info!("rules reloaded");
            }
            Err(e) => tracing::error!(errors = %e.join("; "), "new rules refused; the running ones stay"),
        }
        Ok(())
    }

    /// Count, log and publish what happened to a (stored) alert.
    async fn announce(&self, mqtt: &MqttClient, msg: AlertMessage) {
        let (alert, status) = (msg.alert(), msg.status());
        match &msg {
            AlertMessage::Raised { .. } => {
                self.counters.alert();
                // A plate alert's message names the list entry (its label is personal data):
                // INFO says which alert, DEBUG (marked) what it says.
                if alert.plate.is_none() && alert.matched.is_none() {
                    tracing::info!(alert_id = %alert.alert_id, rule = %alert.rule, kind = alert.kind.as_str(),
                        site = %alert.site, edge = %alert.edge, camera = %alert.camera, track = ?alert.track,
                        "alert: {}", alert.message);
                } else {
                    tracing::info!(alert_id = %alert.alert_id, rule = %alert.rule, kind = alert.kind.as_str(),
                        site = %alert.site, edge = %alert.edge, camera = %alert.camera, track = ?alert.track,
                        "alert raised (plate alert: its plate and list entry are on the desk)");
                    tracing::debug!(alert_id = %alert.alert_id, personal_data = true, plate = ?alert.plate,
                        "alert: {}", alert.message);
                }
            }
            AlertMessage::Updated { change, .. } => {
                self.counters.alert_update();
                tracing::debug!(alert_id = %alert.alert_id, sightings = status.sightings, state = status.state.as_str(),
                    by = ?change.as_ref().and_then(|c| c.by.as_deref()), "alert updated");
            }
            AlertMessage::Closed { change, .. } => {
                tracing::info!(alert_id = %alert.alert_id, rule = %alert.rule, state = status.state.as_str(),
                    action = %change.action, "alert closed");
            }
        }
        let payload = serde_json::to_vec(&msg).expect("alert messages serialise");
        if let Err(e) = mqtt.publish(topic::alerts_topic(&alert.site), payload).await {
            tracing::error!(alert_id = %alert.alert_id, error = %e, "alert message not published (it is stored)");
        }
        if let Some(tx) = &self.on_alert {
            let _ = tx.send(msg);
        }
    }

    /// Load the plate lists whole the first time; later, when they are older than
    /// `LISTS_MAX_AGE`, apply only what changed since (a city's list has 10^5 entries).
    async fn refresh_lists(&mut self, halt: &mut Halting) -> Result<(), Halt> {
        let store = self.store.clone();
        match self.lists_version {
            None => {
                let (version, entries) = retry("plate lists", halt, || store.list_snapshot()).await?;
                self.lists = Registry::new(entries, self.rules.max_distance());
                self.lists_version = Some((version, Instant::now()));
                tracing::info!(entries = self.lists.len(), version, "plate lists loaded");
            }
            Some((version, at)) if at.elapsed() > LISTS_MAX_AGE => {
                let (now, changes) = retry("plate list changes", halt, || store.list_changes(version)).await?;
                for change in &changes {
                    match change {
                        ListChange::Put(e) => self.lists.put(e.clone()),
                        ListChange::Removed(kind, plate) => {
                            self.lists.remove(*kind, plate);
                        }
                    }
                }
                if !changes.is_empty() {
                    tracing::info!(
                        changes = changes.len(),
                        entries = self.lists.len(),
                        version = now,
                        "plate lists updated"
                    );
                }
                self.lists_version = Some((now, Instant::now()));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// Ingest ended because another aggregator holds the ingest lease now (or this one could not
/// renew it in time). Nothing past the last commit was acknowledged; the process may start
/// again as a standby.
#[derive(Debug)]
pub struct LeaseLost(pub String);

impl std::fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ingest stopped: {}", self.0)
    }
}

impl std::error::Error for LeaseLost {}

fn lease_lost(e: &gatewatch_store::StoreError) -> Halt {
    tracing::warn!(error = %e, "ingest stops: the lease was taken over");
    Halt::Fatal(LeaseLost(e.to_string()).into())
}

/// The next rules sent on `rx`; never, when there is no sender (or none any more).
async fn next_rules(
    rx: &mut Option<watch::Receiver<gatewatch_core::rules::RulesConfig>>,
) -> Option<gatewatch_core::rules::RulesConfig> {
    let open = match rx.as_mut() {
        Some(r) => r.changed().await.is_ok(),
        None => false,
    };
    if open {
        return rx.as_mut().map(|r| r.borrow_and_update().clone());
    }
    *rx = None;
    std::future::pending().await
}

/// This host's name (for the lease holder and logs).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "aggregator".into())
}

/// The stop signal, as seen from inside a store retry.
type Halting = watch::Receiver<bool>;

/// Why a batch was not stored.
enum Halt {
    /// The aggregator was asked to stop while the store was failing.
    Stopped,
    /// The store failed in a way no retry can fix.
    Fatal(anyhow::Error),
}

/// Resolves once a stop is asked for (or nobody can ask any more).
async fn stopped(halt: &mut Halting) {
    let _ = halt.wait_for(|stop| *stop).await;
}

/// Run a store operation; retry it, backing off from 50 ms to 5 s, while it fails transiently
/// (a locked or unreachable database delays ingest: the broker and the edges' spools hold the
/// events meanwhile). A stop ends the waiting; an error retrying cannot fix ends ingest.
async fn retry<T, F, Fut>(what: &str, halt: &mut Halting, mut op: F) -> Result<T, Halt>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, gatewatch_store::StoreError>>,
{
    let mut backoff = Duration::from_millis(50);
    let mut failures = 0u32;
    loop {
        // The first attempt runs to its end; once the store is failing, a stop cuts in (what
        // was not committed is not acked, so the edges replay it).
        let result = if failures == 0 {
            op().await
        } else {
            tokio::select! {
                r = op() => r,
                _ = stopped(halt) => return Err(Halt::Stopped),
            }
        };
        match result {
            Ok(v) => {
                if failures > 0 {
                    tracing::info!(what, failures, "store works again");
                }
                return Ok(v);
            }
            Err(e) if e.is_transient() => {
                failures += 1;
                // One warning per outage, then one per 20 tries: a long outage must not flood.
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(what, failures, error = %e, "store busy or unreachable; retrying");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped(halt) => return Err(Halt::Stopped),
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e @ gatewatch_store::StoreError::LeaseLost { .. }) => return Err(lease_lost(&e)),
            Err(e) => {
                tracing::error!(what, error = %e, "store failed in a way retrying cannot fix; ingest stops");
                return Err(Halt::Fatal(anyhow::anyhow!(
                    "ingest stopped: {what} failed and retrying cannot fix it: {e}. Nothing past the last \
                     commit was acknowledged (the edges keep those events); fix the database and restart"
                )));
            }
        }
    }
}

/// `(site, edge, seq)` of a rejected payload, when it is JSON naming the edge of its topic.
fn sequenced(msg: &Message) -> Option<(String, String, u64)> {
    #[derive(serde::Deserialize)]
    struct Peek {
        site: String,
        edge: String,
        seq: u64,
    }
    let (site, edge, _) = topic::parse_events_topic(&msg.topic)?;
    let p: Peek = serde_json::from_slice(&msg.payload).ok()?;
    (p.site == site && p.edge == edge && p.seq > 0).then_some((p.site, p.edge, p.seq))
}
