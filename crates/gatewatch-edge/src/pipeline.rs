//! The two pieces that let decoding, inference and tracking overlap.
//!
//! ```text
//! camera reader ─▶ FrameQueue (per camera: at most one frame waiting, newest wins) ─▶
//!   camera tracker ─ submit ─▶ DetectorPool (N sessions, shared) ─ reply ─▶ camera tracker
//! ```
//!
//! The reader never waits for inference on a live source: a due frame replaces the one still
//! waiting, and the replaced frame is counted as dropped. A file played as fast as it goes
//! waits instead, so every due frame of a clip is inferred. The tracker keeps up to `N + 1`
//! frames in flight in the pool and takes their results in frame order; results come back through
//! the camera's queue, so the tracker wakes for a result or a new frame, whichever is first.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use gatewatch_core::config::VisionConfig;
use gatewatch_core::detection::Detection;
use gatewatch_core::frame::Frame;
use gatewatch_vision::detector::Timings;
use gatewatch_vision::{Detector, VisionError};
use prometheus_client::metrics::histogram::Histogram;

/// What a camera reader hands its tracker, in stream order.
#[derive(Debug)]
pub(crate) enum Item {
    /// A frame due for detection.
    Frame(Frame),
    /// A due frame the motion gate found still: the tracker keeps the last detections.
    Still(Frame),
    /// Frames flow (again).
    Online { width: u32, height: u32, at: DateTime<Utc> },
    /// The source failed: close open tracks if it had been online, report once per outage.
    Offline { why: String, at: DateTime<Utc>, close: bool, report: bool },
    /// `decoded` frames in `period_s` seconds of stream time.
    Stats { at: DateTime<Utc>, decoded: u64, period_s: f64 },
    /// The camera stops for good.
    End { why: String, at: DateTime<Utc> },
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Item>,
    frames: usize,
    dropped: u64,
    closed: bool,
    /// Detection results back from the pool, by the tracker's submission number.
    results: HashMap<u64, Detected>,
}

/// What the tracker gets from [`FrameQueue::next`].
pub(crate) enum Next {
    Item(Item),
    Result(Detected),
    Closed,
}

/// One camera's hand-over from reader to tracker, and from the pool back to the tracker, on
/// one lock so the tracker waits for whichever comes first. Holds at most one waiting frame;
/// control items are never dropped (there are a handful per outage).
#[derive(Default)]
pub(crate) struct FrameQueue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

impl FrameQueue {
    /// The state, also after a panic elsewhere (it holds plain data, consistent between
    /// statements), so that one thread's panic never takes the others down with it.
    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, s: MutexGuard<'a, QueueState>) -> MutexGuard<'a, QueueState> {
        self.changed.wait(s).unwrap_or_else(PoisonError::into_inner)
    }

    /// Hand over a due frame (`Item::Frame` or `Item::Still`). `newest_wins`: replace a frame
    /// still waiting (counted as dropped); otherwise wait until the tracker took it. A closed
    /// queue takes nothing. A still frame that replaces a frame due for detection is detected
    /// instead: it was still only against that frame, which now nobody detects.
    pub fn put_frame(&self, mut item: Item, newest_wins: bool) {
        debug_assert!(is_frame(&item));
        let mut s = self.state();
        while s.frames > 0 && !s.closed {
            if newest_wins {
                if let Some(i) = s.items.iter().position(is_frame) {
                    let replaced = s.items.remove(i);
                    if matches!(replaced, Some(Item::Frame(_)))
                        && let Item::Still(frame) = item
                    {
                        item = Item::Frame(frame);
                    }
                    s.frames -= 1;
                    s.dropped += 1;
                }
                break;
            }
            s = self.wait(s);
        }
        if s.closed {
            return;
        }
        s.items.push_back(item);
        s.frames += 1;
        self.changed.notify_all();
    }

    pub fn put(&self, item: Item) {
        let mut s = self.state();
        if s.closed {
            return;
        }
        s.items.push_back(item);
        self.changed.notify_all();
    }

