//! The restore plan: the fewest actions that make a destination's current state equal to
//! a target state.
//!
//! [`plan`] receives both states as data (it never reads a bucket itself), so the same
//! planner serves in-place restores, restores into another bucket or prefix, and the
//! simulator in the property tests. A [`RestorePlan`] is a reviewable value: it carries
//! statistics and warnings, serialises to a versioned JSON document ([`PLAN_SCHEMA`]), and
//! is executed later, possibly by another process (`s3rewind apply plan.json`).
//!
//! # Actions
//!
//! - [`Action::Copy`]: copy one source version onto a destination key (a new version; in
//!   place this is S3's documented way of restoring a previous version).
//! - [`Action::DeleteMarker`]: add a delete marker to a key that exists now but did not
//!   at T. In place only; never a permanent delete.
//! - Nothing for keys whose current version already is the target version (or, across
//!   buckets, already has the target content). An object is never copied onto itself.
//!
//! Keys outside the destination prefix are never touched. Every action records what the
//! destination key held when the plan was made ([`Expect`]), so the executor can skip a
//! key that changed since (a concurrent writer) instead of overwriting it.

use crate::error::PlanError;
use crate::location::{Destination, Location};
use crate::model::{ETag, StorageClass, Version, VersionId, Versioning};
pub use crate::plan_stats::PlanStats;
use crate::state::BucketState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub mod stream;

/// The schema name written into every plan file; bumped on incompatible changes.
pub const PLAN_SCHEMA: &str = "s3rewind.plan/v1";

/// How the target state of a plan was chosen (for the reviewer; it changes nothing in
/// how the plan executes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The state at a given time (`--at`).
    #[default]
    AtTime,
    /// The state just before the first incident detection found.
    BeforeCorruption,
    /// Each damaged key back to its own last good version; other keys as they are.
    PerKey,
    /// Deleted keys brought back at their last version.
    Undelete,
    /// The versions a restore replaced, put back.
    Undo,
}

/// What a destination key held when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    /// The current version id.
    pub version_id: VersionId,
    /// Its ETag (quotes stripped).
    #[serde(default, skip_serializing_if = "ETag::is_empty")]
    pub etag: ETag,
}

/// Copy one version of a source key onto a destination key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyAction {
    /// The destination key.
    pub key: String,
    /// The source key.
    pub source_key: String,
    /// The source version to copy (may be `null`).
    pub source_version_id: VersionId,
    /// The source version's ETag (quotes stripped).
    #[serde(default, skip_serializing_if = "ETag::is_empty")]
    pub etag: ETag,
    /// The source version's size in bytes.
    pub size: u64,
    /// The source version's storage class, when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// The source version's `LastModified`.
    pub last_modified: DateTime<Utc>,
    /// What the destination key held at plan time; `None` when it did not exist.
    pub expect: Option<Expect>,
}

/// Add a delete marker to a key that exists now but did not at T.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMarkerAction {
    /// The key.
    pub key: String,
    /// What the key held at plan time.
    pub expect: Expect,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// Copy a source version onto a destination key.
    Copy(CopyAction),
    /// Add a delete marker.
    DeleteMarker(DeleteMarkerAction),
}

impl Action {
    /// The destination key the action writes.
    pub fn key(&self) -> &str {
        match self {
            Action::Copy(c) => &c.key,
            Action::DeleteMarker(d) => &d.key,
        }
    }

    /// What the destination key held at plan time (`None`: it did not exist).
    pub fn expect(&self) -> Option<&Expect> {
        match self {
            Action::Copy(c) => c.expect.as_ref(),
            Action::DeleteMarker(d) => Some(&d.expect),
        }
    }
}

/// How many of the destination's current keys a plan may hide behind delete markers
/// before it is refused (the blast-radius guard; `--max-delete-markers`).
///
/// The default, [`DeleteLimit::DEFAULT`], refuses a plan whose delete markers hide more
/// than half of the keys that exist now, once that is more than 10 keys: the shape of a
/// TIME given before the data was written, or of a wrong prefix, rather than of a
/// restore.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeleteLimit {
    /// At most this many delete markers.
    Count(u64),
    /// At most this percentage of the current keys (and any number up to 10).
    Percent(f64),
}

