//! [`MemBucket`]: buckets in memory, on the engine's simulator, counting requests.
//!
//! A [`MemStore`] is one endpoint holding any number of buckets (so server-side copies
//! between them work as on S3); a [`MemBucket`] is one of them behind the [`Bucket`]
//! trait. Every call counts one request of its [`Op`] before anything else happens, as a
//! server counts the requests it receives, so tests can assert what a run costs.
//!
//! Semantics are the simulator's ([`SimBucket`]): versions newest first, delete markers,
//! `null` versions in unversioned and suspended buckets, S3's paging markers. Writes are
//! stamped by a clock that never goes backwards and moves at least a millisecond per
//! write, so their order is their timestamps' order.

use super::Bucket;
use super::wire;
use super::{
    Acl, ArchiveRestoreState, BucketVersioning, Capabilities, CopyRequest, CurrentObject,
    ErrorKind, Head, ListRequest, ObjectAttrs, ObjectsPage, Part, PartCopy, RawPage, S3Error,
};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::{
    Entry, NULL_VERSION, PageFill, PutMeta, SimBucket, SimError, SimVersion, StorageClass,
    Versioning,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// A kind of request, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// GetBucketVersioning.
    Versioning,
    /// ListObjectVersions.
    List,
    /// ListObjectsV2.
    ListObjects,
    /// HeadObject.
    Head,
    /// GetObject.
    Get,
    /// GetObjectTagging.
    Tags,
    /// PutObjectTagging.
    PutTags,
    /// GetObjectAcl.
    Acl,
    /// CopyObject.
    Copy,
    /// PutObject.
    Put,
    /// DeleteObject without a version id.
    DeleteMarker,
    /// DeleteObject with a version id.
    DeleteVersion,
    /// CreateMultipartUpload.
    CreateMultipart,
    /// UploadPartCopy.
    UploadPartCopy,
    /// UploadPart.
    UploadPart,
    /// CompleteMultipartUpload.
    CompleteMultipart,
    /// AbortMultipartUpload.
    AbortMultipart,
    /// RestoreObject.
    ArchiveRestore,
}

impl Op {
    /// True for requests that change a bucket's objects.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::Copy
                | Op::Put
                | Op::PutTags
                | Op::DeleteMarker
                | Op::DeleteVersion
                | Op::CompleteMultipart
        )
    }
}

/// Requests received, per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests(pub BTreeMap<Op, u64>);

impl Requests {
    /// Requests of one operation.
    pub fn of(&self, op: Op) -> u64 {
        self.0.get(&op).copied().unwrap_or(0)
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Requests that change objects.
    pub fn writes(&self) -> u64 {
        self.0
            .iter()
            .filter(|(op, _)| op.writes())
            .map(|(_, n)| n)
            .sum()
    }

    /// Per-key reads: HEAD, GET, tags and ACL reads.
    pub fn key_reads(&self) -> u64 {
        [Op::Head, Op::Get, Op::Tags, Op::Acl]
            .iter()
            .map(|op| self.of(*op))
            .sum()
    }
}

/// How a ListObjectVersions page lays out its `<Version>` and `<DeleteMarker>` elements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PageLayout {
    /// In list order (S3, radosgw).
    #[default]
    Interleaved,
    /// All versions, then all delete markers (moto).
    VersionsFirst,
    /// All delete markers, then all versions (another production-grade server).
    MarkersFirst,
}

/// The habits of an S3 server, each seen in the wild, combinable: what a [`MemStore`]
/// imitates. The default is a well-behaved server (S3's own behaviour). Every listing
/// goes through the same decoding as a real server's response ([`wire::decode`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Personality {
    /// How a listing page lays out its entries.
    pub layout: PageLayout,
    /// LastModified in whole seconds (listings and HEAD), as moto's.
    pub whole_seconds: bool,
    /// Under `EncodingType=url`, `<Key>` encoded but `<NextKeyMarker>` raw (radosgw).
    pub raw_next_key_marker: bool,
    /// Under `EncodingType=url`, the key marker is compared with the *encoded* keys: after
    /// a page that ends on a key that encoding changes, the next page repeats keys or
    /// silently skips them.
    pub marker_compares_encoded: bool,
    /// `VersionIdMarker=null` starts the key over from its newest entry (repeats).
    pub null_marker_repeats: bool,
    /// `VersionIdMarker=null` skips the key's remaining entries (radosgw).
    pub null_marker_skips: bool,
    /// CopyObject names no version in its reply (radosgw).
    pub copy_names_no_version: bool,
    /// CopyObject of a version onto its own key is refused ("copy an object to itself")
    /// unless the metadata is replaced, although S3 allows it for an older version.
    pub refuses_self_copy: bool,
    /// CopyObject (metadata directive COPY) drops the source's `Expires`.
    pub drops_expires_on_copy: bool,
    /// CreateMultipartUpload ignores `x-amz-tagging`: the completed object has no tags
    /// (radosgw).
    pub multipart_drops_tags: bool,
    /// CopyObject of a source's `null` version into a bucket that keeps no versions
    /// writes another object: here the source key's current version (radosgw's copy
    /// lists as asked but reads as another object).
    pub null_copy_reads_other: bool,
    /// ListObjectsV2 counts keys whose current entry is a delete marker toward MaxKeys: a
    /// page may hold fewer objects than asked, or none, and still say more follow (S3
    /// may). Not one of [`nth`](Self::nth)'s combinations: the tests that read
    /// ListObjectsV2 page by page set it.
    pub sparse_object_pages: bool,
}

