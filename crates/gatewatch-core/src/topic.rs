//! The MQTT topic layout, version 1 (documented in docs/events.md).
//!
//! ```text
//! gatewatch/v1/{site}/{edge}/{camera}/events   edge → aggregator, QoS 1, one event per message
//! gatewatch/v1/{site}/alerts                   aggregator → desk, QoS 1, one alert per message
//! gatewatch/v1/{site}/{edge}/ack               aggregator → edge, QoS 1, cumulative delivery ack
//! gatewatch/v1/{site}/{edge}/status            edge → all, QoS 1, retained; the last will says offline
//! gatewatch/v1/erasures                        aggregator → edges, QoS 1, retained: erasures by plate in force
//! gatewatch/v1/{site}/{edge}/erased            edge → aggregator, QoS 1: the erasures it has carried out
//! ```
//! Ids are 1–64 characters of `A-Z a-z 0-9 _ -`, so they can never inject `+`, `#` or `/`.

pub const PREFIX: &str = "gatewatch/v1";

/// What the aggregator subscribes to: the events of every camera of every gate.
pub const EVENTS_FILTER: &str = "gatewatch/v1/+/+/+/events";

/// What a desk subscribes to for every site's alerts.
pub const ALERTS_FILTER: &str = "gatewatch/v1/+/alerts";

/// What the aggregator subscribes to for every gate's availability and spool floor.
pub const STATUS_FILTER: &str = "gatewatch/v1/+/+/status";

/// Where the aggregator keeps the erasures in force (retained), for every edge.
pub const ERASURES_TOPIC: &str = "gatewatch/v1/erasures";

/// What the aggregator subscribes to for the edges' erasure acknowledgements.
pub const ERASED_FILTER: &str = "gatewatch/v1/+/+/erased";

pub fn erased_topic(site: &str, edge: &str) -> String {
    format!("{PREFIX}/{site}/{edge}/erased")
}

/// `(site, edge)` of an erased topic.
pub fn parse_erased_topic(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (site, edge, leaf) = (parts.next()?, parts.next()?, parts.next()?);
    (leaf == "erased" && parts.next().is_none() && valid_id(site) && valid_id(edge)).then_some((site, edge))
}

pub fn ack_topic(site: &str, edge: &str) -> String {
    format!("{PREFIX}/{site}/{edge}/ack")
}

pub fn status_topic(site: &str, edge: &str) -> String {
    format!("{PREFIX}/{site}/{edge}/status")
}

/// `(site, edge)` of a status topic.
pub fn parse_status_topic(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (site, edge, leaf) = (parts.next()?, parts.next()?, parts.next()?);
    (leaf == "status" && parts.next().is_none() && valid_id(site) && valid_id(edge)).then_some((site, edge))
}

pub fn events_topic(site: &str, edge: &str, camera: &str) -> String {
    format!("{PREFIX}/{site}/{edge}/{camera}/events")
}

pub fn alerts_topic(site: &str) -> String {
    format!("{PREFIX}/{site}/alerts")
}

/// `(site, edge, camera)` of an events topic, or `None` if the topic is not one.
pub fn parse_events_topic(topic: &str) -> Option<(&str, &str, &str)> {
    let rest = topic.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (site, edge, camera, leaf) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if leaf != "events" || parts.next().is_some() || ![site, edge, camera].iter().all(|s| valid_id(s)) {
        return None;
    }
    Some((site, edge, camera))
}

/// A site, edge or camera id: 1–64 of `A-Z a-z 0-9 _ -`.
pub fn valid_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_topics_round_trip_and_reject_garbage() {
        let t = events_topic("north", "gate-1", "cam_a");
        assert_eq!(parse_events_topic(&t), Some(("north", "gate-1", "cam_a")));
        for bad in [
            "gatewatch/v1/north/gate-1/cam_a/alerts",
            "gatewatch/v1/north/gate-1/events",
            "gatewatch/v1/north/gate-1/cam_a/events/x",
            "gatewatch/v2/north/gate-1/cam_a/events",
            "gatewatch/v1/no rth/gate-1/cam_a/events",
            "gatewatch/v1//gate-1/cam_a/events",
        ] {
            assert_eq!(parse_events_topic(bad), None, "{bad}");
        }
        assert!(!valid_id(&"a".repeat(65)));
    }
}
