//! Gates and cameras: which are online, when each was last heard from, its frame rate and
//! dropped frames from the latest heartbeat, whether its view is covered, its latest thumbnail
//! and the last day's in/out counts at its lines.

use std::sync::Arc;

use axum::extract::State;
use chrono::Duration;
use maud::{Markup, html};

use crate::layout::{self, Nav};
use crate::{Desk, Refusal, User};

/// Cameras heard from within this long are listed.
const LISTED_FOR: Duration = Duration::days(7);
/// Line crossings are counted over this long.
const COUNTED_FOR: Duration = Duration::hours(24);
/// An "online" camera silent for longer than this is shown as unknown: its gate box may have
/// lost power before it could say so (the aggregator then records it offline on the last will).
const SILENT_AFTER: Duration = Duration::minutes(5);

/// `GET /gates`.
pub async fn gates(State(desk): State<Arc<Desk>>, user: User) -> Result<Markup, Refusal> {
    let t = user.t();
    let now = desk.now();
    let cams = desk.store.camera_status(now - LISTED_FOR).await?;
    // In and out at each camera's counting lines over the last day, all classes.
    let crossed = desk.store.events_captured("line_crossed", now - COUNTED_FOR, now + Duration::hours(1)).await?;
    let mut counts: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    for (k, (i, o)) in gatewatch_core::lines::tally(&crossed) {
        let n = counts.entry((k.site, k.camera)).or_default();
        (n.0, n.1) = (n.0 + i, n.1 + o);
    }
    let body = html! {
        @if cams.is_empty() { p { (t.no_cameras) } }
        table #cameras {
            thead { tr {
                th { (t.site) } th { (t.gate) } th { (t.camera) } th { (t.state) } th { (t.last_event) }
                th { (t.fps) } th { (t.dropped) } th { (t.view) } th { (t.counts_day) } th { (t.thumbnail) }
            } }
            tbody {
                @for c in &cams {
                    @let silent = c.last_event_at.is_none_or(|at| now - at > SILENT_AFTER);
                    @let (class, label) = match c.online {
                        Some(true) if !silent => ("state-resolved", t.online),
                        Some(false) => ("state-open", t.offline),
                        _ => ("state-acknowledged", t.unknown),
                    };
                    tr {
                        td { (c.site) } td { (c.edge) } td { (c.camera) }
                        td class=(class) { (label) }
                        td { (c.last_event_at.map(|at| desk.time(at)).unwrap_or_default()) }
                        td { (c.decoded_fps.map(|f| format!("{f:.1}")).unwrap_or_default()) }
                        td { (c.dropped.map(|d| d.to_string()).unwrap_or_default()) }
                        td class=(if c.tampered { "state-open" } else { "" }) {
                            (if c.tampered { t.view_covered } else { t.view_ok })
                        }
                        td {
                            @if let Some((i, o)) = counts.get(&(c.site.clone(), format!("{}/{}", c.edge, c.camera))) {
                                (t.entered) " " (i) " · " (t.left) " " (o)
                            }
                        }
                        td {
                            @if let Some(ev) = &c.thumbnail_event {
                                img.thumb src={ "/pictures/" (ev) "/snapshot" } alt=(t.thumbnail) loading="lazy";
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&user, Nav::Gates, t.nav_gates, body))
}