impl Personality {
    /// Every combination of the listing habits and the copy habits worth a property case,
    /// indexed (`i` modulo the count): the layouts × stamp resolutions × marker habits ×
    /// copy habits.
    pub fn nth(i: usize) -> Personality {
        let layouts = [
            PageLayout::Interleaved,
            PageLayout::VersionsFirst,
            PageLayout::MarkersFirst,
        ];
        let mut i = i;
        let mut take = |n: usize| {
            let v = i % n;
            i /= n;
            v
        };
        let layout = layouts[take(3)];
        let whole_seconds = take(2) == 1;
        let markers = take(4);
        let copies = take(4);
        Personality {
            layout,
            whole_seconds,
            raw_next_key_marker: markers >= 1,
            marker_compares_encoded: markers == 2,
            null_marker_repeats: markers == 3,
            null_marker_skips: markers == 1,
            copy_names_no_version: copies & 1 == 1,
            refuses_self_copy: copies >= 2,
            drops_expires_on_copy: copies >= 2,
            multipart_drops_tags: copies >= 2,
            null_copy_reads_other: copies == 3,
            sparse_object_pages: false,
        }
    }

    /// How many [`Personality::nth`] gives before repeating.
    pub const COMBINATIONS: usize = 3 * 2 * 4 * 4;
}

/// The attributes of a version a listing does not show, kept beside the simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extra {
    expires: Option<String>,
    metadata: HashMap<String, String>,
}

#[derive(Debug)]
struct Upload {
    bucket: String,
    key: String,
    parts: BTreeMap<i32, Vec<u8>>,
    meta: PutMeta,
    tags: Vec<(String, String)>,
    extra: Extra,
}

#[derive(Debug, Default)]
struct Inner {
    buckets: BTreeMap<String, SimBucket>,
    /// Tags per (bucket, key, version id).
    tags: HashMap<(String, String, String), Vec<(String, String)>>,
    uploads: HashMap<String, Upload>,
    next_upload: u64,
    requests: Requests,
    clock: Option<DateTime<Utc>>,
    /// The server's habits.
    personality: Personality,
    /// Expires and user metadata per (bucket, key, version id).
    extra: HashMap<(String, String, String), Extra>,
    /// Versions in an archive tier (Intelligent-Tiering's, which a listing does not
    /// show): a copy of one fails with InvalidObjectState; HEAD shows the tier when the
    /// flag says so.
    archived: HashMap<(String, String, String), bool>,
}

impl Inner {
    /// Keep `bytes` as part `number` of the upload `upload_id`; returns the part's ETag.
    fn add_part(
        &mut self,
        upload_id: &str,
        number: i32,
        bytes: Vec<u8>,
        ctx: impl Fn() -> String,
    ) -> Result<String, S3Error> {
        if !(1..=10_000).contains(&number) {
            // S3: "Part number must be an integer between 1 and 10000, inclusive".
            return Err(S3Error {
                kind: ErrorKind::Other,
                context: ctx(),
                code: Some("InvalidArgument".to_owned()),
                status: Some(400),
                message: format!("part number {number} is not between 1 and 10000"),
            });
        }
        let etag = s3rewind_engine::sim::content_etag(&bytes);
        let upload = self
            .uploads
            .get_mut(upload_id)
            .ok_or_else(|| no_upload(ctx(), upload_id))?;
        upload.parts.insert(number, bytes);
        Ok(etag)
    }

    fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let t = match self.clock {
            Some(last) if last + TimeDelta::milliseconds(1) > now => {
                last + TimeDelta::milliseconds(1)
            }
            _ => now,
        };
        self.clock = Some(t);
        t
    }

    fn bucket(
        &mut self,
        name: &str,
        context: impl Fn() -> String,
    ) -> Result<&mut SimBucket, S3Error> {
        self.buckets.get_mut(name).ok_or_else(|| S3Error {
            kind: ErrorKind::NoSuchBucket,
            context: context(),
            code: Some("NoSuchBucket".to_owned()),
            status: Some(404),
            message: format!("the bucket {name:?} does not exist"),
        })
    }
}

