//! Stamping event bodies into envelopes: ids and capture time. The per-edge sequence number
//! is stamped later, by the publisher, as the event enters the spool.

use chrono::{DateTime, Utc};
use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
use uuid::Uuid;

/// Makes the envelopes of one edge.
#[derive(Debug)]
pub struct Envelopes {
    site: String,
    edge: String,
}

impl Envelopes {
    pub fn new(site: &str, edge: &str) -> Self {
        Self { site: site.into(), edge: edge.into() }
    }

    pub fn wrap(&self, camera: &str, captured_at: DateTime<Utc>, body: EventBody) -> Event {
        Event {
            schema: SCHEMA_V1.into(),
            event_id: Uuid::now_v7(),
            site: self.site.clone(),
            edge: self.edge.clone(),
            camera: camera.into(),
            seq: 0,
            captured_at,
            body,
        }
    }
}
