//! Stamping event bodies into envelopes: ids, the per-edge sequence, capture time.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
use uuid::Uuid;

/// Makes the envelopes of one edge. The sequence is shared by all its cameras.
#[derive(Debug)]
pub struct Envelopes {
    site: String,
    edge: String,
    seq: AtomicU64,
}

impl Envelopes {
    pub fn new(site: &str, edge: &str) -> Self {
        Self { site: site.into(), edge: edge.into(), seq: AtomicU64::new(0) }
    }

    pub fn wrap(&self, camera: &str, captured_at: DateTime<Utc>, body: EventBody) -> Event {
        Event {
            schema: SCHEMA_V1.into(),
            event_id: Uuid::now_v7(),
            site: self.site.clone(),
            edge: self.edge.clone(),
            camera: camera.into(),
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            captured_at,
            body,
        }
    }
}
