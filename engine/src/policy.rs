//! Least-privilege IAM policies for each command (`s3rewind policy …`).
//!
//! The policies are data: [`required`] lists, for a command and its options, which
//! [`S3Action`] each S3 call of that command needs and on which resource; [`policy`]
//! turns the list into an IAM policy document. Each action is there because a code path
//! of the CLI makes the matching request (the variants say which):
//!
//! - reading the history: `ListObjectVersions` (`s3:ListBucketVersions`, limited to the
//!   prefix with an `s3:prefix` condition);
//! - the gates: `GetBucketVersioning`, `GetBucketLifecycleConfiguration`,
//!   `GetObjectLockConfiguration`;
//! - `HeadObject` of the current object (`s3:GetObject`) and of a version
//!   (`s3:GetObjectVersion`); on a key that does not exist S3 answers 404 only to a caller
//!   with `s3:ListBucket` on the bucket, 403 otherwise, so every command that reads the
//!   current state of a key gets `s3:ListBucket` — **without** a prefix condition, because
//!   a HEAD carries no `prefix` for the condition to match;
//! - `CopyObject`/`UploadPartCopy` of a version: `s3:GetObjectVersion` (and, for the tags
//!   that travel with `TaggingDirective=COPY`, `s3:GetObjectVersionTagging`) on the source,
//!   `s3:PutObject` and `s3:PutObjectTagging` on the destination; grants sent with the copy
//!   (`--preserve-acl`) need `s3:PutObjectAcl` there and `s3:GetObjectVersionAcl` on the
//!   source;
//! - a delete marker is `DeleteObject` without a version id (`s3:DeleteObject`); only
//!   `undelete --remove-delete-markers` (and a drill's `--cleanup` of its own scratch
//!   copies) deletes a version, which is `s3:DeleteObjectVersion`.
//!
//! Without a bucket the resources are `arn:aws:s3:::*`.
//!
//! SSE-KMS objects ([`PolicyOptions::kms`]) also need KMS permissions, which S3 uses on
//! the caller's behalf: `kms:Decrypt` to read a version's content (a `GetObject`, the
//! source of a `CopyObject` or `UploadPartCopy`), and `kms:GenerateDataKey` to write a
//! copy encrypted under a key (copies keep each source version's key unless the restore
//! names another with `--sse-kms-key-id`); completing a multipart upload also decrypts
//! under the copy's key. S3 never calls `kms:Encrypt` for SSE-KMS, so it is not granted.
//! HEAD and listing need no KMS permission, so commands that only read metadata get none.
//! The keys are named ([`PolicyOptions::kms_keys`], [`PolicyOptions::dest_kms_keys`]), or
//! else any key, limited to requests S3 makes (`kms:ViaService`), with a note saying so.

use crate::location::Location;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The IAM policy language version every generated policy declares.
pub const IAM_POLICY_VERSION: &str = "2012-10-17";

/// The commands a policy can be generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyCommand {
    /// `plan` (and the other read-only commands: `scan`, `history`, `diff`, `timeline`, `ls`).
    Plan,
    /// `restore` (into the bucket, another bucket or prefix, or `--to-dir`).
    Restore,
    /// `apply`: a saved plan's restore (the plan says the source and destination).
    Apply,
    /// `undo`: copies of the versions a restore replaced and delete markers, in the
    /// bucket the restore wrote to (no listing).
    Undo,
    /// `drill`: a restore into a scratch location, verified by content.
    Drill,
    /// `undelete`.
    Undelete,
    /// `audit`: bucket configurations only.
    Audit,
    /// `verify`.
    Verify,
    /// `watch`: a baseline listing, re-reads and reconciliations (ListObjectsV2) of the
    /// range, and the SQS queue it reads (see [`sqs_statements`]).
    Watch,
}

impl PolicyCommand {
    /// Every command, in the order of the CLI.
    pub const ALL: [PolicyCommand; 9] = [
        PolicyCommand::Plan,
        PolicyCommand::Restore,
        PolicyCommand::Apply,
        PolicyCommand::Undo,
        PolicyCommand::Drill,
        PolicyCommand::Undelete,
        PolicyCommand::Audit,
        PolicyCommand::Verify,
        PolicyCommand::Watch,
    ];

    /// The command's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PolicyCommand::Plan => "plan",
            PolicyCommand::Restore => "restore",
            PolicyCommand::Apply => "apply",
            PolicyCommand::Undo => "undo",
            PolicyCommand::Drill => "drill",
            PolicyCommand::Undelete => "undelete",
            PolicyCommand::Audit => "audit",
            PolicyCommand::Verify => "verify",
            PolicyCommand::Watch => "watch",
        }
    }

    /// Whether the command (with these options) reads object content and writes
    /// objects: what decides its KMS permissions.
    pub fn object_access(self, o: &PolicyOptions) -> ObjectAccess {
        let (reads, writes) = match self {
            // Content samples (scan, timeline, --before-corruption, --per-key).
            PolicyCommand::Plan => (true, false),
            PolicyCommand::Restore | PolicyCommand::Apply => (true, !o.to_dir),
            PolicyCommand::Undo | PolicyCommand::Drill => (true, true),
            PolicyCommand::Undelete => (!o.remove_delete_markers, !o.remove_delete_markers),
            PolicyCommand::Audit => (false, false),
            PolicyCommand::Verify => (o.deep, false),
            // `--alert` samples content as scan does.
            PolicyCommand::Watch => (o.alert, false),
        };
        ObjectAccess { reads, writes }
    }
}

/// What a command does with object content (see [`PolicyCommand::object_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectAccess {
    /// Reads the content of versions (needs `kms:Decrypt` on SSE-KMS objects).
    pub reads: bool,
    /// Writes objects (needs `kms:GenerateDataKey` under the copies' key).
    pub writes: bool,
}