/// One endpoint's buckets, in memory.
#[derive(Default)]
pub struct MemStore {
    inner: Mutex<Inner>,
    /// Bucket configurations and server flags (see `mem_config`).
    pub(super) settings: Mutex<super::mem_config::Settings>,
}

impl fmt::Debug for MemStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemStore { .. }")
    }
}

impl MemStore {
    /// An empty endpoint.
    pub fn new() -> Arc<MemStore> {
        Arc::new(MemStore::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create a bucket (replacing one of that name) and return it.
    pub fn create(self: &Arc<Self>, name: &str, versioning: Versioning) -> MemBucket {
        let id_prefix = format!("{name}-v");
        self.lock()
            .buckets
            .insert(name.to_owned(), SimBucket::new(versioning, &id_prefix));
        MemBucket {
            store: self.clone(),
            name: name.to_owned(),
        }
    }

    /// Put a bucket built elsewhere (a scenario's history) behind the store.
    pub fn insert(self: &Arc<Self>, name: &str, sim: SimBucket) -> MemBucket {
        let mut inner = self.lock();
        let newest = sim
            .all_versions()
            .map(|(_, v)| v.version.last_modified)
            .max();
        if let Some(t) = newest {
            inner.clock = Some(inner.clock.map_or(t, |c| c.max(t)));
        }
        inner.buckets.insert(name.to_owned(), sim);
        MemBucket {
            store: self.clone(),
            name: name.to_owned(),
        }
    }

    /// Read (or change) a bucket directly, without counting a request.
    pub fn with<R>(&self, name: &str, f: impl FnOnce(&mut SimBucket) -> R) -> R {
        let mut inner = self.lock();
        let sim = inner
            .buckets
            .get_mut(name)
            .expect("no such bucket in the store");
        f(sim)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Requests {
        self.lock().requests.clone()
    }

    /// From now on a listing page holds its versions first, then its delete markers, as
    /// moto's pages do (S3 and radosgw interleave them in key order).
    pub fn lists_markers_last(&self) {
        self.lock().personality.layout = PageLayout::VersionsFirst;
    }

    /// From now on CopyObject names no version in its reply, as radosgw's does.
    pub fn copies_name_no_version(&self) {
        self.lock().personality.copy_names_no_version = true;
    }

    /// Put a version in an archive tier a listing does not show (Intelligent-Tiering's
    /// Archive Access): copying it fails with `InvalidObjectState` until it is restored;
    /// HEAD shows `x-amz-archive-status` when `head_shows` is set.
    pub fn archive(&self, bucket: &str, key: &str, version_id: &str, head_shows: bool) {
        self.lock().archived.insert(
            (bucket.to_owned(), key.to_owned(), version_id.to_owned()),
            head_shows,
        );
    }

    /// From now on the server has these habits.
    pub fn set_personality(&self, p: Personality) {
        self.lock().personality = p;
    }

    /// The server's habits.
    pub fn personality(&self) -> Personality {
        self.lock().personality
    }

    /// Forget the requests counted so far.
    pub fn reset_requests(&self) {
        self.lock().requests = Requests::default();
    }

    /// The time the next write would be stamped with, at least.
    pub fn now(&self) -> DateTime<Utc> {
        let inner = self.lock();
        inner.clock.map_or_else(Utc::now, |c| c.max(Utc::now()))
    }
}

/// One bucket of a [`MemStore`].
#[derive(Debug, Clone)]
pub struct MemBucket {
    store: Arc<MemStore>,
    name: String,
}

impl MemBucket {
    /// The store it lives in.
    pub fn store(&self) -> &Arc<MemStore> {
        &self.store
    }

    fn begin(&self, op: Op) -> MutexGuard<'_, Inner> {
        let mut inner = self.store.lock();
        *inner.requests.0.entry(op).or_default() += 1;
        inner
    }
}

fn sim_error(context: String, e: SimError) -> S3Error {
    let (kind, code, status) = match &e {
        SimError::NoSuchVersion { .. } => (ErrorKind::NotFound, "NoSuchVersion", 404),
        SimError::IsDeleteMarker { .. } => (ErrorKind::Other, "InvalidRequest", 400),
        SimError::SelfCopy { .. } => (ErrorKind::Other, "InvalidRequest", 400),
        _ => (ErrorKind::Other, "InternalError", 500),
    };
    S3Error {
        kind,
        context,
        code: Some(code.to_owned()),
        status: Some(status),
        message: e.to_string(),
    }
}

fn precondition(context: String, message: &str) -> S3Error {
    S3Error {
        kind: ErrorKind::PreconditionFailed,
        context,
        code: Some("PreconditionFailed".to_owned()),
        status: Some(412),
        message: message.to_owned(),
    }
}

fn no_upload(context: String, upload_id: &str) -> S3Error {
    S3Error {
        kind: ErrorKind::NotFound,
        context,
        code: Some("NoSuchUpload".to_owned()),
        status: Some(404),
        message: format!("no upload {upload_id:?}"),
    }
}

/// A stamp as the server shows it.
fn shown(p: Personality, t: DateTime<Utc>) -> DateTime<Utc> {
    if p.whole_seconds {
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
    } else {
        t
    }
}

fn head_with(v: &SimVersion, p: Personality, extra: Option<&Extra>) -> Option<Head> {
    let mut h = head_of(v)?;
    h.last_modified = h.last_modified.map(|t| shown(p, t));
    if let Some(x) = extra {
        h.expires = x.expires.clone();
        h.metadata = x.metadata.clone();
    }
    Some(h)
}

fn head_of(v: &SimVersion) -> Option<Head> {
    if v.version.delete_marker {
        return None;
    }
    Some(Head {
        version_id: v.version.version_id.to_string(),
        etag: v.version.etag.to_string(),
        size: v.version.size,
        storage_class: v
            .version
            .storage_class
            .as_ref()
            .map_or_else(|| "STANDARD".to_owned(), |c| c.as_str().to_owned()),
        content_type: v.content_type.clone(),
        last_modified: Some(v.version.last_modified),
        ..Head::default()
    })
}

fn meta_of(content_type: Option<String>, class: Option<&str>) -> PutMeta {
    PutMeta {
        content_type,
        storage_class: class.filter(|c| !c.is_empty()).map(StorageClass::new),
        ..PutMeta::default()
    }
}

fn byte_range(range: &str, len: usize) -> Option<(usize, usize)> {
    let (a, b) = range.strip_prefix("bytes=")?.split_once('-')?;
    let a: usize = a.parse().ok()?;
    let b: usize = b.parse::<usize>().ok()?.min(len.checked_sub(1)?);
    (a <= b).then_some((a, b))
}

/// A ListObjectVersions page of a server with paging habits: the key marker compared with
/// the encoded keys (a server that sends its markers raw, then compares them with what it
/// stores encoded), and `VersionIdMarker=null` starting the key over or skipping it. The
/// entries are walked in list order; an entry is listed when it passes the server's
/// (possibly wrong) test of coming after the markers.
fn quirky_page(
    sim: &SimBucket,
    r: &ListRequest<'_>,
    p: Personality,
    max_keys: usize,
) -> s3rewind_engine::SimPage {
    let compare = |k: &str| {
        if r.url_encoding && p.marker_compares_encoded {
            wire::form_encode(k)
        } else {
            k.to_owned()
        }
    };
    let prefix = r.prefix;
    let all: Vec<Entry> = sim.list_order(prefix);
    let mut fill = PageFill::new(prefix, r.delimiter, r.key_marker, max_keys);
    // Index of the entry with the version marker within the marker key, when seen.
    let mut passed_marker_version = false;
    for e in &all {
        let listed_key = compare(&e.key);
        let after = match (r.key_marker, r.version_id_marker) {
            (None, _) => true,
            (Some(km), vm) if listed_key.as_str() == km => match vm {
                None => false,
                Some(v) if v == NULL_VERSION && p.null_marker_repeats => true,
                Some(v) if v == NULL_VERSION && p.null_marker_skips => false,
                Some(v) => {
                    let was = passed_marker_version;
                    if e.version.version_id == v {
                        passed_marker_version = true;
                    }
                    was
                }
            },
            (Some(km), _) => listed_key.as_str() > km,
        };
        if !after {
            continue;
        }
        match fill.rolled(&e.key) {
            Some(true) => continue,
            Some(false) => break,
            None => {}
        }
        if !fill.push(e.clone()) {
            break;
        }
    }
    fill.finish()
}

#[async_trait]
impl Bucket for MemBucket {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            conditional_writes: self.store.conditional_writes(),
            copy_names_version: !self.store.lock().personality.copy_names_no_version,
        }
    }