impl DeleteLimit {
    /// Half of the current keys (10 keys are always allowed).
    pub const DEFAULT: DeleteLimit = DeleteLimit::Percent(50.0);

    /// Parse `N` or `P%` (`0%`..=`100%`).
    pub fn parse(text: &str) -> Result<DeleteLimit, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "invalid delete-marker limit {text:?}: give a number of keys (250) or a percentage of the current keys (20%)"
            )
        };
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(bad());
            }
            Ok(DeleteLimit::Percent(p))
        } else {
            t.parse().map(DeleteLimit::Count).map_err(|_| bad())
        }
    }

    /// Does a plan with `delete_markers` over `keys_now` current keys stay within it?
    pub fn allows(self, delete_markers: u64, keys_now: u64) -> bool {
        match self {
            DeleteLimit::Count(n) => delete_markers <= n,
            DeleteLimit::Percent(p) => {
                delete_markers <= 10 || (delete_markers as f64) <= keys_now as f64 * p / 100.0
            }
        }
    }
}

impl RestorePlan {
    /// The blast-radius guard: `Some(warning)` when the plan's delete markers exceed
    /// `limit` (see [`DeleteLimit`]).
    pub fn exceeds(&self, limit: DeleteLimit) -> Option<Warning> {
        (!limit.allows(self.stats.delete_markers, self.stats.keys_now)).then(|| {
            Warning::HidesMostKeys {
                delete_markers: self.stats.delete_markers,
                keys_now: self.stats.keys_now,
                limit: limit.to_string(),
            }
        })
    }
}

impl std::fmt::Display for DeleteLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeleteLimit::Count(n) => write!(f, "{n}"),
            DeleteLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Something the reviewer of a plan must know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// A `null` version was written or deleted after T, so what the key held at T may be
    /// gone without trace (versioning was suspended, or never enabled, at that time).
    NullRewritten {
        /// The key.
        key: String,
        /// When the `null` entry was written.
        at: DateTime<Utc>,
        /// What the plan does about it.
        handling: UncertainHandling,
    },
    /// The key's state at T depends on a version and a delete marker with the same
    /// timestamp; the documented tie rule decided it.
    SameSecondTie {
        /// The key.
        key: String,
    },
    /// The key's state at T depends on an order nothing showed (two versions of one key
    /// in the same second in an inventory, a page that proved no layout) and that the
    /// live bucket did not settle: no rule decides it, so the plan leaves the key as it
    /// is (counted in `left_alone`).
    OrderUnknown {
        /// The key.
        key: String,
    },
    /// The key's timestamps are not in list order (multipart upload completed late, a
    /// replica, …); the state at T follows list order.
    OutOfOrder {
        /// The key.
        key: String,
    },
    /// A key exists at the destination but not at T; restores into another bucket or
    /// directory leave such keys alone.
    ExtraAtDestination {
        /// The destination key.
        key: String,
    },
    /// The plan's delete markers would hide more of the keys that exist now than the
    /// blast-radius limit allows ([`DeleteLimit`]); executing it needs that limit raised.
    HidesMostKeys {
        /// Delete markers in the plan.
        delete_markers: u64,
        /// Keys that exist now at the destination.
        keys_now: u64,
        /// The limit it exceeds, as given (`50%`, `250`).
        limit: String,
    },
    /// The destination bucket is not versioned (or versioning is suspended): what the
    /// restore writes there keeps no history, and existing objects are overwritten.
    DestinationKeepsNoHistory {
        /// The destination bucket.
        bucket: String,
        /// Its versioning state.
        versioning: Versioning,
    },
    /// A lifecycle rule expires noncurrent versions of the source: versions replaced
    /// inside the restore window may already be gone (the listing then silently yields an
    /// older version), and those still there will go when the rule's days are up.
    NoncurrentExpiration {
        /// The bucket.
        bucket: String,
        /// The rule id.
        rule: String,
        /// The rule's prefix.
        prefix: String,
        /// Days after which noncurrent versions expire.
        days: i32,
        /// Whole days between T and now.
        window_days: i64,
    },
    /// The destination bucket has Object Lock default retention: every restored copy is
    /// locked (a COMPLIANCE lock cannot be shortened or removed).
    DefaultRetention {
        /// The bucket.
        bucket: String,
        /// GOVERNANCE or COMPLIANCE.
        mode: String,
        /// Retention days (0 when given in years).
        days: i32,
        /// Retention years (0 when given in days).
        years: i32,
    },
    /// MFA Delete is enabled. The default restore works (it never deletes a version);
    /// removing delete markers does not.
    MfaDelete {
        /// The bucket.
        bucket: String,
    },
    /// The entry the key held at T was removed for good since (deleted by version id,
    /// expired by lifecycle; known from a watched index): it cannot be restored from
    /// this bucket, and the plan leaves the key alone, unless `restore --from-replica`
    /// copies the same version id from a replica.
    Unrestorable {
        /// The key.
        key: String,
        /// The entry current at T.
        version_id: String,
        /// It was a delete marker (the key did not exist at T).
        delete_marker: bool,
        /// When it was removed.
        removed_at: DateTime<Utc>,
        /// Why, in words.
        why: String,
        /// The replica bucket `restore` copies it from (`--from-replica`; versions only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_replica: Option<String>,
    },
    /// The version to copy is in an archive storage class and must be restored
    /// (RestoreObject) before it can be copied.
    Archived {
        /// The destination key.
        key: String,
        /// The source version.
        version_id: String,
        /// Its storage class.
        storage_class: StorageClass,
    },
}

