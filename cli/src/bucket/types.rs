//! What the [`Bucket`](super::Bucket) trait speaks: requests, replies and errors, with
//! no SDK type in them.

use chrono::{DateTime, Utc};
use s3rewind_engine::{Entry, Versioning};
use std::collections::HashMap;
use std::fmt;

/// What went wrong with an S3 request, classified for exit codes and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bucket does not exist.
    NoSuchBucket,
    /// The key or version does not exist.
    NotFound,
    /// Credentials are missing, invalid, or not allowed to do this.
    AccessDenied,
    /// No credentials could be found at all.
    NoCredentials,
    /// The endpoint could not be reached (connection refused, DNS, TLS, timeout).
    Unreachable,
    /// The server asked us to slow down (SlowDown, 503).
    Throttled,
    /// A conditional request's condition did not hold (412), or a conflicting
    /// concurrent write (409 ConditionalRequestConflict).
    PreconditionFailed,
    /// The version is archived and must be restored first (InvalidObjectState).
    Archived,
    /// A restore of an archived version is already running.
    RestoreInProgress,
    /// The request or its combination of headers is not supported by this server.
    NotImplemented,
    /// Not sent: it would go past a cap the user set (`--max-bytes`, `--max-cost`).
    CapReached,
    /// Anything else.
    Other,
}

/// A classified S3 error.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// The class.
    pub kind: ErrorKind,
    /// What was being done ("ListObjectVersions on s3://b/").
    pub context: String,
    /// The S3 error code, when there is one.
    pub code: Option<String>,
    /// The HTTP status, when a response came back.
    pub status: Option<u16>,
    /// The server's or SDK's message.
    pub message: String,
}

impl S3Error {
    /// An error of no particular class ([`ErrorKind::Other`]), with neither code nor
    /// status: something went wrong on this side of the wire (a request that could not
    /// be built, a body that could not be read).
    pub fn other(context: impl Into<String>, message: impl Into<String>) -> S3Error {
        S3Error {
            kind: ErrorKind::Other,
            context: context.into(),
            code: None,
            status: None,
            message: message.into(),
        }
    }

    /// True for errors where trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Unreachable)
            || matches!(self.status, Some(500..=599))
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.context)?;
        match (&self.code, self.status) {
            (Some(c), Some(s)) => write!(f, "{c} (HTTP {s})")?,
            (Some(c), None) => write!(f, "{c}")?,
            (None, Some(s)) => write!(f, "HTTP {s}")?,
            (None, None) => {}
        }
        if !self.message.is_empty() {
            if self.code.is_some() || self.status.is_some() {
                f.write_str(": ")?;
            }
            f.write_str(&self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

/// A bucket's versioning configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketVersioning {
    /// Enabled, Suspended, or never enabled.
    pub status: Versioning,
    /// Whether MFA Delete is enabled.
    pub mfa_delete: bool,
}

/// One ListObjectVersions request.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest<'a> {
    /// Byte prefix of the keys to list.
    pub prefix: &'a str,
    /// Roll keys up into common prefixes at this delimiter.
    pub delimiter: Option<&'a str>,
    /// Start after this key (with `version_id_marker`: after that version of it).
    pub key_marker: Option<&'a str>,
    /// Start after this version of `key_marker`.
    pub version_id_marker: Option<&'a str>,
    /// At most this many entries and common prefixes.
    pub max_keys: i32,
    /// Ask for `EncodingType=url`, so any key survives XML (the default). The pager asks
    /// for a raw page only to continue after a key that encoding changes on a server
    /// that sends its markers raw (see [`RawPage::marker_raw`]).
    pub url_encoding: bool,
}

impl<'a> ListRequest<'a> {
    /// The first page under `prefix`, URL-encoded.
    pub fn new(prefix: &'a str, max_keys: i32) -> Self {
        ListRequest {
            prefix,
            delimiter: None,
            key_marker: None,
            version_id_marker: None,
            max_keys,
            url_encoding: true,
        }
    }
}

/// One current object, as ListObjectsV2 shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentObject {
    /// The key (decoded).
    pub key: String,
    /// ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// When the current version was written.
    pub last_modified: DateTime<Utc>,
}

/// One ListObjectsV2 page: current objects only (keys whose newest entry is a version).
#[derive(Debug, Clone, Default)]
pub struct ObjectsPage {
    /// The objects, in key order.
    pub objects: Vec<CurrentObject>,
    /// The continuation token of the next page, when truncated.
    pub next: Option<String>,
    /// Whether more pages follow.
    pub truncated: bool,
}