    async fn versioning(&self) -> Result<BucketVersioning, S3Error> {
        let mut inner = self.begin(Op::Versioning);
        let sim = inner.bucket(&self.name, || {
            format!("GetBucketVersioning on {}", self.name)
        })?;
        Ok(BucketVersioning {
            status: sim.versioning(),
            mfa_delete: false,
        })
    }

    async fn list_page(&self, r: &ListRequest<'_>) -> Result<RawPage, S3Error> {
        let mut inner = self.begin(Op::List);
        let p = inner.personality;
        let prefix = r.prefix;
        let ctx = || format!("ListObjectVersions on s3://{}/{prefix}", self.name);
        let sim = inner.bucket(&self.name, ctx)?;
        let quirky = (r.url_encoding && p.marker_compares_encoded)
            || (r.version_id_marker == Some(NULL_VERSION)
                && (p.null_marker_repeats || p.null_marker_skips));
        let max = r.max_keys.clamp(1, 1000) as usize;
        let page = if quirky {
            quirky_page(sim, r, p, max)
        } else {
            sim.list_page(prefix, r.delimiter, r.key_marker, r.version_id_marker, max)
        };
        // XML 1.0 cannot carry most control characters, and reads a carriage return as a
        // line feed: a real server's raw page holding such a key is unreadable.
        let xml_safe = |k: &str| !k.chars().any(|c| c.is_control() && c != '\t' && c != '\n');
        let readable = page.entries.iter().all(|e| xml_safe(&e.key))
            && page.common_prefixes.iter().all(|c| xml_safe(c));
        if !r.url_encoding && !readable {
            return Err(S3Error {
                kind: ErrorKind::Other,
                context: ctx(),
                code: Some(crate::bucket::wire::UNREADABLE_RAW.to_owned()),
                status: None,
                message: "a raw page holds a key XML cannot carry".to_owned(),
            });
        }
        let mut document = page.entries;
        for e in &mut document {
            e.version.last_modified = shown(p, e.version.last_modified);
        }
        match p.layout {
            PageLayout::Interleaved => {}
            // Stable sorts: each list keeps its list order.
            PageLayout::VersionsFirst => document.sort_by_key(|e| e.version.delete_marker),
            PageLayout::MarkersFirst => document.sort_by_key(|e| !e.version.delete_marker),
        }
        // The response as the server writes it, then the client's one decoding.
        let enc = |k: &str| {
            if r.url_encoding {
                wire::form_encode(k)
            } else {
                k.to_owned()
            }
        };
        for e in &mut document {
            e.key = enc(&e.key);
        }
        let listing = wire::Listing {
            document,
            common_prefixes: page.common_prefixes.iter().map(|c| enc(c)).collect(),
            encoded: r.url_encoding,
            truncated: page.truncated,
            next_key_marker: page
                .next_key_marker
                .map(|k| if p.raw_next_key_marker { k } else { enc(&k) }),
            next_version_id_marker: page.next_version_marker,
        };
        wire::decode(listing).map_err(|message| S3Error::other(ctx(), message))
    }

