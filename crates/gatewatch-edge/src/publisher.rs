//! Events to the aggregator, nothing lost: spool, then publish, then forget on the
//! aggregator's ack.
//!
//! ```text
//! camera threads ─ Event ─▶ stamp seq ─▶ size check ─▶ spool append ─▶ fsync (per policy)
//!                                                         │
//!   MQTT ◀─ publish in seq order, at most `window` unacked ┘
//!   MQTT ─ ack {seq} ─▶ spool.ack: segments fully acked are deleted
//! ```
//!
//! Erasures by plate (retained on `gatewatch/v1/erasures`) are carried out on the spool as they
//! come (see `gatewatch_core::erasure`), on the events still to be spooled, and acknowledged on
//! the edge's `erased` topic.
//!
//! After every (re)connect, and when no ack has come for `resend_after_s`, publishing starts
//! again from the oldest unacknowledged event: the aggregator stores idempotently, so a
//! replay costs only bandwidth. The retained status message carries the spool floor, which
//! lets the aggregator ack past events this edge had to drop.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gatewatch_core::config::SpoolConfig;
use gatewatch_core::delivery::{Ack, EdgeStatus};
use gatewatch_core::erasure::{self, Eraser};
use gatewatch_core::event::Event;
use gatewatch_core::topic;
use gatewatch_mqtt::{Message, MqttClient};
use tokio::sync::mpsc;

use crate::metrics::EdgeMetrics;
use crate::spool::{Spool, SpoolStats};

/// The edge never sends an event bigger than this (the aggregator's default limit is 1 MiB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// How often the status (spool floor) is published when nothing else prompts it.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// What delivery did in a run.
#[derive(Debug, Clone, Default)]
pub struct Delivered {
    /// Events taken into the spool (each got a seq).
    pub spooled: u64,
    /// Events refused before the spool (over the size limit).
    pub refused: u64,
    /// Publishes, replays included.
    pub publishes: u64,
    /// Times publishing started again from the oldest unacknowledged event.
    pub replays: u64,
    /// Events still unacknowledged when the run ended (they stay in the spool).
    pub unacked: u64,
    pub spool: SpoolStats,
}

/// Which status message to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Online, when the last one is older than `STATUS_EVERY` or a drop happened since.
    Routine,
    /// Offline, now: a clean stop.
    Offline,
}

pub struct Publisher {
    site: String,
    edge: String,
    cfg: SpoolConfig,
    spool: Spool,
    mqtt: MqttClient,
    out: Delivered,
    /// Highest seq published since the last rewind.
    cursor: u64,
    seen_connects: u64,
    last_progress: Instant,
    last_status: Option<(Instant, u64)>,
    /// Where the endpoint reads delivery's figures, when it is served.
    metrics: Option<std::sync::Arc<EdgeMetrics>>,
    /// The erasures in force, applied to every event taken; their ids, carried out.
    eraser: Eraser,
    erased: BTreeSet<String>,
    /// The acknowledgement of erasures to publish (again after a reconnect).
    erased_due: Option<erasure::Done>,
}

impl Publisher {
    pub fn new(site: &str, edge: &str, cfg: &SpoolConfig, spool: Spool, mqtt: MqttClient) -> Self {
        let cursor = spool.acked();
        Self {
            site: site.into(),
            edge: edge.into(),
            cfg: cfg.clone(),
            spool,
            mqtt,
            out: Delivered::default(),
            cursor,
            seen_connects: 0,
            last_progress: Instant::now(),
            last_status: None,
            metrics: None,
            eraser: Eraser::default(),
            erased: BTreeSet::new(),
            erased_due: None,
        }
    }

    /// Keep `metrics`' delivery figures current (every loop, 100 ms at least).
    pub fn with_metrics(mut self, metrics: std::sync::Arc<EdgeMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The status this edge would publish now; also its last will, with `online: false`.
    pub fn offline_will(site: &str, edge: &str) -> (String, Vec<u8>) {
        let status = EdgeStatus { online: false, floor: None, spooled: 0, dropped: 0 };
        (topic::status_topic(site, edge), serde_json::to_vec(&status).expect("status serialises"))
    }

    /// Deliver every event from `rx` until all senders are gone, then keep publishing until
    /// the aggregator has acked everything or `flush_timeout` passed. Whatever is not acked
    /// stays in the spool for the next start.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Event>, flush_timeout: Duration) -> Delivered {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deadline: Option<Instant> = None;
        let mut last_housekeeping = Instant::now();
        loop {
            tokio::select! {
                biased;
                msg = self.mqtt.recv() => match msg {
                    Some(msg) => self.on_message(&msg),
                    None => {
                        tracing::error!("MQTT task stopped; events stay in the spool");
                        break;
                    }
                },
                ev = rx.recv(), if deadline.is_none() => match ev {
                    Some(ev) => {
                        self.take(ev);
                        while let Ok(ev) = rx.try_recv() {
                            self.take(ev);
                        }
                        let synced = self.spool.sync_per_policy();
                        self.spool_written(synced.is_ok());
                        if let Err(e) = synced {
                            tracing::error!(error = %e, "spool fsync failed");
                        }
                    }
                    None => deadline = Some(Instant::now() + flush_timeout),
                },
                _ = tick.tick() => {}
            }
            if last_housekeeping.elapsed() >= Duration::from_secs(1) {
                last_housekeeping = Instant::now();
                self.housekeeping();
            }
            self.pump().await;
            self.meter();
            if let Some(d) = deadline
                && (self.spool.unacked() == 0 || Instant::now() >= d)
            {
                break;
            }
        }
        if let Err(e) = self.spool.sync() {
            tracing::error!(error = %e, "spool fsync failed at shutdown");
        }
        // A clean stop leaves no last will behind: say "offline" ourselves, retained, with the
        // spool's floor, before the clean disconnect (after which the broker sends no will).
        self.publish_status(Status::Offline).await;
        if let Err(e) = self.mqtt.flush(Duration::from_secs(2)).await {
            tracing::warn!(error = %e, "offline status not acknowledged by the broker");
        }
        self.meter();
        self.mqtt.disconnect().await;
        self.out.unacked = self.spool.unacked();
        self.out.spool = self.spool.stats();
        if self.out.unacked > 0 {
            tracing::warn!(
                unacked = self.out.unacked,
                "events not yet acknowledged stay in the spool for the next start"
            );
        }
        self.out
    }