/// The IAM actions s3rewind uses, each named after the request that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum S3Action {
    /// `ListObjectVersions`.
    ListBucketVersions,
    /// The 404 (rather than 403) of `HeadObject` on a key that does not exist.
    ListBucket,
    /// `GetBucketVersioning`.
    GetBucketVersioning,
    /// `GetBucketLifecycleConfiguration`.
    GetLifecycleConfiguration,
    /// `GetObjectLockConfiguration`.
    GetBucketObjectLockConfiguration,
    /// `GetBucketReplication`.
    GetReplicationConfiguration,
    /// `GetBucketPolicy`.
    GetBucketPolicy,
    /// `GetPublicAccessBlock`.
    GetBucketPublicAccessBlock,
    /// `GetBucketEncryption`.
    GetEncryptionConfiguration,
    /// `GetBucketLocation`.
    GetBucketLocation,
    /// `HeadObject`/`GetObject` of the current object.
    GetObject,
    /// `HeadObject`/`GetObject` with a version id; the source of `CopyObject` and
    /// `UploadPartCopy` of a version.
    GetObjectVersion,
    /// `GetObjectTagging` of the current object (a copy on an unversioned destination).
    GetObjectTagging,
    /// `GetObjectTagging` with a version id; tags copied with `TaggingDirective=COPY`.
    GetObjectVersionTagging,
    /// `GetObjectAcl` with a version id (`--preserve-acl`).
    GetObjectVersionAcl,
    /// `PutObject`, `CopyObject` (destination), `CreateMultipartUpload`, `UploadPart`,
    /// `UploadPartCopy`, `CompleteMultipartUpload`.
    PutObject,
    /// Tags written with a copy or an upload, and `PutObjectTagging`.
    PutObjectTagging,
    /// `PutObjectTagging` with a version id (servers that drop a multipart upload's tags).
    PutObjectVersionTagging,
    /// Grant headers on a write (`--preserve-acl`).
    PutObjectAcl,
    /// `AbortMultipartUpload` (a failed multipart copy, an upload left by a killed run).
    AbortMultipartUpload,
    /// `RestoreObject` (`--request-archive-restore`).
    RestoreObject,
    /// `DeleteObject` without a version id: a delete marker (in-place restores).
    DeleteObject,
    /// `DeleteObject` with a version id: a **permanent** delete.
    DeleteObjectVersion,
    /// `GetBucketNotificationConfiguration` (`watch --setup --apply` keeps the other
    /// entries).
    GetBucketNotification,
    /// `PutBucketNotificationConfiguration` (`watch --setup --apply`).
    PutBucketNotification,
}

impl S3Action {
    /// The IAM action name (`s3:…`).
    pub fn name(self) -> &'static str {
        use S3Action::*;
        match self {
            ListBucketVersions => "s3:ListBucketVersions",
            ListBucket => "s3:ListBucket",
            GetBucketVersioning => "s3:GetBucketVersioning",
            GetLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            GetBucketObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            GetReplicationConfiguration => "s3:GetReplicationConfiguration",
            GetBucketPolicy => "s3:GetBucketPolicy",
            GetBucketPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            GetEncryptionConfiguration => "s3:GetEncryptionConfiguration",
            GetBucketLocation => "s3:GetBucketLocation",
            GetObject => "s3:GetObject",
            GetObjectVersion => "s3:GetObjectVersion",
            GetObjectTagging => "s3:GetObjectTagging",
            GetObjectVersionTagging => "s3:GetObjectVersionTagging",
            GetObjectVersionAcl => "s3:GetObjectVersionAcl",
            PutObject => "s3:PutObject",
            PutObjectTagging => "s3:PutObjectTagging",
            PutObjectVersionTagging => "s3:PutObjectVersionTagging",
            PutObjectAcl => "s3:PutObjectAcl",
            AbortMultipartUpload => "s3:AbortMultipartUpload",
            RestoreObject => "s3:RestoreObject",
            DeleteObject => "s3:DeleteObject",
            DeleteObjectVersion => "s3:DeleteObjectVersion",
            GetBucketNotification => "s3:GetBucketNotification",
            PutBucketNotification => "s3:PutBucketNotification",
        }
    }
}

/// What a command is run with, as far as its permissions depend on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    /// The source bucket and prefix (`None`: any bucket).
    pub source: Option<Location>,
    /// `--to s3://DEST[/PREFIX]` (plan, restore, verify), `--scratch` (drill) or
    /// `--replica` (audit: the replica bucket it also reads).
    pub to: Option<Location>,
    /// `--preserve-acl` (restore, undelete, drill).
    pub preserve_acl: bool,
    /// `--request-archive-restore` (restore, undelete, drill).
    pub request_archive_restore: bool,
    /// `undelete --remove-delete-markers`.
    pub remove_delete_markers: bool,
    /// `verify --deep`.
    pub deep: bool,
    /// `drill --cleanup`.
    pub cleanup: bool,
    /// `restore --to-dir` (or a plan into a directory): versions are downloaded, nothing
    /// is written to S3.
    pub to_dir: bool,
    /// The objects are SSE-KMS encrypted: add the KMS permissions.
    pub kms: bool,
    /// The keys the source objects are encrypted with (key ARNs; implies `kms`); empty:
    /// any key, through S3 only.
    pub kms_keys: Vec<String>,
    /// The key the copies are written with when it is not the source's (the restore's
    /// `--sse-kms-key-id`, as an ARN; implies `kms`).
    pub dest_kms_keys: Vec<String>,
    /// `watch --queue URL`: the queue's ARN (`None`: the queue `watch --setup` names for
    /// the bucket, `s3rewind-BUCKET`, in any region and account).
    pub queue: Option<String>,
    /// `watch --listen`: notifications are pushed (radosgw, MinIO): no SQS permission.
    pub push: bool,
    /// `watch --setup --apply`: the bucket's notification configuration is read and
    /// written, and (SQS) the queue created and its policy set.
    pub setup: bool,
    /// `watch --alert`: content is sampled as `scan` does.
    pub alert: bool,
    /// `--journal s3://BUCKET/PREFIX/`: the journal's segments are listed, read and
    /// written there (restore, apply, undo, undelete, drill, verify).
    pub journal: Option<Location>,
}

/// What an action applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// The bucket itself (`arn:aws:s3:::BUCKET`).
    Bucket(Option<String>),
    /// The bucket, for listings under a prefix (an `s3:prefix` condition when the prefix
    /// is not empty).
    Listing(Option<String>, String),
    /// The objects under a prefix (`arn:aws:s3:::BUCKET/PREFIX*`).
    Objects(Option<String>, String),
}