/// What the plan does with a key whose state at T is uncertain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncertainHandling {
    /// The newest surviving version at or before T is restored.
    RestoredBestSurviving,
    /// The key had no surviving entry at or before T but may have existed: it is left
    /// as it is (not marked deleted).
    LeftAlone,
    /// The key had no surviving entry at or before T and is marked deleted anyway
    /// (asked for with the `mark_uncertain_absent` option).
    MarkedDeleted,
    /// The key is already in the surviving state.
    Unchanged,
}

/// A destination version known to be a copy of a source version (from a journal of an
/// earlier restore), so the planner can recognise a finished copy whose ETag differs
/// (multipart copies, SSE-KMS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KnownCopy {
    /// Destination key.
    pub key: String,
    /// The version id the copy created at the destination.
    pub version_id: String,
    /// The source key.
    pub source_key: String,
    /// The source version that was copied.
    pub source_version_id: String,
    /// The ETag of the copy when it was made (empty when not recorded). A copy whose
    /// `version_id` is `null` (an unversioned destination, or a server that did not say)
    /// is recognised only while the destination still has this ETag and size: any later
    /// write there is also `null`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub etag: String,
    /// The size of the copy when it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl KnownCopy {
    /// Does the destination's current version `now` still hold this copy?
    pub fn holds(&self, now: &Version) -> bool {
        if now.version_id != self.version_id {
            return false;
        }
        if self.version_id.is_empty() || self.version_id == crate::model::NULL_VERSION {
            !self.etag.is_empty() && now.etag == self.etag && Some(now.size) == self.size
        } else {
            true
        }
    }
}

/// Everything the planner needs besides the two states.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The source bucket and prefix (the target state's keys are under this prefix).
    pub source: Location,
    /// Where the restore writes.
    pub destination: Destination,
    /// The instant the target state is for.
    pub at: DateTime<Utc>,
    /// Treat a destination object whose ETag and size equal the target version's as
    /// already restored (default `true`). Version identity is always checked first.
    pub match_content: bool,
    /// Mark keys deleted even when their state at T is uncertain (default `false`).
    pub mark_uncertain_absent: bool,
    /// Copies made by earlier runs, recognised as restored.
    pub known_copies: Vec<KnownCopy>,
    /// How the target state was chosen.
    pub selection: Selection,
}