    /// The tracker's next step: the result of submission `result` when it is in, else (when
    /// `take` says there is room in the pipeline) the reader's next item; waits for either.
    /// `Closed` once the reader is gone and nothing is left to wait for.
    pub fn next(&self, result: Option<u64>, take: bool) -> Next {
        let mut s = self.state();
        loop {
            if let Some(r) = result.and_then(|n| s.results.remove(&n)) {
                return Next::Result(r);
            }
            if take && let Some(item) = s.items.pop_front() {
                if is_frame(&item) {
                    s.frames -= 1;
                    self.changed.notify_all();
                }
                return Next::Item(item);
            }
            if result.is_none() && s.closed {
                return Next::Closed;
            }
            s = self.wait(s);
        }
    }

    /// A detection result for submission `n` (from the pool).
    fn deliver(&self, n: u64, detected: Detected) {
        self.state().results.insert(n, detected);
        self.changed.notify_all();
    }

    /// No more items will come, or none will be taken: wakes a waiting reader and tracker.
    /// The reader closes it when its source ends; the tracker's [`CloseOnDrop`] when the
    /// tracker ends (normally, or by a panic), so a reader never waits for a tracker that is
    /// gone.
    pub fn close(&self) {
        self.state().closed = true;
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Frames replaced before the tracker took them.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

fn is_frame(item: &Item) -> bool {
    matches!(item, Item::Frame(_) | Item::Still(_))
}

/// Closes the queue when dropped: held by the tracker thread, so that its end, even by a
/// panic, releases the reader.
pub(crate) struct CloseOnDrop(pub Arc<FrameQueue>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A frame back from the pool with what was found in it.
pub(crate) type Detected = (Frame, Result<Vec<Detection>, VisionError>);

struct Job {
    frame: Frame,
    n: u64,
    reply: Arc<FrameQueue>,
}

fn stopped() -> VisionError {
    VisionError::Ort("detector pool stopped".into())
}

/// `workers` detectors on their own threads, fed from one queue shared by all cameras
/// (first come, first served; each camera has at most [`DetectorPool::depth`] frames in it).
pub(crate) struct DetectorPool {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<Timings>>>,
    size: usize,
}

impl DetectorPool {
    /// Load every detector first, so a bad model fails the start instead of a thread.
    /// `inference` (the edge's metrics) gets each call's ONNX Runtime time.
    pub fn new(cfg: &VisionConfig, inference: Option<Histogram>) -> Result<Self, VisionError> {
        let size = cfg.workers.max(1);
        let detectors = (0..size).map(|_| Detector::new(cfg)).collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for (i, mut detector) in detectors.into_iter().enumerate() {
            let (rx, inference) = (rx.clone(), inference.clone());
            let thread = std::thread::Builder::new().name(format!("detector-{i}")).spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok(Job { frame, n, reply }) = job else { break };
                    let before = detector.timings().inference;
                    let found = detector.detect(&frame.rgb, frame.width, frame.height);
                    if let Some(h) = &inference {
                        h.observe((detector.timings().inference - before).as_secs_f64());
                    }
                    reply.deliver(n, (frame, found));
                }
                detector.timings()
            });
            threads.push(thread.map_err(|e| VisionError::Ort(format!("detector thread: {e}")))?);
        }
        Ok(Self { jobs: Mutex::new(Some(tx)), threads: Mutex::new(threads), size })
    }

    /// Frames a camera keeps in the pool: one per detector plus one queued, so a detector
    /// that finishes finds its next frame waiting while the tracker handles the result.
    pub fn depth(&self) -> usize {
        self.size + 1
    }

    /// Queue a frame as the camera's submission `n`; the result goes to `reply`.
    pub fn submit(&self, frame: Frame, n: u64, reply: &Arc<FrameQueue>) {
        let job = Job { frame, n, reply: reply.clone() };
        let refused = match self.jobs.lock().expect("pool lock").as_ref() {
            Some(tx) => tx.send(job).err().map(|mpsc::SendError(job)| job),
            None => Some(job),
        };
        if let Some(job) = refused {
            job.reply.deliver(job.n, (job.frame, Err(stopped())));
        }
    }

