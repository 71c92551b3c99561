//! Splitting a restore plan between S3 Batch Operations and this tool's executor.
//!
//! A Batch Operations `S3PutObjectCopy` job copies each manifest row (`Bucket,Key,VersionId`)
//! onto the same key in one target bucket, with one storage class for the whole job. It
//! cannot add delete markers, copy objects over 5 GiB (its copy is a single CopyObject),
//! read archived versions that were not restored first, or write to a key other than the
//! source key. [`split_for_batch`] puts every copy it can do into per-storage-class task
//! lists and everything else into a remainder plan (the usual `s3rewind.plan/v1`
//! document) for `s3rewind apply`.
//!
//! Batch Operations copies unconditionally: the destination check of [`Expect`](crate::Expect)
//! that `apply` makes before each write does not happen for the tasks it runs.

pub mod reconcile;
pub mod report;

use crate::keys::encode_key;
use crate::location::Destination;
use crate::model::StorageClass;
use crate::plan::{Action, CopyAction, PlanStats, RestorePlan};
use std::collections::BTreeMap;

/// The largest object one CopyObject (and so one Batch Operations copy task) can copy:
/// 5 GiB.
pub const BATCH_COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// One manifest row: copy this version of this key (onto the same key in the job's
/// target bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    /// The source bucket.
    pub bucket: String,
    /// The source key (decoded).
    pub key: String,
    /// The source version id.
    pub version_id: String,
}

/// The copies of one job: all with one storage class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchGroup {
    /// The storage class the copies get (`None`: the job sets none, S3 uses STANDARD).
    pub storage_class: Option<StorageClass>,
    /// The rows of the job's manifest.
    pub tasks: Vec<BatchTask>,
    /// Bytes the job copies.
    pub bytes: u64,
}

/// Why a copy stays with `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kept {
    /// A delete marker (Batch Operations has no such operation).
    DeleteMarker,
    /// Larger than [`BATCH_COPY_LIMIT`].
    TooLarge,
    /// An archived version that must be restored first.
    Archived,
    /// Restored under another key (another prefix).
    OtherKey,
}

/// A plan split for Batch Operations.
#[derive(Debug, Clone)]
pub struct BatchSplit {
    /// The bucket the jobs write into.
    pub target_bucket: String,
    /// One group per storage class, in class order.
    pub groups: Vec<BatchGroup>,
    /// The actions left for `apply`, as a plan.
    pub remainder: RestorePlan,
    /// How many actions stayed, by reason.
    pub kept: BTreeMap<Kept, u64>,
}

/// Split `plan` between Batch Operations jobs and a remainder plan. Fails for a plan
/// into a local directory.
pub fn split_for_batch(plan: &RestorePlan) -> Result<BatchSplit, String> {
    let target_bucket = target_bucket(plan)?;
    let mut groups: BTreeMap<Option<StorageClass>, BatchGroup> = BTreeMap::new();
    let mut kept: BTreeMap<Kept, u64> = BTreeMap::new();
    let mut rest = Vec::new();
    for action in &plan.actions {
        match route(&plan.source.bucket, action) {
            Route::Task {
                task,
                storage_class,
                bytes,
            } => {
                let g = groups.entry(storage_class).or_insert_with(|| BatchGroup {
                    storage_class,
                    tasks: Vec::new(),
                    bytes: 0,
                });
                g.tasks.push(task);
                g.bytes += bytes;
            }
            Route::Kept(why) => {
                *kept.entry(why).or_default() += 1;
                rest.push(action.clone());
            }
        }
    }
    let remainder = with_actions(plan, rest);
    Ok(BatchSplit {
        target_bucket,
        groups: groups.into_values().collect(),
        remainder,
        kept,
    })
}

/// The bucket a plan's Batch Operations jobs write into. Fails for a plan into a local
/// directory.
pub fn target_bucket(plan: &RestorePlan) -> Result<String, String> {
    match &plan.destination {
        Destination::InPlace => Ok(plan.source.bucket.clone()),
        Destination::Bucket { location } => Ok(location.bucket.clone()),
        Destination::Directory { .. } => Err(
            "Batch Operations copies between buckets: a plan into a directory cannot be emitted for it"
                .to_owned(),
        ),
    }
}