    async fn list_objects(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: i32,
    ) -> Result<ObjectsPage, S3Error> {
        let mut inner = self.begin(Op::ListObjects);
        let p = inner.personality;
        let sim = inner.bucket(&self.name, || {
            format!("ListObjectsV2 on s3://{}/{prefix}", self.name)
        })?;
        let max_keys = max_keys.clamp(1, 1000) as usize;
        let (objects, next) = if p.sparse_object_pages {
            sim.current_page_sparse(prefix, continuation, max_keys)
        } else {
            let (objects, truncated) = sim.current_page(prefix, continuation, max_keys);
            let next = truncated
                .then(|| objects.last().map(|(k, _)| (*k).to_owned()))
                .flatten();
            (objects, next)
        };
        let objects: Vec<CurrentObject> = objects
            .into_iter()
            .map(|(k, v)| CurrentObject {
                key: k.to_owned(),
                etag: v.version.etag.to_string(),
                size: v.version.size,
                last_modified: shown(p, v.version.last_modified),
            })
            .collect();
        Ok(ObjectsPage {
            truncated: next.is_some(),
            next,
            objects,
        })
    }

    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>, S3Error> {
        let mut inner = self.begin(Op::Head);
        let sim = inner.bucket(&self.name, || {
            format!("HeadObject on s3://{}/{key}", self.name)
        })?;
        let v = match version_id {
            Some(v) => sim.version(key, v),
            None => sim.head(key),
        }
        .cloned();
        let p = inner.personality;
        Ok(v.and_then(|v| {
            let id = (
                self.name.clone(),
                key.to_owned(),
                v.version.version_id.to_string(),
            );
            let mut h = head_with(&v, p, inner.extra.get(&id))?;
            if inner.archived.get(&id) == Some(&true) {
                h.archive_status = Some("ARCHIVE_ACCESS".to_owned());
            }
            Some(h)
        }))
    }