impl Resource {
    fn arn(&self) -> String {
        match self {
            Resource::Bucket(b) | Resource::Listing(b, _) => {
                format!("arn:aws:s3:::{}", b.as_deref().unwrap_or("*"))
            }
            Resource::Objects(b, p) => {
                format!("arn:aws:s3:::{}/{}*", b.as_deref().unwrap_or("*"), p)
            }
        }
    }
}

/// One grant: an action on a resource, and the role the resource plays (for the
/// statement ids: `Source`, `Destination`, `Scratch`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// `Source`, `Destination` or `Scratch`.
    pub role: &'static str,
    /// The resource.
    pub resource: Resource,
    /// The action.
    pub action: S3Action,
}

struct Grants {
    out: Vec<Grant>,
}

impl Grants {
    fn add(&mut self, role: &'static str, resource: &Resource, actions: &[S3Action]) {
        for &action in actions {
            let g = Grant {
                role,
                resource: resource.clone(),
                action,
            };
            if !self
                .out
                .iter()
                .any(|x| x.resource == g.resource && x.action == action)
            {
                self.out.push(g);
            }
        }
    }
}

/// The bucket, listing and object resources of a location.
fn resources(l: Option<&Location>) -> (Resource, Resource, Resource) {
    let b = l.map(|l| l.bucket.clone());
    let p = l.map(|l| l.prefix.clone()).unwrap_or_default();
    // Unscoped, a listing is granted on the bucket like any other bucket-level action.
    let listing = if p.is_empty() {
        Resource::Bucket(b.clone())
    } else {
        Resource::Listing(b.clone(), p.clone())
    };
    (
        Resource::Bucket(b.clone()),
        listing,
        Resource::Objects(b, p),
    )
}

/// Every (role, resource, action) a command needs with these options: its own, and a
/// journal kept in S3 (`--journal s3://…`): a listing of its prefix, GETs of its segments
/// (by version on a versioned bucket), and a PutObject per segment.
pub fn required(command: PolicyCommand, o: &PolicyOptions) -> Vec<Grant> {
    use S3Action::*;
    let mut g = Grants {
        out: by_command(command, o),
    };
    let journaled = matches!(
        command,
        PolicyCommand::Restore
            | PolicyCommand::Apply
            | PolicyCommand::Undo
            | PolicyCommand::Undelete
            | PolicyCommand::Drill
            | PolicyCommand::Verify
    );
    if let Some(j) = o.journal.as_ref().filter(|_| journaled) {
        let (_, listing, objects) = resources(Some(j));
        g.add("Journal", &listing, &[ListBucket]);
        g.add(
            "Journal",
            &objects,
            &[GetObject, GetObjectVersion, PutObject],
        );
    }
    g.out
}

/// [`required`] without the journal.
///
/// Longer than 120 lines on purpose: one arm per command listing its grants, a table
/// a reviewer checks against the IAM page line by line.
fn by_command(command: PolicyCommand, o: &PolicyOptions) -> Vec<Grant> {
    use S3Action::*;
    let mut g = Grants { out: Vec::new() };
    let (sb, sl, so) = resources(o.source.as_ref());
    let src = "Source";
    // The history and the gates every command but audit and undo reads.
    if !matches!(command, PolicyCommand::Audit | PolicyCommand::Undo) {
        g.add(src, &sb, &[GetBucketVersioning]);
        g.add(src, &sl, &[ListBucketVersions]);
    }
    match command {
        PolicyCommand::Plan | PolicyCommand::Restore | PolicyCommand::Apply => {
            g.add(src, &sb, &[GetLifecycleConfiguration]);
            // HEAD of Intelligent-Tiering versions; content samples (--before-corruption).
            g.add(src, &so, &[GetObjectVersion]);
            if o.to_dir && command != PolicyCommand::Plan {
                // Versions are downloaded into files (GetObject with a version id, above):
                // nothing is written to S3, and verification reads the files.
                if o.request_archive_restore {
                    g.add(src, &so, &[RestoreObject]);
                }
                return g.out;
            }
            let dest = o.to.as_ref();
            let (db, dl, _) = match dest {
                Some(d) => resources(Some(d)),
                None => (sb.clone(), sl.clone(), so.clone()),
            };
            let role = if dest.is_some() { "Destination" } else { src };
            g.add(
                role,
                &db,
                &[GetBucketVersioning, GetBucketObjectLockConfiguration],
            );
            g.add(role, &dl, &[ListBucketVersions]);
            if command != PolicyCommand::Plan {
                let dobj = match dest {
                    Some(d) => resources(Some(d)).2,
                    None => so.clone(),
                };
                copy_into(&mut g, o, &so, role, (&db, &dl, &dobj), dest.is_none());
            }
        }
        PolicyCommand::Undo => {
            // In place in the bucket the restore wrote to; no listing: the journal says
            // which keys, a HEAD of each previous version its size and ETag.
            g.add(src, &sb, &[GetBucketVersioning, ListBucket]);
            copy_into(&mut g, o, &so, src, (&sb, &sb, &so), true);
            g.out.retain(|x| x.action != ListBucketVersions);
        }
        PolicyCommand::Drill => {
            g.add(src, &sb, &[GetLifecycleConfiguration]);
            let (xb, xl, xo) = resources(o.to.as_ref());
            g.add("Scratch", &xb, &[GetBucketObjectLockConfiguration]);
            copy_into(&mut g, o, &so, "Scratch", (&xb, &xl, &xo), false);
            if o.cleanup {
                // Each version it wrote is deleted by id (a `null` one too): never a
                // delete marker.
                g.add("Scratch", &xo, &[DeleteObjectVersion]);
            }
        }
        PolicyCommand::Undelete => {
            g.add(src, &sb, &[ListBucket]);
            if o.remove_delete_markers {
                g.add(src, &so, &[GetObject, DeleteObjectVersion]);
            } else {
                // Copies of each key's last version, in place; no delete marker is added.
                copy_into(&mut g, o, &so, src, (&sb, &sl, &so), false);
            }
        }
        PolicyCommand::Audit => {
            g.add(
                src,
                &sb,
                &[
                    GetBucketVersioning,
                    GetLifecycleConfiguration,
                    GetReplicationConfiguration,
                    GetBucketObjectLockConfiguration,
                    GetBucketPolicy,
                    GetBucketPublicAccessBlock,
                    GetEncryptionConfiguration,
                    GetBucketLocation,
                ],
            );
            // The replica a replication rule names (`--replica`): read, best effort.
            if let Some(replica) = &o.to {
                let (rb, _, _) = resources(Some(replica));
                g.add(
                    "Replica",
                    &rb,
                    &[
                        GetBucketLocation,
                        GetBucketVersioning,
                        GetLifecycleConfiguration,
                        GetBucketObjectLockConfiguration,
                    ],
                );
            }
        }
        PolicyCommand::Watch => {
            // One ListObjectsV2 pass per reconciliation (and the cross-check of the
            // baseline), under the prefix: the listing's own condition applies.
            g.add(src, &sl, &[ListBucket]);
            if o.setup {
                g.add(src, &sb, &[GetBucketNotification, PutBucketNotification]);
            }
            if o.alert {
                g.add(src, &so, &[GetObjectVersion]);
            }
        }
        PolicyCommand::Verify => match &o.to {
            Some(d) => {
                let (db, dl, dobj) = resources(Some(d));
                g.add("Destination", &db, &[ListBucket]);
                g.add("Destination", &dl, &[ListBucketVersions]);
                // HEAD of copies of `null` versions; --deep reads the current objects.
                g.add("Destination", &dobj, &[GetObject]);
                if o.deep {
                    g.add(src, &so, &[GetObjectVersion]);
                }
            }
            None => {
                if o.deep {
                    g.add(src, &so, &[GetObject, GetObjectVersion]);
                }
            }
        },
    }
    g.out
}

