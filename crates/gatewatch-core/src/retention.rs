//! How long each class of stored data is kept: the policy and the cut-off times it gives at a
//! moment (pure; the store deletes, the aggregator runs it hourly). An age of 0 keeps a class
//! for ever.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// `[retention]`: the age, in days, past which each class is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Heartbeats (`camera_stats`) and track starts: they feed no rule.
    pub routine_days: f64,
    /// Every event (zones, lines, parking, track ends, camera status, and the plate reads of
    /// listed vehicles).
    pub events_days: f64,
    /// Plate reads of vehicles on no list (sooner than `events_days`), and the visits they
    /// made. A read that matches a list entry is kept as long as the other events.
    pub plate_reads_days: f64,
    /// Pictures (track snapshots, plate and vehicle crops, camera views): removed from the
    /// events that keep them.
    pub snapshots_days: f64,
    /// Resolved and false-alarm alerts, with their history and sightings (open ones stay).
    pub alerts_days: f64,
    /// The desk's audit log.
    pub audit_days: f64,
    /// Payloads the aggregator refused (they may carry plates and pictures).
    pub rejected_days: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            routine_days: 7.0,
            events_days: 90.0,
            plate_reads_days: 30.0,
            snapshots_days: 30.0,
            alerts_days: 365.0,
            audit_days: 365.0,
            rejected_days: 30.0,
        }
    }
}

/// Before when each class goes, at one moment; `None` = kept.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cutoffs {
    pub routine: Option<DateTime<Utc>>,
    pub events: Option<DateTime<Utc>>,
    pub plate_reads: Option<DateTime<Utc>>,
    pub snapshots: Option<DateTime<Utc>>,
    pub alerts: Option<DateTime<Utc>>,
    pub audit: Option<DateTime<Utc>>,
    pub rejected: Option<DateTime<Utc>>,
}

impl RetentionConfig {
    /// The cut-offs at `now`.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        let at = |days: f64| (days > 0.0).then(|| now - Duration::milliseconds((days * 86_400_000.0) as i64));
        Cutoffs {
            routine: at(self.routine_days),
            events: at(self.events_days),
            plate_reads: at(self.plate_reads_days),
            snapshots: at(self.snapshots_days),
            alerts: at(self.alerts_days),
            audit: at(self.audit_days),
            rejected: at(self.rejected_days),
        }
    }

    /// Every problem, as `retention.field: what is wrong`.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        let fields = [
            ("routine_days", self.routine_days),
            ("events_days", self.events_days),
            ("plate_reads_days", self.plate_reads_days),
            ("snapshots_days", self.snapshots_days),
            ("alerts_days", self.alerts_days),
            ("audit_days", self.audit_days),
            ("rejected_days", self.rejected_days),
        ];
        for (name, days) in fields {
            // The rules replay the last 24 h of events at start: keep at least two days.
            if !(days.is_finite() && (days == 0.0 || (2.0..=36_500.0).contains(&days))) {
                e.push(format!("retention.{name}: must be 0 (keep) or 2 to 36500 days"));
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_its_own_cutoff_and_zero_keeps() {
        let now: DateTime<Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
        let cfg = RetentionConfig { audit_days: 0.0, ..Default::default() };
        let c = cfg.cutoffs(now);
        assert_eq!(c.routine, Some("2026-11-27T12:00:00Z".parse().unwrap()));
        assert_eq!(c.plate_reads, Some("2026-11-04T12:00:00Z".parse().unwrap()));
        assert_eq!(c.audit, None);
        assert!(cfg.validate().is_empty());
        let bad = RetentionConfig { routine_days: 0.5, events_days: f64::NAN, alerts_days: -1.0, ..Default::default() };
        assert_eq!(bad.validate().len(), 3, "{:?}", bad.validate());
    }
}
