//! Cameras of a gate box that vanished. An edge that stops cleanly reports its cameras offline
//! itself; one that loses power or its network cannot: the broker publishes its last will
//! (`{"online": false}` without a spool floor) instead. The aggregator then records, for that
//! edge, one `camera_offline` per camera it last heard from as online, so the camera-offline
//! rule alerts on a blind gate as on a blind camera, and the alert closes when the cameras
//! report back (`camera_online`). Such events carry `seq` 0: they are the aggregator's record,
//! not part of the edge's sequence (never acknowledged to it).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};

/// Why the aggregator recorded a camera offline.
pub const VANISHED: &str = "gate box offline: its connection to the broker vanished (last will)";

/// Which cameras of each edge were last heard from as online.
#[derive(Debug, Default)]
pub(crate) struct CameraBook {
    online: HashMap<(String, String), BTreeSet<String>>,
}

impl CameraBook {
    /// Follow a stored event.
    pub fn on_event(&mut self, ev: &Event) {
        let key = (ev.site.clone(), ev.edge.clone());
        match &ev.body {
            EventBody::CameraOnline { .. } => {
                self.online.entry(key).or_default().insert(ev.camera.clone());
            }
            EventBody::CameraStats { frames_decoded, .. } if *frames_decoded > 0 => {
                self.online.entry(key).or_default().insert(ev.camera.clone());
            }
            EventBody::CameraOffline { .. } => {
                if let Some(cams) = self.online.get_mut(&key) {
                    cams.remove(&ev.camera);
                }
            }
            _ => {}
        }
    }

    /// Edge `site/edge` vanished at `at`: a `camera_offline` for each camera it had online
    /// (and those cameras are offline now).
    pub fn vanished(&mut self, site: &str, edge: &str, at: DateTime<Utc>) -> Vec<Event> {
        let cams = self.online.remove(&(site.to_string(), edge.to_string())).unwrap_or_default();
        cams.into_iter()
            .map(|camera| Event {
                schema: SCHEMA_V1.into(),
                event_id: uuid::Uuid::now_v7(),
                site: site.into(),
                edge: edge.into(),
                camera,
                seq: 0,
                captured_at: at,
                body: EventBody::CameraOffline { reason: VANISHED.into() },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(camera: &str, body: EventBody) -> Event {
        Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "north".into(),
            edge: "gate-1".into(),
            camera: camera.into(),
            seq: 1,
            captured_at: Utc::now(),
            body,
        }
    }

    #[test]
    fn a_vanished_edge_has_its_online_cameras_recorded_offline_once() {
        let mut book = CameraBook::default();
        book.on_event(&ev("entry", EventBody::CameraOnline { width: 1920, height: 1080 }));
        let stats = |decoded| EventBody::CameraStats {
            frames_decoded: decoded,
            frames_inferred: 0,
            frames_dropped: 0,
            frames_gated: 0,
            period_s: 5.0,
            thumbnail: None,
        };
        book.on_event(&ev("exit", stats(120)));
        book.on_event(&ev("yard", stats(0)));
        book.on_event(&ev("lane", EventBody::CameraOnline { width: 1, height: 1 }));
        book.on_event(&ev("lane", EventBody::CameraOffline { reason: "eos".into() }));
        let now = Utc::now();
        let recorded = book.vanished("north", "gate-1", now);
        let cams: Vec<&str> = recorded.iter().map(|e| e.camera.as_str()).collect();
        assert_eq!(cams, vec!["entry", "exit"], "only cameras last heard from as online");
        for e in &recorded {
            assert_eq!((e.seq, e.captured_at, e.edge.as_str()), (0, now, "gate-1"));
            assert!(matches!(&e.body, EventBody::CameraOffline { reason } if reason == VANISHED));
            assert!(e.validate().is_ok());
        }
        assert!(book.vanished("north", "gate-1", now).is_empty(), "a repeated will records nothing");
        assert!(book.vanished("north", "gate-2", now).is_empty(), "an edge never heard of");
    }
}