/// What copying versions of the source objects `so` into a destination needs (in place,
/// the destination is the source): reading the versions and their tags, writing copies
/// and their tags, the HEADs before and after each write, the listing that verifies the
/// result, and delete markers in place.
fn copy_into(
    g: &mut Grants,
    o: &PolicyOptions,
    so: &Resource,
    role: &'static str,
    (db, dl, dobj): (&Resource, &Resource, &Resource),
    in_place: bool,
) {
    use S3Action::*;
    g.add("Source", so, &[GetObjectVersion, GetObjectVersionTagging]);
    if o.preserve_acl {
        g.add("Source", so, &[GetObjectVersionAcl]);
    }
    if o.request_archive_restore {
        g.add("Source", so, &[RestoreObject]);
    }
    g.add(role, db, &[GetBucketVersioning, ListBucket]);
    g.add(role, dl, &[ListBucketVersions]);
    g.add(
        role,
        dobj,
        &[
            GetObject,
            GetObjectVersion,
            GetObjectTagging,
            GetObjectVersionTagging,
            PutObject,
            PutObjectTagging,
            PutObjectVersionTagging,
            AbortMultipartUpload,
        ],
    );
    if o.preserve_acl {
        g.add(role, dobj, &[PutObjectAcl]);
    }
    if in_place {
        g.add(role, dobj, &[DeleteObject]);
    }
}

/// An IAM policy document (fields in the order IAM documents show them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// [`IAM_POLICY_VERSION`].
    #[serde(rename = "Version")]
    pub version: String,
    /// The statements.
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Role and kind of the resource (`SourceObjects`).
    #[serde(rename = "Sid")]
    pub sid: String,
    /// Always `Allow`.
    #[serde(rename = "Effect")]
    pub effect: String,
    /// The actions, sorted.
    #[serde(rename = "Action")]
    pub action: Vec<String>,
    /// One ARN, or several (KMS keys).
    #[serde(rename = "Resource")]
    pub resource: OneOrMany,
    /// `{"StringLike": {"s3:prefix": ["PREFIX*"]}}` on a scoped listing.
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<Value>,
}

/// A `Resource`: one ARN (written as a string, as IAM documents show it) or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One ARN.
    One(String),
    /// Several ARNs.
    Many(Vec<String>),
}

impl OneOrMany {
    fn of(mut arns: Vec<String>) -> Self {
        if arns.len() == 1 {
            OneOrMany::One(arns.remove(0))
        } else {
            OneOrMany::Many(arns)
        }
    }
}

/// The `kms:ViaService` values of S3 in every region: a KMS grant on any key is limited to
/// the requests S3 makes for the caller.
pub const KMS_VIA_S3: &str = "s3.*.amazonaws.com";

/// The KMS statements of a command on SSE-KMS objects (empty without
/// [`PolicyOptions::kms`] or a named key, or when the command reads no content and
/// writes nothing).
pub fn kms_statements(command: PolicyCommand, o: &PolicyOptions) -> Vec<Statement> {
    let access = command.object_access(o);
    let kms = o.kms || !o.kms_keys.is_empty() || !o.dest_kms_keys.is_empty();
    if !kms || !(access.reads || access.writes) {
        return Vec::new();
    }
    let statement = |sid: &str, actions: &[&str], keys: &[String]| {
        let (resource, condition) = if keys.is_empty() {
            (
                OneOrMany::One("*".to_owned()),
                Some(json!({ "StringLike": { "kms:ViaService": KMS_VIA_S3 } })),
            )
        } else {
            (OneOrMany::of(keys.to_vec()), None)
        };
        Statement {
            sid: sid.to_owned(),
            effect: "Allow".to_owned(),
            action: actions.iter().map(|a| (*a).to_owned()).collect(),
            resource,
            condition,
        }
    };
    let mut out = Vec::new();
    // Copies keep each source version's key unless another is named for them.
    let writes_under_source_keys = access.writes && o.dest_kms_keys.is_empty();
    let source_actions: &[&str] = if writes_under_source_keys {
        &["kms:Decrypt", "kms:GenerateDataKey"]
    } else {
        &["kms:Decrypt"]
    };
    if access.reads {
        out.push(statement("KmsSourceKeys", source_actions, &o.kms_keys));
    }
    if access.writes && !o.dest_kms_keys.is_empty() {
        out.push(statement(
            "KmsDestinationKeys",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            &o.dest_kms_keys,
        ));
    }
    out
}

