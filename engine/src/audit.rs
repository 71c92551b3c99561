//! Recovery readiness (`s3rewind audit`): a bucket's configuration in, a coverage matrix
//! of five recovery scenarios out.
//!
//! The CLI reads the configurations ([`BucketFacts`]: versioning and MFA Delete,
//! lifecycle rules, replication, Object Lock, what the bucket policy denies, the public
//! access block, default encryption) and [`audit`] decides, for each [`Scenario`],
//! whether the bucket can be recovered from it ([`Coverage`]), why, and what would fix
//! it. A configuration that is not set is simply absent from the facts; one that could
//! not be read is listed in [`BucketFacts::unreadable`] and counts as not set.
//!
//! Where a replication rule names a destination bucket, the CLI also reads that replica
//! ([`Replica`]: its versioning, lifecycle and Object Lock) when it can: a replica that is
//! not versioned, or expires noncurrent versions within the recovery window, covers a
//! regional failure or a deleted bucket only partly; one that does not exist covers
//! nothing; one locked by COMPLIANCE retention keeps versions even from this account.
//!
//! [`policy_denials`] reads a bucket policy (JSON) for the `Deny` statements that protect
//! recovery: `s3:DeleteBucket`, `s3:DeleteObjectVersion`, `s3:PutLifecycleConfiguration`
//! (a lifecycle rule can expire every version without `s3:DeleteObjectVersion`),
//! `s3:PutBucketVersioning` and `s3:BypassGovernanceRetention`.

use crate::model::Versioning;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The schema name of the audit's JSON document.
pub const AUDIT_SCHEMA: &str = "s3rewind.audit/v1";

/// The actions whose denial in a bucket policy the audit looks for, and whether each
/// applies to objects (`arn:aws:s3:::BUCKET/*`) rather than the bucket.
pub const GUARDED_ACTIONS: [(&str, bool); 5] = [
    ("s3:DeleteBucket", false),
    ("s3:DeleteObjectVersion", true),
    ("s3:PutLifecycleConfiguration", false),
    ("s3:PutBucketVersioning", false),
    ("s3:BypassGovernanceRetention", true),
];

/// An enabled-or-not lifecycle rule, as far as recovery cares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// The rule id (may be empty).
    pub id: String,
    /// The prefix it applies to (empty: the whole bucket).
    pub prefix: String,
    /// `Status: Enabled`.
    pub enabled: bool,
    /// NoncurrentVersionExpiration: days after which noncurrent versions are deleted.
    pub noncurrent_days: Option<i32>,
    /// NoncurrentVersionExpiration: how many newer noncurrent versions are kept anyway.
    pub newer_noncurrent_versions: Option<i32>,
    /// Expiration of current versions (adds a delete marker on a versioned bucket).
    pub expiration_days: Option<i32>,
    /// Removes delete markers that have no versions left behind them.
    pub expired_object_delete_marker: bool,
    /// AbortIncompleteMultipartUpload days.
    pub abort_incomplete_upload_days: Option<i32>,
}

/// A replication rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRule {
    /// The rule id (may be empty).
    pub id: String,
    /// `Status: Enabled`.
    pub enabled: bool,
    /// The prefix it applies to (empty: every key).
    pub prefix: String,
    /// The filter also names tags (so not every object is replicated).
    pub tag_filter: bool,
    /// The destination bucket's name (from its ARN).
    pub destination_bucket: String,
    /// The destination account, when the rule names one.
    pub destination_account: Option<String>,
    /// The destination bucket's region, when it could be read.
    pub destination_region: Option<String>,
    /// Delete markers are replicated too.
    pub delete_marker_replication: bool,
    /// The destination bucket as the audit read it (`None`: not read).
    #[serde(default)]
    pub replica: Option<Replica>,
}

impl ReplicationRule {
    fn whole_bucket(&self) -> bool {
        self.enabled && self.prefix.is_empty() && !self.tag_filter
    }
}

/// Whether a replica could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaStatus {
    /// Its configuration was read.
    Read,
    /// The bucket does not exist (NoSuchBucket): nothing can be replicated.
    Missing,
    /// It could not be read (another account's bucket, access denied): not judged.
    Unreadable,
}

/// A replication rule's destination bucket: what the audit could read of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// The bucket.
    pub bucket: String,
    /// Whether it could be read.
    pub status: ReplicaStatus,
    /// Why it could not be read (`status` `unreadable` or `missing`).
    pub reason: Option<String>,
    /// Its versioning (`None` unless read).
    pub versioning: Option<Versioning>,
    /// MFA Delete on the replica.
    pub mfa_delete: bool,
    /// Its lifecycle rules.
    pub lifecycle: Vec<LifecycleRule>,
    /// Its Object Lock configuration, if any.
    pub object_lock: Option<ObjectLock>,
    /// Its configurations that could not be read (counted as not set).
    pub unreadable: Vec<Unreadable>,
}

impl Replica {
    /// A replica whose configuration was read as nothing set (callers fill it in).
    pub fn read(bucket: impl Into<String>, versioning: Versioning) -> Self {
        Replica {
            bucket: bucket.into(),
            status: ReplicaStatus::Read,
            reason: None,
            versioning: Some(versioning),
            mfa_delete: false,
            lifecycle: Vec::new(),
            object_lock: None,
            unreadable: Vec::new(),
        }
    }

    /// A replica that could not be read, or does not exist.
    pub fn not_read(
        bucket: impl Into<String>,
        status: ReplicaStatus,
        reason: impl Into<String>,
    ) -> Self {
        Replica {
            status,
            reason: Some(reason.into()),
            versioning: None,
            ..Replica::read(bucket, Versioning::Unversioned)
        }
    }

    /// The shortest noncurrent-version expiration of an enabled rule (any prefix: a
    /// rule on part of the replica still shortens what it keeps of that part).
    pub fn window_days(&self) -> Option<i32> {
        self.lifecycle
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| r.noncurrent_days)
            .min()
    }

    /// COMPLIANCE default retention of at least `min` days: versions that not even
    /// this account can delete.
    fn locked_for(&self, min: i32) -> Option<i32> {
        self.object_lock
            .as_ref()
            .filter(|l| l.enabled && l.mode.as_deref() == Some("COMPLIANCE"))
            .and_then(|l| l.days)
            .filter(|&d| d >= min)
    }
}

/// How a replica changes the credit a rule gets: a lower ceiling with what is wrong and
/// its fix, or a reason it is good.
enum ReplicaVerdict {
    /// The replica was not read: no change.
    Unknown,
    /// Versioned and keeping versions long enough.
    Sound(String),
    /// Caps the rule's credit at this level.
    Gap(Coverage, String, String),
}

