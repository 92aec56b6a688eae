//! End-to-end delivery between an edge and the aggregator, beyond MQTT's one-hop QoS 1.
//!
//! Every event carries a per-edge sequence number (`seq`, from 1, never reused: it survives
//! restarts in the edge's spool). The aggregator answers with a cumulative ack on
//! `gatewatch/v1/{site}/{edge}/ack`: "every event of yours up to `seq` is stored (or was
//! rejected for good)". The edge keeps each event on disk until such an ack covers it, and
//! replays the rest in order after any reconnect, restart or ack stall.
//!
//! A gap the aggregator cannot close by itself (the edge dropped events because its spool was
//! full or too old) is closed by the edge's retained status message: its `floor` is the oldest
//! sequence number the edge still holds unacknowledged, so everything below it is done.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// Settled seqs kept above a gap, per edge, at most.
const MAX_AHEAD: usize = 100_000;

/// The aggregator's cumulative ack to one edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub seq: u64,
}

/// An edge's retained status (also its MQTT last will, with `online: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeStatus {
    pub online: bool,
    /// Oldest sequence number the edge still holds unacknowledged (next to be produced when
    /// it holds none). Absent in the last will; present in the offline status an edge
    /// publishes itself when it stops cleanly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<u64>,
    /// Events in the spool, not yet acknowledged.
    #[serde(default)]
    pub spooled: u64,
    /// Events the spool dropped since the edge started (full or too old).
    #[serde(default)]
    pub dropped: u64,
}

/// The largest `seq` of one edge below which everything is accounted for.
#[derive(Debug, Default, Clone)]
pub struct Watermark {
    done: u64,
    ahead: BTreeSet<u64>,
}

impl Watermark {
    /// Everything up to here is stored.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// An event with this seq is stored (or a duplicate of a stored one, or rejected for good).
    pub fn settle(&mut self, seq: u64) {
        if seq > self.done {
            self.ahead.insert(seq);
            self.advance();
            // Bounded: far-ahead seqs beyond this are forgotten (a replay settles them again).
            if self.ahead.len() > MAX_AHEAD {
                self.ahead.pop_last();
            }
        }
    }

    /// The edge holds nothing unacknowledged below `floor`.
    pub fn floor(&mut self, floor: u64) {
        if floor > self.done.saturating_add(1) {
            self.done = floor - 1;
            self.ahead = self.ahead.split_off(&floor);
            self.advance();
        }
    }

    fn advance(&mut self) {
        // Checked: a hostile seq or floor near u64::MAX must not overflow.
        while let Some(next) = self.done.checked_add(1)
            && self.ahead.first() == Some(&next)
        {
            self.ahead.pop_first();
            self.done = next;
        }
    }
}

/// Watermarks of every edge, and which acks are due to be published.
#[derive(Debug, Default)]
pub struct AckBook {
    /// Per edge: its watermark, the ack to publish again unless it is this one (none: due
    /// whatever it is), and the highest ack published.
    edges: HashMap<(String, String), (Watermark, Option<u64>, u64)>,
}

impl AckBook {
    pub fn settle(&mut self, site: &str, edge: &str, seq: u64) {
        self.entry(site, edge).0.settle(seq);
        // A replay of something already acked must be acked again: the edge lost our ack.
        let e = self.entry(site, edge);
        if seq <= e.0.done() {
            e.1 = None;
        }
    }

    pub fn floor(&mut self, site: &str, edge: &str, floor: u64) {
        self.entry(site, edge).0.floor(floor);
    }

    /// Acks to publish now: every edge whose watermark moved since its last published ack.
    pub fn due(&mut self) -> Vec<(String, String, Ack)> {
        let mut out = Vec::new();
        for ((site, edge), (mark, sent, acked)) in &mut self.edges {
            if mark.done() > 0 && *sent != Some(mark.done()) {
                *sent = Some(mark.done());
                *acked = (*acked).max(mark.done());
                out.push((site.clone(), edge.clone(), Ack { seq: mark.done() }));
            }
        }
        out
    }