    /// Stop the detectors (after the cameras) and sum their timings.
    pub fn finish(&self) -> Timings {
        self.jobs.lock().expect("pool lock").take();
        let threads = std::mem::take(&mut *self.threads.lock().expect("pool lock"));
        threads.into_iter().filter_map(|t| t.join().ok()).fold(Timings::default(), Timings::plus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pts_ns: u64) -> Frame {
        Frame { camera: "c".into(), pts_ns, captured_at: Utc::now(), width: 1, height: 1, rgb: vec![0; 3] }
    }

    fn pts(next: Next) -> Option<u64> {
        match next {
            Next::Item(Item::Frame(f)) => Some(f.pts_ns),
            _ => None,
        }
    }

    #[test]
    fn newest_frame_wins_and_the_loser_is_counted() {
        let q = FrameQueue::default();
        q.put_frame(Item::Frame(frame(1)), true);
        q.put_frame(Item::Frame(frame(2)), true);
        q.put(Item::Stats { at: Utc::now(), decoded: 3, period_s: 1.0 });
        q.put_frame(Item::Frame(frame(3)), true);
        assert_eq!(q.dropped(), 2);
        assert!(matches!(q.next(None, true), Next::Item(Item::Stats { decoded: 3, .. })), "controls kept, in order");
        assert_eq!(pts(q.next(None, true)), Some(3));
        q.close();
        assert!(matches!(q.next(None, true), Next::Closed));
    }

    #[test]
    fn a_still_frame_replacing_a_due_detection_is_detected() {
        let q = FrameQueue::default();
        q.put_frame(Item::Frame(frame(1)), true);
        q.put_frame(Item::Still(frame(2)), true); // still against frame 1, which is replaced
        assert!(matches!(q.next(None, true), Next::Item(Item::Frame(f)) if f.pts_ns == 2));
        q.put_frame(Item::Still(frame(3)), true);
        q.put_frame(Item::Still(frame(4)), true); // replacing a still frame: stays still
        assert!(matches!(q.next(None, true), Next::Item(Item::Still(f)) if f.pts_ns == 4));
        assert_eq!(q.dropped(), 2);
    }

    #[test]
    fn a_file_reader_waits_instead_of_dropping() {
        let q = Arc::new(FrameQueue::default());
        let reader = {
            let q = q.clone();
            std::thread::spawn(move || (1..=50).for_each(|i| q.put_frame(Item::Frame(frame(i)), false)))
        };
        let mut seen = Vec::new();
        while seen.len() < 50 {
            if let Some(p) = pts(q.next(None, true)) {
                seen.push(p);
            }
        }
        reader.join().unwrap();
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
        assert_eq!(q.dropped(), 0);
    }

    /// A tracker that panics (holding the queue's lock, the worst case) releases a file
    /// reader waiting for it, and the queue takes nothing more.
    #[test]
    fn a_panicking_tracker_releases_a_waiting_reader() {
        let q = Arc::new(FrameQueue::default());
        let reader = {
            let q = q.clone();
            std::thread::spawn(move || {
                (1..=3).for_each(|i| q.put_frame(Item::Frame(frame(i)), false));
                q.is_closed()
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        let tracker = {
            let q = q.clone();
            std::thread::spawn(move || {
                let _release = CloseOnDrop(q.clone());
                let _held = q.state.lock().unwrap();
                panic!("tracker bug");
            })
        };
        assert!(tracker.join().is_err());
        assert!(reader.join().unwrap(), "the reader got out and saw the queue closed");
        q.put(Item::Stats { at: Utc::now(), decoded: 1, period_s: 1.0 });
        assert_eq!(q.state().items.len(), 1, "only the frame waiting at the panic; nothing after");
    }

    #[test]
    fn close_wakes_a_waiting_tracker() {
        let q = Arc::new(FrameQueue::default());
        let t = {
            let q = q.clone();
            std::thread::spawn(move || matches!(q.next(None, true), Next::Closed))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        q.close();
        assert!(t.join().unwrap());
    }

    #[test]
    fn a_result_is_taken_before_more_frames_only_when_it_is_the_one_awaited() {
        let q = Arc::new(FrameQueue::default());
        q.put_frame(Item::Frame(frame(7)), true);
        q.deliver(2, (frame(2), Ok(vec![])));
        // Waiting for submission 1: its result is not in, so the waiting frame comes out.
        assert_eq!(pts(q.next(Some(1), true)), Some(7));
        // Pipeline full: wait for submission 1 only, which a detector delivers later.
        let late = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(30));
                q.deliver(1, (frame(1), Ok(vec![])));
            })
        };
        assert!(matches!(q.next(Some(1), false), Next::Result((f, Ok(_))) if f.pts_ns == 1));
        assert!(matches!(q.next(Some(2), false), Next::Result((f, Ok(_))) if f.pts_ns == 2));
        late.join().unwrap();
    }
}