/// The SQS statement of `watch` reading a queue (none for other commands, or with
/// [`PolicyOptions::push`]): receive, delete once synced, extend visibility, and read the
/// queue's attributes at start; `--setup --apply` also creates the queue and sets its
/// policy.
pub fn sqs_statements(command: PolicyCommand, o: &PolicyOptions) -> Vec<Statement> {
    if command != PolicyCommand::Watch || o.push {
        return Vec::new();
    }
    let arn = o.queue.clone().unwrap_or_else(|| {
        let name = o
            .source
            .as_ref()
            .map(|l| {
                format!("s3rewind-{}", l.bucket)
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect()
            })
            .unwrap_or_else(|| "*".to_owned());
        format!("arn:aws:sqs:*:*:{name}")
    });
    let mut action: Vec<String> = [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    if o.setup {
        action.extend([
            "sqs:CreateQueue".to_owned(),
            "sqs:SetQueueAttributes".to_owned(),
        ]);
        action.sort();
    }
    vec![Statement {
        sid: "Queue".to_owned(),
        effect: "Allow".to_owned(),
        action,
        resource: OneOrMany::One(arn),
        condition: None,
    }]
}

/// What an operator must know about a policy: the KMS grant on any key, and options that
/// do not apply to the command.
pub fn notes(command: PolicyCommand, o: &PolicyOptions) -> Vec<String> {
    let mut out = Vec::new();
    let statements = kms_statements(command, o);
    if statements
        .iter()
        .any(|s| s.resource == OneOrMany::One("*".to_owned()))
    {
        out.push(format!(
            "the KMS statement allows any key, but only for requests S3 makes (kms:ViaService {KMS_VIA_S3}): name the objects' keys with --kms-key-arn to narrow it"
        ));
    }
    let kms = o.kms || !o.kms_keys.is_empty() || !o.dest_kms_keys.is_empty();
    if kms && statements.is_empty() {
        out.push(format!(
            "`{}` with these options reads no object content and writes nothing: it needs no KMS permission",
            command.name()
        ));
    }
    if !o.dest_kms_keys.is_empty() && !command.object_access(o).writes {
        out.push(format!(
            "--dest-kms-key-arn is ignored: `{}` writes no object to S3",
            command.name()
        ));
    }
    out
}

/// The name and version of `policy --output json`'s document ([`PolicyReport`]). The
/// text output is the bare IAM policy, ready for `aws iam create-policy`.
pub const POLICY_SCHEMA: &str = "s3rewind.policy/v1";

/// `policy --output json`: the policy and what it was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    /// Always [`POLICY_SCHEMA`].
    pub schema: &'static str,
    /// The command the policy is for (`restore`).
    pub command: &'static str,
    /// The bucket and prefix it is scoped to (`None`: any bucket).
    pub source: Option<Location>,
    /// The destination (or scratch) location it is scoped to, if any.
    pub destination: Option<Location>,
    /// The IAM policy document.
    pub policy: PolicyDocument,
    /// What the policy does not settle by itself (see [`notes`]).
    pub notes: Vec<String>,
}

/// The policy of a command with what it was made for.
pub fn report(command: PolicyCommand, options: &PolicyOptions) -> PolicyReport {
    PolicyReport {
        schema: POLICY_SCHEMA,
        command: command.name(),
        source: options.source.clone(),
        destination: options.to.clone(),
        policy: policy(command, options),
        notes: notes(command, options),
    }
}