    async fn get(
        &self,
        key: &str,
        version_id: &str,
        range: Option<&str>,
    ) -> Result<Vec<u8>, S3Error> {
        let mut inner = self.begin(Op::Get);
        let ctx = || format!("GetObject s3://{}/{key}?versionId={version_id}", self.name);
        let sim = inner.bucket(&self.name, ctx)?;
        let content = sim
            .get_version(key, version_id)
            .map_err(|e| sim_error(ctx(), e))?;
        Ok(match range {
            None => content.to_vec(),
            Some(r) => match byte_range(r, content.len()) {
                Some((a, b)) => content[a..=b].to_vec(),
                None => Vec::new(),
            },
        })
    }

    async fn download(
        &self,
        key: &str,
        version_id: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        let content = {
            let mut inner = self.begin(Op::Get);
            let ctx = || format!("GetObject s3://{}/{key}?versionId={version_id}", self.name);
            let sim = inner.bucket(&self.name, ctx)?;
            sim.get_version(key, version_id)
                .map_err(|e| sim_error(ctx(), e))?
        };
        use tokio::io::AsyncWriteExt;
        out.write_all(&content).await.map_err(|e| {
            S3Error::other(
                format!("writing s3://{}/{key}?versionId={version_id}", self.name),
                e.to_string(),
            )
        })?;
        Ok(content.len() as u64)
    }

    async fn tags(&self, key: &str, version_id: &str) -> Result<Vec<(String, String)>, S3Error> {
        let inner = self.begin(Op::Tags);
        let id = (self.name.clone(), key.to_owned(), version_id.to_owned());
        Ok(inner.tags.get(&id).cloned().unwrap_or_default())
    }

    async fn put_tags(
        &self,
        key: &str,
        version_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), S3Error> {
        let mut inner = self.begin(Op::PutTags);
        let ctx = || format!("PutObjectTagging on s3://{}/{key}", self.name);
        let sim = inner.bucket(&self.name, ctx)?;
        let version = match version_id {
            Some(v) => v.to_owned(),
            None => match sim.head(key) {
                Some(h) if !h.version.delete_marker => h.version.version_id.to_string(),
                _ => {
                    return Err(sim_error(
                        ctx(),
                        SimError::NoSuchVersion {
                            key: key.to_owned(),
                            version_id: String::new(),
                        },
                    ));
                }
            },
        };
        inner
            .tags
            .insert((self.name.clone(), key.to_owned(), version), tags.to_vec());
        Ok(())
    }

    async fn acl(&self, _key: &str, _version_id: &str) -> Result<Acl, S3Error> {
        let _inner = self.begin(Op::Acl);
        Ok(Acl::default())
    }