impl PlanOptions {
    /// Options with the defaults for a restore of `source` into `destination` as of `at`.
    pub fn new(source: Location, destination: Destination, at: DateTime<Utc>) -> Self {
        PlanOptions {
            source,
            destination,
            at,
            match_content: true,
            mark_uncertain_absent: false,
            known_copies: Vec::new(),
            selection: Selection::AtTime,
        }
    }
}

/// A reviewable, serialisable restore plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestorePlan {
    /// Always [`PLAN_SCHEMA`].
    pub schema: String,
    /// When the plan was made (set by the caller; the engine has no clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// The plan's digest as it was written (`sha256:HEX` of the plan's JSON without this
    /// field; computed by the caller): what a reviewer approves, and `apply
    /// --expect-digest` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The source bucket and prefix.
    pub source: Location,
    /// Where the restore writes.
    pub destination: Destination,
    /// The instant restored to.
    pub at: DateTime<Utc>,
    /// How the target state was chosen.
    #[serde(default)]
    pub selection: Selection,
    /// The keys the plan is limited to beyond the prefix (`--include`, `--exclude`,
    /// `--keys-from`); absent when every key under the prefix counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<crate::select::KeySelection>,
    /// The S3 Inventory report the history came from (`--inventory`), and its age;
    /// absent for a listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<crate::inventory::InventoryRef>,
    /// Summary counts.
    pub stats: PlanStats,
    /// What executing the plan will send and cost, and how long it should take
    /// ([`crate::estimate`]); filled in by the CLI, which knows the region and the
    /// concurrency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::estimate::Estimate>,
    /// What a reviewer must know.
    pub warnings: Vec<Warning>,
    /// The actions, sorted by destination key.
    pub actions: Vec<Action>,
}

impl RestorePlan {
    /// The destination bucket and prefix (the source for in-place plans); `None` for a
    /// directory destination.
    pub fn destination_location(&self) -> Option<&Location> {
        match &self.destination {
            Destination::InPlace => Some(&self.source),
            Destination::Bucket { location } => Some(location),
            Destination::Directory { .. } => None,
        }
    }

    /// The destination prefix: every action's key must start with it.
    pub fn destination_prefix(&self) -> &str {
        self.destination_location()
            .map_or("", |l| l.prefix.as_str())
    }

    /// True when nothing needs doing.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Serialise as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plan serialises")
    }

    /// Read a plan file, checking its schema and its internal consistency.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        // The schema first (every other field skipped, nothing of it held), then the plan
        // straight into its types: never a JSON tree of a plan of millions of actions.
        #[derive(Deserialize)]
        struct Schema {
            schema: Option<serde_json::Value>,
        }
        let head: Schema =
            serde_json::from_str(text).map_err(|e| PlanError::Invalid(e.to_string()))?;
        RestorePlan::check_schema(head.schema.as_ref())?;
        let plan: RestorePlan =
            serde_json::from_str(text).map_err(|e| PlanError::Invalid(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// A plan file's `schema` field (`None`: it has none) is the one this version reads.
    pub fn check_schema(schema: Option<&serde_json::Value>) -> Result<(), PlanError> {
        match schema.and_then(|s| s.as_str()) {
            Some(PLAN_SCHEMA) => Ok(()),
            Some(other) => Err(PlanError::Schema {
                found: other.to_owned(),
                expected: PLAN_SCHEMA.to_owned(),
            }),
            None => Err(PlanError::Invalid("no \"schema\" field".to_owned())),
        }
    }

    /// Check what an edited or corrupted plan file could get wrong: actions outside the
    /// destination prefix, delete markers outside in-place restores, keys twice.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut seen = std::collections::HashSet::new();
        for a in &self.actions {
            self.validate_action(a)?;
            if !seen.insert(a.key()) {
                return Err(PlanError::Invalid(format!(
                    "key {:?} has more than one action",
                    a.key()
                )));
            }
        }
        Ok(())
    }

    /// [`validate`](Self::validate)'s checks of one action against this plan's source
    /// and destination (all but "a key twice", which needs every action): for a plan
    /// whose actions are read from elsewhere, one at a time.
    pub fn validate_action(&self, a: &Action) -> Result<(), PlanError> {
        let prefix = self.destination_prefix();
        let in_place = matches!(self.destination, Destination::InPlace);
        if !a.key().starts_with(prefix) {
            return Err(PlanError::Invalid(format!(
                "action for key {:?} is outside the destination prefix {prefix:?}",
                a.key()
            )));
        }
        match a {
            Action::DeleteMarker(_) if !in_place => {
                return Err(PlanError::Invalid(format!(
                    "delete marker for {:?} in a plan that is not in place",
                    a.key()
                )));
            }
            Action::Copy(c) if !c.source_key.starts_with(&self.source.prefix) => {
                return Err(PlanError::Invalid(format!(
                    "copy source {:?} is outside the source prefix {:?}",
                    c.source_key, self.source.prefix
                )));
            }
            Action::Copy(c)
                if in_place
                    && c.key == c.source_key
                    && c.expect.as_ref().map(|e| &e.version_id) == Some(&c.source_version_id) =>
            {
                return Err(PlanError::Invalid(format!(
                    "copy of {:?} version {:?} onto itself",
                    c.key, c.source_version_id
                )));
            }
            _ => {}
        }
        Ok(())
    }
}

