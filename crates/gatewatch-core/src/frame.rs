//! A decoded picture from a camera, independent of the media framework that made it.

use chrono::{DateTime, Utc};

/// One RGB frame (8 bits per channel, rows packed: `stride == width * 3`).
#[derive(Clone)]
pub struct Frame {
    pub camera: String,
    /// Position in the stream, nanoseconds from its start.
    pub pts_ns: u64,
    /// Wall-clock capture time: for live sources when it was taken; for files the stream's
    /// start plus `pts_ns`, so that dwell times mean the same on a file as on a live camera.
    pub captured_at: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Frame {
    /// Stream time in seconds: the clock trackers and zones run on.
    pub fn t(&self) -> f64 {
        self.pts_ns as f64 / 1e9
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({} {}x{} pts={}ns)", self.camera, self.width, self.height, self.pts_ns)
    }
}
