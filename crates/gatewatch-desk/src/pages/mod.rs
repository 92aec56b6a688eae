//! The desk's pages, one module per page. Each handler takes the user it serves (the
//! extractor checks the session and, for admin pages, the role), reads the store, audits what
//! must be audited and renders with maud (every value escaped).

pub mod alerts;
pub mod audit;
pub mod gates;
pub mod lists;
pub mod login;
pub mod users;
pub mod vehicles;

use chrono::{DateTime, NaiveDateTime, Utc};
use gatewatch_core::rules::LocalTime;

use crate::Refusal;

/// A form or query field: empty means not given.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A `datetime-local` field (`2026-12-04T08:00`, seconds optional) in the sites' local time.
fn local_time(local: LocalTime, field: &str, s: &Option<String>) -> Result<Option<DateTime<Utc>>, Refusal> {
    let Some(s) = given(s) else { return Ok(None) };
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| Refusal::BadRequest(format!("{field}: {s:?} is not a date and time")))?;
    local.to_utc(naive).map(Some).ok_or_else(|| Refusal::BadRequest(format!("{field}: no such local time")))
}

/// A `datetime-local` value for a time, in the sites' local time.
fn local_field(local: LocalTime, at: DateTime<Utc>) -> String {
    local.local(at).format("%Y-%m-%dT%H:%M").to_string()
}

/// Free text from a form (a note, a label): checked like the CLI's (no markup, controls or
/// bidi tricks), at most `max` characters.
fn free_text(field: &str, s: &Option<String>, max: usize) -> Result<Option<String>, Refusal> {
    let Some(s) = given(s) else { return Ok(None) };
    gatewatch_core::text::check_free_text(s, max).map_err(|e| Refusal::BadRequest(format!("{field}: {e}")))?;
    Ok(Some(s.to_string()))
}

/// Text from outside as shown on a page: maud escapes markup; control and invisible format
/// characters (bidi overrides, zero-width) are written out as `\u{202e}`, so that what an
/// officer reads is what was stored, in its order.
fn shown(s: &str) -> String {
    gatewatch_core::text::for_terminal(s)
}