fn expect_of(v: &Version) -> Expect {
    Expect {
        version_id: v.version_id.clone(),
        etag: v.etag.clone(),
    }
}

/// Plan the fewest actions that turn `current` (the destination's current state, keys in
/// destination names) into `target` (the source's state at T, keys in source names).
///
/// Keys of `target` outside `options.source.prefix`, and keys of `current` outside the
/// destination prefix, are ignored.
pub fn plan(current: &BucketState, target: &BucketState, options: &PlanOptions) -> RestorePlan {
    let mut planner = Planner::new(options);
    planner.add(current, target);
    planner.finish()
}

/// [`plan()`] a part at a time, for a listing that is never held whole.
///
/// Each [`add`](Planner::add) gives the target state of some source keys and the
/// current state of the destination keys they map to, together with any destination keys
/// that map to no source key of *any* part and are given here once. Parts are disjoint and
/// may come in any order (parallel listing streams); [`finish`](Planner::finish) puts the
/// actions and warnings in key order. Whatever the split, the plan equals [`plan()`] on
/// the union of the parts (property-tested): memory holds the plan, not the states.
pub struct Planner<'a> {
    options: &'a PlanOptions,
    known: HashMap<(&'a str, &'a str), &'a KnownCopy>,
    stats: PlanStats,
    warnings: Vec<Warning>,
    actions: Vec<Action>,
}

