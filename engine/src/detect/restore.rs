//! From findings to restore targets: the instant before the first incident
//! (`--before-corruption`) and the per-key target (`--per-key`).

use super::ScanReport;
use crate::state::{BucketState, StateEntry};
use crate::timeline::Timeline;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;

/// The instant to restore the whole bucket to: 1 ms before the earliest reported
/// incident's first bad write (`None` when nothing was found).
///
/// [`Timeline::state_at`] is inclusive, and S3 timestamps have whole seconds, so the
/// state at this instant holds every write of the seconds before the incident and none
/// of the second it started in (a healthy write in that very second is lost with it).
pub fn restore_point(report: &ScanReport) -> Option<DateTime<Utc>> {
    let start = report.incidents.iter().map(|i| i.start).min()?;
    Some(
        start
            .checked_sub_signed(TimeDelta::milliseconds(1))
            .unwrap_or(start),
    )
}

/// The target state of a `--per-key` restore: the timeline's current state with every
/// affected key replaced by its last good version, or removed when it has none (the key
/// did not exist before the incident).
///
/// Keys without a finding are exactly as in [`Timeline::current`], so a plan from the
/// current state to this target never touches them. A key affected by several incidents
/// goes back to before the oldest of its first bad versions (in list order). Affected
/// keys or versions that are not in `timeline` (a report from another listing) are left
/// as they are. The returned state has `at: None` (it is not the state of one instant)
/// and carries no uncertain or ambiguous keys.
pub fn per_key_target(timeline: &Timeline, report: &ScanReport) -> BucketState {
    // key -> (index of its first bad entry, index of its last good version if any)
    let mut overrides: BTreeMap<&str, (usize, Option<usize>)> = BTreeMap::new();
    for a in report.incidents.iter().flat_map(|i| &i.keys) {
        let Some(h) = timeline.get(&a.key) else {
            continue;
        };
        let Some(bad) = h
            .entries
            .iter()
            .position(|v| v.version_id == a.first_bad_version)
        else {
            continue;
        };
        let good = h
            .entries
            .get(bad + 1)
            .filter(|v| !v.delete_marker)
            .map(|_| bad + 1);
        overrides
            .entry(h.key.as_str())
            .and_modify(|o| {
                if bad > o.0 {
                    *o = (bad, good);
                }
            })
            .or_insert((bad, good));
    }
    let mut state = timeline.current();
    let mut objects: BTreeMap<&str, StateEntry> = BTreeMap::new();
    for e in &state.objects {
        if !overrides.contains_key(e.key.as_str()) {
            objects.insert(e.key.as_str(), e.clone());
        }
    }
    for (key, (_, good)) in &overrides {
        if let (Some(g), Some(h)) = (good, timeline.get(key)) {
            objects.insert(
                key,
                StateEntry {
                    key: (*key).to_owned(),
                    version: h.entries[*g].clone(),
                },
            );
        }
    }
    let objects: Vec<StateEntry> = objects.into_values().collect();
    state.objects = objects;
    state
}
