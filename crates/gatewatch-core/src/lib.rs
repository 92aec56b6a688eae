//! The pure core of gatewatch.
//!
//! Everything a frame's journey needs that is *logic*, not I/O: geometry, detections and their
//! decoding, tracking, zones, the event schema, plate normalisation and the alert rules. Nothing
//! here knows GStreamer, ONNX Runtime, MQTT or SQL; adapters live in their own crates and call in.

pub mod config;
pub mod ctc;
pub mod delivery;
pub mod detection;
pub mod erasure;
pub mod event;
pub mod fit;
pub mod frame;
pub mod geometry;
pub mod incident;
pub mod lines;
pub mod lists_csv;
pub mod motion;
pub mod nanodet;
pub mod parking;
pub mod plate;
pub mod plate_vote;
pub mod platedet;
pub mod registry;
pub mod retention;
pub mod rules;
pub mod tamper;
pub mod text;
pub mod tiles;
pub mod topic;
pub mod tracker;
pub mod visits;
pub mod yolo;
pub mod zones;
