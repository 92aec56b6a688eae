//! The edge's durable spool: every event is appended here, fsynced, then published; it stays
//! until the aggregator's cumulative ack covers it.
//!
//! On disk, a directory holds:
//! - `LOCK`: held (flock) by the one process using the spool;
//! - `acked`: the highest acknowledged seq, replaced atomically (write, fsync, rename);
//! - `track_ids`: the highest track id reserved (see `track_ids`), kept here under the same lock;
//! - segments `{first_seq:020}.seg`, appended in order. A record is
//!   `len: u32 LE | crc32(body): u32 LE | body`, body = `seq: u64 | routine: u8 |
//!   written_ms: i64 | topic_len: u16 | topic | payload` (all little-endian).
//!
//! Opening scans every segment; a torn or corrupt tail (a power cut mid-write) is cut off at
//! the last good record and reported. The next seq is one past the highest seen (or acked), so
//! sequence numbers are never reused. Only the segment being written is never deleted, which
//! keeps the highest seq on disk.
//!
//! When the spool holds more than `max_bytes`, the oldest closed segment is rewritten without
//! its routine events (stats, track starts); if it had none, it is dropped whole. Segments
//! whose newest record is older than `max_age_s` are dropped. Every dropped unacknowledged
//! event is counted and logged.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use gatewatch_core::config::{FsyncPolicy, SpoolConfig};

/// A closed segment is rotated at this size.
const SEGMENT_BYTES: u64 = 1024 * 1024;
const HEADER: usize = 8;
const BODY_FIXED: usize = 8 + 1 + 8 + 2;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool {0} is in use by another process")]
    Locked(PathBuf),
}

/// One event as it goes out.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub routine: bool,
    pub written_ms: i64,
    pub topic: String,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    offset: u64,
    len: u32,
    routine: bool,
    written_ms: i64,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
    entries: Vec<Entry>,
}

/// What the spool did since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub appended: u64,
    pub acked: u64,
    /// Unacknowledged routine events dropped because the spool was full.
    pub dropped_routine: u64,
    /// Unacknowledged other events dropped because the spool was full.
    pub dropped_important: u64,
    /// Unacknowledged events dropped because they were older than `max_age_s`.
    pub dropped_old: u64,
    /// Bytes cut off torn or corrupt segment tails at open.
    pub torn_bytes: u64,
}

impl SpoolStats {
    pub fn dropped(&self) -> u64 {
        self.dropped_routine + self.dropped_important + self.dropped_old
    }
}

pub struct Spool {
    dir: PathBuf,
    cfg: SpoolConfig,
    _lock: File,
    segments: VecDeque<Segment>,
    active: Option<File>,
    acked: u64,
    next_seq: u64,
    /// Entries with seq > acked (kept, not counted on every call: the publisher asks often).
    live: u64,
    stats: SpoolStats,
    unsynced: bool,
    last_sync: Instant,
}

impl Spool {
    pub fn open(cfg: &SpoolConfig) -> Result<Self, SpoolError> {
        let dir = cfg.dir.clone();
        let io_err = |source| SpoolError::Io { dir: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK")).map_err(io_err)?;
        if lock.try_lock().is_err() {
            return Err(SpoolError::Locked(dir));
        }
        let acked = match std::fs::read_to_string(dir.join("acked")) {
            Ok(s) => s.trim().parse().unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(e)),
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        names.sort();
        let mut stats = SpoolStats::default();
        let mut segments = VecDeque::new();
        let mut max_seq = acked;
        for path in names {
            let (entries, good_len, file_len) = scan(&path).map_err(io_err)?;
            if good_len < file_len {
                tracing::warn!(segment = %path.display(), cut = file_len - good_len, "spool: torn or corrupt tail cut off");
                stats.torn_bytes += file_len - good_len;
                OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(good_len)).map_err(io_err)?;
            }
            if let Some(last) = entries.last() {
                max_seq = max_seq.max(last.seq);
            }
            segments.push_back(Segment { path, bytes: good_len, entries });
        }
        let mut spool = Self {
            dir: dir.clone(),
            cfg: cfg.clone(),
            _lock: lock,
            segments,
            active: None,
            acked,
            next_seq: max_seq + 1,
            live: 0,
            stats,
            unsynced: false,
            last_sync: Instant::now(),
        };
        spool.live = spool.count_between(acked, u64::MAX);
        spool.collect_acked().map_err(io_err)?;
        tracing::info!(dir = %spool.dir.display(), acked, next_seq = spool.next_seq, unacked = spool.unacked(),
            bytes = spool.bytes(), "spool opened");
        Ok(spool)
    }

