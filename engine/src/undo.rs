//! `undo`: put back what a restore replaced, planned by [`crate::plan()`] like any restore.
//!
//! From the journal of a restore, per key: the version that was current before the
//! restore's first write (or none: the key was absent, or a delete marker was current),
//! and what its last write left (a version, identified by id and, for `null` copies, by
//! ETag; or nothing, after a delete marker). The current state is what the restore left;
//! the target state is the versions current before it, which the caller reads (HEAD) to
//! know their size and ETag. Keys the restore left as they were before are unchanged.

use crate::model::Version;
use crate::state::{BucketState, StateEntry};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What a restore did to one key, from its journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// The key.
    pub key: String,
    /// The version current before the restore's first write; `None` when the key was
    /// absent (or its current entry was a delete marker the restore removed).
    pub before: Option<String>,
    /// What the restore's last write left: `Some((version id, ETag, size))` for a copy
    /// (an empty id when the server named none and it could not be read back, which never
    /// matches anything), `None` after a delete marker.
    pub left: Option<(String, String, u64)>,
    /// When that last write was journaled.
    pub at: DateTime<Utc>,
}

/// The state the restore left, for the keys it touched.
pub fn left_state(touches: &[Touch]) -> BucketState {
    let mut objects: Vec<StateEntry> = touches
        .iter()
        .filter_map(|t| {
            let (id, etag, size) = t.left.clone()?;
            Some(StateEntry {
                key: t.key.clone(),
                version: Version {
                    version_id: id.as_str().into(),
                    last_modified: t.at,
                    delete_marker: false,
                    etag: etag.as_str().into(),
                    size,
                    storage_class: None,
                    owner_id: None,
                    is_latest: true,
                },
            })
        })
        .collect();
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    BucketState {
        objects,
        ..BucketState::default()
    }
}

/// The versions to read (key, version id) to build the target: those current before the
/// restore that it replaced. A key still holding its earlier version needs none.
pub fn versions_to_read(touches: &[Touch]) -> Vec<(String, String)> {
    touches
        .iter()
        .filter_map(|t| {
            let before = t.before.as_ref()?;
            // Still the earlier version (for `null`: rewritten in place, the earlier
            // content is gone and nothing can be put back).
            let same = t.left.as_ref().is_some_and(|(id, _, _)| id == before);
            (!same).then(|| (t.key.clone(), before.clone()))
        })
        .collect()
}

/// The state before the restore: each touched key at its earlier version (as read, in
/// `versions`), or absent; a key whose earlier version is not in `versions` (the restore
/// left it in place) keeps what the restore left.
pub fn target_state(
    touches: &[Touch],
    left: &BucketState,
    versions: &BTreeMap<(String, String), Version>,
) -> BucketState {
    let mut objects = Vec::new();
    for t in touches {
        match &t.before {
            None => {}
            Some(before) => match versions.get(&(t.key.clone(), before.clone())) {
                Some(v) => objects.push(StateEntry {
                    key: t.key.clone(),
                    version: v.clone(),
                }),
                None => {
                    if let Some(v) = left.get(&t.key) {
                        objects.push(StateEntry {
                            key: t.key.clone(),
                            version: v.clone(),
                        });
                    }
                }
            },
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    BucketState {
        objects,
        ..BucketState::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Destination, Location, PlanOptions, Selection, plan};
    use chrono::TimeZone;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
    }

    fn version(id: &str, etag: &str) -> Version {
        Version {
            version_id: id.into(),
            last_modified: t(),
            delete_marker: false,
            etag: etag.into(),
            size: 5,
            storage_class: None,
            owner_id: None,
            is_latest: false,
        }
    }

    fn touch(key: &str, before: Option<&str>, left: Option<&str>) -> Touch {
        Touch {
            key: key.into(),
            before: before.map(str::to_owned),
            left: left.map(|id| (id.to_owned(), format!("etag-{id}"), 5)),
            at: t(),
        }
    }

    #[test]
    fn undo_copies_back_replaced_versions_and_marks_created_keys_deleted() {
        let touches = vec![
            // Overwritten by the restore: copied back.
            touch("a", Some("a1"), Some("a9")),
            // Did not exist before: a delete marker.
            touch("b", None, Some("b9")),
            // Deleted by the restore (a delete marker): its version copied back.
            touch("c", Some("c1"), None),
            // Absent before and after: nothing.
            touch("d", None, None),
        ];
        let left = left_state(&touches);
        let read = versions_to_read(&touches);
        assert_eq!(
            read,
            vec![("a".into(), "a1".into()), ("c".into(), "c1".into())]
        );
        let versions: BTreeMap<(String, String), Version> = read
            .into_iter()
            .map(|(k, id)| {
                let v = version(&id, &format!("etag-{id}"));
                ((k, id), v)
            })
            .collect();
        let target = target_state(&touches, &left, &versions);
        let mut options = PlanOptions::new(
            Location {
                bucket: "bkt".into(),
                prefix: String::new(),
            },
            Destination::InPlace,
            t(),
        );
        options.selection = Selection::Undo;
        options.match_content = false;
        let p = plan(&left, &target, &options);
        let got: Vec<(String, String)> = p
            .actions
            .iter()
            .map(|a| match a {
                Action::Copy(c) => (c.key.clone(), format!("copy {}", c.source_version_id)),
                Action::DeleteMarker(d) => {
                    (d.key.clone(), format!("delete {}", d.expect.version_id))
                }
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), "copy a1".into()),
                ("b".into(), "delete b9".into()),
                ("c".into(), "copy c1".into()),
            ]
        );
        // What the restore left is expected, so a key changed since is not undone.
        let a = p.actions.iter().find(|a| a.key() == "a").unwrap();
        assert_eq!(a.expect().unwrap().version_id, "a9");
        assert!(p.validate().is_ok());
    }

    #[test]
    fn a_key_the_restore_left_at_its_earlier_version_is_not_touched() {
        let touches = vec![touch("a", Some("a1"), Some("a1"))];
        assert!(versions_to_read(&touches).is_empty());
        let left = left_state(&touches);
        let target = target_state(&touches, &left, &BTreeMap::new());
        assert_eq!(left, target);
    }
}