fn replica_verdict(r: &ReplicationRule, min: i32) -> ReplicaVerdict {
    let Some(x) = &r.replica else {
        return ReplicaVerdict::Unknown;
    };
    let name = format!("s3://{}", x.bucket);
    match x.status {
        ReplicaStatus::Unreadable => return ReplicaVerdict::Unknown,
        ReplicaStatus::Missing => {
            return ReplicaVerdict::Gap(
                Coverage::NotCovered,
                format!("the replica {name} does not exist: nothing is replicated"),
                format!(
                    "create {name} (versioned), or point rule {:?} at an existing bucket",
                    r.id
                ),
            );
        }
        ReplicaStatus::Read => {}
    }
    let versioning = x.versioning.unwrap_or(Versioning::Unversioned);
    if versioning != Versioning::Enabled {
        return ReplicaVerdict::Gap(
            Coverage::Partly,
            format!(
                "the replica {name} is not versioned (versioning {versioning}): S3 replicates only into a versioned bucket, and an overwrite or delete there is final"
            ),
            format!("enable versioning on {name}"),
        );
    }
    match x.window_days() {
        Some(d) if d < min => ReplicaVerdict::Gap(
            Coverage::Partly,
            format!(
                "the replica {name} expires noncurrent versions after {d} days: recovery from it reaches back only {d} days"
            ),
            format!(
                "lengthen the noncurrent-version expiration on {name} beyond {d} days (to at least {min})"
            ),
        ),
        d => ReplicaVerdict::Sound(format!(
            "the replica {name} is versioned and keeps noncurrent versions {}{}",
            d.map_or_else(|| "indefinitely".to_owned(), |d| format!("{d} days")),
            x.locked_for(min)
                .map(|d| format!(", locked {d} days (COMPLIANCE)"))
                .unwrap_or_default()
        )),
    }
}

/// Apply a replica's verdict to a rule's guard.
fn with_replica(g: Guard, r: &ReplicationRule, min: i32) -> Guard {
    match replica_verdict(r, min) {
        ReplicaVerdict::Unknown => g,
        ReplicaVerdict::Sound(why) => Guard {
            because: format!("{}; {why}", g.because),
            ..g
        },
        ReplicaVerdict::Gap(cap, why, fix) => Guard {
            level: g.level.min(cap),
            because: format!("{}; but {why}", g.because),
            fix: Some(match g.fix {
                Some(f) => format!("{fix}; and {f}"),
                None => fix,
            }),
        },
    }
}

/// The bucket's Object Lock configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// `ObjectLockEnabled: Enabled`.
    pub enabled: bool,
    /// Default retention mode (`GOVERNANCE` or `COMPLIANCE`), if a default is set.
    pub mode: Option<String>,
    /// Default retention in days (years counted as 365 days).
    pub days: Option<i32>,
}

/// A `Deny` in the bucket policy for one of the [`GUARDED_ACTIONS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The action denied (`s3:DeleteObjectVersion`).
    pub action: String,
    /// The statement's Sid, if any.
    pub sid: Option<String>,
    /// What limits the denial (a Condition, exempted principals, only some keys); empty
    /// when it applies to everyone, always, on the whole bucket.
    pub limits: Vec<String>,
}

impl Denial {
    /// True when nothing limits the denial.
    pub fn unconditional(&self) -> bool {
        self.limits.is_empty()
    }
}

/// The public access block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// BlockPublicAcls.
    pub block_public_acls: bool,
    /// IgnorePublicAcls.
    pub ignore_public_acls: bool,
    /// BlockPublicPolicy.
    pub block_public_policy: bool,
    /// RestrictPublicBuckets.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four settings on.
    pub fn all(&self) -> bool {
        self.block_public_acls
            && self.ignore_public_acls
            && self.block_public_policy
            && self.restrict_public_buckets
    }
}

/// Default encryption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// `AES256`, `aws:kms`, `aws:kms:dsse`.
    pub algorithm: String,
    /// The KMS key, if one is named.
    pub kms_key_id: Option<String>,
}

/// A configuration that could not be read (counted as not set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// Which configuration (`replication`, `bucket policy`…).
    pub configuration: String,
    /// Why (the error).
    pub reason: String,
}

/// Everything the audit knows about a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketFacts {
    /// The bucket.
    pub bucket: String,
    /// Its region, when it could be read.
    pub region: Option<String>,
    /// Versioning (`unversioned` when it could not be read).
    pub versioning: Versioning,
    /// MFA Delete.
    pub mfa_delete: bool,
    /// Lifecycle rules.
    pub lifecycle: Vec<LifecycleRule>,
    /// Replication rules.
    pub replication: Vec<ReplicationRule>,
    /// Object Lock, if configured.
    pub object_lock: Option<ObjectLock>,
    /// True when the bucket has a policy.
    pub has_policy: bool,
    /// The guarded actions the bucket policy denies.
    pub denials: Vec<Denial>,
    /// The public access block, if set.
    pub public_access_block: Option<PublicAccessBlock>,
    /// Default encryption, if set.
    pub encryption: Option<Encryption>,
    /// Configurations that could not be read.
    pub unreadable: Vec<Unreadable>,
}

impl BucketFacts {
    /// A bucket with nothing configured.
    pub fn new(bucket: impl Into<String>) -> Self {
        BucketFacts {
            bucket: bucket.into(),
            region: None,
            versioning: Versioning::Unversioned,
            mfa_delete: false,
            lifecycle: Vec::new(),
            replication: Vec::new(),
            object_lock: None,
            has_policy: false,
            denials: Vec::new(),
            public_access_block: None,
            encryption: None,
            unreadable: Vec::new(),
        }
    }

    /// The best denial of `action` (unconditional first).
    fn denial(&self, action: &str) -> Option<&Denial> {
        self.denials
            .iter()
            .filter(|d| d.action == action)
            .min_by_key(|d| d.limits.len())
    }

    fn denied_always(&self, action: &str) -> bool {
        self.denial(action).is_some_and(Denial::unconditional)
    }
}

/// The five recovery scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// The bucket or its region fails.
    RegionFailure,
    /// An object is deleted by accident.
    AccidentalDelete,
    /// A version is deleted permanently.
    PermanentVersionDelete,
    /// Data is corrupted (overwritten, encrypted by ransomware).
    Corruption,
    /// The bucket is deleted.
    BucketDeleted,
}

impl Scenario {
    /// Every scenario, in the matrix's order.
    pub const ALL: [Scenario; 5] = [
        Scenario::RegionFailure,
        Scenario::AccidentalDelete,
        Scenario::PermanentVersionDelete,
        Scenario::Corruption,
        Scenario::BucketDeleted,
    ];

    /// A short description.
    pub fn title(self) -> &'static str {
        match self {
            Scenario::RegionFailure => "the bucket or its region fails",
            Scenario::AccidentalDelete => "an object is deleted by accident",
            Scenario::PermanentVersionDelete => "a version is deleted permanently",
            Scenario::Corruption => "data is corrupted (overwritten or encrypted)",
            Scenario::BucketDeleted => "the bucket is deleted",
        }
    }
}

/// How well a scenario is covered; ordered from worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Nothing protects against it.
    NotCovered,
    /// Something helps, with a gap that is named.
    Partly,
    /// Recoverable.
    Covered,
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Coverage::NotCovered => "not covered",
            Coverage::Partly => "partly",
            Coverage::Covered => "covered",
        })
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioCoverage {
    /// The scenario.
    pub scenario: Scenario,
    /// Its description.
    pub title: String,
    /// The verdict.
    pub coverage: Coverage,
    /// What the verdict rests on.
    pub because: Vec<String>,
    /// What would make it covered (empty when covered).
    pub fixes: Vec<String>,
}

