//! From findings to restore targets: the instant before the first incident
//! (`--before-corruption`) and the per-key target (`--per-key`).

use super::ScanReport;
use super::analysis::SUFFIX_STARTS;
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

/// Keys an incident says it created (no last good version) whose name is another key
/// plus a suffix, where that other key is deleted now, got its delete marker within
/// `gap_secs` of the copy, and is not in the incident: `(copy, original)` per incident.
///
/// The engine pulls the deleted original of every flagged copy into the incident when
/// its delete marker falls within `gap` of the incident and inside the scan window. An
/// original deleted outside that window (`--since`/`--until` cutting between the copy and
/// the delete) still comes without its copy's pair, and `--per-key` would then delete the
/// copy and leave the original deleted. This finds those so the user is told.
pub fn rename_gaps(
    timeline: &Timeline,
    report: &ScanReport,
    gap_secs: i64,
) -> Vec<(usize, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for incident in &report.incidents {
        let listed: std::collections::HashSet<&str> =
            incident.keys.iter().map(|k| k.key.as_str()).collect();
        let mut gaps = Vec::new();
        for k in incident
            .keys
            .iter()
            .filter(|k| k.last_good_version.is_none())
        {
            let name_start = k.key.rfind('/').map_or(0, |i| i + 1);
            let original = k.key[name_start..]
                .char_indices()
                .filter(|&(i, c)| i > 0 && c.is_ascii() && SUFFIX_STARTS.contains(&(c as u8)))
                .map(|(i, _)| &k.key[..name_start + i])
                .rev() // the shortest suffix first: `a.tar.gz` is `a.tar` before `a`
                .find(|orig| {
                    !listed.contains(orig)
                        && timeline
                            .get(orig)
                            .and_then(|h| h.head())
                            .is_some_and(|head| {
                                head.delete_marker
                                    && (head.last_modified - k.first_bad_at).num_seconds().abs()
                                        <= gap_secs.max(1)
                            })
                });
            if let Some(orig) = original {
                gaps.push((k.key.clone(), orig.to_owned()));
            }
        }
        if !gaps.is_empty() {
            out.push((incident.id, gaps));
        }
    }
    out
}
