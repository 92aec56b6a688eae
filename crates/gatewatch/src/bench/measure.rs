//! What a phase costs: wall time, process CPU and resident memory, read from /proc.

use std::time::Instant;

use super::report::Phase;

/// Process CPU seconds so far (user + system), from /proc/self/stat.
pub(super) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here indices 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

pub(super) fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Measures one phase: wall time and CPU between `start` and `finish`.
pub(super) struct Meter {
    pub(super) wall: Instant,
    cpu: f64,
}

impl Meter {
    pub(super) fn start() -> Self {
        Self { wall: Instant::now(), cpu: cpu_seconds() }
    }
    pub(super) fn finish(&self, name: &str, streams: usize, frames: u64, inferred: u64) -> Phase {
        let seconds = self.wall.elapsed().as_secs_f64();
        Phase {
            name: name.into(),
            streams,
            frames,
            seconds,
            fps: frames as f64 / seconds,
            native_fps: None,
            dropped_pct: None,
            inferred,
            wall_s: None,
            latency_ms: None,
            stages_ms: None,
            cpu_pct: 100.0 * (cpu_seconds() - self.cpu) / seconds,
            rss_mib: rss_mib("VmRSS:"),
            runs_fps: Vec::new(),
        }
    }
}