    fn io(&self, source: io::Error) -> SpoolError {
        SpoolError::Io { dir: self.dir.clone(), source }
    }

    /// The seq the next appended event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn acked(&self) -> u64 {
        self.acked
    }

    pub fn stats(&self) -> SpoolStats {
        self.stats
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Events held and not yet acknowledged.
    pub fn unacked(&self) -> u64 {
        self.live
    }

    /// Entries held with `lo < seq <= hi` (entries are sorted by seq within and across segments).
    fn count_between(&self, lo: u64, hi: u64) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.entries.first().is_some_and(|f| f.seq <= hi) && s.entries.last().is_some_and(|l| l.seq > lo))
            .map(|s| (s.entries.partition_point(|e| e.seq <= hi) - s.entries.partition_point(|e| e.seq <= lo)) as u64)
            .sum()
    }

    /// When the oldest event still unacknowledged was written (Unix ms); none when all are.
    pub fn oldest_unacked_ms(&self) -> Option<i64> {
        self.segments
            .iter()
            .filter(|s| s.entries.last().is_some_and(|l| l.seq > self.acked))
            .find_map(|s| s.entries.get(s.entries.partition_point(|e| e.seq <= self.acked)).map(|e| e.written_ms))
    }

    /// The oldest seq still held unacknowledged, or the next to be produced.
    pub fn floor(&self) -> u64 {
        self.segments.iter().flat_map(|s| &s.entries).map(|e| e.seq).find(|&s| s > self.acked).unwrap_or(self.next_seq)
    }

    /// Append one event under the next seq; `payload` is built knowing it. Not durable until
    /// [`sync`](Self::sync) (the caller batches appends, then syncs once).
    pub fn append(&mut self, topic: &str, routine: bool, payload: &[u8]) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        let written_ms = chrono::Utc::now().timestamp_millis();
        let rec = encode_record(seq, routine, written_ms, topic, payload);

        let rotate = self.segments.back().is_none_or(|s| s.bytes + rec.len() as u64 > SEGMENT_BYTES && s.bytes > 0);
        if rotate || self.active.is_none() {
            if rotate {
                self.sync()?;
                let path = self.dir.join(format!("{seq:020}.seg"));
                self.segments.push_back(Segment { path, bytes: 0, entries: Vec::new() });
            }
            let path = &self.segments.back().expect("a segment").path;
            let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| self.io(e))?;
            self.active = Some(file);
            if rotate {
                sync_dir(&self.dir).map_err(|e| self.io(e))?;
            }
        }
        let file = self.active.as_mut().expect("active segment");
        file.write_all(&rec).map_err(|e| SpoolError::Io { dir: self.dir.clone(), source: e })?;
        let seg = self.segments.back_mut().expect("a segment");
        seg.entries.push(Entry { seq, offset: seg.bytes, len: rec.len() as u32, routine, written_ms });
        seg.bytes += rec.len() as u64;
        self.next_seq += 1;
        self.stats.appended += 1;
        self.live += 1;
        self.unsynced = true;
        Ok(seq)
    }

    /// Make every append so far durable, as the fsync policy says: `batch` always,
    /// `interval` only once the interval has passed. Returns whether it synced.
    pub fn sync_per_policy(&mut self) -> Result<bool, SpoolError> {
        let due = match self.cfg.fsync {
            FsyncPolicy::Batch => true,
            FsyncPolicy::Interval => self.last_sync.elapsed().as_millis() as u64 >= self.cfg.fsync_interval_ms,
        };
        if due && self.unsynced {
            self.sync()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// fsync the segment being written.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced
            && let Some(f) = &self.active
        {
            f.sync_data().map_err(|e| self.io(e))?;
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Up to `max` records with seq > `after`, in order (read back from disk).
    pub fn read_after(&mut self, after: u64, max: usize) -> Result<Vec<Record>, SpoolError> {
        let mut out = Vec::new();
        let after = after.max(self.acked);
        for seg in &self.segments {
            if seg.entries.last().is_none_or(|e| e.seq <= after) {
                continue;
            }
            let mut file = File::open(&seg.path).map_err(|e| self.io(e))?;
            for e in seg.entries.iter().filter(|e| e.seq > after) {
                if out.len() >= max {
                    return Ok(out);
                }
                out.push(read_record(&mut file, e).map_err(|e| self.io(e))?);
            }
        }
        Ok(out)
    }

    /// The aggregator has stored everything up to `seq`.
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        let seq = seq.min(self.next_seq.saturating_sub(1));
        if seq <= self.acked {
            return Ok(());
        }
        let newly = self.count_between(self.acked, seq);
        self.stats.acked += newly;
        self.live -= newly;
        self.acked = seq;
        let tmp = self.dir.join("acked.tmp");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(format!("{seq}\n").as_bytes())?;
            if self.cfg.fsync == FsyncPolicy::Batch {
                f.sync_data()?;
            }
            std::fs::rename(&tmp, self.dir.join("acked"))
        };
        write().map_err(|e| self.io(e))?;
        self.collect_acked().map_err(|e| self.io(e))
    }

    /// Delete closed segments that hold nothing unacknowledged.
    fn collect_acked(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[0].entries.last().is_none_or(|e| e.seq <= self.acked) {
            let seg = self.segments.pop_front().expect("checked");
            std::fs::remove_file(&seg.path)?;
        }
        Ok(())
    }

    /// Apply the size and age bounds. Returns how many unacknowledged events were dropped.
    pub fn enforce_limits(&mut self) -> Result<u64, SpoolError> {
        let before = self.stats.dropped();
        let oldest_ok = chrono::Utc::now().timestamp_millis() - (self.cfg.max_age_s as i64) * 1000;
        while self.segments.len() > 1 && self.segments[0].entries.last().is_some_and(|e| e.written_ms < oldest_ok) {
            let seg = self.segments.pop_front().expect("checked");
            let lost = seg.entries.iter().filter(|e| e.seq > self.acked).count() as u64;
            self.stats.dropped_old += lost;
            self.live -= lost;
            std::fs::remove_file(&seg.path).map_err(|e| self.io(e))?;
        }
        // First strip routine events from the oldest closed segments, then drop the oldest whole.
        for i in 0..self.segments.len().saturating_sub(1) {
            if self.bytes() <= self.cfg.max_bytes {
                break;
            }
            if self.segments[i].entries.iter().any(|e| e.routine && e.seq > self.acked) {
                self.compact(i)?;
            }
        }
        while self.bytes() > self.cfg.max_bytes && self.segments.len() > 1 {
            let seg = self.segments.pop_front().expect("checked");
            let lost = seg.entries.iter().filter(|e| e.seq > self.acked).count() as u64;
            self.stats.dropped_important += lost;
            self.live -= lost;
            std::fs::remove_file(&seg.path).map_err(|e| self.io(e))?;
        }
        let dropped = self.stats.dropped() - before;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                dropped_routine = self.stats.dropped_routine,
                dropped_important = self.stats.dropped_important,
                dropped_old = self.stats.dropped_old,
                bytes = self.bytes(),
                "spool over its bounds: events dropped"
            );
        }
        Ok(dropped)
    }

    /// Offer every record held, acknowledged or not, to `change`, oldest first; a record for
    /// which it returns a new payload is rewritten with it (same seq, topic and flags), and
    /// each segment holding one is written anew (to a temporary file, fsynced, renamed over
    /// the old), without its acknowledged records. Returns how many records changed.
    pub fn rewrite(&mut self, mut change: impl FnMut(&Record) -> Option<Vec<u8>>) -> Result<u64, SpoolError> {
        let mut changed = 0;
        for i in 0..self.segments.len() {
            let mut records = Vec::with_capacity(self.segments[i].entries.len());
            {
                let seg = &self.segments[i];
                let mut file = File::open(&seg.path).map_err(|e| self.io(e))?;
                for e in &seg.entries {
                    records.push((*e, read_record(&mut file, e).map_err(|e| self.io(e))?));
                }
            }
            let mut new_payloads: Vec<Option<Vec<u8>>> = records.iter().map(|(_, r)| change(r)).collect();
            if new_payloads.iter().all(Option::is_none) {
                continue;
            }
            // The segment being written is closed first; the next append reopens it.
            if i == self.segments.len() - 1 {
                self.sync()?;
                self.active = None;
            }
            let seg_path = self.segments[i].path.clone();
            let tmp = seg_path.with_extension("tmp");
            let mut out = File::create(&tmp).map_err(|e| self.io(e))?;
            let (mut kept, mut offset) = (Vec::new(), 0u64);
            for ((e, r), new) in records.iter().zip(new_payloads.iter_mut()) {
                if e.seq <= self.acked {
                    continue;
                }
                changed += u64::from(new.is_some());
                let payload = new.take().unwrap_or_else(|| r.payload.clone());
                let rec = encode_record(r.seq, r.routine, r.written_ms, &r.topic, &payload);
                out.write_all(&rec).map_err(|e| self.io(e))?;
                kept.push(Entry { offset, len: rec.len() as u32, ..*e });
                offset += rec.len() as u64;
            }
            out.sync_data().map_err(|e| self.io(e))?;
            std::fs::rename(&tmp, &seg_path).map_err(|e| self.io(e))?;
            sync_dir(&self.dir).map_err(|e| self.io(e))?;
            let seg = &mut self.segments[i];
            seg.entries = kept;
            seg.bytes = offset;
        }
        Ok(changed)
    }

    /// Rewrite segment `i` keeping only its unacknowledged important events.
    fn compact(&mut self, i: usize) -> Result<(), SpoolError> {
        let acked = self.acked;
        let seg = &self.segments[i];
        let mut src = File::open(&seg.path).map_err(|e| self.io(e))?;
        let tmp = seg.path.with_extension("tmp");
        let mut out = File::create(&tmp).map_err(|e| self.io(e))?;
        let mut kept = Vec::new();
        let mut offset = 0u64;
        let mut dropped = 0;
        for e in &seg.entries {
            if e.seq <= acked {
                continue;
            }
            if e.routine {
                dropped += 1;
                continue;
            }
            let mut buf = vec![0u8; e.len as usize];
            src.seek(SeekFrom::Start(e.offset)).and_then(|_| src.read_exact(&mut buf)).map_err(|e| self.io(e))?;
            out.write_all(&buf).map_err(|e| self.io(e))?;
            kept.push(Entry { offset, ..*e });
            offset += e.len as u64;
        }
        out.sync_data().map_err(|e| self.io(e))?;
        let path = seg.path.clone();
        std::fs::rename(&tmp, &path).map_err(|e| self.io(e))?;
        self.stats.dropped_routine += dropped;
        self.live -= dropped;
        let seg = &mut self.segments[i];
        seg.entries = kept;
        seg.bytes = offset;
        Ok(())
    }
}

