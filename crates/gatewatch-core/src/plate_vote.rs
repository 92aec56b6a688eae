//! Multi-frame plate voting: one bad frame must not decide a plate.
//!
//! Every read of a track's plate adds votes: first for the plate's length (weighted by the
//! read's mean confidence), then, among reads of the winning length, per position for each
//! character (weighted by that character's probability). The vote is stable once it has
//! `min_reads` reads, its text has not changed over the last `min_reads - 1` of them, and
//! its confidence is at least `min_confidence`.

use std::collections::HashMap;

/// One read: characters with their probabilities.
pub type Read = Vec<(char, f32)>;

#[derive(Debug, Clone, PartialEq)]
pub struct VoteResult {
    pub text: String,
    /// Mean over positions of the winning character's share of that position's votes.
    pub confidence: f32,
    /// Distinct texts read, with their summed weights, best first (at most 3).
    pub candidates: Vec<(String, f32)>,
    pub reads: u32,
}

#[derive(Debug, Clone)]
pub struct PlateVote {
    reads: Vec<Read>,
    history: Vec<String>,
    pub min_reads: u32,
    pub min_confidence: f32,
}

impl Default for PlateVote {
    fn default() -> Self {
        Self { reads: Vec::new(), history: Vec::new(), min_reads: 3, min_confidence: 0.7 }
    }
}

fn weight(read: &Read) -> f32 {
    if read.is_empty() { 0.0 } else { read.iter().map(|c| c.1).sum::<f32>() / read.len() as f32 }
}

impl PlateVote {
    /// Add one read (ignored when empty).
    pub fn add(&mut self, read: Read) {
        if read.is_empty() {
            return;
        }
        self.reads.push(read);
        if self.reads.len() > 32 {
            self.reads.remove(0);
        }
        if let Some(r) = self.result() {
            self.history.push(r.text);
        }
    }

    pub fn reads(&self) -> u32 {
        self.reads.len() as u32
    }

    pub fn result(&self) -> Option<VoteResult> {
        let mut by_len: HashMap<usize, f32> = HashMap::new();
        for r in &self.reads {
            *by_len.entry(r.len()).or_default() += weight(r);
        }
        let (&len, _) = by_len.iter().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))?;
        let mut text = String::new();
        let mut confidence = 0.0;
        for pos in 0..len {
            let mut votes: HashMap<char, f32> = HashMap::new();
            for r in self.reads.iter().filter(|r| r.len() == len) {
                *votes.entry(r[pos].0).or_default() += r[pos].1;
            }
            let total: f32 = votes.values().sum();
            let (&ch, &w) = votes.iter().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))?;
            text.push(ch);
            confidence += if total > 0.0 { w / total } else { 0.0 };
        }
        let mut texts: HashMap<String, f32> = HashMap::new();
        for r in &self.reads {
            *texts.entry(r.iter().map(|c| c.0).collect()).or_default() += weight(r);
        }
        let mut candidates: Vec<(String, f32)> = texts.into_iter().collect();
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(3);
        Some(VoteResult { text, confidence: confidence / len.max(1) as f32, candidates, reads: self.reads() })
    }

    /// Enough agreeing reads to publish.
    pub fn is_stable(&self) -> bool {
        let need = self.min_reads.max(1) as usize;
        let Some(r) = self.result() else { return false };
        self.reads.len() >= need
            && r.confidence >= self.min_confidence
            && self.history.len() >= need - 1
            && self.history[self.history.len() - (need - 1)..].iter().all(|t| *t == r.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, p: f32) -> Read {
        s.chars().map(|c| (c, p)).collect()
    }

    #[test]
    fn one_bad_frame_is_outvoted() {
        let mut v = PlateVote::default();
        v.add(read("京A12345", 0.9));
        v.add(read("京A1234S", 0.95)); // a confident misread of one character
        v.add(read("京A12345", 0.8));
        let r = v.result().unwrap();
        assert_eq!(r.text, "京A12345");
        assert_eq!(r.reads, 3);
        assert_eq!(r.candidates[0].0, "京A12345");
        assert_eq!(r.candidates.len(), 2);
        assert!(r.confidence > 0.9 && r.confidence < 1.0, "{r:?}");
    }

    #[test]
    fn length_is_voted_before_characters() {
        let mut v = PlateVote::default();
        v.add(read("京A123456", 0.5));
        v.add(read("京A12345", 0.9));
        v.add(read("京A12345", 0.9));
        assert_eq!(v.result().unwrap().text, "京A12345");
    }

    #[test]
    fn stability_needs_agreeing_reads() {
        let mut v = PlateVote::default();
        v.add(read("AB123", 0.9));
        v.add(read("AB123", 0.9));
        assert!(!v.is_stable(), "two reads are not enough");
        v.add(read("AB123", 0.9));
        assert!(v.is_stable());
        let mut w = PlateVote::default();
        for s in ["AB123", "XY987", "AB123"] {
            w.add(read(s, 0.9));
        }
        assert!(!w.is_stable(), "one read in three disagrees everywhere: confidence 0.67");
        v.add(Vec::new());
        assert_eq!(v.reads(), 3, "empty reads are ignored");
    }
}
