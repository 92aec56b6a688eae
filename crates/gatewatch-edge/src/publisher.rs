//! Events to MQTT: encode, refuse what is too big, publish at QoS 1 on the camera's topic.

use gatewatch_core::event::Event;
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use tokio::sync::mpsc;

/// The edge never sends an event bigger than this (the aggregator's default limit is 1 MiB).
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

#[derive(Debug, Default)]
pub struct Published {
    pub published: u64,
    pub refused: u64,
}

/// Publish every event until all senders are gone.
pub async fn publish_all(mqtt: &MqttClient, mut rx: mpsc::Receiver<Event>) -> Published {
    let mut out = Published::default();
    while let Some(ev) = rx.recv().await {
        let payload = ev.encode();
        if payload.len() > MAX_EVENT_BYTES {
            out.refused += 1;
            tracing::error!(camera = %ev.camera, event_id = %ev.event_id, kind = ev.body.kind(), bytes = payload.len(),
                "event over the size limit; not published");
            continue;
        }
        let topic = topic::events_topic(&ev.site, &ev.edge, &ev.camera);
        match mqtt.publish(topic, payload).await {
            Ok(()) => {
                out.published += 1;
                tracing::debug!(camera = %ev.camera, event_id = %ev.event_id, seq = ev.seq, kind = ev.body.kind(), "event published");
            }
            Err(e) => {
                out.refused += 1;
                tracing::error!(camera = %ev.camera, event_id = %ev.event_id, error = %e, "publish failed");
            }
        }
    }
    out
}