    /// Stamp the next seq, check the size, append to the spool.
    fn take(&mut self, mut ev: Event) {
        ev.seq = self.spool.next_seq();
        // Captured before an erasure of its plate came: erased before it is kept.
        self.eraser.apply(&mut ev);
        let payload = ev.encode();
        if payload.len() > MAX_EVENT_BYTES {
            self.out.refused += 1;
            tracing::error!(camera = %ev.camera, event_id = %ev.event_id, kind = ev.body.kind(), bytes = payload.len(),
                "event over the size limit; not published");
            return;
        }
        let topic = topic::events_topic(&ev.site, &ev.edge, &ev.camera);
        let appended = self.spool.append(&topic, ev.body.is_routine(), &payload);
        self.spool_written(appended.is_ok());
        match appended {
            Ok(seq) => {
                self.out.spooled += 1;
                tracing::debug!(camera = %ev.camera, event_id = %ev.event_id, seq, kind = ev.body.kind(), "event spooled");
            }
            Err(e) => {
                // The disk failed: the event cannot be kept, so it is counted and logged as lost.
                self.out.refused += 1;
                tracing::error!(camera = %ev.camera, event_id = %ev.event_id, error = %e, "spool append failed; event lost");
            }
        }
    }

    /// The erasures in force: carry out the new ones on the spool and say so. A bad message
    /// changes nothing (the erasures already carried out stay so).
    fn on_erasures(&mut self, payload: &[u8]) {
        let list = match serde_json::from_slice::<erasure::InForce>(payload) {
            Ok(l)
                if l.erasures.len() <= erasure::MAX_IN_FORCE
                    && l.erasures.iter().all(|e| erasure::valid_hash(&e.plate_sha256) && e.id.len() <= 64) =>
            {
                l
            }
            Ok(_) => return tracing::warn!(bytes = payload.len(), "erasure message out of bounds; ignored"),
            Err(e) => {
                return tracing::warn!(error = %gatewatch_core::event::without_quoted(&e.to_string()), "erasure message malformed; ignored");
            }
        };
        self.eraser = Eraser::new(&list.erasures);
        let new: Vec<&erasure::Erasure> = list.erasures.iter().filter(|e| !self.erased.contains(&e.id)).collect();
        if new.is_empty() {
            // Nothing new (the retained message again, after a reconnect): say what is done.
            if !list.erasures.is_empty() {
                let ids = list.erasures.iter().map(|e| e.id.clone()).collect();
                self.erased_due = Some(erasure::Done { ids, events: 0 });
            }
            return;
        }
        let started = Instant::now();
        let mut eraser = Eraser::new(new.iter().copied());
        let rewritten = self.spool.rewrite(|r| {
            let mut ev = Event::decode(&r.payload, usize::MAX).ok()?;
            eraser.apply(&mut ev).then(|| ev.encode())
        });
        match rewritten {
            Ok(events) => {
                self.spool_written(true);
                self.erased.extend(new.iter().map(|e| e.id.clone()));
                tracing::info!(
                    erasures = new.len(),
                    events,
                    ms = started.elapsed().as_millis() as u64,
                    "erasure by plate carried out on the spool"
                );
                let ids = list.erasures.iter().map(|e| e.id.clone()).filter(|id| self.erased.contains(id)).collect();
                self.erased_due = Some(erasure::Done { ids, events });
            }
            // Not acknowledged: the retained message comes again at the next connect.
            Err(e) => {
                self.spool_written(false);
                tracing::error!(error = %e, "erasure by plate failed on the spool; retried at the next connect");
            }
        }
    }

    /// Whether the spool's last write (append or fsync) worked, for `/readyz`.
    fn spool_written(&self, ok: bool) {
        if let Some(m) = &self.metrics {
            m.delivery.spool_ok.store(ok, Ordering::Relaxed);
        }
    }