/// One raw listing page with its paging state.
#[derive(Debug, Clone)]
pub struct RawPage {
    /// The entries, keys decoded, in the order the response body has them (on S3 and
    /// radosgw that is list order; see [`s3rewind_engine::ListOrder`]).
    pub document: Vec<Entry>,
    /// Whether more pages follow.
    pub truncated: bool,
    /// The next key marker (decoded), if any.
    pub next_key_marker: Option<String>,
    /// The next version id marker, if any (empty counts as none).
    pub next_version_id_marker: Option<String>,
    /// Common prefixes (decoded), when listed with a delimiter.
    pub common_prefixes: Vec<String>,
    /// The server encoded its keys but sent `<NextKeyMarker>` raw, and the marker's key is
    /// one that encoding changes: a server that compares its encoded keys with such a
    /// marker repeats or skips keys on the next page (seen in the wild), so the pager
    /// asks for that page without `EncodingType=url`.
    pub marker_raw: bool,
}

/// What a server can do, as data: callers ask the bucket instead of guessing from the
/// endpoint's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `If-Match` / `If-None-Match` on CopyObject are honoured (AWS's own endpoints).
    /// Elsewhere they may be ignored or rejected, and the executor's check right before
    /// each write is all there is.
    pub conditional_writes: bool,
    /// CopyObject's reply names the version it created. Where it may not (radosgw), the
    /// executor reads the copies back after the run (and handles a `null` reply either
    /// way: this says what to expect, not what to trust).
    pub copy_names_version: bool,
}

/// The first bytes of one version and the Content-Type it was stored with (content
/// sampling, see [`Bucket::first_bytes`](super::Bucket::first_bytes)).
#[derive(Debug, Clone)]
pub struct FirstBytes {
    /// The bytes (fewer than asked for a smaller object).
    pub bytes: Vec<u8>,
    /// The stored Content-Type, if any.
    pub content_type: Option<String>,
}

/// What a plain PutObject stored (see [`Bucket::put`](super::Bucket::put)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReply {
    /// The new object's ETag, without quotes.
    pub etag: String,
    /// The version id, when the bucket keeps versions (`None` for `null`).
    pub version_id: Option<String>,
}

/// What HeadObject says about one version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The version id (`null` when the server gives none).
    pub version_id: String,
    /// ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Storage class (`STANDARD` when absent).
    pub storage_class: String,
    /// Intelligent-Tiering archive status (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`).
    pub archive_status: Option<String>,
    /// The `x-amz-restore` header (`ongoing-request="false", expiry-date=…`).
    pub restore: Option<String>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires, as the server sent it.
    pub expires: Option<String>,
    /// User metadata (`x-amz-meta-*`, names without the prefix).
    pub metadata: HashMap<String, String>,
    /// Server-side encryption (`AES256`, `aws:kms`, `aws:kms:dsse`).
    pub sse: Option<String>,
    /// The KMS key for SSE-KMS.
    pub sse_kms_key_id: Option<String>,
    /// Whether an S3 Bucket Key is used.
    pub bucket_key_enabled: Option<bool>,
    /// The website redirect location (never copied by S3).
    pub website_redirect: Option<String>,
    /// The object's last modification time.
    pub last_modified: Option<DateTime<Utc>>,
}

impl Head {
    /// True when the version must be restored from an archive before it can be read.
    pub fn needs_archive_restore(&self) -> bool {
        let archived_class = matches!(self.storage_class.as_str(), "GLACIER" | "DEEP_ARCHIVE");
        (archived_class || self.archive_status.is_some()) && !self.restored_copy_available()
    }

    /// True when `x-amz-restore` says a restored copy is available now.
    pub fn restored_copy_available(&self) -> bool {
        self.restore
            .as_deref()
            .is_some_and(|r| r.contains("ongoing-request=\"false\""))
    }

    /// True when `x-amz-restore` says a restore is running.
    pub fn restore_ongoing(&self) -> bool {
        self.restore
            .as_deref()
            .is_some_and(|r| r.contains("ongoing-request=\"true\""))
    }
}

/// Everything a faithful copy of one version needs.
#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    /// Source bucket.
    pub source_bucket: &'a str,
    /// Source key.
    pub source_key: &'a str,
    /// Source version.
    pub source_version_id: &'a str,
    /// Destination bucket.
    pub bucket: &'a str,
    /// Destination key.
    pub key: &'a str,
    /// What HeadObject said about the source version.
    pub head: &'a Head,
    /// Storage class for the copy (`None`: the source's).
    pub storage_class: Option<&'a str>,
    /// SSE-KMS key for the copy (`None`: the source's encryption settings).
    pub sse_kms_key_id: Option<&'a str>,
    /// Destination precondition: `If-Match` this ETag.
    pub if_match: Option<&'a str>,
    /// Destination precondition: `If-None-Match: *` (the key must not exist).
    pub if_none_match: bool,
    /// Grants to set on the copy (`--preserve-acl`); `None`: private to the owner.
    pub acl: Option<&'a Acl>,
    /// Source precondition: copy only if the source still has this ETag (used for `null`
    /// versions, which are replaced in place and so can change under the same id).
    pub source_if_match: Option<&'a str>,
    /// `MetadataDirective=REPLACE` with what `head` says (user metadata, content headers,
    /// Expires) instead of COPY: for servers that refuse to copy a version onto its own
    /// key unchanged, or drop attributes on copy. `head` must then come from a HEAD of
    /// the source version.
    pub replace_metadata: bool,
}

