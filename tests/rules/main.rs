//! Whole-system tests of the rules, one module per concern, in one test binary (each binary
//! links the whole dependency graph, which is most of CI's build time on two cores):
//!
//! - `alert_lifecycle`: raised, updated and closed alerts as a desk sees them on MQTT;
//! - `parking`: a car parked across an edge restart, one alert closed when it drives off;
//! - `retention`: the aggregator deleting expired data, keeping listed vehicles' reads;
//! - `tamper`: the tamper watch on real footage, and the edge reporting a covered camera;
//! - `visits`: entries and exits paired across gates, their alerts, an aggregator restart.

mod alert_lifecycle;
mod parking;
mod retention;
mod tamper;
mod visits;