/// The audit's result (`s3rewind.audit/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// [`AUDIT_SCHEMA`].
    pub schema: String,
    /// The bucket.
    pub bucket: String,
    /// How far back a restore can reach, in days: the shortest noncurrent-version
    /// expiration of an enabled lifecycle rule (`None`: unlimited, or no versioning).
    pub recovery_window_days: Option<i32>,
    /// The matrix, one row per [`Scenario`], in [`Scenario::ALL`]'s order.
    pub scenarios: Vec<ScenarioCoverage>,
    /// True when every scenario is covered.
    pub all_covered: bool,
    /// Other findings (unreadable configurations, public access, encryption…).
    pub notes: Vec<String>,
    /// The configuration the verdicts were made from.
    pub configuration: BucketFacts,
}

/// Options of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// The recovery window wanted, in days: noncurrent versions (and Object Lock
    /// retention) shorter than this make a scenario only partly covered.
    pub min_days: i32,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions { min_days: 30 }
    }
}

/// A reason a scenario is (partly) covered, with the fix for its gap.
#[derive(Clone)]
struct Guard {
    level: Coverage,
    because: String,
    fix: Option<String>,
}

fn row(
    scenario: Scenario,
    guards: Vec<Guard>,
    unguarded_because: String,
    fixes: Vec<String>,
) -> ScenarioCoverage {
    let level = guards
        .iter()
        .map(|g| g.level)
        .max()
        .unwrap_or(Coverage::NotCovered);
    let mut because: Vec<String> = guards.iter().map(|g| g.because.clone()).collect();
    let fixes = match level {
        Coverage::Covered => Vec::new(),
        Coverage::Partly => {
            let mut f: Vec<String> = guards.iter().filter_map(|g| g.fix.clone()).collect();
            f.dedup();
            if f.is_empty() { fixes } else { f }
        }
        Coverage::NotCovered => {
            because.push(unguarded_because);
            fixes
        }
    };
    ScenarioCoverage {
        scenario,
        title: scenario.title().to_owned(),
        coverage: level,
        because,
        fixes,
    }
}

/// What every scenario's judgement reads: the facts, the window asked for, and what
/// several scenarios derive from them alike.
struct Judge<'a> {
    facts: &'a BucketFacts,
    /// `--min-days`.
    min: i32,
    /// Versioning is Enabled.
    versioned: bool,
    /// Enabled lifecycle rules that expire noncurrent versions sooner than `min`.
    short_rules: Vec<&'a LifecycleRule>,
    /// The shortest noncurrent-version expiration (on a versioned bucket).
    window: Option<i32>,
    /// What stops versions being deleted for good (scenarios 3 and 5).
    version_guards: Vec<Guard>,
}

/// How one scenario is judged.
type Judgement = fn(&Judge) -> ScenarioCoverage;

/// The scenarios of the matrix, in its order, each with the function that judges it.
const SCENARIOS: [(Scenario, Judgement); 5] = [
    (Scenario::RegionFailure, region_failure),
    (Scenario::AccidentalDelete, accidental_delete),
    (Scenario::PermanentVersionDelete, permanent_version_delete),
    (Scenario::Corruption, corruption),
    (Scenario::BucketDeleted, bucket_deleted),
];

/// Decide the coverage matrix for a bucket's configuration: each scenario of
/// [`SCENARIOS`] judged, then the notes that belong to no scenario.
pub fn audit(facts: &BucketFacts, options: &AuditOptions) -> AuditReport {
    let judge = Judge::new(facts, options.min_days);
    let rows: Vec<ScenarioCoverage> = SCENARIOS
        .iter()
        .map(|(scenario, judged)| {
            let row = judged(&judge);
            debug_assert_eq!(row.scenario, *scenario);
            row
        })
        .collect();
    let all_covered = rows.iter().all(|r| r.coverage == Coverage::Covered);
    AuditReport {
        schema: AUDIT_SCHEMA.to_owned(),
        bucket: facts.bucket.clone(),
        recovery_window_days: judge.window,
        scenarios: rows,
        all_covered,
        notes: notes(&judge),
        configuration: facts.clone(),
    }
}

