//! Plate lists the police and the compounds keep: who is wanted, who lives here, who has a
//! visitor pass. Pure data and matching; the store loads it, the rules read it.
//!
//! Matching is fuzzy with [`plate::confusion_distance`]: an OCR that reads 8 for B, or S for 5,
//! still hits the list. Each list kind has its own maximum distance: a wanted list can afford
//! a looser match (an officer judges the alert) than the resident list (a false "known" lets
//! a stranger pass unremarked).

use std::collections::BTreeMap;
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    pub kind: ListKind,
    /// Normalised plate.
    pub plate: String,
    /// What the officer needs to know: a case number, a flat, a host's name. Free text,
    /// at most 200 characters.
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
        if label.chars().count() > 200 || label.chars().any(char::is_control) {
            return Err("label: at most 200 characters, no control characters".into());
        }
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

#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<ListEntry>,
    max_distance: BTreeMap<ListKind, f32>,
}

impl Registry {
    pub fn new(entries: Vec<ListEntry>, max_distance: BTreeMap<ListKind, f32>) -> Self {
        Self { entries, max_distance }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn limit(&self, kind: ListKind) -> f32 {
        self.max_distance.get(&kind).copied().unwrap_or_else(|| kind.default_max_distance())
    }

    /// Entries valid at `at` that one of `reads` matches within its list's distance; the best
    /// read per entry, closest first.
    pub fn matches(&self, reads: &[&str], at: DateTime<Utc>) -> Vec<PlateMatch> {
        let mut out: Vec<PlateMatch> = self
            .entries
            .iter()
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
        out.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.kind.cmp(&b.kind)));
        out
    }

    /// A resident's car or a visitor with a pass valid at `at`.
    pub fn is_known(&self, reads: &[&str], at: DateTime<Utc>) -> bool {
        self.matches(reads, at).iter().any(|m| !m.kind.alerts())
    }
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

    #[test]
    fn hostile_entries_are_refused() {
        for bad in ["'); DROP TABLE plate_lists;--", "<img src=x>", "AB\u{202e}12", "AB\u{0}1", &"A".repeat(10_000)] {
            assert!(ListEntry::new(ListKind::Wanted, bad, "", None, None).is_err(), "{bad:?}");
        }
        assert!(ListEntry::new(ListKind::Wanted, "AB12", "bell\u{7}", None, None).is_err());
        assert!(ListEntry::new(ListKind::Visitor, "AB12", "", None, None).is_err(), "a pass needs an end");
        let (a, b) = (Some(t("2026-11-28T10:00:00Z")), Some(t("2026-11-28T09:00:00Z")));
        assert!(ListEntry::new(ListKind::Visitor, "AB12", "", a, b).is_err());
    }
}