/// The IAM policy document for a command: one statement per resource (and condition),
/// actions sorted, statement ids from the resource's role and kind, then the KMS
/// statements ([`kms_statements`]).
pub fn policy(command: PolicyCommand, options: &PolicyOptions) -> PolicyDocument {
    let grants = required(command, options);
    // Group by resource, in the order resources first appear.
    let mut order: Vec<(&'static str, Resource)> = Vec::new();
    for g in &grants {
        if !order.iter().any(|(_, r)| *r == g.resource) {
            order.push((g.role, g.resource.clone()));
        }
    }
    let mut used_sids = BTreeSet::new();
    let statement: Vec<Statement> = order
        .into_iter()
        .map(|(role, resource)| {
            let actions: BTreeSet<&str> = grants
                .iter()
                .filter(|g| g.resource == resource)
                .map(|g| g.action.name())
                .collect();
            let kind = match &resource {
                Resource::Bucket(_) => "Bucket",
                Resource::Listing(..) => "Listing",
                Resource::Objects(..) => "Objects",
            };
            let mut sid = format!("{role}{kind}");
            let mut n = 2;
            while !used_sids.insert(sid.clone()) {
                sid = format!("{role}{kind}{n}");
                n += 1;
            }
            let condition = match &resource {
                Resource::Listing(_, p) if !p.is_empty() => {
                    Some(json!({ "StringLike": { "s3:prefix": [format!("{p}*")] } }))
                }
                _ => None,
            };
            Statement {
                sid,
                effect: "Allow".to_owned(),
                action: actions.into_iter().map(str::to_owned).collect(),
                resource: OneOrMany::One(resource.arn()),
                condition,
            }
        })
        .chain(sqs_statements(command, options))
        .chain(kms_statements(command, options))
        .collect();
    PolicyDocument {
        version: IAM_POLICY_VERSION.to_owned(),
        statement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(c: PolicyCommand, o: &PolicyOptions) -> Value {
        serde_json::to_value(super::policy(c, o)).unwrap()
    }

    #[test]
    fn a_journal_in_s3_is_listed_read_and_written_under_its_prefix_only() {
        let o = PolicyOptions {
            source: Some(loc("data", "")),
            journal: Some(loc("ops", "journals/r1/")),
            ..Default::default()
        };
        for c in [
            PolicyCommand::Restore,
            PolicyCommand::Apply,
            PolicyCommand::Undo,
            PolicyCommand::Undelete,
            PolicyCommand::Drill,
            PolicyCommand::Verify,
        ] {
            let journal: Vec<(Resource, S3Action)> = required(c, &o)
                .into_iter()
                .filter(|g| g.role == "Journal")
                .map(|g| (g.resource, g.action))
                .collect();
            let listing = Resource::Listing(Some("ops".into()), "journals/r1/".into());
            let objects = Resource::Objects(Some("ops".into()), "journals/r1/".into());
            assert_eq!(
                journal,
                vec![
                    (listing.clone(), S3Action::ListBucket),
                    (objects.clone(), S3Action::GetObject),
                    (objects.clone(), S3Action::GetObjectVersion),
                    (objects, S3Action::PutObject),
                ],
                "{c:?}"
            );
        }
        for c in [
            PolicyCommand::Plan,
            PolicyCommand::Audit,
            PolicyCommand::Watch,
        ] {
            assert!(required(c, &o).iter().all(|g| g.role != "Journal"), "{c:?}");
        }
        let without = PolicyOptions {
            journal: None,
            ..o.clone()
        };
        assert!(
            required(PolicyCommand::Restore, &without)
                .iter()
                .all(|g| g.role != "Journal")
        );
    }

    fn loc(b: &str, p: &str) -> Location {
        Location {
            bucket: b.to_owned(),
            prefix: p.to_owned(),
        }
    }

    /// Every combination of options that changes a policy, for every command.
    fn all_cases() -> Vec<(PolicyCommand, PolicyOptions)> {
        let mut out = Vec::new();
        for c in PolicyCommand::ALL {
            for source in [None, Some(loc("src", "")), Some(loc("src", "docs/"))] {
                for to in [None, Some(loc("dst", "")), Some(loc("dst", "drill/"))] {
                    for bits in 0u16..256 {
                        let key = |name: &str| {
                            if bits & 128 != 0 {
                                vec![format!("arn:aws:kms:eu-west-1:111122223333:key/{name}")]
                            } else {
                                Vec::new()
                            }
                        };
                        out.push((
                            c,
                            PolicyOptions {
                                source: source.clone(),
                                to: to.clone(),
                                preserve_acl: bits & 1 != 0,
                                request_archive_restore: bits & 2 != 0,
                                remove_delete_markers: bits & 4 != 0,
                                deep: bits & 8 != 0,
                                cleanup: bits & 16 != 0,
                                to_dir: bits & 32 != 0,
                                kms: bits & 64 != 0,
                                kms_keys: key("src"),
                                dest_kms_keys: if bits & 64 != 0 {
                                    key("dst")
                                } else {
                                    Vec::new()
                                },
                                queue: (bits & 1 != 0)
                                    .then(|| "arn:aws:sqs:eu-west-1:111122223333:q".to_owned()),
                                push: bits & 2 != 0,
                                setup: bits & 4 != 0,
                                alert: bits & 8 != 0,
                                journal: (bits & 16 != 0).then(|| loc("ops", "journals/")),
                            },
                        ));
                    }
                }
            }
        }
        out
    }

    fn actions_on(doc: &Value, arn: &str) -> BTreeSet<String> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Resource"] == arn)
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    /// [`all_actions`] of the statements on the data, leaving out a journal kept in S3
    /// (`Journal…` statements: its own prefix, which the journal test checks).
    fn data_actions(doc: &Value) -> BTreeSet<String> {
        let mut d = doc.clone();
        if let Some(s) = d["Statement"].as_array_mut() {
            s.retain(|s| !s["Sid"].as_str().unwrap_or("").starts_with("Journal"));
        }
        all_actions(&d)
    }

    fn all_actions(doc: &Value) -> BTreeSet<String> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_policy_is_a_well_formed_iam_document() {
        for (c, o) in all_cases() {
            let doc = policy(c, &o);
            // Round-trips through text, as a user pastes it.
            let text = serde_json::to_string_pretty(&doc).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back["Version"], "2012-10-17", "{c:?} {o:?}");
            let st = back["Statement"].as_array().unwrap();
            assert!(!st.is_empty(), "{c:?} {o:?}");
            let mut sids = BTreeSet::new();
            for s in st {
                assert_eq!(s["Effect"], "Allow");
                let sid = s["Sid"].as_str().unwrap();
                assert!(sid.chars().all(|ch| ch.is_ascii_alphanumeric()), "{sid}");
                assert!(sids.insert(sid.to_owned()), "duplicate Sid {sid}");
                let actions = s["Action"].as_array().unwrap();
                assert!(!actions.is_empty());
                let service = if sid.starts_with("Kms") {
                    "kms:"
                } else if sid == "Queue" {
                    "sqs:"
                } else {
                    "s3:"
                };
                for a in actions {
                    assert!(a.as_str().unwrap().starts_with(service), "{a}");
                }
                let resources: Vec<&str> = match &s["Resource"] {
                    Value::String(r) => vec![r.as_str()],
                    Value::Array(rs) => rs.iter().map(|r| r.as_str().unwrap()).collect(),
                    other => panic!("Resource {other}"),
                };
                for r in resources {
                    if service == "kms:" {
                        assert!(r == "*" || r.starts_with("arn:aws:kms:"), "{r}");
                    } else if service == "sqs:" {
                        assert!(r.starts_with("arn:aws:sqs:"), "{r}");
                    } else {
                        assert!(r.starts_with("arn:aws:s3:::"), "{r}");
                    }
                }
            }
        }
    }

    #[test]
    fn restore_never_deletes_a_version() {
        for (c, o) in all_cases() {
            let doc = policy(c, &o);
            let has = all_actions(&doc).contains("s3:DeleteObjectVersion");
            let allowed = (c == PolicyCommand::Undelete && o.remove_delete_markers)
                || (c == PolicyCommand::Drill && o.cleanup);
            assert_eq!(has, allowed, "{c:?} {o:?}");
        }
    }

    #[test]
    fn in_place_restore_adds_delete_markers_and_lists_for_404s() {
        let o = PolicyOptions {
            source: Some(loc("acme", "docs/")),
            ..Default::default()
        };
        let doc = policy(PolicyCommand::Restore, &o);
        let objects = actions_on(&doc, "arn:aws:s3:::acme/docs/*");
        for a in [
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetObjectVersionTagging",
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
        ] {
            assert!(objects.contains(a), "{a} missing: {objects:?}");
        }
        assert!(!objects.contains("s3:PutObjectAcl"));
        assert!(!objects.contains("s3:RestoreObject"));
        // s3:ListBucket on the bucket without a condition: HEAD of an absent key is a 404.
        let list_bucket: Vec<&Value> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "s3:ListBucket")
            })
            .collect();
        assert_eq!(list_bucket.len(), 1);
        assert_eq!(list_bucket[0]["Resource"], "arn:aws:s3:::acme");
        assert!(list_bucket[0].get("Condition").is_none());
    }

    #[test]
    fn preserve_acl_reads_version_acls_and_writes_grants() {
        let base = PolicyOptions {
            source: Some(loc("acme", "")),
            to: Some(loc("dr", "copy/")),
            ..Default::default()
        };
        let with = PolicyOptions {
            preserve_acl: true,
            ..base.clone()
        };
        for (o, want) in [(&base, false), (&with, true)] {
            let doc = policy(PolicyCommand::Restore, o);
            let src = actions_on(&doc, "arn:aws:s3:::acme/*");
            let dst = actions_on(&doc, "arn:aws:s3:::dr/copy/*");
            assert_eq!(src.contains("s3:GetObjectVersionAcl"), want);
            assert_eq!(dst.contains("s3:PutObjectAcl"), want);
            // Writes go to the destination only, and no delete marker is ever added there.
            assert!(!src.contains("s3:PutObject"));
            assert!(dst.contains("s3:PutObject"));
            assert!(!all_actions(&doc).contains("s3:DeleteObject"));
        }
    }

    #[test]
    fn scoping_puts_the_prefix_in_every_resource() {
        for c in PolicyCommand::ALL {
            let o = PolicyOptions {
                source: Some(loc("acme", "reports/2026/")),
                to: Some(loc("scratch", "drill/")),
                preserve_acl: true,
                deep: true,
                cleanup: true,
                ..Default::default()
            };
            let doc = policy(c, &o);
            for s in doc["Statement"].as_array().unwrap() {
                let r = s["Resource"].as_str().unwrap();
                if s["Sid"] == "Queue" {
                    assert_eq!(c, PolicyCommand::Watch);
                    assert_eq!(r, "arn:aws:sqs:*:*:s3rewind-acme", "{c:?}");
                    continue;
                }
                assert!(
                    [
                        "arn:aws:s3:::acme",
                        "arn:aws:s3:::acme/reports/2026/*",
                        "arn:aws:s3:::scratch",
                        "arn:aws:s3:::scratch/drill/*",
                    ]
                    .contains(&r),
                    "{c:?}: unexpected resource {r}"
                );
                let lists = s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "s3:ListBucketVersions");
                if lists {
                    let want = if r == "arn:aws:s3:::acme" {
                        "reports/2026/*"
                    } else {
                        "drill/*"
                    };
                    assert_eq!(s["Condition"]["StringLike"]["s3:prefix"][0], want, "{c:?}");
                    // Nothing else shares the conditioned statement but watch's
                    // ListObjectsV2 of the same prefix.
                    let actions = s["Action"].as_array().unwrap();
                    let want: &[&str] = if c == PolicyCommand::Watch {
                        &["s3:ListBucket", "s3:ListBucketVersions"]
                    } else {
                        &["s3:ListBucketVersions"]
                    };
                    assert_eq!(actions, want, "{c:?}");
                }
            }
        }
    }

    #[test]
    fn audit_reads_configurations_only() {
        let doc = policy(
            PolicyCommand::Audit,
            &PolicyOptions {
                source: Some(loc("acme", "")),
                ..Default::default()
            },
        );
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["Resource"], "arn:aws:s3:::acme");
        let a = all_actions(&doc);
        assert!(a.contains("s3:GetReplicationConfiguration"));
        assert!(a.contains("s3:GetBucketPolicy"));
        assert!(a.iter().all(|x| x.starts_with("s3:Get")), "{a:?}");
    }

    #[test]
    fn audit_reads_the_replica_it_is_told_of() {
        let doc = policy(
            PolicyCommand::Audit,
            &PolicyOptions {
                source: Some(loc("acme", "")),
                to: Some(loc("acme-dr", "")),
                ..Default::default()
            },
        );
        let replica = actions_on(&doc, "arn:aws:s3:::acme-dr");
        for a in [
            "s3:GetBucketLocation",
            "s3:GetBucketVersioning",
            "s3:GetLifecycleConfiguration",
            "s3:GetBucketObjectLockConfiguration",
        ] {
            assert!(replica.contains(a), "{a} missing: {replica:?}");
        }
        // Only what the audit reads of a replica: not its policy or encryption.
        assert_eq!(replica.len(), 4, "{replica:?}");
    }

    #[test]
    fn undelete_by_removing_markers_writes_nothing_else() {
        let o = PolicyOptions {
            source: Some(loc("acme", "")),
            remove_delete_markers: true,
            ..Default::default()
        };
        let a = all_actions(&policy(PolicyCommand::Undelete, &o));
        assert!(a.contains("s3:DeleteObjectVersion"));
        assert!(!a.contains("s3:PutObject"));
        assert!(!a.contains("s3:DeleteObject"));
        let copies = all_actions(&policy(
            PolicyCommand::Undelete,
            &PolicyOptions {
                remove_delete_markers: false,
                ..o
            },
        ));
        assert!(copies.contains("s3:PutObject") && copies.contains("s3:GetObjectVersion"));
    }

    #[test]
    fn verify_reads_and_never_writes() {
        for (c, o) in all_cases() {
            if c != PolicyCommand::Verify && c != PolicyCommand::Plan && c != PolicyCommand::Audit {
                continue;
            }
            let a = data_actions(&policy(c, &o));
            assert!(
                a.iter().all(|x| x.starts_with("s3:Get")
                    || x.starts_with("s3:List")
                    || x == "kms:Decrypt"),
                "{c:?} {o:?}: {a:?}"
            );
        }
    }

    #[test]
    fn watch_writes_only_the_notification_it_was_told_to_set_up() {
        for (c, o) in all_cases() {
            if c != PolicyCommand::Watch {
                continue;
            }
            let doc = policy(c, &o);
            let a = all_actions(&doc);
            // Writes no object, ever; the notification and the queue only with --setup.
            assert!(
                !a.iter()
                    .any(|x| x.starts_with("s3:Put") && x != "s3:PutBucketNotification"),
                "{a:?}"
            );
            assert!(!a.iter().any(|x| x.starts_with("s3:Delete")), "{a:?}");
            assert_eq!(a.contains("s3:PutBucketNotification"), o.setup, "{o:?}");
            assert_eq!(a.contains("sqs:CreateQueue"), o.setup && !o.push, "{o:?}");
            // The queue is read, messages deleted once synced, unless they are pushed.
            assert_eq!(a.contains("sqs:DeleteMessage"), !o.push, "{o:?}");
            assert_eq!(a.contains("s3:GetObjectVersion"), o.alert, "{o:?}");
            if let (Some(q), false) = (&o.queue, o.push) {
                assert!(
                    doc["Statement"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s["Resource"] == q.as_str())
                );
            }
        }
    }

    #[test]
    fn kms_grants_follow_what_the_command_does_with_content() {
        for (c, o) in all_cases() {
            let doc = policy(c, &o);
            let kms: Vec<&Value> = doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["Sid"].as_str().unwrap().starts_with("Kms"))
                .collect();
            let actions: BTreeSet<&str> = kms
                .iter()
                .flat_map(|s| s["Action"].as_array().unwrap())
                .map(|a| a.as_str().unwrap())
                .collect();
            let asked = o.kms || !o.kms_keys.is_empty() || !o.dest_kms_keys.is_empty();
            let access = c.object_access(&o);
            let what = format!("{c:?} {o:?}: {kms:?}");
            assert_eq!(
                actions.contains("kms:Decrypt"),
                asked && (access.reads || access.writes),
                "{what}"
            );
            assert_eq!(
                actions.contains("kms:GenerateDataKey"),
                asked && access.writes,
                "{what}"
            );
            // S3 never calls kms:Encrypt for SSE-KMS.
            assert!(!actions.contains("kms:Encrypt"), "{what}");
            for s in &kms {
                match &s["Resource"] {
                    // Any key only through S3.
                    Value::String(r) if r == "*" => {
                        assert_eq!(
                            s["Condition"]["StringLike"]["kms:ViaService"], KMS_VIA_S3,
                            "{what}"
                        );
                    }
                    r => {
                        assert!(s.get("Condition").is_none(), "{what}");
                        let named = if s["Sid"] == "KmsSourceKeys" {
                            &o.kms_keys
                        } else {
                            &o.dest_kms_keys
                        };
                        assert_eq!(r, &json!(named[0]), "{what}");
                    }
                }
            }
            // The wildcard is always named in a note; a named key never is.
            let wildcard = kms.iter().any(|s| s["Resource"] == "*");
            assert_eq!(
                notes(c, &o).iter().any(|n| n.contains("--kms-key-arn")),
                wildcard,
                "{what}"
            );
        }
    }

    #[test]
    fn copies_under_another_key_only_decrypt_the_source_keys() {
        let o = PolicyOptions {
            source: Some(loc("acme", "")),
            to: Some(loc("dr", "")),
            kms_keys: vec!["arn:aws:kms:us-east-1:1:key/a".into()],
            dest_kms_keys: vec!["arn:aws:kms:us-east-1:1:key/b".into()],
            ..Default::default()
        };
        let doc = policy(PolicyCommand::Restore, &o);
        let kms: Vec<&Value> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Sid"].as_str().unwrap().starts_with("Kms"))
            .collect();
        assert_eq!(kms.len(), 2);
        assert_eq!(kms[0]["Resource"], "arn:aws:kms:us-east-1:1:key/a");
        assert_eq!(kms[0]["Action"], json!(["kms:Decrypt"]));
        assert_eq!(kms[1]["Resource"], "arn:aws:kms:us-east-1:1:key/b");
        assert_eq!(
            kms[1]["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey"])
        );
    }

    #[test]
    fn undo_writes_in_place_without_listing_and_apply_is_restore() {
        for (c, o) in all_cases() {
            if c == PolicyCommand::Apply {
                assert_eq!(policy(c, &o), policy(PolicyCommand::Restore, &o), "{o:?}");
            }
            if c != PolicyCommand::Undo {
                continue;
            }
            let a = all_actions(&policy(c, &o));
            for want in [
                "s3:GetBucketVersioning",
                "s3:ListBucket",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
            ] {
                assert!(a.contains(want), "{want} missing: {o:?} {a:?}");
            }
            for never in [
                "s3:ListBucketVersions",
                "s3:DeleteObjectVersion",
                "s3:GetLifecycleConfiguration",
            ] {
                assert!(!a.contains(never), "{never}: {o:?}");
            }
        }
    }

    #[test]
    fn a_restore_into_a_directory_writes_nothing_to_s3() {
        for (c, o) in all_cases() {
            if !matches!(c, PolicyCommand::Restore | PolicyCommand::Apply) || !o.to_dir {
                continue;
            }
            let a = data_actions(&policy(c, &o));
            assert!(a.contains("s3:GetObjectVersion") && a.contains("s3:ListBucketVersions"));
            assert!(
                a.iter().all(|x| x.starts_with("s3:Get")
                    || x.starts_with("s3:List")
                    || x == "s3:RestoreObject"
                    || x == "kms:Decrypt"),
                "{o:?}: {a:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Scoping changes resources only: the actions are those of the unscoped policy.
        #[test]
        fn scoping_changes_resources_not_actions(
            bucket in "[a-z0-9][a-z0-9.-]{2,20}",
            prefix in "[a-zA-Z0-9/_.-]{0,12}",
            c in 0usize..8,
        ) {
            let c = PolicyCommand::ALL[c];
            // A drill's scratch location is its own scope (tested above).
            prop_assume!(c != PolicyCommand::Drill);
            let scoped = policy(c, &PolicyOptions {
                source: Some(Location { bucket: bucket.clone(), prefix: prefix.clone() }),
                ..Default::default()
            });
            let unscoped = policy(c, &PolicyOptions::default());
            prop_assert_eq!(all_actions(&scoped), all_actions(&unscoped));
            let objects = format!("arn:aws:s3:::{bucket}/{prefix}*");
            let bucket_arn = format!("arn:aws:s3:::{bucket}");
            for s in scoped["Statement"].as_array().unwrap() {
                let r = s["Resource"].as_str().unwrap();
                prop_assert!(r == objects || r == bucket_arn, "{}", r);
            }
        }
    }
}