impl<'a> Judge<'a> {
    fn new(facts: &'a BucketFacts, min: i32) -> Judge<'a> {
        let versioned = facts.versioning == Versioning::Enabled;
        let mut judge = Judge {
            facts,
            min,
            versioned,
            short_rules: facts
                .lifecycle
                .iter()
                .filter(|r| r.enabled && r.noncurrent_days.is_some_and(|d| d < min))
                .collect(),
            window: facts
                .lifecycle
                .iter()
                .filter(|r| r.enabled)
                .filter_map(|r| r.noncurrent_days)
                .min()
                .filter(|_| versioned),
            version_guards: Vec::new(),
        };
        judge.version_guards = [
            judge.object_lock_guard(),
            judge.version_denial_guard(),
            judge.mfa_delete_guard(),
        ]
        .into_iter()
        .flatten()
        .chain(judge.replica_guards())
        .collect();
        judge
    }

    /// `rule "id"`, with its prefix when it has one.
    fn scope(r: &LifecycleRule) -> String {
        let id = if r.id.is_empty() {
            "(no id)"
        } else {
            r.id.as_str()
        };
        if r.prefix.is_empty() {
            format!("rule {id:?}")
        } else {
            format!("rule {id:?} (prefix {:?})", r.prefix)
        }
    }

    /// Versioning keeps what deletes and overwrites replace: scenarios 2 and 4.
    fn history_row(&self, scenario: Scenario, what: &str) -> ScenarioCoverage {
        let (min, window) = (self.min, self.window);
        let mut guards = Vec::new();
        match self.facts.versioning {
            Versioning::Enabled if self.short_rules.is_empty() => guards.push(Guard {
                level: Coverage::Covered,
                because: match window {
                    Some(d) => format!(
                        "versioning is Enabled: {what}; noncurrent versions are kept {d} days"
                    ),
                    None => format!(
                        "versioning is Enabled: {what}; no lifecycle rule expires noncurrent versions"
                    ),
                },
                fix: None,
            }),
            Versioning::Enabled => {
                for r in &self.short_rules {
                    let d = r.noncurrent_days.unwrap_or(0);
                    guards.push(Guard {
                        level: Coverage::Partly,
                        because: format!(
                            "versioning is Enabled, but lifecycle {} expires noncurrent versions after {d} days: recovery reaches back only {d} days",
                            Judge::scope(r)
                        ),
                        fix: Some(format!(
                            "lengthen the noncurrent-version expiration of {} beyond {d} days (to at least {min}, the window asked for with --min-days)",
                            Judge::scope(r)
                        )),
                    });
                }
            }
            Versioning::Suspended => guards.push(Guard {
                level: Coverage::Partly,
                because: "versioning is Suspended: earlier versions are kept, but each write or delete replaces a key's `null` version for good".to_owned(),
                fix: Some("re-enable versioning".to_owned()),
            }),
            Versioning::Unversioned => {}
        }
        row(
            scenario,
            guards,
            "versioning was never enabled: every delete and overwrite is final".to_owned(),
            vec!["enable versioning (s3rewind can then restore any earlier state)".to_owned()],
        )
    }

    /// Object Lock's default retention keeps new versions.
    fn object_lock_guard(&self) -> Option<Guard> {
        let (facts, min) = (self.facts, self.min);
        let lock = facts.object_lock.as_ref().filter(|l| l.enabled)?;
        Some(match (lock.mode.as_deref(), lock.days) {
            (Some(mode), Some(days)) if days > 0 => {
                let bypassable =
                    mode != "COMPLIANCE" && !facts.denied_always("s3:BypassGovernanceRetention");
                let short = days < min;
                Guard {
                    level: if bypassable || short {
                        Coverage::Partly
                    } else {
                        Coverage::Covered
                    },
                    because: format!(
                        "Object Lock keeps every new version {days} days ({mode}{})",
                        if bypassable {
                            ": callers with s3:BypassGovernanceRetention can still delete them"
                        } else {
                            ""
                        }
                    ),
                    fix: if bypassable {
                        Some("use COMPLIANCE retention, or deny s3:BypassGovernanceRetention in the bucket policy".to_owned())
                    } else if short {
                        Some(format!(
                            "lengthen the default retention beyond {days} days (to at least {min})"
                        ))
                    } else {
                        None
                    },
                }
            }
            _ => Guard {
                level: Coverage::Partly,
                because: "Object Lock is enabled without a default retention: only versions given a retention are locked".to_owned(),
                fix: Some("set a default retention (COMPLIANCE) on the bucket".to_owned()),
            },
        })
    }

    /// The bucket policy denies s3:DeleteObjectVersion.
    fn version_denial_guard(&self) -> Option<Guard> {
        let lifecycle_locked = self.facts.denied_always("s3:PutLifecycleConfiguration");
        let d = self.facts.denial("s3:DeleteObjectVersion")?;
        let full = d.unconditional() && lifecycle_locked;
        Some(Guard {
            level: if full {
                Coverage::Covered
            } else {
                Coverage::Partly
            },
            because: if d.unconditional() {
                format!(
                    "the bucket policy denies s3:DeleteObjectVersion to everyone{}",
                    if lifecycle_locked {
                        " and s3:PutLifecycleConfiguration"
                    } else {
                        ", but not s3:PutLifecycleConfiguration: a new lifecycle rule can still expire every version"
                    }
                )
            } else {
                format!(
                    "the bucket policy denies s3:DeleteObjectVersion, limited: {}",
                    d.limits.join("; ")
                )
            },
            fix: if full {
                None
            } else if d.unconditional() {
                Some("also deny s3:PutLifecycleConfiguration in the bucket policy".to_owned())
            } else {
                Some("make the s3:DeleteObjectVersion denial apply to every principal and key, or enable Object Lock".to_owned())
            },
        })
    }

    /// MFA Delete: deleting a version needs the root account's device.
    fn mfa_delete_guard(&self) -> Option<Guard> {
        if !self.facts.mfa_delete {
            return None;
        }
        let lifecycle_locked = self.facts.denied_always("s3:PutLifecycleConfiguration");
        Some(Guard {
            level: if lifecycle_locked {
                Coverage::Covered
            } else {
                Coverage::Partly
            },
            because: format!(
                "MFA Delete is enabled: deleting a version needs the root account's MFA device{}",
                if lifecycle_locked {
                    ""
                } else {
                    ", but a lifecycle rule can still expire versions"
                }
            ),
            fix: (!lifecycle_locked)
                .then(|| "deny s3:PutLifecycleConfiguration in the bucket policy".to_owned()),
        })
    }

    /// Whole-bucket replicas keep what a permanent delete here removes.
    fn replica_guards(&self) -> Vec<Guard> {
        let min = self.min;
        let mut guards = Vec::new();
        for r in self.facts.replication.iter().filter(|r| r.whole_bucket()) {
            let other_account = r.destination_account.is_some();
            // A same-account replica under COMPLIANCE retention keeps its versions even
            // from whoever deletes them here.
            let locked = r
                .replica
                .as_ref()
                .filter(|x| x.status == ReplicaStatus::Read)
                .and_then(|x| x.locked_for(min));
            let guard = Guard {
                level: if other_account || locked.is_some() {
                    Coverage::Covered
                } else {
                    Coverage::Partly
                },
                because: match (&r.destination_account, locked) {
                    (Some(a), _) => format!(
                        "replicated to s3://{} in account {a}: a permanent delete here is not replicated there",
                        r.destination_bucket
                    ),
                    (None, Some(d)) => format!(
                        "replicated to s3://{}, whose Object Lock keeps every version {d} days (COMPLIANCE): a permanent delete here is not replicated, and no one can delete them there",
                        r.destination_bucket
                    ),
                    (None, None) => format!(
                        "replicated to s3://{} (no destination account named: probably this account, where whoever deletes versions here may delete them there)",
                        r.destination_bucket
                    ),
                },
                fix: (!other_account && locked.is_none()).then(|| {
                    "replicate to a bucket in another account (with its own deny of s3:DeleteObjectVersion), or lock the replica with COMPLIANCE retention".to_owned()
                }),
            };
            guards.push(with_replica(guard, r, min));
        }
        guards
    }

    /// One replication rule against a regional failure.
    fn region_guard(&self, r: &ReplicationRule) -> Guard {
        let facts = self.facts;
        let whole = r.whole_bucket();
        let other_region = match (&facts.region, &r.destination_region) {
            (Some(a), Some(b)) => Some(a != b),
            _ => None,
        };
        let scope = if whole {
            String::new()
        } else if r.tag_filter {
            " (only objects with the rule's tags)".to_owned()
        } else {
            format!(" (only prefix {:?})", r.prefix)
        };
        let (level, because, fix) = match other_region {
            Some(true) if whole => (
                Coverage::Covered,
                format!(
                    "replicated to s3://{} in {}{scope}",
                    r.destination_bucket,
                    r.destination_region.as_deref().unwrap_or_default()
                ),
                None,
            ),
            Some(false) => (
                Coverage::Partly,
                format!(
                    "replicated to s3://{} in the same region ({}){scope}: a regional outage takes both",
                    r.destination_bucket,
                    facts.region.as_deref().unwrap_or_default()
                ),
                Some("replicate to a bucket in another region".to_owned()),
            ),
            None => (
                Coverage::Partly,
                format!(
                    "replicated to s3://{}{scope}, whose region could not be read",
                    r.destination_bucket
                ),
                Some(format!(
                    "make sure s3://{} is in another region (grant s3:GetBucketLocation on it so the audit can tell)",
                    r.destination_bucket
                )),
            ),
            Some(true) => (
                Coverage::Partly,
                format!(
                    "replicated to s3://{} in {}{scope}",
                    r.destination_bucket,
                    r.destination_region.as_deref().unwrap_or_default()
                ),
                Some("replicate every key (a rule without a prefix or tag filter)".to_owned()),
            ),
        };
        with_replica(
            Guard {
                level,
                because,
                fix,
            },
            r,
            self.min,
        )
    }
}

/// 1. The bucket or its region fails.
fn region_failure(judge: &Judge) -> ScenarioCoverage {
    let guards = judge
        .facts
        .replication
        .iter()
        .filter(|r| r.enabled)
        .map(|r| judge.region_guard(r))
        .collect();
    let mut fixes = Vec::new();
    if !judge.versioned {
        fixes.push("enable versioning (replication needs it)".to_owned());
    }
    fixes.push(
        "add replication to another region/account with delete-marker replication off".to_owned(),
    );
    row(
        Scenario::RegionFailure,
        guards,
        "no replication: the bucket is the only copy".to_owned(),
        fixes,
    )
}

/// 2. An object is deleted by accident.
fn accidental_delete(judge: &Judge) -> ScenarioCoverage {
    judge.history_row(
        Scenario::AccidentalDelete,
        "a delete only adds a delete marker (`s3rewind undelete` brings the key back)",
    )
}

/// 3. A version is deleted permanently.
fn permanent_version_delete(judge: &Judge) -> ScenarioCoverage {
    let versioned = judge.versioned;
    let mut fixes = Vec::new();
    if !versioned {
        fixes.push("enable versioning".to_owned());
    }
    fixes.push("deny s3:DeleteObjectVersion (and s3:PutLifecycleConfiguration) in the bucket policy or enable Object Lock".to_owned());
    fixes.push("or replicate to a bucket in another account".to_owned());
    row(
        Scenario::PermanentVersionDelete,
        if versioned {
            judge.version_guards.clone()
        } else {
            Vec::new()
        },
        if versioned {
            "anyone allowed s3:DeleteObjectVersion (or s3:PutLifecycleConfiguration) can destroy the history".to_owned()
        } else {
            "without versioning there is no history: every delete and overwrite is final".to_owned()
        },
        fixes,
    )
}

/// 4. Data is corrupted.
fn corruption(judge: &Judge) -> ScenarioCoverage {
    judge.history_row(
        Scenario::Corruption,
        "an overwrite keeps the previous version (`s3rewind scan` finds the damage, `restore --before-corruption` undoes it)",
    )
}

/// 5. The bucket is deleted.
fn bucket_deleted(judge: &Judge) -> ScenarioCoverage {
    let mut guards = Vec::new();
    if let Some(d) = judge.facts.denial("s3:DeleteBucket") {
        guards.push(Guard {
            level: if d.unconditional() {
                Coverage::Covered
            } else {
                Coverage::Partly
            },
            because: if d.unconditional() {
                "the bucket policy denies s3:DeleteBucket to everyone (whoever can change the policy can lift it)".to_owned()
            } else {
                format!(
                    "the bucket policy denies s3:DeleteBucket, limited: {}",
                    d.limits.join("; ")
                )
            },
            fix: (!d.unconditional())
                .then(|| "make the s3:DeleteBucket denial apply to every principal".to_owned()),
        });
    }
    if judge.versioned {
        // S3 deletes only an empty bucket: emptying a versioned bucket deletes every
        // version, which the version guards stop.
        for g in &judge.version_guards {
            guards.push(Guard {
                because: format!(
                    "{} (a bucket must be emptied before it is deleted)",
                    g.because
                ),
                ..g.clone()
            });
        }
    }
    row(
        Scenario::BucketDeleted,
        guards,
        "nothing stops the bucket being emptied and deleted, and no copy exists elsewhere"
            .to_owned(),
        vec![
            "deny s3:DeleteBucket in the bucket policy".to_owned(),
            "or enable Object Lock (a bucket with locked versions cannot be emptied)".to_owned(),
            "or replicate to a bucket in another account".to_owned(),
        ],
    )
}

/// What the audit says beside the matrix: configurations it could not read, replication
/// and lifecycle details, public access, encryption.
fn notes(judge: &Judge) -> Vec<String> {
    let facts = judge.facts;
    let mut notes = Vec::new();
    for u in &facts.unreadable {
        notes.push(format!(
            "could not read the {} ({}): counted as not set",
            u.configuration, u.reason
        ));
    }
    for x in facts.replication.iter().filter_map(|r| r.replica.as_ref()) {
        if x.status == ReplicaStatus::Unreadable {
            notes.push(format!(
                "could not read the replica s3://{} ({}): its versioning, lifecycle and Object Lock were not checked; run `s3rewind audit s3://{}` with credentials that can read it",
                x.bucket,
                x.reason.as_deref().unwrap_or("no reason given"),
                x.bucket
            ));
        }
        for u in &x.unreadable {
            notes.push(format!(
                "could not read the replica s3://{}'s {} ({}): counted as not set",
                x.bucket, u.configuration, u.reason
            ));
        }
    }
    if facts
        .replication
        .iter()
        .any(|r| r.enabled && r.delete_marker_replication)
    {
        notes.push("delete markers are replicated: a delete here also hides the key in the replica (its versions stay)".to_owned());
    }
    if facts.replication.iter().any(|r| r.enabled) {
        notes.push("replication copies objects written after the rule was created; older objects need S3 Batch Replication".to_owned());
    }
    if judge.versioned && !facts.denied_always("s3:PutBucketVersioning") && !facts.mfa_delete {
        notes.push("s3:PutBucketVersioning is not denied: versioning could be suspended, after which overwrites are final".to_owned());
    }
    for r in facts.lifecycle.iter().filter(|r| r.enabled) {
        if r.newer_noncurrent_versions.is_some_and(|n| n > 0) {
            notes.push(format!(
                "lifecycle {} keeps the {} newest noncurrent versions past the expiration",
                Judge::scope(r),
                r.newer_noncurrent_versions.unwrap_or_default()
            ));
        }
        if let Some(d) = r.expiration_days {
            notes.push(format!(
                "lifecycle {} expires current objects after {d} days (on a versioned bucket: adds delete markers)",
                Judge::scope(r)
            ));
        }
    }
    if !facts
        .lifecycle
        .iter()
        .any(|r| r.enabled && r.abort_incomplete_upload_days.is_some())
    {
        notes.push("no lifecycle rule aborts incomplete multipart uploads (their parts are stored and billed until aborted)".to_owned());
    }
    match &facts.public_access_block {
        Some(p) if p.all() => {}
        _ => notes.push(
            "public access is not fully blocked (the public access block is missing or partial)"
                .to_owned(),
        ),
    }
    match &facts.encryption {
        Some(e) => notes.push(format!(
            "default encryption: {}{}",
            e.algorithm,
            e.kms_key_id
                .as_deref()
                .map(|k| format!(" with key {k} (a restore needs kms:Decrypt on it)"))
                .unwrap_or_default()
        )),
        None => notes.push("no default encryption is configured".to_owned()),
    }
    notes
}

/// `*` and `?` wildcards, as IAM matches actions (case-insensitive) and resources.
fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let fold = |s: &str| {
        if case_insensitive {
            s.to_ascii_lowercase().into_bytes()
        } else {
            s.as_bytes().to_vec()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == b'*' {
        i += 1;
    }
    i == p.len()
}

/// A string or an array of strings (IAM allows both).
fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// Is the principal everyone (`"*"` or `{"AWS": "*"}`)?
fn everyone(p: &Value) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(m) => m
            .get("AWS")
            .and_then(|v| strings(Some(v)))
            .is_some_and(|v| v.iter().any(|s| s == "*")),
        _ => false,
    }
}

