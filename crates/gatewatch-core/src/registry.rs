//! Plate lists the police and the compounds keep: who is wanted, who lives here, who has a
//! visitor pass. Pure data and matching; the store loads it, the rules read it.
//!
//! Matching is fuzzy with [`plate::confusion_distance`]: an OCR that reads 8 for B, or S for 5,
//! still hits the list. Each list kind has its own maximum distance: a wanted list can afford
//! a looser match (an officer judges the alert) than the resident list (a false "known" lets
//! a stranger pass unremarked).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    Wanted,
    Stolen,
    Banned,
    Resident,
    Visitor,
}

impl ListKind {
    pub const ALL: [ListKind; 5] = [Self::Wanted, Self::Stolen, Self::Banned, Self::Resident, Self::Visitor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wanted => "wanted",
            Self::Stolen => "stolen",
            Self::Banned => "banned",
            Self::Resident => "resident",
            Self::Visitor => "visitor",
        }
    }

    /// A match on this list raises an alert.
    pub fn alerts(self) -> bool {
        matches!(self, Self::Wanted | Self::Stolen | Self::Banned)
    }

    /// Default maximum confusion distance for a match.
    pub fn default_max_distance(self) -> f32 {
        if self.alerts() { 1.0 } else { 0.5 }
    }
}

impl FromStr for ListKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown list {s:?} (wanted, stolen, banned, resident, visitor)"))
    }
}

/// Longest list label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    pub kind: ListKind,
    /// Normalised plate.
    pub plate: String,
    /// What the officer needs to know: a case number, a flat, a host's name. Free text,
    /// at most [`MAX_LABEL_CHARS`], checked by [`crate::text::check_free_text`].
    pub label: String,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl ListEntry {
    /// Build an entry from outside text, normalising and checking everything.
    pub fn new(
        kind: ListKind,
        plate_text: &str,
        label: &str,
        valid_from: Option<DateTime<Utc>>,
        valid_to: Option<DateTime<Utc>>,
    ) -> Result<Self, String> {
        let plate = plate::normalize(plate_text).map_err(|e| format!("plate: {e}"))?;
        crate::text::check_free_text(label, MAX_LABEL_CHARS).map_err(|e| format!("label: {e}"))?;
        if let (Some(a), Some(b)) = (valid_from, valid_to)
            && a >= b
        {
            return Err("valid_from must be before valid_to".into());
        }
        if kind == ListKind::Visitor && valid_to.is_none() {
            return Err("a visitor pass needs valid_to".into());
        }
        Ok(Self { kind, plate, label: label.into(), valid_from, valid_to })
    }

    pub fn valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|f| f <= at) && self.valid_to.is_none_or(|t| at < t)
    }
}

/// One list entry a read plate matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateMatch {
    pub kind: ListKind,
    /// The entry's plate. Personal data.
    pub entry_plate: String,
    pub label: String,
    /// The read (the voted plate or a candidate) that matched best.
    pub read: String,
    pub distance: f32,
}

/// The lists, indexed for matching: a city's stolen-vehicle list has 10^5 entries, and every
/// plate read is matched against all of them.
///
/// A read matches an entry within confusion distance `d` only if, after folding each character
/// to its confusion group (0/O/D/Q to 0, 8/B to 8, ...: those substitutions cost 0.5, never
/// more), the two folded texts are within plain edit distance `floor(d)`. Two texts within edit
/// distance `k` share a string made by deleting at most `k` characters from each (the symmetric
/// delete scheme). So every entry is indexed under the hashes of its folded deletion variants,
/// up to its kind's `k`; a read looks up its own variants, and only the entries found are
/// checked with the exact [`plate::confusion_distance`]. Entries whose kind allows more than
/// [`MAX_INDEXED_EDITS`] edits are few in practice and are checked one by one.
///
/// Entries can be put and removed one at a time (list changes reach the aggregator as such).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Entry slots; `None` is a removed entry whose slot waits in `free`.
    slots: Vec<Option<ListEntry>>,
    free: Vec<u32>,
    by_key: HashMap<(ListKind, String), u32>,
    /// Hash of a folded deletion variant -> the slots indexed under it.
    index: HashMap<u64, Vec<u32>>,
    /// Slots of kinds whose distance allows more edits than are indexed.
    unindexed: Vec<u32>,
    max_distance: BTreeMap<ListKind, f32>,
}

