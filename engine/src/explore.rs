//! What the read-only commands compute from a timeline, before deciding what to restore:
//! a key's history with what each entry did ([`history`]), the difference between the
//! states at two instants ([`diff`]), and the activity chart with its incidents
//! ([`chart`]). The CLI lists and prints; these are data in, data out.

pub mod chart;
pub mod diff;
pub mod history;