impl<'a> Planner<'a> {
    /// An empty plan for `options`.
    pub fn new(options: &'a PlanOptions) -> Self {
        Planner {
            options,
            known: options
                .known_copies
                .iter()
                .map(|k| ((k.key.as_str(), k.version_id.as_str()), k))
                .collect(),
            stats: PlanStats::default(),
            warnings: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Actions planned so far.
    pub fn actions(&self) -> usize {
        self.actions.len()
    }

    /// The actions planned so far, in the order planned (each part's in key order, parts
    /// in the order added): what a caller that writes while it plans hands on.
    pub fn planned(&self) -> &[Action] {
        &self.actions
    }

    /// Take the actions planned so far out of the planner (each part's in key order,
    /// parts in the order added), for a caller that hands them on as it plans and must
    /// not hold them: [`finish`](Planner::finish) then returns only the actions planned
    /// after the last take, with the stats and warnings of the whole plan.
    pub fn take_planned(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Plan one part: `target` (source names) and `current` (destination names) of
    /// disjoint keys from every other part.
    ///
    /// Longer than 120 lines on purpose: one loop over the key pairs whose match arms are
    /// the planner's cases (copy, delete marker, unchanged, left alone, uncertain), in
    /// the order the module docs give them; one key's decision reads in one place.
    pub fn add(&mut self, current: &BucketState, target: &BucketState) {
        self.add_knowing(current, target, &[]);
    }

    /// [`add`](Self::add) with known copies that are not in the options, for a caller that
    /// does not hold them all ([`PlanOptions::known_copies`] at millions of journaled
    /// copies is gigabytes): `known` holds at least those whose destination key is one of
    /// this part's. The plan is the one with every known copy in the options.
    pub fn add_knowing(
        &mut self,
        current: &BucketState,
        target: &BucketState,
        known: &[KnownCopy],
    ) {
        let options = self.options;
        let part_known: HashMap<(&str, &str), &KnownCopy> = known
            .iter()
            .map(|k| ((k.key.as_str(), k.version_id.as_str()), k))
            .collect();
        let src_prefix = options.source.prefix.as_str();
        let in_place = matches!(options.destination, Destination::InPlace);
        let stats = &mut self.stats;
        let mut warnings = Vec::new();
        // Uncertain keys already given a warning.
        let mut mentioned: BTreeSet<&str> = BTreeSet::new();

        // Per-key warnings carried by the target state, in key order.
        let uncertain: BTreeMap<&str, &crate::state::Uncertain> = target
            .uncertain
            .iter()
            .filter(|u| u.key.starts_with(src_prefix))
            .map(|u| (u.key.as_str(), u))
            .collect();
        // Keys whose order is unknown: reported, and never acted on (a guess is not a
        // state to restore).
        let order_unknown: BTreeSet<&str> = target
            .order_unknown
            .iter()
            .filter(|k| k.starts_with(src_prefix))
            .map(String::as_str)
            .collect();
        for k in target
            .ambiguous
            .iter()
            .filter(|k| k.starts_with(src_prefix))
        {
            warnings.push(if order_unknown.contains(k.as_str()) {
                Warning::OrderUnknown { key: k.clone() }
            } else {
                Warning::SameSecondTie { key: k.clone() }
            });
        }
        for k in target
            .out_of_order
            .iter()
            .filter(|k| k.starts_with(src_prefix))
        {
            warnings.push(Warning::OutOfOrder { key: k.clone() });
        }

        let dest_prefix = crate::pairs::destination_prefix(src_prefix, &options.destination);
        stats.keys_now += current
            .objects
            .iter()
            .filter(|e| e.key.starts_with(dest_prefix))
            .count() as u64;

        for pair in crate::pairs::pairs(src_prefix, &options.destination, target, current) {
            let c = pair.current;
            match pair.target {
                Some(t) => {
                    let dest_key = pair.key;
                    stats.keys_at_target += 1;
                    let u = uncertain.get(t.key.as_str());
                    let same = c.is_some_and(|c| {
                        let same_version = in_place && c.version.version_id == t.version.version_id;
                        let id = (c.key.as_str(), &*c.version.version_id.as_str());
                        let known_copy = self
                            .known
                            .get(&id)
                            .or_else(|| part_known.get(&id))
                            .is_some_and(|k| {
                                k.source_key == t.key
                                    && k.source_version_id == t.version.version_id
                                    && k.holds(&c.version)
                            });
                        let same_content = options.match_content
                            && !t.version.etag.is_empty()
                            && c.version.etag == t.version.etag
                            && c.version.size == t.version.size;
                        same_version || known_copy || same_content
                    });
                    if let Some(u) = u {
                        mentioned.insert(u.key.as_str());
                        warnings.push(Warning::NullRewritten {
                            key: t.key.clone(),
                            at: u.null_written_at,
                            handling: if same {
                                UncertainHandling::Unchanged
                            } else {
                                UncertainHandling::RestoredBestSurviving
                            },
                        });
                    }
                    if same {
                        stats.unchanged += 1;
                        continue;
                    }
                    if order_unknown.contains(t.key.as_str()) {
                        stats.left_alone += 1;
                        continue;
                    }
                    if let Some(sc) = &t.version.storage_class
                        && sc.needs_restore()
                    {
                        stats.archived += 1;
                        warnings.push(Warning::Archived {
                            key: dest_key.clone(),
                            version_id: t.version.version_id.to_string(),
                            storage_class: *sc,
                        });
                    }
                    stats.copies += 1;
                    stats.bytes_to_copy = stats.bytes_to_copy.saturating_add(t.version.size);
                    self.actions.push(Action::Copy(CopyAction {
                        key: dest_key,
                        source_key: t.key.clone(),
                        source_version_id: t.version.version_id.clone(),
                        etag: t.version.etag.clone(),
                        size: t.version.size,
                        storage_class: t.version.storage_class,
                        last_modified: t.version.last_modified,
                        expect: c.map(|c| expect_of(&c.version)),
                    }));
                }
                None => {
                    let c = c.expect("one side is always present");
                    if !in_place {
                        stats.left_alone += 1;
                        warnings.push(Warning::ExtraAtDestination { key: c.key.clone() });
                        continue;
                    }
                    if order_unknown.contains(c.key.as_str()) {
                        stats.left_alone += 1;
                        continue;
                    }
                    if let Some(u) = uncertain.get(c.key.as_str()) {
                        mentioned.insert(u.key.as_str());
                        warnings.push(Warning::NullRewritten {
                            key: c.key.clone(),
                            at: u.null_written_at,
                            handling: if options.mark_uncertain_absent {
                                UncertainHandling::MarkedDeleted
                            } else {
                                UncertainHandling::LeftAlone
                            },
                        });
                        if !options.mark_uncertain_absent {
                            stats.left_alone += 1;
                            continue;
                        }
                    }
                    stats.delete_markers += 1;
                    self.actions.push(Action::DeleteMarker(DeleteMarkerAction {
                        key: c.key.clone(),
                        expect: expect_of(&c.version),
                    }));
                }
            }
        }
        // Uncertain keys absent both at T and now need no action, but the reviewer should
        // still hear that their state at T is not known for sure.
        for u in uncertain.values() {
            if !mentioned.contains(u.key.as_str()) {
                warnings.push(Warning::NullRewritten {
                    key: u.key.clone(),
                    at: u.null_written_at,
                    handling: UncertainHandling::Unchanged,
                });
            }
        }
        // Within one key, warnings keep the order they were found in (stable sorts).
        warnings.sort_by(|a, b| warning_key(a).cmp(warning_key(b)));
        self.warnings.append(&mut warnings);
    }

    /// The plan, actions and warnings in key order.
    pub fn finish(self) -> RestorePlan {
        let Planner {
            options,
            stats,
            mut warnings,
            mut actions,
            ..
        } = self;
        // Parts came in any order, each sorted: stable sorts by key merge them as one
        // walk over all keys would have ordered them.
        warnings.sort_by(|a, b| warning_key(a).cmp(warning_key(b)));
        actions.sort_by(|a, b| a.key().cmp(b.key()));
        RestorePlan {
            schema: PLAN_SCHEMA.to_owned(),
            created_at: None,
            digest: None,
            source: options.source.clone(),
            destination: options.destination.clone(),
            at: options.at,
            selection: options.selection,
            keys: None,
            inventory: None,
            stats,
            estimate: None,
            warnings,
            actions,
        }
    }
}

fn warning_key(w: &Warning) -> &str {
    match w {
        Warning::NullRewritten { key, .. }
        | Warning::SameSecondTie { key }
        | Warning::OrderUnknown { key }
        | Warning::OutOfOrder { key }
        | Warning::ExtraAtDestination { key }
        | Warning::Archived { key, .. }
        | Warning::Unrestorable { key, .. } => key,
        Warning::DestinationKeepsNoHistory { .. }
        | Warning::HidesMostKeys { .. }
        | Warning::NoncurrentExpiration { .. }
        | Warning::DefaultRetention { .. }
        | Warning::MfaDelete { .. } => "",
    }
}

/// The checks a restore must pass before anything is written.
///
/// - The source must have (had) versioning: without it there is no history.
/// - An in-place restore needs versioning **Enabled**: while it is Suspended, every copy
///   and delete marker would replace the key's `null` version and destroy it.
/// - A bucket destination may be unversioned or suspended; that gives a warning, since
///   the restored objects then keep no history.
///
/// `destination_versioning` is the destination bucket's state (ignored in place).
pub fn preflight(
    source_bucket: &str,
    source_versioning: Versioning,
    destination: &Destination,
    destination_versioning: Option<Versioning>,
) -> Result<Vec<Warning>, PlanError> {
    if source_versioning == Versioning::Unversioned {
        return Err(PlanError::NeverVersioned {
            bucket: source_bucket.to_owned(),
        });
    }
    match destination {
        Destination::InPlace if source_versioning == Versioning::Suspended => {
            Err(PlanError::Suspended {
                bucket: source_bucket.to_owned(),
            })
        }
        Destination::Bucket { location } => match destination_versioning {
            Some(v @ (Versioning::Unversioned | Versioning::Suspended)) => {
                Ok(vec![Warning::DestinationKeepsNoHistory {
                    bucket: location.bucket.clone(),
                    versioning: v,
                }])
            }
            _ => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An action as plans wrote it while its ids and ETags were strings: what every
    /// plan file on disk and every digest was made from.
    #[derive(Serialize)]
    #[serde(tag = "op", rename_all = "snake_case")]
    enum TextAction {
        Copy {
            key: String,
            source_key: String,
            source_version_id: String,
            #[serde(skip_serializing_if = "String::is_empty")]
            etag: String,
            size: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            storage_class: Option<StorageClass>,
            last_modified: DateTime<Utc>,
            expect: Option<TextExpect>,
        },
        DeleteMarker {
            key: String,
            expect: TextExpect,
        },
    }

    #[derive(Serialize)]
    struct TextExpect {
        version_id: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        etag: String,
    }

    /// Ids and ETags of every form a server sends: `null`, UUIDs, AWS's packed ids, MD5s,
    /// multipart ETags, empty and any other text.
    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[A-Za-z0-9._]{0,33}",
            ".{0,12}",
        ]
    }

    fn etag() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[0-9a-f]{32}",
            "[0-9a-f]{32}-[0-9]{1,5}",
            "[0-9A-F]{32}",
            ".{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// The compact ids and ETags an action holds change nothing a plan file shows: an
        /// action serialises byte for byte as it did with strings (so plan files and
        /// their digests are unchanged), and reads back equal.
        #[test]
        fn an_action_serialises_as_it_did_with_strings(
            copy: bool,
            key in ".{0,8}",
            vid in id(),
            tag in etag(),
            expect in proptest::option::of((id(), etag())),
            size: u64,
        ) {
            let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 5_000_000).unwrap();
            let (action, text) = if copy {
                (
                    Action::Copy(CopyAction {
                        key: key.clone(),
                        source_key: key.clone(),
                        source_version_id: VersionId::new(&vid),
                        etag: ETag::new(&tag),
                        size,
                        storage_class: Some(StorageClass::new("GLACIER")),
                        last_modified: at,
                        expect: expect.clone().map(|(v, e)| Expect {
                            version_id: VersionId::new(&v),
                            etag: ETag::new(&e),
                        }),
                    }),
                    TextAction::Copy {
                        key: key.clone(),
                        source_key: key,
                        source_version_id: vid,
                        etag: tag,
                        size,
                        storage_class: Some(StorageClass::new("GLACIER")),
                        last_modified: at,
                        expect: expect.map(|(version_id, etag)| TextExpect { version_id, etag }),
                    },
                )
            } else {
                (
                    Action::DeleteMarker(DeleteMarkerAction {
                        key: key.clone(),
                        expect: Expect { version_id: VersionId::new(&vid), etag: ETag::new(&tag) },
                    }),
                    TextAction::DeleteMarker {
                        key,
                        expect: TextExpect { version_id: vid, etag: tag },
                    },
                )
            };
            let json = serde_json::to_string_pretty(&action).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string_pretty(&text).unwrap());
            prop_assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), action);
        }
    }
}