impl<'a> CopyRequest<'a> {
    /// A copy of `source_key`'s version `version` in `source_bucket` to `key`, with the
    /// source's own attributes and nothing else asked for (no condition, no class, no key,
    /// no grants). `bucket` is left empty: a [`Bucket`](super::Bucket) copies into itself.
    pub fn plain(
        source_bucket: &'a str,
        source_key: &'a str,
        version: &'a str,
        key: &'a str,
        head: &'a Head,
    ) -> CopyRequest<'a> {
        CopyRequest {
            source_bucket,
            source_key,
            source_version_id: version,
            bucket: "",
            key,
            head,
            storage_class: None,
            sse_kms_key_id: None,
            if_match: None,
            if_none_match: false,
            acl: None,
            source_if_match: None,
            replace_metadata: false,
        }
    }
}

/// One part of a multipart upload: the upload (its key and id) and the part's number.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The key being uploaded.
    pub key: &'a str,
    /// The upload's id (from CreateMultipartUpload).
    pub upload_id: &'a str,
    /// The part's number (1-based).
    pub number: i32,
}

/// One UploadPartCopy: the part, and the inclusive byte range of a source version it
/// copies.
#[derive(Debug, Clone, Copy)]
pub struct PartCopy<'a> {
    /// The part written.
    pub part: Part<'a>,
    /// The source version: bucket, key, version id.
    pub source: (&'a str, &'a str, &'a str),
    /// First and last byte of the source, inclusive.
    pub range: (u64, u64),
}

/// The attributes a copy writes explicitly (multipart and streamed copies).
#[derive(Debug, Clone, Copy)]
pub struct ObjectAttrs<'a> {
    /// HeadObject of the source version (metadata, content headers, class, SSE…).
    pub head: &'a Head,
    /// The source version's tags.
    pub tags: &'a [(String, String)],
    /// Storage class override.
    pub storage_class: Option<&'a str>,
    /// SSE-KMS key override.
    pub sse_kms_key_id: Option<&'a str>,
    /// Re-apply the source's SSE-KMS key (same account); off for streamed copies to
    /// another account, whose keys differ.
    pub keep_source_kms: bool,
    /// Grants to set (`--preserve-acl`).
    pub acl: Option<&'a Acl>,
}

impl<'a> ObjectAttrs<'a> {
    /// A write that carries what `head` says and nothing else: no tags, no class or
    /// encryption override, no grants.
    pub fn plain(head: &'a Head) -> Self {
        ObjectAttrs {
            head,
            tags: &[],
            storage_class: None,
            sse_kms_key_id: None,
            keep_source_kms: false,
            acl: None,
        }
    }
}

/// What RestoreObject did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveRestoreState {
    /// A restore was started (202) or the copy is already restored (200).
    Requested,
    /// A restore is already running (409).
    InProgress,
}

/// An object ACL as the `x-amz-grant-*` headers that re-create it on a write (so the
/// copy and its ACL land in one request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    pub(crate) full_control: Vec<String>,
    pub(crate) read: Vec<String>,
    pub(crate) read_acp: Vec<String>,
    pub(crate) write_acp: Vec<String>,
}

impl Acl {
    pub(crate) fn header(v: &[String]) -> Option<String> {
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// The largest object a single CopyObject can copy (5 GiB).
pub const COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// The smallest part S3 accepts (except the last).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// The most parts one upload may have.
const MAX_PARTS: u64 = 10_000;

/// Inclusive byte ranges of the parts of an object of `size` bytes: `part_size` clamped
/// to S3's limits (at least 5 MiB, at most 10,000 parts).
pub fn part_ranges(size: u64, part_size: u64) -> Vec<(u64, u64)> {
    if size == 0 {
        return vec![(0, 0)];
    }
    let part = part_size.max(MIN_PART).max(size.div_ceil(MAX_PARTS));
    (0..size.div_ceil(part))
        .map(|i| (i * part, ((i + 1) * part).min(size) - 1))
        .collect()
}