/// A record as it is on disk: `len | crc32(body) | body`.
fn encode_record(seq: u64, routine: bool, written_ms: i64, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(BODY_FIXED + topic.len() + payload.len());
    body.extend_from_slice(&seq.to_le_bytes());
    body.push(routine as u8);
    body.extend_from_slice(&written_ms.to_le_bytes());
    body.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(payload);
    let mut rec = Vec::with_capacity(HEADER + body.len());
    rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
    rec.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    rec.extend_from_slice(&body);
    rec
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_record(file: &mut File, e: &Entry) -> io::Result<Record> {
    let mut buf = vec![0u8; e.len as usize];
    file.seek(SeekFrom::Start(e.offset))?;
    file.read_exact(&mut buf)?;
    parse_body(&buf[HEADER..]).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "spool record changed on disk"))
}

fn parse_body(body: &[u8]) -> Option<Record> {
    if body.len() < BODY_FIXED {
        return None;
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().ok()?);
    let routine = body[8] != 0;
    let written_ms = i64::from_le_bytes(body[9..17].try_into().ok()?);
    let tlen = u16::from_le_bytes(body[17..19].try_into().ok()?) as usize;
    let topic = std::str::from_utf8(body.get(BODY_FIXED..BODY_FIXED + tlen)?).ok()?.to_string();
    let payload = body[BODY_FIXED + tlen..].to_vec();
    Some(Record { seq, routine, written_ms, topic, payload })
}