    /// CopyObject as a server does it. Longer than 120 lines on purpose: each server
    /// habit the personalities model (self-copy refusal, conditional headers honoured
    /// or not, a copy that names no version, Expires dropped, archived sources) is a
    /// branch of the one request.
    async fn copy(&self, r: &CopyRequest<'_>) -> Result<String, S3Error> {
        let honours_conditions = self.store.conditional_writes();
        let mut inner = self.begin(Op::Copy);
        let p = inner.personality;
        let ctx = || {
            format!(
                "CopyObject s3://{}/{}?versionId={} -> s3://{}/{}",
                r.source_bucket, r.source_key, r.source_version_id, self.name, r.key
            )
        };
        let at = inner.tick();
        let src = inner.bucket(r.source_bucket, ctx)?;
        let mut content = src
            .get_version(r.source_key, r.source_version_id)
            .map_err(|e| sim_error(ctx(), e))?;
        let current = src
            .head(r.source_key)
            .filter(|h| !h.version.delete_marker)
            .map(|h| h.version.version_id.to_string());
        let source = src
            .version(r.source_key, r.source_version_id)
            .expect("read above")
            .clone();
        let archived_id = (
            r.source_bucket.to_owned(),
            r.source_key.to_owned(),
            r.source_version_id.to_owned(),
        );
        if inner.archived.contains_key(&archived_id) {
            return Err(S3Error {
                kind: ErrorKind::Archived,
                context: ctx(),
                code: Some("InvalidObjectState".to_owned()),
                status: Some(403),
                message: "the object is in an archive tier; restore it first".to_owned(),
            });
        }
        if honours_conditions && r.source_if_match.is_some_and(|e| e != source.version.etag) {
            return Err(precondition(
                ctx(),
                "the source's ETag differs (x-amz-copy-source-if-match)",
            ));
        }
        let tags = inner
            .tags
            .get(&(
                r.source_bucket.to_owned(),
                r.source_key.to_owned(),
                r.source_version_id.to_owned(),
            ))
            .cloned();
        let dest = inner.bucket(&self.name, ctx)?;
        if p.null_copy_reads_other
            && r.source_version_id == NULL_VERSION
            && dest.versioning() == Versioning::Unversioned
            && let Some(id) = current
        {
            let src = inner.bucket(r.source_bucket, ctx)?;
            content = src
                .get_version(r.source_key, &id)
                .map_err(|e| sim_error(ctx(), e))?;
        }
        let dest = inner.bucket(&self.name, ctx)?;
        let now = dest.head(r.key).filter(|h| !h.version.delete_marker);
        if let Some(m) = r.if_match
            && honours_conditions
            && now.is_none_or(|h| h.version.etag != m)
        {
            return Err(precondition(ctx(), "If-Match did not hold"));
        }
        if r.if_none_match && honours_conditions && now.is_some() {
            return Err(precondition(ctx(), "If-None-Match: the key exists"));
        }
        // S3 stores a copy in STANDARD unless the request names a class: "the source's"
        // (`storage_class: None`) is the class `r.head` says the source has, which the
        // S3 implementation sends as `x-amz-storage-class`.
        let class = r
            .storage_class
            .or(Some(r.head.storage_class.as_str()).filter(|c| !c.is_empty()))
            .map(str::to_owned);
        let onto_itself = r.source_bucket == self.name && r.source_key == r.key;
        let unchanged = !r.replace_metadata && r.storage_class.is_none();
        let same = onto_itself
            && dest
                .head(r.key)
                .is_some_and(|h| h.version.version_id == r.source_version_id);
        if same || (onto_itself && unchanged && p.refuses_self_copy) {
            return Err(sim_error(
                ctx(),
                SimError::SelfCopy {
                    key: r.key.to_owned(),
                },
            ));
        }
        let content_type = if r.replace_metadata {
            r.head.content_type.clone()
        } else {
            source.content_type.clone()
        };
        let id = dest.put_with(
            r.key,
            &content,
            at,
            &meta_of(content_type, class.as_deref()),
        );
        if let Some(t) = tags {
            inner
                .tags
                .insert((self.name.clone(), r.key.to_owned(), id.clone()), t);
        }
        let extra = if r.replace_metadata {
            Extra {
                expires: r.head.expires.clone(),
                metadata: r.head.metadata.clone(),
            }
        } else {
            let mut x = inner
                .extra
                .get(&(
                    r.source_bucket.to_owned(),
                    r.source_key.to_owned(),
                    r.source_version_id.to_owned(),
                ))
                .cloned()
                .unwrap_or_default();
            if p.drops_expires_on_copy {
                x.expires = None;
            }
            x
        };
        if extra != Extra::default() {
            inner
                .extra
                .insert((self.name.clone(), r.key.to_owned(), id.clone()), extra);
        }
        if p.copy_names_no_version {
            return Ok(NULL_VERSION.to_owned());
        }
        Ok(id)
    }

    async fn put_with_attrs(
        &self,
        key: &str,
        body: Vec<u8>,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        let mut inner = self.begin(Op::Put);
        let at = inner.tick();
        let sim = inner.bucket(&self.name, || {
            format!("PutObject on s3://{}/{key}", self.name)
        })?;
        let class = attrs.storage_class.unwrap_or(&attrs.head.storage_class);
        let id = sim.put_with(
            key,
            &body,
            at,
            &meta_of(attrs.head.content_type.clone(), Some(class)),
        );
        let extra = Extra {
            expires: attrs.head.expires.clone(),
            metadata: attrs.head.metadata.clone(),
        };
        if extra != Extra::default() {
            inner
                .extra
                .insert((self.name.clone(), key.to_owned(), id.clone()), extra);
        }
        if !attrs.tags.is_empty() {
            inner.tags.insert(
                (self.name.clone(), key.to_owned(), id.clone()),
                attrs.tags.to_vec(),
            );
        }
        Ok(id)
    }