/// Where one action goes when its plan is split ([`split_for_batch`], or a caller that
/// reads the actions one at a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A row of the job for `storage_class`, copying `bytes`.
    Task {
        /// The manifest row.
        task: BatchTask,
        /// The job's storage class.
        storage_class: Option<StorageClass>,
        /// Bytes the copy carries.
        bytes: u64,
    },
    /// Left for `apply`, for this reason.
    Kept(Kept),
}

/// Route action `a` of a plan whose source is `source_bucket`.
pub fn route(source_bucket: &str, a: &Action) -> Route {
    match a {
        Action::DeleteMarker(_) => Route::Kept(Kept::DeleteMarker),
        Action::Copy(c) => match keep_reason(c) {
            Some(why) => Route::Kept(why),
            None => Route::Task {
                task: BatchTask {
                    bucket: source_bucket.to_owned(),
                    key: c.source_key.clone(),
                    version_id: c.source_version_id.to_string(),
                },
                storage_class: c.storage_class,
                bytes: c.size,
            },
        },
    }
}

/// `plan` with only `actions`, its statistics counted again (the counts of keys are
/// the plan's own).
pub fn with_actions(plan: &RestorePlan, actions: Vec<Action>) -> RestorePlan {
    let mut counts = ActionCounts::default();
    actions.iter().for_each(|a| counts.add(a));
    let mut out = recounted(plan, counts);
    out.actions = actions;
    out
}

/// `plan` without its actions (they are held elsewhere), its statistics set to
/// `counts`, those of the actions it now has: [`with_actions`] for a caller that counts
/// them as it reads them.
pub fn recounted(plan: &RestorePlan, counts: ActionCounts) -> RestorePlan {
    let mut out = RestorePlan {
        actions: Vec::new(),
        ..plan.clone()
    };
    // Another plan: the digest of the one it came from does not describe it.
    out.digest = None;
    out.estimate = None;
    out.stats = PlanStats {
        copies: counts.copies,
        delete_markers: counts.delete_markers,
        bytes_to_copy: counts.bytes_to_copy,
        archived: counts.archived,
        ..plan.stats.clone()
    };
    out
}

/// What a plan's statistics count of its actions, added up one action at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionCounts {
    /// Copies.
    pub copies: u64,
    /// Delete markers.
    pub delete_markers: u64,
    /// Bytes the copies carry.
    pub bytes_to_copy: u64,
    /// Copies of a version in an archive class (restored before it can be copied).
    pub archived: u64,
}

impl ActionCounts {
    /// Count `a`.
    pub fn add(&mut self, a: &Action) {
        match a {
            Action::Copy(c) => {
                self.copies += 1;
                self.bytes_to_copy += c.size;
                self.archived += u64::from(
                    c.storage_class
                        .as_ref()
                        .is_some_and(StorageClass::needs_restore),
                );
            }
            Action::DeleteMarker(_) => self.delete_markers += 1,
        }
    }
}

fn keep_reason(c: &CopyAction) -> Option<Kept> {
    if c.key != c.source_key {
        Some(Kept::OtherKey)
    } else if c.size > BATCH_COPY_LIMIT {
        Some(Kept::TooLarge)
    } else if c
        .storage_class
        .as_ref()
        .is_some_and(StorageClass::needs_restore)
    {
        Some(Kept::Archived)
    } else {
        None
    }
}

/// The CSV manifest of a group: `Bucket,Key,VersionId` per line, no header, keys
/// URL-encoded (UTF-8 percent-encoding; a space is `%20`, a `+` is `%2B`, a comma
/// `%2C`, so no field needs quoting).
pub fn manifest_csv(tasks: &[BatchTask]) -> String {
    let mut out = String::new();
    for t in tasks {
        manifest_line(t, &mut out);
    }
    out
}