    /// Per edge, events settled but not covered by the last published ack: those waiting for
    /// the next ack, and those held behind a gap in the sequence.
    pub fn lag(&self) -> Vec<(String, String, u64)> {
        self.edges
            .iter()
            .map(|((site, edge), (mark, _, acked))| {
                let waiting = mark.done().saturating_sub(*acked);
                (site.clone(), edge.clone(), waiting + mark.ahead.len() as u64)
            })
            .collect()
    }

    fn entry(&mut self, site: &str, edge: &str) -> &mut (Watermark, Option<u64>, u64) {
        self.edges.entry((site.to_string(), edge.to_string())).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn watermark_waits_for_gaps() {
        let mut w = Watermark::default();
        for s in [1, 2, 4, 5] {
            w.settle(s);
        }
        assert_eq!(w.done(), 2);
        w.settle(3);
        assert_eq!(w.done(), 5);
        w.settle(2);
        assert_eq!(w.done(), 5);
    }

    #[test]
    fn floor_closes_what_the_edge_dropped() {
        let mut w = Watermark::default();
        for s in [1, 2, 7, 8, 10] {
            w.settle(s);
        }
        w.floor(7);
        assert_eq!(w.done(), 8, "3..=6 were dropped at the edge; 9 is still owed");
        w.floor(3);
        assert_eq!(w.done(), 8, "an old floor never moves the mark back");
    }

    #[test]
    fn lag_counts_what_waits_for_an_ack_and_what_a_gap_holds() {
        let mut b = AckBook::default();
        for seq in [1, 2, 3] {
            b.settle("s", "e", seq);
        }
        assert_eq!(b.lag(), vec![("s".into(), "e".into(), 3)], "stored, none acked yet");
        b.due();
        assert_eq!(b.lag(), vec![("s".into(), "e".into(), 0)]);
        b.settle("s", "e", 5);
        b.settle("s", "e", 6);
        b.due();
        assert_eq!(b.lag(), vec![("s".into(), "e".into(), 2)], "5 and 6 wait for 4");
        b.settle("s", "e", 4);
        assert_eq!(b.lag(), vec![("s".into(), "e".into(), 3)], "4..=6 wait for the next ack");
        b.due();
        assert_eq!(b.lag(), vec![("s".into(), "e".into(), 0)]);
    }

    #[test]
    fn book_re_acks_replays() {
        let mut b = AckBook::default();
        b.settle("s", "e", 1);
        b.settle("s", "e", 2);
        assert_eq!(b.due(), vec![("s".into(), "e".into(), Ack { seq: 2 })]);
        assert!(b.due().is_empty());
        b.settle("s", "e", 2);
        assert_eq!(b.due(), vec![("s".into(), "e".into(), Ack { seq: 2 })], "replayed event gets acked again");
    }

    #[test]
    fn seqs_and_floors_at_the_top_of_the_range_do_not_overflow() {
        let mut w = Watermark::default();
        w.floor(u64::MAX);
        assert_eq!(w.done(), u64::MAX - 1);
        w.settle(u64::MAX);
        assert_eq!(w.done(), u64::MAX);
        w.settle(u64::MAX);
        w.floor(u64::MAX);
        assert_eq!(w.done(), u64::MAX);
    }

    proptest! {
        /// Whatever the arrival order and duplicates, the mark is the longest settled prefix.
        #[test]
        fn mark_is_longest_prefix(seqs in proptest::collection::vec(1u64..60, 0..200)) {
            let mut w = Watermark::default();
            for &s in &seqs {
                w.settle(s);
            }
            let set: BTreeSet<u64> = seqs.iter().copied().collect();
            let mut expect = 0;
            while set.contains(&(expect + 1)) {
                expect += 1;
            }
            prop_assert_eq!(w.done(), expect);
        }
    }
}