    async fn add_delete_marker(&self, key: &str) -> Result<String, S3Error> {
        let mut inner = self.begin(Op::DeleteMarker);
        let at = inner.tick();
        let sim = inner.bucket(&self.name, || {
            format!("DeleteObject on s3://{}/{key}", self.name)
        })?;
        Ok(sim.delete(key, at))
    }

    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), S3Error> {
        let mut inner = self.begin(Op::DeleteVersion);
        let ctx = || {
            format!(
                "DeleteObject s3://{}/{key}?versionId={version_id}",
                self.name
            )
        };
        let sim = inner.bucket(&self.name, ctx)?;
        match sim.delete_version(key, version_id) {
            // S3 answers a delete of an absent version with 204, as if done.
            Ok(()) | Err(SimError::NoSuchVersion { .. }) => Ok(()),
            Err(e) => Err(sim_error(ctx(), e)),
        }
    }

    async fn create_multipart(
        &self,
        key: &str,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        let mut inner = self.begin(Op::CreateMultipart);
        inner.bucket(&self.name, || {
            format!("CreateMultipartUpload on s3://{}/{key}", self.name)
        })?;
        inner.next_upload += 1;
        let id = format!("upload-{}", inner.next_upload);
        let class = attrs.storage_class.unwrap_or(&attrs.head.storage_class);
        inner.uploads.insert(
            id.clone(),
            Upload {
                bucket: self.name.clone(),
                key: key.to_owned(),
                parts: BTreeMap::new(),
                meta: meta_of(attrs.head.content_type.clone(), Some(class)),
                tags: attrs.tags.to_vec(),
                extra: Extra {
                    expires: attrs.head.expires.clone(),
                    metadata: attrs.head.metadata.clone(),
                },
            },
        );
        Ok(id)
    }

    async fn upload_part_copy(&self, p: PartCopy<'_>) -> Result<String, S3Error> {
        let Part {
            key,
            upload_id,
            number: part_number,
        } = p.part;
        let (source, range) = (p.source, p.range);
        let mut inner = self.begin(Op::UploadPartCopy);
        let ctx = || {
            format!(
                "UploadPartCopy part {part_number} of s3://{}/{key}",
                self.name
            )
        };
        let (sb, sk, sv) = source;
        let content = inner
            .bucket(sb, ctx)?
            .get_version(sk, sv)
            .map_err(|e| sim_error(ctx(), e))?;
        let (a, b) = (
            range.0 as usize,
            (range.1 as usize).min(content.len().saturating_sub(1)),
        );
        let bytes = if content.is_empty() {
            Vec::new()
        } else {
            content[a..=b].to_vec()
        };
        inner.add_part(upload_id, part_number, bytes, ctx)
    }

    async fn upload_part(&self, part: Part<'_>, body: Vec<u8>) -> Result<String, S3Error> {
        let Part {
            key,
            upload_id,
            number: part_number,
        } = part;
        let mut inner = self.begin(Op::UploadPart);
        let ctx = || format!("UploadPart {part_number} of s3://{}/{key}", self.name);
        inner.add_part(upload_id, part_number, body, ctx)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, S3Error> {
        let mut inner = self.begin(Op::CompleteMultipart);
        let ctx = || format!("CompleteMultipartUpload of s3://{}/{key}", self.name);
        let upload = inner
            .uploads
            .remove(upload_id)
            .ok_or_else(|| no_upload(ctx(), upload_id))?;
        let mut body = Vec::new();
        for (n, _) in parts {
            match upload.parts.get(n) {
                Some(p) => body.extend_from_slice(p),
                None => return Err(no_upload(ctx(), upload_id)),
            }
        }
        let at = inner.tick();
        let sim = inner.bucket(&upload.bucket, ctx)?;
        let meta = PutMeta {
            multipart_parts: Some(parts.len() as u32),
            ..upload.meta.clone()
        };
        let id = sim.put_with(&upload.key, &body, at, &meta);
        if upload.extra != Extra::default() {
            inner.extra.insert(
                (upload.bucket.clone(), upload.key.clone(), id.clone()),
                upload.extra,
            );
        }
        if !upload.tags.is_empty() && !inner.personality.multipart_drops_tags {
            inner.tags.insert(
                (upload.bucket.clone(), upload.key.clone(), id.clone()),
                upload.tags,
            );
        }
        Ok(id)
    }

    async fn abort_multipart(&self, _key: &str, upload_id: &str) -> Result<(), S3Error> {
        let mut inner = self.begin(Op::AbortMultipart);
        inner.uploads.remove(upload_id);
        Ok(())
    }

    async fn request_archive_restore(
        &self,
        _key: &str,
        _version_id: &str,
        _days: Option<i32>,
        _tier: &str,
    ) -> Result<ArchiveRestoreState, S3Error> {
        let _inner = self.begin(Op::ArchiveRestore);
        Ok(ArchiveRestoreState::Requested)
    }
}

impl MemStore {
    /// The bucket `name`, whether or not it exists (as an endpoint hands out a bucket:
    /// a missing one answers its first request with NoSuchBucket).
    pub fn bucket(self: &Arc<Self>, name: &str) -> MemBucket {
        MemBucket {
            store: self.clone(),
            name: name.to_owned(),
        }
    }

    /// True when the bucket `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.lock().buckets.contains_key(name)
    }

    /// Open uploads (started, neither completed nor aborted).
    pub fn open_uploads(&self) -> usize {
        self.lock().uploads.len()
    }

    /// Every entry of a bucket, as (key, version id, delete marker).
    pub fn entries(&self, name: &str) -> Vec<(String, String, bool)> {
        self.with(name, |sim| {
            sim.all_versions()
                .map(|(k, v)| {
                    (
                        k.to_owned(),
                        v.version.version_id.to_string(),
                        v.version.delete_marker,
                    )
                })
                .collect()
        })
    }
}