/// Deletion variants are indexed up to this many edits (1 covers the default distances 0.5 and
/// 1.0; 2 edits of an 8-character plate would mean 37 variants per entry).
pub const MAX_INDEXED_EDITS: usize = 1;

impl Registry {
    pub fn new(entries: Vec<ListEntry>, max_distance: BTreeMap<ListKind, f32>) -> Self {
        let mut r = Self { max_distance, ..Self::default() };
        for e in entries {
            r.put(e);
        }
        r
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn limit(&self, kind: ListKind) -> f32 {
        self.max_distance.get(&kind).copied().unwrap_or_else(|| kind.default_max_distance())
    }

    /// Edits a match on this kind may need beyond confusions.
    fn edits(&self, kind: ListKind) -> usize {
        self.limit(kind).max(0.0).floor() as usize
    }

    /// Add an entry, or replace the one with the same kind and plate.
    pub fn put(&mut self, e: ListEntry) {
        let key = (e.kind, e.plate.clone());
        if let Some(&slot) = self.by_key.get(&key) {
            self.slots[slot as usize] = Some(e); // same plate: same index keys
            return;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let edits = self.edits(e.kind);
        if edits > MAX_INDEXED_EDITS {
            self.unindexed.push(slot);
        } else {
            for h in variants(&fold(&e.plate), edits) {
                let ids = self.index.entry(h).or_default();
                if !ids.contains(&slot) {
                    ids.push(slot);
                }
            }
        }
        self.slots[slot as usize] = Some(e);
        self.by_key.insert(key, slot);
    }

    /// Remove the entry with this kind and (normalised) plate; false if there was none.
    pub fn remove(&mut self, kind: ListKind, plate: &str) -> bool {
        let Some(slot) = self.by_key.remove(&(kind, plate.to_string())) else { return false };
        let edits = self.edits(kind);
        if edits > MAX_INDEXED_EDITS {
            self.unindexed.retain(|s| *s != slot);
        } else {
            for h in variants(&fold(plate), edits) {
                if let Some(ids) = self.index.get_mut(&h) {
                    ids.retain(|s| *s != slot);
                    if ids.is_empty() {
                        self.index.remove(&h);
                    }
                }
            }
        }
        self.slots[slot as usize] = None;
        self.free.push(slot);
        true
    }

    /// The slots that may match one of `reads`: indexed under one of their variants, or
    /// unindexed.
    fn candidates(&self, reads: &[&str]) -> Vec<u32> {
        let mut out: Vec<u32> = self.unindexed.clone();
        for r in reads {
            for h in variants(&fold(r), MAX_INDEXED_EDITS) {
                if let Some(ids) = self.index.get(&h) {
                    out.extend(ids);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Entries valid at `at` that one of `reads` matches within its list's distance; the best
    /// read per entry, closest first.
    pub fn matches(&self, reads: &[&str], at: DateTime<Utc>) -> Vec<PlateMatch> {
        let mut out: Vec<PlateMatch> = self
            .candidates(reads)
            .into_iter()
            .filter_map(|slot| self.slots[slot as usize].as_ref())
            .filter(|e| e.valid_at(at))
            .filter_map(|e| {
                let (read, distance) = reads
                    .iter()
                    .map(|r| (*r, plate::confusion_distance(r, &e.plate)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))?;
                (distance <= self.limit(e.kind)).then(|| PlateMatch {
                    kind: e.kind,
                    entry_plate: e.plate.clone(),
                    label: e.label.clone(),
                    read: read.into(),
                    distance,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            a.distance.total_cmp(&b.distance).then(a.kind.cmp(&b.kind)).then(a.entry_plate.cmp(&b.entry_plate))
        });
        out
    }

    /// Every entry, valid or not at any time, that one of `reads` matches within its list's
    /// distance (a visitor pass that has expired included).
    pub fn entries_for(&self, reads: &[&str]) -> Vec<&ListEntry> {
        self.candidates(reads)
            .into_iter()
            .filter_map(|slot| self.slots[slot as usize].as_ref())
            .filter(|e| reads.iter().any(|r| plate::confusion_distance(r, &e.plate) <= self.limit(e.kind)))
            .collect()
    }

    /// A resident's car or a visitor with a pass valid at `at`.
    pub fn is_known(&self, reads: &[&str], at: DateTime<Utc>) -> bool {
        self.matches(reads, at).iter().any(|m| !m.kind.alerts())
    }
}

/// Each character folded to its OCR confusion group's first member (O, D, Q to 0; B to 8; ...).
fn fold(text: &str) -> Vec<char> {
    text.chars().map(plate::confusion_group).collect()
}

/// Hashes of `chars` and of every string made by deleting up to `edits` of its characters.
fn variants(chars: &[char], edits: usize) -> Vec<u64> {
    let mut out = vec![hash(chars)];
    let mut level = vec![chars.to_vec()];
    for _ in 0..edits {
        let mut next = Vec::new();
        for v in &level {
            for i in 0..v.len() {
                let mut d = v.clone();
                d.remove(i);
                next.push(d);
            }
        }
        next.sort_unstable();
        next.dedup();
        out.extend(next.iter().map(|v| hash(v)));
        level = next;
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn hash(chars: &[char]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn registry() -> Registry {
        Registry::new(
            vec![
                ListEntry::new(ListKind::Wanted, "京A·88B01", "case 114", None, None).unwrap(),
                ListEntry::new(ListKind::Resident, "京B12345", "flat 3-201", None, None).unwrap(),
                ListEntry::new(
                    ListKind::Visitor,
                    "沪C55555",
                    "guest of 5-102",
                    Some(t("2026-11-28T08:00:00Z")),
                    Some(t("2026-11-28T20:00:00Z")),
                )
                .unwrap(),
            ],
            BTreeMap::new(),
        )
    }

    #[test]
    fn confusions_still_match_the_wanted_list() {
        let r = registry();
        let now = t("2026-11-28T12:00:00Z");
        let m = r.matches(&["京A8BB01"], now); // B read for 8: a half-cost confusion
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].kind, m[0].distance, m[0].entry_plate.as_str()), (ListKind::Wanted, 0.5, "京A88B01"));
        let m = r.matches(&["京A8BB0I"], now); // and I for 1: two confusions
        assert_eq!(m[0].distance, 1.0);
        assert!(r.matches(&["京A77701"], now).is_empty());
        // A candidate can match where the voted text does not.
        let m = r.matches(&["京A99901", "京A88B01"], now);
        assert_eq!((m[0].read.as_str(), m[0].distance), ("京A88B01", 0.0));
    }

    #[test]
    fn visitor_passes_hold_only_in_their_window() {
        let r = registry();
        assert!(!r.is_known(&["沪C55555"], t("2026-11-28T07:59:59Z")));
        assert!(r.is_known(&["沪C55555"], t("2026-11-28T08:00:00Z")));
        assert!(r.is_known(&["沪C5555S"], t("2026-11-28T19:59:59Z")), "one confusion is within 0.5");
        assert!(!r.is_known(&["沪C55555"], t("2026-11-28T20:00:00Z")));
        assert!(r.is_known(&["京B12345"], t("2030-01-01T00:00:00Z")), "residents have no end");
        assert!(!r.is_known(&["京B12346"], t("2026-11-28T12:00:00Z")), "a full substitution is too far");
    }

    /// The index finds exactly what a scan of every entry finds, for reads near entries
    /// (confusions, insertions, deletions, substitutions) and far from them, at every
    /// configured distance, also after entries are replaced and removed.
    #[test]
    fn indexed_matching_equals_a_full_scan() {
        let scan = |entries: &[ListEntry], limits: &BTreeMap<ListKind, f32>, reads: &[&str], at| {
            let limit = |k: ListKind| limits.get(&k).copied().unwrap_or_else(|| k.default_max_distance());
            let mut out: Vec<(String, ListKind, f32)> = entries
                .iter()
                .filter(|e| e.valid_at(at))
                .filter_map(|e| {
                    let d = reads.iter().map(|r| plate::confusion_distance(r, &e.plate)).fold(f32::INFINITY, f32::min);
                    (d <= limit(e.kind)).then(|| (e.plate.clone(), e.kind, d))
                })
                .collect();
            out.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)).then(a.0.cmp(&b.0)));
            out
        };
        let mut seed = 7u64;
        let mut next = move |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZOI";
        let random_plate = |next: &mut dyn FnMut(usize) -> usize| {
            let len = 5 + next(3);
            let mut p = String::from("京");
            for _ in 0..len {
                p.push(ALPHABET[next(ALPHABET.len())] as char);
            }
            p
        };
        let kinds = ListKind::ALL;
        let mut entries: Vec<ListEntry> = (0..400)
            .map(|i| {
                let kind = kinds[i % kinds.len()];
                let to = (kind == ListKind::Visitor).then(|| t("2026-11-28T20:00:00Z"));
                ListEntry::new(kind, &random_plate(&mut next), "x", None, to).unwrap()
            })
            .collect();
        entries.sort_by(|a, b| (a.kind, &a.plate).cmp(&(b.kind, &b.plate)));
        entries.dedup_by(|a, b| (a.kind, &a.plate) == (b.kind, &b.plate));
        let at = t("2026-11-28T12:00:00Z");
        let mutate = |p: &str, next: &mut dyn FnMut(usize) -> usize| -> String {
            let mut c: Vec<char> = p.chars().collect();
            for _ in 0..1 + next(2) {
                let i = next(c.len());
                match next(4) {
                    0 => c[i] = ['0', 'O', 'D', 'Q', '8', 'B', '1', 'I', '5', 'S'][next(10)],
                    1 => c[i] = ALPHABET[next(ALPHABET.len())] as char,
                    2 if c.len() > 2 => drop(c.remove(i)),
                    _ => c.insert(i, ALPHABET[next(ALPHABET.len())] as char),
                }
            }
            c.into_iter().collect()
        };
        for limits in [
            BTreeMap::new(),
            BTreeMap::from([(ListKind::Stolen, 1.5), (ListKind::Resident, 0.0)]),
            BTreeMap::from([(ListKind::Wanted, 2.5)]), // more edits than indexed: scanned
        ] {
            let mut r = Registry::new(entries.clone(), limits.clone());
            let mut live = entries.clone();
            for round in 0..3 {
                for i in 0..300 {
                    let base = &live[next(live.len())].plate;
                    let read = if i % 5 == 0 { random_plate(&mut next) } else { mutate(base, &mut next) };
                    let other = mutate(base, &mut next);
                    let reads = [read.as_str(), other.as_str()];
                    let got: Vec<_> =
                        r.matches(&reads, at).into_iter().map(|m| (m.entry_plate, m.kind, m.distance)).collect();
                    assert_eq!(
                        got,
                        scan(&live, &limits, &reads, at),
                        "round {round}, reads {reads:?}, limits {limits:?}"
                    );
                }
                // Changes, applied one at a time: remove a tenth, relabel some, add new ones.
                for _ in 0..40 {
                    let gone = live.remove(next(live.len()));
                    assert!(r.remove(gone.kind, &gone.plate));
                    assert!(!r.remove(gone.kind, &gone.plate), "already gone");
                }
                for _ in 0..40 {
                    let e = ListEntry::new(ListKind::Stolen, &random_plate(&mut next), "new", None, None).unwrap();
                    if !live.iter().any(|l| (l.kind, &l.plate) == (e.kind, &e.plate)) {
                        live.push(e.clone());
                    }
                    r.put(e);
                }
                assert_eq!(r.len(), live.len());
            }
        }
    }

    #[test]
    fn hostile_entries_are_refused() {
        for bad in ["'); DROP TABLE plate_lists;--", "<img src=x>", "AB\u{202e}12", "AB\u{0}1", &"A".repeat(10_000)] {
            assert!(ListEntry::new(ListKind::Wanted, bad, "", None, None).is_err(), "{bad:?}");
        }
        // Labels: the same hostile strings, as the README promises (control, bidi, markup).
        for bad in ["bell\u{7}", "<img src=x>", "AB\u{202e}12", "guest\u{200b}", "<script>x</script>", &"A".repeat(201)]
        {
            let refused = ListEntry::new(ListKind::Wanted, "AB12", bad, None, None);
            assert!(refused.as_ref().is_err_and(|e| e.starts_with("label: ")), "{bad:?}: {refused:?}");
        }
        assert!(
            ListEntry::new(ListKind::Wanted, "AB12", "'); DROP TABLE plate_lists;--", None, None).is_ok(),
            "data, bound"
        );
        assert!(ListEntry::new(ListKind::Visitor, "AB12", "", None, None).is_err(), "a pass needs an end");
        let (a, b) = (Some(t("2026-11-28T10:00:00Z")), Some(t("2026-11-28T09:00:00Z")));
        assert!(ListEntry::new(ListKind::Visitor, "AB12", "", a, b).is_err());
    }
}
