//! `undelete`: which keys are deleted now, what brings each back, and the target state of
//! a copy-back undelete (planned by [`crate::plan()`] like any restore).

use crate::model::Version;
use crate::state::{BucketState, StateEntry};
use crate::timeline::Timeline;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One entry of a key's history, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryRef {
    /// The version id of the version or delete marker.
    pub version_id: String,
    /// Its `LastModified`.
    pub last_modified: DateTime<Utc>,
}

impl From<&Version> for EntryRef {
    fn from(v: &Version) -> Self {
        EntryRef {
            version_id: v.version_id.to_string(),
            last_modified: v.last_modified,
        }
    }
}

/// A key whose current version is a delete marker, and what brings it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedKey {
    /// The key.
    pub key: String,
    /// When it was deleted: the oldest delete marker above its last version.
    pub deleted_at: DateTime<Utc>,
    /// The delete markers above the last version, newest first.
    pub markers: Vec<EntryRef>,
    /// The last version (its newest entry that is not a delete marker).
    #[serde(skip)]
    pub last: Version,
    /// The last version's id (for JSON).
    pub last_version_id: String,
    /// The last version's size in bytes.
    pub size: u64,
}

/// A deleted key that cannot be brought back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// What the listing says is deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Keys to bring back, sorted by key.
    pub keys: Vec<DeletedKey>,
    /// Deleted keys with only delete markers (nothing to bring back).
    pub skipped: Vec<Skipped>,
    /// Deleted keys left alone because they were deleted before `--since`.
    pub before_since: u64,
}

/// The keys of `timeline` under `prefix` whose current entry is a delete marker, deleted
/// at or after `since` when given.
pub fn find_deleted(timeline: &Timeline, prefix: &str, since: Option<DateTime<Utc>>) -> Found {
    let mut found = Found::default();
    for h in timeline.keys().iter().filter(|h| h.key.starts_with(prefix)) {
        if !h.head().is_some_and(|v| v.delete_marker) {
            continue;
        }
        let top = h.entries.iter().take_while(|v| v.delete_marker).count();
        let markers = &h.entries[..top];
        let deleted_at = markers.last().expect("head is a marker").last_modified;
        if since.is_some_and(|s| deleted_at < s) {
            found.before_since += 1;
            continue;
        }
        match h.entries.get(top) {
            Some(last) => found.keys.push(DeletedKey {
                key: h.key.clone(),
                deleted_at,
                markers: markers.iter().map(EntryRef::from).collect(),
                last: last.clone(),
                last_version_id: last.version_id.to_string(),
                size: last.size,
            }),
            None => found.skipped.push(Skipped {
                key: h.key.clone(),
                reason: format!(
                    "only delete markers ({}), never a version: nothing to bring back",
                    markers.len()
                ),
            }),
        }
    }
    found
}

/// The target state of a copy-back undelete: the current state plus every found key at
/// its last version.
pub fn undelete_target(current: &BucketState, found: &Found) -> BucketState {
    let mut target = current.clone();
    target.objects.extend(found.keys.iter().map(|k| StateEntry {
        key: k.key.clone(),
        version: k.last.clone(),
    }));
    target.objects.sort_by(|a, b| a.key.cmp(&b.key));
    target
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Destination, Entry, Location, PlanOptions, plan};
    use chrono::TimeZone;

    fn e(key: &str, id: &str, secs: i64, dm: bool) -> Entry {
        let (etag, size) = if dm {
            (String::new(), 0)
        } else {
            (format!("e-{id}"), 3)
        };
        let at = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        Entry::new(key, id, at, dm, &etag, size)
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn history() -> Timeline {
        Timeline::from_ordered([
            // Deleted at 20, and deleted again at 40 (a stacked marker).
            e("a", "d2", 40, true),
            e("a", "d1", 20, true),
            e("a", "a2", 10, false),
            e("a", "a1", 5, false),
            // Deleted at 30.
            e("b", "d3", 30, true),
            e("b", "b1", 5, false),
            // Present.
            e("c", "c1", 5, false),
            // Only a marker.
            e("m", "d4", 35, true),
            // Deleted, then written again: present.
            e("r", "r2", 50, false),
            e("r", "d5", 30, true),
            e("r", "r1", 5, false),
            e("x/y", "d6", 30, true),
            e("x/y", "y1", 5, false),
        ])
        .unwrap()
    }

    #[test]
    fn finds_deleted_keys_their_markers_and_last_version() {
        let f = find_deleted(&history(), "", None);
        let keys: Vec<(&str, String, Vec<String>, DateTime<Utc>)> = f
            .keys
            .iter()
            .map(|k| {
                (
                    k.key.as_str(),
                    k.last.version_id.to_string(),
                    k.markers.iter().map(|m| m.version_id.to_string()).collect(),
                    k.deleted_at,
                )
            })
            .collect();
        let want = [
            ("a", "a2", vec!["d2", "d1"], t(20)),
            ("b", "b1", vec!["d3"], t(30)),
            ("x/y", "y1", vec!["d6"], t(30)),
        ]
        .map(|(k, v, m, at)| {
            (
                k,
                v.to_owned(),
                m.into_iter().map(String::from).collect(),
                at,
            )
        });
        assert_eq!(keys, want);
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(f.skipped[0].key, "m");
    }

    #[test]
    fn since_uses_the_time_the_key_disappeared() {
        // "a" disappeared at 20; its second marker at 40 does not make it recent.
        let f = find_deleted(&history(), "", Some(t(25)));
        let keys: Vec<&str> = f.keys.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["b", "x/y"]);
        assert_eq!(f.before_since, 1);
        // Inclusive.
        let f = find_deleted(&history(), "", Some(t(30)));
        assert_eq!(f.keys.len(), 2);
        let f = find_deleted(&history(), "", Some(t(31)));
        assert!(f.keys.is_empty());
        assert_eq!(
            f.skipped.len(),
            1,
            "the marker-only key at 35 is still noted"
        );
    }

    #[test]
    fn prefix_limits_the_keys() {
        let f = find_deleted(&history(), "x/", None);
        assert_eq!(f.keys.len(), 1);
        assert_eq!(f.keys[0].key, "x/y");
    }

    #[test]
    fn target_is_current_plus_last_versions_and_plans_only_copies() {
        let tl = history();
        let f = find_deleted(&tl, "", None);
        let current = tl.current();
        let target = undelete_target(&current, &f);
        let keys: Vec<&str> = target.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "r", "x/y"]);
        let p = plan(
            &current,
            &target,
            &PlanOptions::new(
                Location {
                    bucket: "bkt".into(),
                    prefix: String::new(),
                },
                Destination::InPlace,
                t(100),
            ),
        );
        assert_eq!((p.stats.copies, p.stats.delete_markers), (3, 0));
        assert_eq!(p.stats.unchanged, 2);
        assert!(p.validate().is_ok());
    }
}