/// One line of [`manifest_csv`], appended to `out`.
pub fn manifest_line(t: &BatchTask, out: &mut String) {
    out.push_str(&t.bucket);
    out.push(',');
    out.push_str(&encode_key(&t.key));
    out.push(',');
    out.push_str(&t.version_id);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::form_decode;
    use crate::location::Location;
    use crate::plan::{DeleteMarkerAction, Expect, Selection};
    use chrono::{TimeZone, Utc};

    fn copy(key: &str, size: u64, class: Option<&str>) -> Action {
        Action::Copy(CopyAction {
            key: key.into(),
            source_key: key.into(),
            source_version_id: format!("v-{key}").into(),
            etag: "e".into(),
            size,
            storage_class: class.map(StorageClass::new),
            last_modified: Utc.timestamp_opt(1, 0).unwrap(),
            expect: None,
        })
    }

    fn plan_of(actions: Vec<Action>) -> RestorePlan {
        RestorePlan {
            schema: crate::PLAN_SCHEMA.into(),
            created_at: None,
            digest: None,
            source: Location {
                bucket: "src".into(),
                prefix: String::new(),
            },
            destination: Destination::InPlace,
            at: Utc.timestamp_opt(1, 0).unwrap(),
            selection: Selection::AtTime,
            keys: None,
            inventory: None,
            stats: PlanStats {
                copies: 99,
                ..PlanStats::default()
            },
            estimate: None,
            warnings: vec![],
            actions,
        }
    }

    #[test]
    fn delete_markers_large_and_archived_copies_stay_with_apply() {
        let dm = Action::DeleteMarker(DeleteMarkerAction {
            key: "gone".into(),
            expect: Expect {
                version_id: "x".into(),
                etag: Default::default(),
            },
        });
        let p = plan_of(vec![
            copy("a b+c,d", 10, Some("STANDARD")),
            copy("big", BATCH_COPY_LIMIT + 1, Some("STANDARD")),
            copy("edge", BATCH_COPY_LIMIT, Some("STANDARD")),
            copy("cold", 5, Some("GLACIER")),
            copy("ia", 7, Some("STANDARD_IA")),
            dm.clone(),
        ]);
        let s = split_for_batch(&p).unwrap();
        assert_eq!(s.target_bucket, "src");
        let classes: Vec<Option<&str>> = s
            .groups
            .iter()
            .map(|g| g.storage_class.as_ref().map(|c| c.as_str()))
            .collect();
        assert_eq!(classes, [Some("STANDARD"), Some("STANDARD_IA")]);
        let standard: Vec<&str> = s.groups[0].tasks.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(standard, ["a b+c,d", "edge"]);
        assert_eq!(s.groups[0].bytes, 10 + BATCH_COPY_LIMIT);
        let rest: Vec<&str> = s.remainder.actions.iter().map(Action::key).collect();
        assert_eq!(rest, ["big", "cold", "gone"]);
        assert_eq!(s.remainder.stats.copies, 2);
        assert_eq!(s.remainder.stats.delete_markers, 1);
        assert_eq!(s.remainder.stats.archived, 1);
        assert_eq!(s.kept[&Kept::TooLarge], 1);
        assert_eq!(s.kept[&Kept::Archived], 1);
        assert_eq!(s.kept[&Kept::DeleteMarker], 1);
        // The remainder is still a plan file `apply` reads.
        assert!(s.remainder.to_json().contains(crate::PLAN_SCHEMA));
    }

    #[test]
    fn manifest_keys_are_encoded_so_no_field_needs_quoting() {
        let csv = manifest_csv(&[BatchTask {
            bucket: "b".into(),
            key: "a b+c,d/ü%".into(),
            version_id: "null".into(),
        }]);
        assert_eq!(csv, "b,a%20b%2Bc%2Cd/%C3%BC%25,null\n");
        let key = csv.split(',').nth(1).unwrap();
        assert_eq!(form_decode(key).unwrap(), "a b+c,d/ü%");
    }

    #[test]
    fn another_key_or_a_directory_is_not_for_batch_operations() {
        let mut p = plan_of(vec![Action::Copy(CopyAction {
            key: "new/a".into(),
            source_key: "old/a".into(),
            source_version_id: "v".into(),
            etag: Default::default(),
            size: 1,
            storage_class: None,
            last_modified: Utc.timestamp_opt(1, 0).unwrap(),
            expect: None,
        })]);
        let s = split_for_batch(&p).unwrap();
        assert!(s.groups.is_empty());
        assert_eq!(s.kept[&Kept::OtherKey], 1);
        p.destination = Destination::Directory { path: "/x".into() };
        assert!(split_for_batch(&p).is_err());
    }
}
