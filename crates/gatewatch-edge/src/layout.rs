//! Each camera's zones and lines, replaceable while the edge runs (`gatewatch edge` reloads
//! them on SIGHUP). The tracker thread of a camera looks for a newer layout at every frame and
//! swaps it in without losing who is inside a zone that stays (see `ZoneTracker::replace`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gatewatch_core::config::{CameraConfig, EdgeConfig, LineConfig, ZoneConfig};

/// A camera's zones, lines and exit grace.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub zones: Vec<ZoneConfig>,
    pub lines: Vec<LineConfig>,
    pub exit_grace_s: f64,
}

impl Layout {
    fn of(cam: &CameraConfig) -> Self {
        Self { zones: cam.zones.clone(), lines: cam.lines.clone(), exit_grace_s: cam.exit_grace_s }
    }
}

/// One camera's current layout and its version (1 at start, +1 per change).
#[derive(Debug)]
pub(crate) struct LayoutCell {
    version: AtomicU64,
    layout: Mutex<Layout>,
}

impl LayoutCell {
    /// The layout, when its version is newer than `seen`.
    pub(crate) fn newer_than(&self, seen: u64) -> Option<(u64, Layout)> {
        let v = self.version.load(Ordering::Acquire);
        (v > seen).then(|| (v, self.current()))
    }

    pub(crate) fn current(&self) -> Layout {
        self.layout.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reloaded {
    /// Cameras whose zones or lines changed.
    pub changed: Vec<String>,
    /// What the file changed that only a restart applies (cameras added or removed, sources,
    /// models, the broker, the spool, ...).
    pub needs_restart: Vec<String>,
}

/// Every camera's layout cell, by camera id.
#[derive(Debug, Clone)]
pub struct Layouts {
    cells: Arc<BTreeMap<String, Arc<LayoutCell>>>,
    /// The configuration running, as last applied.
    running: Arc<Mutex<EdgeConfig>>,
}

impl Layouts {
    pub fn new(cfg: &EdgeConfig) -> Self {
        let cells = cfg
            .cameras
            .iter()
            .map(|c| {
                (c.id.clone(), Arc::new(LayoutCell { version: AtomicU64::new(1), layout: Mutex::new(Layout::of(c)) }))
            })
            .collect();
        Self { cells: Arc::new(cells), running: Arc::new(Mutex::new(cfg.clone())) }
    }

    pub(crate) fn cell(&self, camera: &str) -> Option<Arc<LayoutCell>> {
        self.cells.get(camera).cloned()
    }

    /// Apply a new, already validated configuration: the zones and lines of every camera that
    /// is still there; says what else differs (kept as it runs until a restart).
    pub fn apply(&self, new: &EdgeConfig) -> Reloaded {
        let mut out = Reloaded::default();
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for cam in &new.cameras {
            let Some(cell) = self.cells.get(&cam.id) else {
                out.needs_restart.push(format!("camera `{}` added", cam.id));
                continue;
            };
            let layout = Layout::of(cam);
            let mut held = cell.layout.lock().unwrap_or_else(|p| p.into_inner());
            if *held != layout {
                *held = layout;
                cell.version.fetch_add(1, Ordering::AcqRel);
                out.changed.push(cam.id.clone());
            }
        }
        for id in self.cells.keys() {
            if !new.cameras.iter().any(|c| &c.id == id) {
                out.needs_restart.push(format!("camera `{id}` removed"));
            }
        }
        // Everything but the layouts, compared as the edge would run it.
        let strip = |cfg: &EdgeConfig| {
            let mut cfg = cfg.clone();
            for c in &mut cfg.cameras {
                c.zones.clear();
                c.lines.clear();
                c.exit_grace_s = 0.0;
            }
            cfg
        };
        let (was, now) = (strip(&running), strip(new));
        if was.cameras.iter().zip(&now.cameras).any(|(a, b)| a != b) {
            out.needs_restart.push("a camera's source or settings".into());
        }
        let (mut was_rest, mut now_rest) = (was, now);
        was_rest.cameras.clear();
        now_rest.cameras.clear();
        if was_rest != now_rest {
            out.needs_restart.push("settings outside [[cameras]] (broker, spool, vision, plates, ...)".into());
        }
        let mut kept = new.clone();
        kept.cameras.retain(|c| self.cells.contains_key(&c.id));
        *running = kept;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(zone_x: f64, extra: &str) -> EdgeConfig {
        EdgeConfig::from_toml(&format!(
            "site = \"s\"\nedge = \"e\"\n{extra}\n[[cameras]]\nid = \"cam\"\nuri = \"rtsp://127.0.0.1:9/x\"\n\
             [[cameras.zones]]\nname = \"shed\"\npolygon = [[0.0, 0.0], [{zone_x}, 0.0], [{zone_x}, 0.5]]\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_changed_zone_bumps_its_camera_and_other_changes_wait_for_a_restart() {
        let layouts = Layouts::new(&cfg(0.5, ""));
        let cell = layouts.cell("cam").unwrap();
        assert!(cell.newer_than(1).is_none());
        assert_eq!(layouts.apply(&cfg(0.5, "")), Reloaded::default(), "the same file changes nothing");
        let r = layouts.apply(&cfg(0.8, ""));
        assert_eq!(r.changed, vec!["cam".to_string()]);
        assert!(r.needs_restart.is_empty(), "{r:?}");
        let (v, layout) = cell.newer_than(1).expect("a newer layout");
        assert_eq!((v, layout.zones[0].polygon[1][0]), (2, 0.8f32));
        let r = layouts.apply(&cfg(0.8, "stats_interval_s = 30.0"));
        assert!(r.changed.is_empty() && r.needs_restart.len() == 1, "{r:?}");
    }
}