/// Entries of a segment file, the length of its good prefix, and its full length.
fn scan(path: &Path) -> io::Result<(Vec<Entry>, u64, u64)> {
    let data = std::fs::read(path)?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    let mut last_seq = 0;
    while at + HEADER <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(body) = data.get(at + HEADER..at + HEADER + len) else { break };
        if crc32fast::hash(body) != crc {
            break;
        }
        let Some(rec) = parse_body(body) else { break };
        if rec.seq <= last_seq {
            break;
        }
        last_seq = rec.seq;
        let len = (HEADER + len) as u32;
        entries.push(Entry { seq: rec.seq, offset: at as u64, len, routine: rec.routine, written_ms: rec.written_ms });
        at += len as usize;
    }
    Ok((entries, at as u64, data.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> SpoolConfig {
        SpoolConfig { dir: dir.to_path_buf(), max_bytes: 4 * SEGMENT_BYTES, ..Default::default() }
    }

    /// The unacknowledged count, the slow way.
    fn brute(s: &Spool) -> u64 {
        s.segments.iter().flat_map(|g| &g.entries).filter(|e| e.seq > s.acked).count() as u64
    }

    fn fill(spool: &mut Spool, n: usize, size: usize) {
        for i in 0..n {
            let routine = i % 2 == 0;
            spool.append("t/x", routine, &vec![b'a'; size]).unwrap();
        }
        spool.sync().unwrap();
    }

    #[test]
    fn survives_restart_and_never_reuses_seq() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        fill(&mut s, 10, 100);
        s.ack(4).unwrap();
        drop(s);
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        assert_eq!((s.acked(), s.next_seq(), s.unacked(), s.floor()), (4, 11, 6, 5));
        let recs = s.read_after(0, 100).unwrap();
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), (5..=10).collect::<Vec<_>>());
        assert_eq!(recs[0].topic, "t/x");
        s.ack(10).unwrap();
        assert_eq!((s.unacked(), s.floor()), (0, 11));
        assert_eq!(brute(&s), 0);
        drop(s);
        let s = Spool::open(&cfg(dir.path())).unwrap();
        assert_eq!(s.next_seq(), 11, "the written segment is kept, so seq continues");
    }

    #[test]
    fn oldest_unacked_is_the_first_after_the_ack() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        assert_eq!(s.oldest_unacked_ms(), None);
        let before = chrono::Utc::now().timestamp_millis();
        fill(&mut s, 4, 100);
        let after_first = chrono::Utc::now().timestamp_millis();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fill(&mut s, 4, 100);
        let first = s.oldest_unacked_ms().unwrap();
        assert!((before..=after_first).contains(&first), "{first} not in {before}..={after_first}");
        s.ack(4).unwrap();
        let fifth = s.oldest_unacked_ms().unwrap();
        assert!(fifth > after_first, "the fifth was written after the first four: {fifth} vs {after_first}");
        s.ack(8).unwrap();
        assert_eq!(s.oldest_unacked_ms(), None);
    }

    #[test]
    fn rewrite_changes_the_records_it_is_given_and_drops_acked_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        for i in 1..=6u8 {
            s.append("t/x", false, format!("secret-{i}").as_bytes()).unwrap();
        }
        s.ack(2).unwrap();
        let changed = s
            .rewrite(|r| (r.payload.ends_with(b"-2") || r.payload.ends_with(b"-4")).then(|| b"gone".to_vec()))
            .unwrap();
        assert_eq!(changed, 1, "seq 2 is acked: dropped, not counted");
        // Appends go on after the rewrite, in the same segment, and survive a reopen.
        s.append("t/x", false, b"secret-7").unwrap();
        s.sync().unwrap();
        drop(s);
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        let recs = s.read_after(0, 100).unwrap();
        let payloads: Vec<_> = recs.iter().map(|r| (r.seq, String::from_utf8(r.payload.clone()).unwrap())).collect();
        assert_eq!(
            payloads,
            vec![
                (3, "secret-3".into()),
                (4, "gone".into()),
                (5, "secret-5".into()),
                (6, "secret-6".into()),
                (7, "secret-7".into())
            ]
        );
        let on_disk: Vec<u8> = std::fs::read_dir(dir.path())
            .unwrap()
            .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap_or_default())
            .collect();
        for gone in [&b"secret-2"[..], b"secret-4"] {
            assert!(!on_disk.windows(gone.len()).any(|w| w == gone), "{:?} still on disk", std::str::from_utf8(gone));
        }
        assert_eq!(s.next_seq(), 8);
    }

    #[test]
    fn second_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _s = Spool::open(&cfg(dir.path())).unwrap();
        assert!(matches!(Spool::open(&cfg(dir.path())), Err(SpoolError::Locked(_))));
    }

    #[test]
    fn torn_tail_is_cut_at_the_last_good_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        fill(&mut s, 3, 50);
        let path = s.segments[0].path.clone();
        drop(s);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap(); // a header promising 200 bytes, then the power went
        drop(f);
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        assert_eq!(s.stats().torn_bytes, 7);
        assert_eq!(s.read_after(0, 10).unwrap().len(), 3);
        assert_eq!(s.append("t/x", false, b"z").unwrap(), 4);
    }

    #[test]
    fn bit_flip_stops_the_scan_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        fill(&mut s, 5, 50);
        let (path, second) = (s.segments[0].path.clone(), s.segments[0].entries[2].offset);
        drop(s);
        let mut data = std::fs::read(&path).unwrap();
        data[second as usize + 30] ^= 0x40;
        std::fs::write(&path, data).unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        assert_eq!(s.read_after(0, 10).unwrap().len(), 2);
    }

    #[test]
    fn full_spool_drops_routine_events_first_then_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&cfg(dir.path())).unwrap();
        // ~6 MiB in 10 KiB events, half routine, against a 4 MiB bound.
        fill(&mut s, 600, 10 * 1024);
        s.enforce_limits().unwrap();
        let st = s.stats();
        assert!(s.bytes() <= 4 * SEGMENT_BYTES, "bytes {}", s.bytes());
        assert!(st.dropped_routine > 0);
        assert_eq!(st.dropped_important, 0, "routine events alone made enough room: {st:?}");
        let kept = s.read_after(0, 1000).unwrap();
        assert_eq!(kept.len() as u64 + st.dropped(), 600);
        assert_eq!(s.unacked(), brute(&s));
        s.ack(300).unwrap();
        assert_eq!(s.unacked(), brute(&s));
        assert!(kept.windows(2).all(|w| w[0].seq < w[1].seq));
        // Now only important events: the oldest go whole.
        for _ in 0..400 {
            s.append("t/x", false, &[b'b'; 10 * 1024]).unwrap();
        }
        s.enforce_limits().unwrap();
        assert!(s.bytes() <= 4 * SEGMENT_BYTES);
        assert!(s.stats().dropped_important > 0);
        assert!(s.floor() > 1, "floor tells the aggregator what is gone");
        let kept = s.read_after(0, 10_000).unwrap();
        assert_eq!(kept.last().unwrap().seq, 1000, "newest events are kept");
        assert_eq!(s.unacked(), brute(&s));
        assert_eq!(s.unacked(), kept.len() as u64);
        drop(s);
        let s = Spool::open(&cfg(dir.path())).unwrap();
        assert_eq!(s.next_seq(), 1001);
    }

    #[test]
    fn old_events_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path());
        c.max_age_s = 1;
        let mut s = Spool::open(&c).unwrap();
        fill(&mut s, 200, 10 * 1024); // two segments
        std::thread::sleep(std::time::Duration::from_millis(1100));
        s.append("t/x", false, b"new").unwrap();
        s.enforce_limits().unwrap();
        assert!(s.stats().dropped_old > 0);
        assert_eq!(s.read_after(0, 1000).unwrap().last().unwrap().payload, b"new");
    }
}