    /// Copy delivery's figures to the endpoint.
    fn meter(&self) {
        let Some(m) = &self.metrics else { return };
        let (d, stats) = (&m.delivery, self.spool.stats());
        d.spooled.store(self.out.spooled, Ordering::Relaxed);
        d.refused.store(self.out.refused, Ordering::Relaxed);
        d.publishes.store(self.out.publishes, Ordering::Relaxed);
        d.replays.store(self.out.replays, Ordering::Relaxed);
        d.acked.store(stats.acked, Ordering::Relaxed);
        d.unacked.store(self.spool.unacked(), Ordering::Relaxed);
        d.spool_bytes.store(self.spool.bytes(), Ordering::Relaxed);
        d.oldest_unacked_ms.store(self.spool.oldest_unacked_ms().unwrap_or(0), Ordering::Relaxed);
        d.dropped_full_routine.store(stats.dropped_routine, Ordering::Relaxed);
        d.dropped_full_important.store(stats.dropped_important, Ordering::Relaxed);
        d.dropped_old.store(stats.dropped_old, Ordering::Relaxed);
        d.connected.store(self.mqtt.is_connected(), Ordering::Relaxed);
    }

    fn on_message(&mut self, msg: &Message) {
        if msg.topic == topic::ERASURES_TOPIC {
            return self.on_erasures(&msg.payload);
        }
        match serde_json::from_slice::<Ack>(&msg.payload) {
            Ok(ack) if msg.topic == topic::ack_topic(&self.site, &self.edge) => {
                let before = self.spool.acked();
                if let Err(e) = self.spool.ack(ack.seq) {
                    tracing::error!(error = %e, seq = ack.seq, "could not record an ack");
                }
                if self.spool.acked() > before {
                    self.last_progress = Instant::now();
                    tracing::debug!(acked = self.spool.acked(), "ack");
                }
            }
            _ => tracing::warn!(topic = %msg.topic, bytes = msg.payload.len(), "unexpected message on the ack topic"),
        }
    }

    fn housekeeping(&mut self) {
        match self.spool.enforce_limits() {
            Ok(0) => {}
            Ok(_) => self.last_status = None,
            Err(e) => tracing::error!(error = %e, "spool limits could not be applied"),
        }
        if let Err(e) = self.spool.sync_per_policy() {
            tracing::error!(error = %e, "spool fsync failed");
        }
    }

    /// Publish what is due: after a reconnect or an ack stall, from the oldest unacked event.
    async fn pump(&mut self) {
        if !self.mqtt.is_connected() {
            return;
        }
        let acked = self.spool.acked();
        if self.mqtt.connects() != self.seen_connects {
            self.seen_connects = self.mqtt.connects();
            self.rewind("connected");
            self.last_status = None;
        } else if self.cursor > acked && self.last_progress.elapsed().as_secs_f64() > self.cfg.resend_after_s {
            self.rewind("no ack");
        }
        self.cursor = self.cursor.max(acked);
        self.publish_status(Status::Routine).await;
        if let Some(done) = self.erased_due.take() {
            let payload = serde_json::to_vec(&done).expect("erasure acks serialise");
            if let Err(e) = self.mqtt.publish(topic::erased_topic(&self.site, &self.edge), payload).await {
                tracing::warn!(error = %e, "erasure acknowledgement not published; again at the next connect");
            }
        }
        let room = self.cfg.window.saturating_sub(self.cursor - acked) as usize;
        if room == 0 {
            return;
        }
        let records = match self.spool.read_after(self.cursor, room.min(256)) {
            Ok(r) => r,
            Err(e) => return tracing::error!(error = %e, "spool read failed"),
        };
        for r in records {
            if let Err(e) = self.mqtt.publish(r.topic, r.payload).await {
                tracing::warn!(seq = r.seq, error = %e, "publish failed; will replay");
                return;
            }
            self.out.publishes += 1;
            self.cursor = r.seq;
        }
    }

    fn rewind(&mut self, why: &str) {
        let acked = self.spool.acked();
        if self.cursor > acked {
            self.out.replays += 1;
            tracing::info!(why, from_seq = acked + 1, unacked = self.cursor - acked, "replaying unacknowledged events");
        }
        self.cursor = acked;
        self.last_progress = Instant::now();
    }

    async fn publish_status(&mut self, which: Status) {
        // Floor moves with every ack, which the aggregator knows; what it cannot know is a drop.
        let floor = self.spool.floor();
        let dropped = self.spool.stats().dropped();
        let fresh = self.last_status.is_some_and(|(at, d)| at.elapsed() < STATUS_EVERY && d == dropped);
        if (fresh && which == Status::Routine) || !self.mqtt.is_connected() {
            return;
        }
        let online = which == Status::Routine;
        let status = EdgeStatus { online, floor: Some(floor), spooled: self.spool.unacked(), dropped };
        let payload = serde_json::to_vec(&status).expect("status serialises");
        match self.mqtt.publish_retained(topic::status_topic(&self.site, &self.edge), payload).await {
            Ok(()) => self.last_status = Some((Instant::now(), dropped)),
            Err(e) => tracing::debug!(error = %e, "status not published"),
        }
    }
}
