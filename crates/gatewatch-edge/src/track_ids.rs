//! Track ids unique per edge for ever: across its cameras, camera reconnects and restarts.
//!
//! Alerts and visits at the aggregator are keyed by track id, so an id used again after a
//! reconnect or a restart would silence a new incident as a repeat of an old one. Ids are
//! handed out from blocks reserved on disk, in the spool directory (whose `LOCK` keeps it to
//! one process): before the first id of a block is used, the block's end is written to
//! `track_ids` (write, fsync, rename, fsync the directory). A restart starts after the last
//! reserved block, so a crash skips at most a block's worth of ids and never repeats one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gatewatch_core::tracker::{TrackId, TrackIds};

/// Ids reserved per write.
const BLOCK: u64 = 1000;

#[derive(Debug)]
pub struct TrackIdFile {
    path: PathBuf,
    /// (next id to hand out, last id reserved on disk)
    state: Mutex<(TrackId, TrackId)>,
}

impl TrackIdFile {
    /// Open (or start) the id file in `dir`: the first id handed out is one past every id
    /// reserved before.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("track_ids");
        let reserved = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<TrackId>().map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        tracing::info!(next = reserved + 1, "track ids continue");
        Ok(Self { path, state: Mutex::new((reserved + 1, reserved)) })
    }

    fn reserve(&self, upto: TrackId) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{upto}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl TrackIds for TrackIdFile {
    fn next_id(&self) -> TrackId {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (next, reserved) = *state;
        if next > reserved {
            let upto = next.saturating_add(BLOCK - 1);
            // Not kept on disk: ids stay unique in this process, and the next start could
            // repeat some. Worth an error, not worth stopping the cameras.
            match self.reserve(upto) {
                Ok(()) => state.1 = upto,
                Err(e) => tracing::error!(path = %self.path.display(), error = %e, "track id block not saved"),
            }
        }
        state.0 = next.saturating_add(1);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_restarts_and_crashes() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut last = 0;
        for (run, n) in [(0, 5), (1, 1500), (2, 0), (3, 3)] {
            // Each run is a process start; none closes anything (a crash looks the same).
            let ids = TrackIdFile::open(dir.path()).unwrap();
            for _ in 0..n {
                let id = ids.next_id();
                assert!(seen.insert(id), "run {run}: id {id} given twice");
                assert!(id > last, "run {run}: ids only grow");
                last = id;
            }
        }
        assert_eq!(seen.len(), 1508);
        // Shared by cameras on several threads: still unique.
        let ids = std::sync::Arc::new(TrackIdFile::open(dir.path()).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let ids = ids.clone();
                std::thread::spawn(move || (0..500).map(|_| ids.next_id()).collect::<Vec<_>>())
            })
            .collect();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(id > last && seen.insert(id), "id {id} given twice");
            }
        }
    }

    #[test]
    fn a_damaged_id_file_is_an_error_not_a_restart_from_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("track_ids"), "garbage").unwrap();
        assert!(TrackIdFile::open(dir.path()).is_err());
    }
}
