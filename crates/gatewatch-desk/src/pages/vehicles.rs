//! "Where was this vehicle seen": a plate typed by an officer, matched as the rules match
//! (confusion distance: 0/O/D, 8/B, 1/I cost half an edit), against every plate read of the
//! look-up window, with the list entries it is on and its visits. Every look-up is audited.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Query, State};
use chrono::Duration;
use gatewatch_core::plate::{confusion_distance, normalize};
use gatewatch_store::{PlateSighting, VisitFilter};
use maud::{Markup, html};
use serde::Deserialize;

use super::{given, shown};
use crate::layout::{self, Nav};
use crate::{Desk, Refusal, User};

/// The widest confusion distance a sighting may be from the typed plate: an alerting list's.
pub const LOOKUP_DISTANCE: f32 = 1.0;
/// Most plate reads searched per look-up, and most sightings shown.
const MAX_SCANNED: i64 = 1_000_000;
const MAX_SHOWN: usize = 500;

#[derive(Deserialize)]
pub struct LookupQuery {
    plate: Option<String>,
}

/// The sightings of `typed` among `reads`, closest first then newest, with their distance.
pub fn matching(typed: &str, reads: Vec<PlateSighting>) -> Vec<(PlateSighting, f32)> {
    let mut out: Vec<(PlateSighting, f32)> = reads
        .into_iter()
        .filter_map(|s| {
            let d = s.plates.iter().map(|p| confusion_distance(typed, p)).min_by(f32::total_cmp)?;
            (d <= LOOKUP_DISTANCE).then_some((s, d))
        })
        .collect();
    out.sort_by(|a, b| b.0.at.cmp(&a.0.at).then(a.1.total_cmp(&b.1)));
    out
}

/// What a look-up found for a plate: its sightings (closest reads, newest first), the list
/// entries it matches, and the visits of the plates it was read as.
pub(crate) struct Lookup {
    pub plate: String,
    pub found: Vec<(PlateSighting, f32)>,
    pub entries: Vec<gatewatch_core::registry::ListEntry>,
    pub visits: Vec<gatewatch_store::StoredVisit>,
}

/// Look a typed plate up for `who` (audited, from `source`), over the look-up window.
pub(crate) async fn look_up(desk: &Desk, who: &str, source: Option<String>, raw: &str) -> Result<Lookup, Refusal> {
    let plate = normalize(raw).map_err(|e| Refusal::BadRequest(format!("plate: {e}")))?;
    let now = desk.now();
    // Up to an hour ahead: a gate box's clock may run a little ahead of the desk's.
    let reads = desk.store.plate_sightings(now - desk.settings.lookup, now + Duration::hours(1), MAX_SCANNED).await?;
    let found = matching(&plate, reads);
    let entries = desk
        .store
        .list_entries()
        .await?
        .into_iter()
        .filter(|e| confusion_distance(&plate, &e.plate) <= e.kind.default_max_distance())
        .collect();
    let voted: BTreeSet<&str> = found.iter().filter_map(|(s, _)| s.plates.first().map(String::as_str)).collect();
    let mut visits = Vec::new();
    for p in voted.into_iter().take(10) {
        let filter = VisitFilter { plate: Some(p.to_string()), limit: 50, ..Default::default() };
        visits.extend(desk.store.visits(&filter).await?);
    }
    desk.audit(who, "vehicle_lookup", &plate, Some(format!("{} sightings", found.len())), source).await?;
    Ok(Lookup { plate, found, entries, visits })
}

/// `GET /vehicles?plate=…`.
pub async fn lookup(
    State(desk): State<Arc<Desk>>,
    user: User,
    Query(q): Query<LookupQuery>,
) -> Result<Markup, Refusal> {
    let t = user.t();
    let result = match given(&q.plate) {
        None => None,
        Some(raw) => Some(look_up(&desk, user.name(), user.audit_source(), raw).await?),
    };
    let typed = result.as_ref().map(|r| r.plate.clone());
    let (found, entries, visits) = match result {
        Some(r) => (r.found, r.entries, r.visits),
        None => Default::default(),
    };
    let days = desk.settings.lookup.num_days();
    let body = html! {
        form.box method="get" action="/vehicles" {
            label { (t.plate) " " input #plate-query type="text" name="plate" maxlength="32" value=(typed.as_deref().unwrap_or_default()) autofocus; }
            button #lookup type="submit" { (t.lookup_button) }
            p.muted { (t.lookup_hint) " " (t.lookup_days) ": " (days) }
        }
        @if typed.is_some() {
            @if !entries.is_empty() {
                h2 { (t.lookup_on_lists) }
                table #entries {
                    @for e in &entries {
                        tr {
                            td { (t.list_kind(e.kind)) }
                            td { span.plate { (shown(&e.plate)) } }
                            td { (shown(&e.label)) }
                            td { (e.valid_from.map(|f| desk.time(f)).unwrap_or_else(|| t.always.into())) " — "
                                 (e.valid_to.map(|f| desk.time(f)).unwrap_or_else(|| t.always.into())) }
                        }
                    }
                }
            }
            h2 { (t.lookup_seen) " (" (found.len()) ")" }
            @if found.is_empty() { p #nothing { (t.nothing_found) } }
            table #sightings {
                @for (s, d) in found.iter().take(MAX_SHOWN) {
                    tr {
                        td { (desk.time(s.at)) }
                        td { (s.site) " / " (s.edge) " / " (s.camera) }
                        td { (t.read_as) " " @for p in &s.plates { span.plate { (shown(p)) } " " } }
                        td { (t.distance) " " (format!("{d:.1}")) }
                        td {
                            img.thumb src={ "/pictures/" (s.event_id) "/plate" } alt=(t.plate_picture) loading="lazy";
                            " "
                            img.thumb src={ "/pictures/" (s.event_id) "/vehicle" } alt=(t.vehicle_picture) loading="lazy";
                        }
                    }
                }
            }
            @if !visits.is_empty() {
                h2 { (t.lookup_visits) }
                table #visits {
                    @for v in &visits {
                        tr {
                            td { span.plate { (shown(&v.plate)) } }
                            td { (v.site) }
                            td { (t.entered) " " (v.entered_at.map(|x| desk.time(x)).unwrap_or_default()) " " (v.entry_camera.as_deref().unwrap_or_default()) }
                            td { (t.left) " " (v.left_at.map(|x| desk.time(x)).unwrap_or_default()) " " (v.exit_camera.as_deref().unwrap_or_default()) }
                            td { (v.state) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&user, Nav::Vehicles, t.nav_vehicles, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn seen(id: &str, secs: i64, plates: &[&str]) -> PlateSighting {
        PlateSighting {
            event_id: id.into(),
            site: "s".into(),
            edge: "e".into(),
            camera: "c".into(),
            at: Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap(),
            track: None,
            plates: plates.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn look_alikes_match_and_other_plates_do_not() {
        let reads = vec![
            seen("exact", 1, &["京A12340"]),
            seen("o-for-0", 3, &["京A1234O"]),
            seen("candidate", 2, &["京A12849", "京A12340"]),
            seen("other", 4, &["沪C99999"]),
            seen("two-off", 5, &["京A12377"]),
        ];
        let found = matching("京A12340", reads);
        let ids: Vec<&str> = found.iter().map(|(s, _)| s.event_id.as_str()).collect();
        assert_eq!(ids, ["o-for-0", "candidate", "exact"], "newest first; two edits away is another car");
        assert_eq!(found[0].1, 0.5);
        assert_eq!(found[1].1, 0.0, "a candidate read counts");
    }
}