/// The [`GUARDED_ACTIONS`] a bucket policy denies, read from its JSON text.
///
/// A `Deny` counts when its principal is everyone (`*`) or given by `NotPrincipal`
/// (everyone but some: a limit), its `Action` matches (wildcards: `s3:*`, `s3:Delete*`;
/// `NotAction` that does not match) and its `Resource` covers the bucket, or every object
/// of it (`arn:aws:s3:::BUCKET/*`; a narrower object resource is a limit). A `Condition`
/// is a limit. A `Deny` for named principals only does not count.
pub fn policy_denials(policy: &str, bucket: &str) -> Result<Vec<Denial>, String> {
    let doc: Value =
        serde_json::from_str(policy).map_err(|e| format!("the bucket policy is not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return Err("the bucket policy has no Statement".to_owned()),
    };
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let objects_arn = format!("arn:aws:s3:::{bucket}/*");
    let mut out = Vec::new();
    for s in &statements {
        if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
            continue;
        }
        let mut limits = Vec::new();
        match (s.get("Principal"), s.get("NotPrincipal")) {
            (Some(p), _) if everyone(p) => {}
            (None, Some(_)) => limits.push("some principals are exempt (NotPrincipal)".to_owned()),
            _ => continue,
        }
        if s.get("Condition")
            .is_some_and(|c| c.as_object().is_none_or(|m| !m.is_empty()))
        {
            limits.push(format!(
                "only under a condition ({})",
                s.get("Condition").map(Value::to_string).unwrap_or_default()
            ));
        }
        let actions = strings(s.get("Action"));
        let not_actions = strings(s.get("NotAction"));
        let resources = strings(s.get("Resource"));
        let not_resources = strings(s.get("NotResource"));
        for (action, on_objects) in GUARDED_ACTIONS {
            let matches = match (&actions, &not_actions) {
                (Some(a), _) => a.iter().any(|p| glob(p, action, true)),
                (None, Some(na)) => !na.iter().any(|p| glob(p, action, true)),
                (None, None) => false,
            };
            if !matches {
                continue;
            }
            let target = if on_objects {
                &objects_arn
            } else {
                &bucket_arn
            };
            let mut limits = limits.clone();
            let covered = match (&resources, &not_resources) {
                (Some(r), _) => {
                    if r.iter().any(|p| glob(p, target, false)) {
                        true
                    } else if on_objects {
                        // A narrower object resource (`BUCKET/important/*`) protects some keys.
                        let some: Vec<&String> = r
                            .iter()
                            .filter(|p| p.starts_with(&format!("{bucket_arn}/")))
                            .collect();
                        if some.is_empty() {
                            false
                        } else {
                            limits.push(format!(
                                "only some keys ({})",
                                some.iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                            true
                        }
                    } else {
                        false
                    }
                }
                (None, Some(nr)) => !nr.iter().any(|p| glob(p, target, false)),
                (None, None) => false,
            };
            if covered {
                out.push(Denial {
                    action: action.to_owned(),
                    sid: s.get("Sid").and_then(Value::as_str).map(str::to_owned),
                    limits,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cov(r: &AuditReport, s: Scenario) -> Coverage {
        r.scenarios
            .iter()
            .find(|x| x.scenario == s)
            .unwrap()
            .coverage
    }

    fn versioned(bucket: &str) -> BucketFacts {
        BucketFacts {
            versioning: Versioning::Enabled,
            region: Some("us-east-1".into()),
            ..BucketFacts::new(bucket)
        }
    }

    fn deny(action: &str) -> Denial {
        Denial {
            action: action.into(),
            sid: None,
            limits: Vec::new(),
        }
    }

    fn replica(account: Option<&str>, region: Option<&str>) -> ReplicationRule {
        ReplicationRule {
            id: "dr".into(),
            enabled: true,
            destination_bucket: "replica".into(),
            destination_account: account.map(Into::into),
            destination_region: region.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn an_unversioned_bucket_covers_nothing() {
        let r = audit(&BucketFacts::new("b"), &AuditOptions::default());
        assert_eq!(r.schema, AUDIT_SCHEMA);
        for s in &r.scenarios {
            assert_eq!(s.coverage, Coverage::NotCovered, "{s:?}");
            assert!(!s.fixes.is_empty(), "{s:?}");
        }
        assert!(!r.all_covered);
        let delete = &r.scenarios[1];
        assert!(delete.fixes[0].contains("enable versioning"));
        assert_eq!(r.recovery_window_days, None);
    }

    #[test]
    fn versioning_covers_deletes_and_corruption_only() {
        let r = audit(&versioned("b"), &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::AccidentalDelete), Coverage::Covered);
        assert_eq!(cov(&r, Scenario::Corruption), Coverage::Covered);
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::NotCovered);
        assert_eq!(
            cov(&r, Scenario::PermanentVersionDelete),
            Coverage::NotCovered
        );
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::NotCovered);
        let region = &r.scenarios[0];
        assert!(
            region
                .fixes
                .iter()
                .any(|f| f.contains("delete-marker replication off")),
            "{region:?}"
        );
        // Covered rows carry no fix.
        assert!(r.scenarios[1].fixes.is_empty());
    }

    #[test]
    fn a_short_noncurrent_expiration_limits_recovery() {
        let mut f = versioned("b");
        f.lifecycle.push(LifecycleRule {
            id: "tidy".into(),
            enabled: true,
            noncurrent_days: Some(7),
            ..Default::default()
        });
        let r = audit(&f, &AuditOptions { min_days: 30 });
        assert_eq!(r.recovery_window_days, Some(7));
        assert_eq!(cov(&r, Scenario::AccidentalDelete), Coverage::Partly);
        assert_eq!(cov(&r, Scenario::Corruption), Coverage::Partly);
        let fix = &r.scenarios[1].fixes[0];
        assert!(
            fix.contains("beyond 7 days") && fix.contains("tidy"),
            "{fix}"
        );
        // A window long enough is covered; a disabled rule does not count.
        assert_eq!(
            cov(
                &audit(&f, &AuditOptions { min_days: 7 }),
                Scenario::AccidentalDelete
            ),
            Coverage::Covered
        );
        f.lifecycle[0].enabled = false;
        let r = audit(&f, &AuditOptions { min_days: 30 });
        assert_eq!(cov(&r, Scenario::AccidentalDelete), Coverage::Covered);
        assert_eq!(r.recovery_window_days, None);
    }

    #[test]
    fn suspended_versioning_is_partial() {
        let f = BucketFacts {
            versioning: Versioning::Suspended,
            ..BucketFacts::new("b")
        };
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::AccidentalDelete), Coverage::Partly);
        assert!(r.scenarios[1].fixes.iter().any(|x| x.contains("re-enable")));
    }

    #[test]
    fn replication_covers_a_region_failure_only_in_another_region() {
        let mut f = versioned("b");
        f.replication.push(replica(None, Some("eu-west-1")));
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::Covered);
        // Same account: a permanent delete could reach the replica too.
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
        f.replication[0].destination_region = Some("us-east-1".into());
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::Partly);
        assert!(r.scenarios[0].because[0].contains("same region"));
        f.replication[0].destination_region = None;
        assert_eq!(
            cov(
                &audit(&f, &AuditOptions::default()),
                Scenario::RegionFailure
            ),
            Coverage::Partly
        );
        // Only a prefix replicated: partly, even in another region.
        f.replication[0].destination_region = Some("eu-west-1".into());
        f.replication[0].prefix = "docs/".into();
        assert_eq!(
            cov(
                &audit(&f, &AuditOptions::default()),
                Scenario::RegionFailure
            ),
            Coverage::Partly
        );
    }

    #[test]
    fn replication_to_another_account_covers_permanent_and_bucket_deletes() {
        let mut f = versioned("b");
        f.replication
            .push(replica(Some("111122223333"), Some("eu-west-1")));
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Covered);
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Covered);
        assert!(r.all_covered, "{:#?}", r.scenarios);
        f.replication[0].enabled = false;
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(
            cov(&r, Scenario::PermanentVersionDelete),
            Coverage::NotCovered
        );
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::NotCovered);
    }

    #[test]
    fn denying_version_deletes_needs_lifecycle_locked_too() {
        let mut f = versioned("b");
        f.denials.push(deny("s3:DeleteObjectVersion"));
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
        assert!(
            r.scenarios[2]
                .fixes
                .iter()
                .any(|x| x.contains("s3:PutLifecycleConfiguration")),
            "{:?}",
            r.scenarios[2]
        );
        // The bucket cannot be emptied, hence not deleted, but a lifecycle rule could.
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Partly);
        f.denials.push(deny("s3:PutLifecycleConfiguration"));
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Covered);
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Covered);
        // A conditional denial is partial.
        f.denials[0].limits.push("only under a condition".into());
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
    }

    #[test]
    fn object_lock_compliance_covers_governance_does_not() {
        let mut f = versioned("b");
        f.object_lock = Some(ObjectLock {
            enabled: true,
            mode: Some("COMPLIANCE".into()),
            days: Some(90),
        });
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Covered);
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Covered);
        f.object_lock.as_mut().unwrap().mode = Some("GOVERNANCE".into());
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
        f.denials.push(deny("s3:BypassGovernanceRetention"));
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Covered);
        // Enabled without a default retention: only explicitly locked versions.
        f.object_lock = Some(ObjectLock {
            enabled: true,
            mode: None,
            days: None,
        });
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
        assert!(r.scenarios[2].fixes[0].contains("default retention"));
        // A retention shorter than the window asked for.
        f.object_lock = Some(ObjectLock {
            enabled: true,
            mode: Some("COMPLIANCE".into()),
            days: Some(1),
        });
        let r = audit(&f, &AuditOptions { min_days: 30 });
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
    }

    #[test]
    fn denying_delete_bucket_covers_bucket_deletion() {
        let mut f = BucketFacts::new("b");
        f.denials.push(deny("s3:DeleteBucket"));
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Covered);
        assert!(r.scenarios[4].fixes.is_empty());
    }

    #[test]
    fn unreadable_configurations_are_noted() {
        let mut f = versioned("b");
        f.unreadable.push(Unreadable {
            configuration: "replication".into(),
            reason: "AccessDenied".into(),
        });
        let r = audit(&f, &AuditOptions::default());
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("could not read the replication"))
        );
    }

    #[test]
    fn the_report_round_trips_as_json() {
        let mut f = versioned("b");
        f.replication.push(replica(Some("1"), Some("eu-west-1")));
        let r = audit(&f, &AuditOptions::default());
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema"], "s3rewind.audit/v1");
        assert_eq!(v["scenarios"][0]["scenario"], "region_failure");
        assert_eq!(v["scenarios"][0]["coverage"], "covered");
        assert_eq!(v["scenarios"][1]["coverage"], "covered");
        let back: AuditReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    const POLICY: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "NoVersionDeletes", "Effect": "Deny", "Principal": "*",
         "Action": ["s3:DeleteObjectVersion"], "Resource": "arn:aws:s3:::acme/*"},
        {"Sid": "NoBucketDelete", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "s3:Delete*", "Resource": ["arn:aws:s3:::acme", "arn:aws:s3:::acme/*"],
         "Condition": {"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::1:role/breakglass"}}},
        {"Sid": "Reader", "Effect": "Allow", "Principal": "*", "Action": "s3:*",
         "Resource": "arn:aws:s3:::acme/*"},
        {"Sid": "OnlyBob", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:user/bob"},
         "Action": "s3:*", "Resource": "*"}
      ]
    }"#;

    #[test]
    fn policy_denials_read_actions_wildcards_and_conditions() {
        let d = policy_denials(POLICY, "acme").unwrap();
        let find = |a: &str| d.iter().filter(|x| x.action == a).collect::<Vec<_>>();
        let dov = find("s3:DeleteObjectVersion");
        assert_eq!(dov.len(), 2, "{d:?}");
        assert!(dov.iter().any(|x| x.unconditional()));
        let db = find("s3:DeleteBucket");
        assert_eq!(db.len(), 1);
        assert!(!db[0].unconditional(), "has a condition");
        assert!(find("s3:PutLifecycleConfiguration").is_empty());
        // Another bucket's name does not match.
        assert!(policy_denials(POLICY, "acme-logs").unwrap().is_empty());
    }

    #[test]
    fn policy_denials_handle_s3_star_not_action_and_narrow_resources() {
        let all = r#"{"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                       "Resource": "arn:aws:s3:::*"}}"#;
        let d = policy_denials(all, "b").unwrap();
        // arn:aws:s3:::* matches the bucket but also BUCKET/* (the * spans the slash).
        assert!(
            d.iter()
                .any(|x| x.action == "s3:DeleteBucket" && x.unconditional())
        );
        assert!(d.iter().any(|x| x.action == "s3:DeleteObjectVersion"));
        let not_action = r#"{"Statement": [{"Effect": "Deny", "Principal": "*",
            "NotAction": ["s3:Get*", "s3:List*", "s3:Put*"], "Resource": "arn:aws:s3:::b"}]}"#;
        let d = policy_denials(not_action, "b").unwrap();
        assert!(d.iter().any(|x| x.action == "s3:DeleteBucket"));
        assert!(!d.iter().any(|x| x.action == "s3:PutBucketVersioning"));
        let narrow = r#"{"Statement": [{"Effect": "Deny", "Principal": "*",
            "Action": "s3:DeleteObjectVersion", "Resource": "arn:aws:s3:::b/important/*"}]}"#;
        let d = policy_denials(narrow, "b").unwrap();
        assert_eq!(d.len(), 1);
        assert!(d[0].limits[0].contains("only some keys"), "{d:?}");
        let case = r#"{"Statement": [{"Effect": "Deny", "Principal": "*",
            "Action": "S3:deleteobjectversion", "Resource": "arn:aws:s3:::b/*"}]}"#;
        assert_eq!(policy_denials(case, "b").unwrap().len(), 1);
        assert!(policy_denials("not json", "b").is_err());
    }

    /// A versioned bucket replicated whole to another region and account, its replica
    /// as given.
    fn replicated(x: Option<Replica>) -> BucketFacts {
        let mut f = versioned("b");
        let mut r = replica(Some("222233334444"), Some("eu-west-1"));
        r.replica = x;
        f.replication.push(r);
        f
    }

    fn sound_replica() -> Replica {
        Replica::read("replica", Versioning::Enabled)
    }

    #[test]
    fn a_sound_replica_in_another_region_and_account_keeps_the_credit() {
        for x in [None, Some(sound_replica())] {
            let r = audit(&replicated(x.clone()), &AuditOptions::default());
            assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::Covered);
            assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Covered);
            assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Covered);
            let because = r.scenarios[0].because.join(" ");
            assert_eq!(
                because.contains("is versioned and keeps noncurrent versions indefinitely"),
                x.is_some(),
                "{because}"
            );
        }
    }

    #[test]
    fn an_unversioned_replica_covers_region_failure_and_deletion_only_partly() {
        for v in [Versioning::Unversioned, Versioning::Suspended] {
            let r = audit(
                &replicated(Some(Replica::read("replica", v))),
                &AuditOptions::default(),
            );
            for s in [
                Scenario::RegionFailure,
                Scenario::PermanentVersionDelete,
                Scenario::BucketDeleted,
            ] {
                assert_eq!(cov(&r, s), Coverage::Partly, "{s:?} {v:?}");
                let row = r.scenarios.iter().find(|x| x.scenario == s).unwrap();
                assert!(
                    row.fixes
                        .iter()
                        .any(|f| f.contains("enable versioning on s3://replica")),
                    "{row:?}"
                );
            }
            // The source's own history is not the replica's business.
            assert_eq!(cov(&r, Scenario::AccidentalDelete), Coverage::Covered);
        }
    }

    #[test]
    fn a_replica_that_expires_versions_early_limits_the_credit() {
        let mut x = sound_replica();
        x.lifecycle.push(LifecycleRule {
            id: "short".into(),
            enabled: true,
            noncurrent_days: Some(3),
            ..Default::default()
        });
        let r = audit(&replicated(Some(x.clone())), &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::Partly);
        assert_eq!(cov(&r, Scenario::BucketDeleted), Coverage::Partly);
        assert!(
            r.scenarios[0].fixes[0].contains("beyond 3 days"),
            "{:?}",
            r.scenarios[0]
        );
        // A window of 3 days is what was asked for: covered.
        let r = audit(&replicated(Some(x)), &AuditOptions { min_days: 3 });
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::Covered);
    }

    #[test]
    fn a_missing_replica_covers_nothing_and_an_unreadable_one_is_noted() {
        let missing = Replica::not_read("replica", ReplicaStatus::Missing, "NoSuchBucket");
        let r = audit(&replicated(Some(missing)), &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::NotCovered);
        assert!(r.scenarios[0].because.join(" ").contains("does not exist"));
        let denied = Replica::not_read("replica", ReplicaStatus::Unreadable, "AccessDenied");
        let r = audit(&replicated(Some(denied)), &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::RegionFailure), Coverage::Covered);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("could not read the replica s3://replica (AccessDenied)")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn a_same_account_replica_under_compliance_lock_protects_versions() {
        let mut f = versioned("b");
        let mut rule = replica(None, Some("eu-west-1"));
        let mut x = sound_replica();
        x.object_lock = Some(ObjectLock {
            enabled: true,
            mode: Some("COMPLIANCE".into()),
            days: Some(90),
        });
        rule.replica = Some(x.clone());
        f.replication.push(rule.clone());
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Covered);
        // GOVERNANCE can be bypassed: still partly.
        x.object_lock.as_mut().unwrap().mode = Some("GOVERNANCE".into());
        rule.replica = Some(x);
        f.replication = vec![rule];
        let r = audit(&f, &AuditOptions::default());
        assert_eq!(cov(&r, Scenario::PermanentVersionDelete), Coverage::Partly);
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("s3:Delete*", "s3:DeleteObjectVersion", true));
        assert!(glob("s3:*", "s3:DeleteBucket", true));
        assert!(glob(
            "s3:DeleteObject?ersion",
            "s3:DeleteObjectVersion",
            true
        ));
        assert!(!glob("s3:DeleteObject", "s3:DeleteObjectVersion", true));
        assert!(!glob("s3:Put*", "s3:DeleteBucket", true));
        assert!(glob("*", "", false));
        assert!(!glob("arn:aws:s3:::B", "arn:aws:s3:::b", false));
    }

    fn facts() -> impl Strategy<Value = BucketFacts> {
        (
            prop_oneof![
                Just(Versioning::Unversioned),
                Just(Versioning::Enabled),
                Just(Versioning::Suspended)
            ],
            any::<bool>(),
            proptest::option::of(1i32..400),
            proptest::option::of((any::<bool>(), any::<bool>(), any::<bool>())),
            proptest::option::of((any::<bool>(), 0i32..400)),
            proptest::collection::vec((0usize..5, any::<bool>()), 0..4),
        )
            .prop_map(|(v, mfa, nc, repl, lock, denials)| {
                let mut f = BucketFacts::new("b");
                f.versioning = v;
                f.mfa_delete = mfa;
                f.region = Some("us-east-1".into());
                if let Some(d) = nc {
                    f.lifecycle.push(LifecycleRule {
                        id: "r".into(),
                        enabled: true,
                        noncurrent_days: Some(d),
                        ..Default::default()
                    });
                }
                if let Some((account, other_region, whole)) = repl {
                    let mut r = replica(
                        account.then_some("2"),
                        Some(if other_region {
                            "eu-west-1"
                        } else {
                            "us-east-1"
                        }),
                    );
                    if !whole {
                        r.prefix = "p/".into();
                    }
                    f.replication.push(r);
                }
                if let Some((compliance, days)) = lock {
                    f.object_lock = Some(ObjectLock {
                        enabled: true,
                        mode: Some(
                            if compliance {
                                "COMPLIANCE"
                            } else {
                                "GOVERNANCE"
                            }
                            .into(),
                        ),
                        days: Some(days),
                    });
                }
                for (i, conditional) in denials {
                    let mut d = deny(GUARDED_ACTIONS[i].0);
                    if conditional {
                        d.limits.push("c".into());
                    }
                    f.denials.push(d);
                }
                f
            })
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Invariants of the matrix: five rows in order; a fix exactly when not covered;
        /// no history scenario without versioning; adding a protection never lowers a
        /// verdict.
        #[test]
        fn matrix_invariants(f in facts(), min in 1i32..400) {
            let o = AuditOptions { min_days: min };
            let r = audit(&f, &o);
            prop_assert_eq!(r.scenarios.len(), 5);
            for (row, s) in r.scenarios.iter().zip(Scenario::ALL) {
                prop_assert_eq!(row.scenario, s);
                prop_assert_eq!(row.fixes.is_empty(), row.coverage == Coverage::Covered, "{:?}", row);
                prop_assert!(!row.because.is_empty());
            }
            prop_assert_eq!(r.all_covered, r.scenarios.iter().all(|x| x.coverage == Coverage::Covered));
            if f.versioning != Versioning::Enabled {
                prop_assert!(cov(&r, Scenario::Corruption) != Coverage::Covered);
                prop_assert!(cov(&r, Scenario::PermanentVersionDelete) == Coverage::NotCovered);
            }
            let mut better = f.clone();
            better.denials.push(deny("s3:DeleteBucket"));
            better.denials.push(deny("s3:DeleteObjectVersion"));
            better.denials.push(deny("s3:PutLifecycleConfiguration"));
            let rb = audit(&better, &o);
            for (a, b) in r.scenarios.iter().zip(&rb.scenarios) {
                prop_assert!(b.coverage >= a.coverage, "{:?} -> {:?}", a, b);
            }
            prop_assert_eq!(cov(&rb, Scenario::BucketDeleted), Coverage::Covered);

            // Reading the replicas: a sound one changes no verdict, an unversioned or
            // missing one never raises one.
            let with_replicas = |x: Replica| {
                let mut g = f.clone();
                for r in &mut g.replication {
                    r.replica = Some(x.clone());
                }
                audit(&g, &o)
            };
            let sound = with_replicas(Replica::read("replica", Versioning::Enabled));
            for (a, b) in r.scenarios.iter().zip(&sound.scenarios) {
                prop_assert_eq!(a.coverage, b.coverage, "{:?} -> {:?}", a, b);
            }
            for x in [
                Replica::read("replica", Versioning::Unversioned),
                Replica::not_read("replica", ReplicaStatus::Missing, "NoSuchBucket"),
            ] {
                let worse = with_replicas(x);
                for (a, b) in r.scenarios.iter().zip(&worse.scenarios) {
                    prop_assert!(b.coverage <= a.coverage, "{:?} -> {:?}", a, b);
                }
            }
        }
    }
}
