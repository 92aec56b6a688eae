//! One MQTT connection: publish at QoS 1 with a flush that waits for the broker's acks, and
//! receive subscribed messages. The connection task reconnects with backoff and subscribes
//! again on every connect (a broker that restarted has no session).
//!
//! Received messages are acknowledged to the broker on receipt: losing one in a crash is
//! covered end to end (the edge keeps every event in its spool until the aggregator's own
//! ack, see `gatewatch_core::delivery`), not by broker-level manual acks. Those would route
//! every ack through rumqttc's request queue, which its event loop serves one request per
//! poll against a batch of reads: under a flood the acks back up until everything stalls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gatewatch_core::config::MqttConfig;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::MqttError;

/// A received message.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    acked: AtomicU64,
    connects: AtomicU64,
    connected: AtomicBool,
    /// Received, not yet taken by `recv`.
    backlog: AtomicU64,
    /// SUBACKs since the last CONNACK.
    subacks: AtomicU64,
    changed: Notify,
}

/// Received messages waiting to be handled, at most: past it, the connection task stops
/// reading the socket (TCP pushes back to the broker, which queues) until the consumer
/// catches up. Mosquitto does not bound what it sends a v3.1.1 subscriber.
const MAX_BACKLOG: u64 = 1000;

/// Publishes queued for the connection task (the edge's window is 1000).
const MAX_REQUESTS: usize = 10_000;

pub struct MqttClient {
    client: AsyncClient,
    counters: Arc<Counters>,
    incoming: Option<mpsc::UnboundedReceiver<Message>>,
    filters: u64,
    task: JoinHandle<()>,
}

/// How a connection is set up.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Filters to subscribe to at QoS 1 (again on every connect).
    pub subscribe: Vec<String>,
    /// Keep the broker-side session (queued QoS 1 messages) across disconnects.
    pub persistent: bool,
    /// Retained message the broker publishes for us when we vanish: `(topic, payload)`.
    pub last_will: Option<(String, Vec<u8>)>,
}

impl MqttClient {
    /// Connect in the background; must be called inside a tokio runtime.
    pub fn connect(cfg: &MqttConfig, default_id: &str, session: Session) -> Result<Self, MqttError> {
        let mut opts = crate::options(cfg, default_id)?;
        if let Some((topic, payload)) = session.last_will {
            opts.set_last_will(rumqttc::LastWill::new(topic, payload, QoS::AtLeastOnce, true));
        }
        opts.set_clean_session(!session.persistent);
        opts.set_inflight(100);
        let (client, eventloop) = AsyncClient::new(opts, MAX_REQUESTS);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let has_subs = !session.subscribe.is_empty();
        let filters = session.subscribe.len() as u64;
        let task = tokio::spawn(drive(eventloop, client.clone(), counters.clone(), tx, session.subscribe));
        Ok(Self { client, counters, incoming: has_subs.then_some(rx), filters, task })
    }

    /// Queue a QoS 1 publish. Returns when rumqttc has taken it, not when the broker has it:
    /// use [`flush`](Self::flush) for that.
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), MqttError> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
        self.counters.queued.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Queue a retained QoS 1 publish (status messages).
    pub async fn publish_retained(&self, topic: String, payload: Vec<u8>) -> Result<(), MqttError> {
        self.client.publish(topic, QoS::AtLeastOnce, true, payload).await?;
        self.counters.queued.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Wait until the broker has acknowledged every publish queued so far.
    pub async fn flush(&self, timeout: Duration) -> Result<(), MqttError> {
        let wait = async {
            loop {
                let changed = self.counters.changed.notified();
                if self.unacked() == 0 {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| MqttError::FlushTimeout(self.unacked(), timeout))
    }

    pub fn unacked(&self) -> u64 {
        let c = &self.counters;
        c.queued.load(Ordering::SeqCst).saturating_sub(c.acked.load(Ordering::SeqCst))
    }

    pub fn is_connected(&self) -> bool {
        self.counters.connected.load(Ordering::SeqCst)
    }

    /// Connected, and the broker has acknowledged every subscription of this connection.
    pub fn is_subscribed(&self) -> bool {
        self.is_connected() && self.counters.subacks.load(Ordering::SeqCst) >= self.filters
    }

    /// How many times the connection was (re)established.
    pub fn connects(&self) -> u64 {
        self.counters.connects.load(Ordering::SeqCst)
    }

    /// Next subscribed message; `None` when the client was built without subscriptions or
    /// the connection task stopped.
    pub async fn recv(&mut self) -> Option<Message> {
        let msg = self.incoming.as_mut()?.recv().await?;
        self.counters.backlog.fetch_sub(1, Ordering::SeqCst);
        Some(msg)
    }

    /// The next subscribed message if one is already here (never waits).
    pub fn try_recv(&mut self) -> Option<Message> {
        let msg = self.incoming.as_mut()?.try_recv().ok()?;
        self.counters.backlog.fetch_sub(1, Ordering::SeqCst);
        Some(msg)
    }

    /// Received messages not yet taken by [`recv`](Self::recv).
    pub fn backlog(&self) -> u64 {
        self.counters.backlog.load(Ordering::SeqCst)
    }

    /// Disconnect cleanly and stop the connection task.
    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    counters: Arc<Counters>,
    tx: mpsc::UnboundedSender<Message>,
    subscribe: Vec<String>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0u64;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                counters.subacks.store(0, Ordering::SeqCst);
                counters.connected.store(true, Ordering::SeqCst);
                counters.connects.fetch_add(1, Ordering::SeqCst);
                backoff = Duration::from_millis(100);
                failures = 0;
                tracing::info!(session_present = ack.session_present, "MQTT connected");
                for filter in &subscribe {
                    if let Err(e) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                        tracing::error!(filter, error = %e, "could not subscribe");
                    }
                }
                counters.changed.notify_waiters();
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                counters.subacks.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                counters.acked.fetch_add(1, Ordering::SeqCst);
                counters.changed.notify_waiters();
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let msg = Message { topic: p.topic.to_string(), payload: p.payload };
                // Counted before it is sent, so `recv` never takes the count below zero.
                let backlog = counters.backlog.fetch_add(1, Ordering::SeqCst) + 1;
                if tx.send(msg).is_err() {
                    counters.backlog.fetch_sub(1, Ordering::SeqCst);
                    tracing::debug!("receiver gone; message dropped");
                }
                if backlog >= MAX_BACKLOG {
                    tracing::debug!(backlog = MAX_BACKLOG, "consumer behind; pausing reads");
                    while counters.backlog.load(Ordering::SeqCst) >= MAX_BACKLOG / 2 && !tx.is_closed() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                counters.connected.store(false, Ordering::SeqCst);
                // Drain until the disconnect is on the wire.
                let _ = eventloop.poll().await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                counters.connected.store(false, Ordering::SeqCst);
                counters.changed.notify_waiters();
                failures += 1;
                // One warning per outage, then quiet: a dead broker must not flood the log.
                if failures == 1 {
                    tracing::warn!(error = %e, "MQTT connection lost; reconnecting");
                } else {
                    tracing::debug!(error = %e, failures, "MQTT reconnect failed");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
