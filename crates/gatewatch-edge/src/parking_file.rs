//! A camera's parking episodes on disk, beside the spool (under its lock): what lets a car
//! parked across an edge restart keep its episode and its start (see
//! `gatewatch_core::parking`). One small JSON file per camera, replaced whole (write, fsync,
//! rename) whenever an episode begins, changes hands or ends.

use std::io::Write;
use std::path::{Path, PathBuf};

use gatewatch_core::parking::Episode;

pub(crate) fn path(dir: &Path, camera: &str) -> PathBuf {
    // Camera ids are 1-64 of A-Z a-z 0-9 _ - (checked with the config): safe as a file name.
    dir.join(format!("parking-{camera}.json"))
}

/// The episodes kept for `camera`; none when there is no file. A file that does not read is
/// reported and set aside (renamed `.bad`), never a reason not to start.
pub(crate) fn load(dir: &Path, camera: &str) -> Vec<Episode> {
    let p = path(dir, camera);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(camera, file = %p.display(), error = %e, "parking episodes not read; starting without them");
            return Vec::new();
        }
    };
    match serde_json::from_str(&text) {
        Ok(episodes) => episodes,
        Err(e) => {
            tracing::warn!(camera, file = %p.display(), error = %e, "parking episodes unreadable; set aside as .bad");
            let _ = std::fs::rename(&p, p.with_extension("bad"));
            Vec::new()
        }
    }
}

pub(crate) fn save(dir: &Path, camera: &str, episodes: &[Episode]) -> std::io::Result<()> {
    let p = path(dir, camera);
    let tmp = p.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(episodes).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::geometry::BBox;

    #[test]
    fn episodes_round_trip_and_a_bad_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), "lot").is_empty());
        let e = Episode {
            episode: 3,
            track: 1004,
            class: ObjectClass::Car,
            bbox: BBox::new(0.1, 0.2, 0.3, 0.4),
            since: "2026-12-01T20:00:00Z".parse().unwrap(),
            zones: vec!["fire-lane".into()],
            orphaned_at: Some("2026-12-01T21:00:00Z".parse().unwrap()),
        };
        save(dir.path(), "lot", std::slice::from_ref(&e)).unwrap();
        assert_eq!(load(dir.path(), "lot"), vec![e]);
        std::fs::write(path(dir.path(), "lot"), b"{not json").unwrap();
        assert!(load(dir.path(), "lot").is_empty());
        assert!(dir.path().join("parking-lot.bad").exists());
    }
}
