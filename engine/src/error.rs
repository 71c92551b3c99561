//! Errors of the engine.
//!
//! Rules:
//! - Every public fallible function returns one of the enums below; each variant names
//!   the thing that was wrong and carries the data a user needs to find it (key, version,
//!   input text).
//! - Findings are not errors. An anomaly in a listing, an uncertain state, a drifted key
//!   are data in the result ([`Anomaly`](crate::Anomaly), [`Warning`](crate::Warning)),
//!   so that one odd key never stops a restore of millions.
//! - Messages are one line, lower-case, and say what to do where there is something to do.

use thiserror::Error;

/// A listing that cannot be turned into a timeline.
///
/// Each of these means the server (or the paging loop) broke the list-order contract, so
/// the listing cannot be trusted; the operation stops before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TimelineError {
    /// A key came after a greater key.
    #[error(
        "listing went backwards: key {key:?} came after {previous:?}; the server's paging is broken"
    )]
    OutOfOrder {
        /// The key listed before.
        previous: String,
        /// The key that should have come earlier.
        key: String,
    },
    /// The same version of a key was listed twice.
    #[error(
        "listing repeated version {version_id:?} of key {key:?}; the paging markers did not advance"
    )]
    Repeated {
        /// The key.
        key: String,
        /// The repeated version id.
        version_id: String,
    },
    /// One page of the listing laid out its versions and delete markers differently
    /// from an earlier page (interleaved vs split).
    #[error(
        "the server's listing changed layout: earlier pages were {earlier}, this one is {now}; its list order cannot be trusted"
    )]
    LayoutChanged {
        /// What earlier pages proved.
        earlier: String,
        /// What this page shows.
        now: String,
    },
    /// A page whose `<Version>` and `<DeleteMarker>` elements fit none of the layouts
    /// servers use (see [`ListOrder`](crate::ListOrder)).
    #[error(
        "a listing page fits no known layout ({detail}); the server's list order cannot be trusted"
    )]
    PageLayout {
        /// What the page shows.
        detail: String,
    },
    /// A delete marker in the versions list, or a version in the delete-marker list.
    #[error("entry {version_id:?} of key {key:?} is in the wrong list (version vs delete marker)")]
    WrongList {
        /// The key.
        key: String,
        /// The version id.
        version_id: String,
    },
}

/// A TIME argument that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The text matches none of the accepted forms.
    #[error(
        "invalid TIME {input:?}: use RFC 3339 (2026-11-21T09:41:00Z or +02:00), a UTC date-time \
         (2026-11-21 09:41:00), @UNIX_SECONDS (@1795254060) or a duration ago (90m, 2h, 3d, 1h30m)"
    )]
    Unrecognised {
        /// What was given.
        input: String,
    },
    /// The time is after now; a restore to the future is the current state.
    #[error("TIME {input:?} is {resolved}, which is in the future; give a time in the past")]
    InFuture {
        /// What was given.
        input: String,
        /// The instant it resolved to (RFC 3339).
        resolved: String,
    },
    /// The time is out of the representable range.
    #[error("TIME {input:?} is out of range")]
    OutOfRange {
        /// What was given.
        input: String,
    },
}

/// An `s3://BUCKET[/PREFIX]` argument that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UriError {
    /// Not of the form `s3://BUCKET[/PREFIX]`.
    #[error("invalid S3 location {input:?}: expected s3://BUCKET or s3://BUCKET/PREFIX")]
    Syntax {
        /// What was given.
        input: String,
    },
    /// The bucket name is not a valid S3 bucket name.
    #[error(
        "invalid bucket name {bucket:?} in {input:?}: bucket names are 3-63 characters of \
         lower-case letters, digits, '.' and '-'"
    )]
    BucketName {
        /// What was given.
        input: String,
        /// The bucket part.
        bucket: String,
    },
}

/// A plan that cannot be made or executed as asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan file is of a schema this version does not read.
    #[error(
        "plan file has schema {found:?}, but this s3rewind reads {expected:?}; re-create the plan with this version"
    )]
    Schema {
        /// The schema found in the file.
        found: String,
        /// The schema this version writes.
        expected: String,
    },
    /// The plan file is not valid JSON of the plan schema.
    #[error("plan file is not a valid s3rewind plan: {0}")]
    Invalid(String),
    /// In-place restore into a bucket whose versioning is suspended.
    #[error(
        "refusing to restore in place: versioning on bucket {bucket:?} is Suspended, so every \
         copy would overwrite the key's `null` version and destroy it; re-enable versioning \
         (aws s3api put-bucket-versioning --versioning-configuration Status=Enabled) or restore \
         with --to into another bucket"
    )]
    Suspended {
        /// The bucket.
        bucket: String,
    },
    /// Point-in-time restore needs a bucket that has (had) versioning.
    #[error(
        "bucket {bucket:?} has never had versioning enabled, so it keeps no history: \
         point-in-time restore is impossible there"
    )]
    NeverVersioned {
        /// The bucket.
        bucket: String,
    },
}
