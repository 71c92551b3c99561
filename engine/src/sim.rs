//! `SimBucket`: an in-memory model of S3 versioning, for tests, fuzzing and demos.
//!
//! It follows the documented S3 behaviour (§2 of the project's shared semantics notes,
//! kept outside this repository), including the parts that local servers get wrong:
//!
//! | state | put / copy | delete (no version id) |
//! |---|---|---|
//! | Unversioned | writes `null`, replacing the object | removes the object |
//! | Enabled | adds a version | adds a delete marker (even on top of another) |
//! | Suspended | writes `null`, replacing any `null` entry in place | removes any `null` entry, adds a `null` delete marker |
//!
//! Besides the versions S3 would list, the simulator keeps a log of every change, which
//! gives the *true* state at any time ([`SimBucket::truth_at`]): the oracle the property
//! tests hold the engine to. Listings come out as the SDK gives them
//! ([`SimBucket::list_pages`]: versions and delete markers in two lists per page, a key's
//! entries split across pages when the page size says so).

use crate::error::PlanError;
use crate::location::Destination;
use crate::model::{
    ETag, Entry, ListPage, NULL_VERSION, OwnerId, StorageClass, Version, VersionId, Versioning,
};
use crate::plan::{Action, RestorePlan, preflight};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// The bytes of an object.
pub type Content = Arc<[u8]>;

/// Errors the simulated S3 returns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SimError {
    /// The key or version does not exist.
    #[error("no such version {version_id:?} of key {key:?}")]
    NoSuchVersion {
        /// The key.
        key: String,
        /// The version id.
        version_id: String,
    },
    /// The version is a delete marker (S3 answers InvalidRequest to a copy of one).
    #[error("version {version_id:?} of key {key:?} is a delete marker")]
    IsDeleteMarker {
        /// The key.
        key: String,
        /// The version id.
        version_id: String,
    },
    /// Copying an object onto itself without a change (S3: InvalidRequest).
    #[error("copying {key:?} onto itself without changing anything")]
    SelfCopy {
        /// The key.
        key: String,
    },
}

/// A stored entry: its listing data and, for versions, the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimVersion {
    /// What a listing shows.
    pub version: Version,
    /// The bytes (`None` for a delete marker).
    pub content: Option<Content>,
    /// The Content-Type the version was written with.
    pub content_type: Option<String>,
}

/// Optional attributes of a simulated write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutMeta {
    /// Content-Type to store.
    pub content_type: Option<String>,
    /// Writer's canonical id (default `sim-owner`).
    pub owner_id: Option<String>,
    /// Storage class (default `STANDARD`).
    pub storage_class: Option<StorageClass>,
    /// Written by CompleteMultipartUpload from this many parts: the ETag is S3's for such
    /// an object, `<hash>-<parts>`, not the content's own (as S3 gives a multipart
    /// object an ETag that is no MD5 of its bytes).
    pub multipart_parts: Option<u32>,
}

/// One change of a key's visible state, for the truth log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    at: DateTime<Utc>,
    key: String,
    content: Option<Content>,
}

/// An in-memory versioned bucket.
#[derive(Debug, Clone)]
pub struct SimBucket {
    versioning: Versioning,
    /// Per key, entries newest first (list order).
    keys: BTreeMap<String, Vec<SimVersion>>,
    next_id: u64,
    id_prefix: String,
    log: Vec<Change>,
}

/// One page of [`SimBucket::list_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimPage {
    /// Versions and delete markers in list order, `IsLatest` set.
    pub entries: Vec<Entry>,
    /// Common prefixes (with a delimiter).
    pub common_prefixes: Vec<String>,
    /// True when more follow.
    pub truncated: bool,
    /// Where the next page starts: the last key (or common prefix) of this page.
    pub next_key_marker: Option<String>,
    /// And the last version id, when the page ended on an entry.
    pub next_version_marker: Option<String>,
}

/// A [`SimPage`] as a server fills it: keys rolled up into common prefixes at the
/// delimiter, at most `max_keys` entries and prefixes together, and the markers to go on
/// from. The caller walks the entries that come after the request's markers (as its
/// server decides that) and offers each key for rolling up, then each entry.
#[derive(Debug)]
pub struct PageFill<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    key_marker: Option<&'a str>,
    max_keys: usize,
    count: usize,
    last: Option<(String, Option<String>)>,
    page: SimPage,
}

impl<'a> PageFill<'a> {
    /// An empty page under `prefix` for a request with these parameters.
    pub fn new(
        prefix: &'a str,
        delimiter: Option<&'a str>,
        key_marker: Option<&'a str>,
        max_keys: usize,
    ) -> PageFill<'a> {
        PageFill {
            prefix,
            delimiter: delimiter.filter(|d| !d.is_empty()),
            key_marker,
            max_keys: max_keys.max(1),
            count: 0,
            last: None,
            page: SimPage::default(),
        }
    }

    /// Offer `key` for rolling up: `None` when the delimiter does not roll it up; else
    /// `Some(true)` when its common prefix is on this page (now or already, or it is the
    /// marker the request continues after), `Some(false)` when the page is full.
    pub fn rolled(&mut self, key: &str) -> Option<bool> {
        let d = self.delimiter?;
        let rest = &key[self.prefix.len()..];
        let cp = format!("{}{}", self.prefix, &rest[..rest.find(d)? + d.len()]);
        if self.key_marker == Some(cp.as_str()) || self.page.common_prefixes.last() == Some(&cp) {
            return Some(true);
        }
        if !self.room() {
            return Some(false);
        }
        self.page.common_prefixes.push(cp.clone());
        self.last = Some((cp, None));
        Some(true)
    }

    /// Add one entry; false (and the page truncated) when it is full.
    pub fn push(&mut self, entry: Entry) -> bool {
        if !self.room() {
            return false;
        }
        self.last = Some((
            entry.key.clone(),
            Some(entry.version.version_id.to_string()),
        ));
        self.page.entries.push(entry);
        true
    }

    /// Count one more entry or prefix, or mark the page truncated when it is full.
    fn room(&mut self) -> bool {
        if self.count == self.max_keys {
            self.page.truncated = true;
            return false;
        }
        self.count += 1;
        true
    }

    /// The page is full: nothing more fits.
    pub fn full(&self) -> bool {
        self.page.truncated
    }

    /// The page, with the markers to go on from when it is truncated.
    pub fn finish(mut self) -> SimPage {
        if self.page.truncated
            && let Some((k, v)) = self.last
        {
            self.page.next_key_marker = Some(k);
            self.page.next_version_marker = v;
        }
        self.page
    }
}

/// What happened to each action when a plan was applied to a simulated bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Actions carried out.
    pub done: usize,
    /// Keys skipped because they no longer held what the plan expected.
    pub drifted: Vec<String>,
    /// Actions that failed, with the error.
    pub failed: Vec<(String, SimError)>,
}

/// A deterministic ETag for content: two 64-bit FNV-1a hashes, hex.
pub fn content_etag(content: &[u8]) -> String {
    let fnv = |basis: u64| crate::hash::fnv1a_from(basis, content.iter().copied());
    format!(
        "{:016x}{:016x}",
        fnv(crate::hash::FNV_OFFSET),
        fnv(0x6c62_272e_07bb_0142)
    )
}

impl SimBucket {
    /// An empty bucket in the given versioning state. Version ids it makes start with
    /// `id_prefix` (so two buckets' ids differ).
    pub fn new(versioning: Versioning, id_prefix: &str) -> Self {
        SimBucket {
            versioning,
            keys: BTreeMap::new(),
            next_id: 0,
            id_prefix: id_prefix.to_owned(),
            log: Vec::new(),
        }
    }

    /// The versioning state.
    pub fn versioning(&self) -> Versioning {
        self.versioning
    }

    /// Change the versioning state (a bucket never returns to Unversioned).
    pub fn set_versioning(&mut self, v: Versioning) {
        if v != Versioning::Unversioned {
            self.versioning = v;
        }
    }

    fn new_id(&mut self) -> String {
        if self.versioning == Versioning::Enabled {
            self.next_id += 1;
            format!("{}{:06}", self.id_prefix, self.next_id)
        } else {
            NULL_VERSION.to_owned()
        }
    }

    fn write(
        &mut self,
        key: &str,
        content: Option<Content>,
        at: DateTime<Utc>,
        meta: &PutMeta,
    ) -> String {
        self.write_stamped(key, content, at, at, meta)
    }

    /// Store an entry that takes effect (becomes current, and enters the change log) at
    /// `at` but carries `stamp` as its `LastModified`.
    fn write_stamped(
        &mut self,
        key: &str,
        content: Option<Content>,
        stamp: DateTime<Utc>,
        at: DateTime<Utc>,
        meta: &PutMeta,
    ) -> String {
        let id = self.new_id();
        let entries = self.keys.entry(key.to_owned()).or_default();
        match self.versioning {
            Versioning::Enabled => {}
            Versioning::Suspended => entries.retain(|e| e.version.version_id != NULL_VERSION),
            Versioning::Unversioned => entries.clear(),
        }
        let delete_marker = content.is_none();
        if delete_marker && self.versioning == Versioning::Unversioned {
            self.keys.remove(key);
        } else {
            let version = Version {
                version_id: VersionId::new(&id),
                last_modified: stamp,
                delete_marker,
                etag: content
                    .as_deref()
                    .map(|c| match meta.multipart_parts {
                        Some(n) => ETag::new(&format!("{}-{n}", content_etag(c))),
                        None => ETag::new(&content_etag(c)),
                    })
                    .unwrap_or_default(),
                size: content.as_deref().map_or(0, |c| c.len() as u64),
                storage_class: (!delete_marker)
                    .then(|| meta.storage_class.unwrap_or_else(StorageClass::standard)),
                owner_id: Some(OwnerId::new(
                    meta.owner_id.as_deref().unwrap_or("sim-owner"),
                )),
                is_latest: false,
            };
            entries.insert(
                0,
                SimVersion {
                    version,
                    content: content.clone(),
                    content_type: meta.content_type.clone(),
                },
            );
        }
        self.log.push(Change {
            at,
            key: key.to_owned(),
            content,
        });
        id
    }

    /// PUT: store `content` under `key`; returns the new version id.
    pub fn put(&mut self, key: &str, content: &[u8], at: DateTime<Utc>) -> String {
        self.write(key, Some(Arc::from(content)), at, &PutMeta::default())
    }

    /// PUT with a Content-Type, writer or storage class.
    pub fn put_with(
        &mut self,
        key: &str,
        content: &[u8],
        at: DateTime<Utc>,
        meta: &PutMeta,
    ) -> String {
        self.write(key, Some(Arc::from(content)), at, meta)
    }

    /// A PUT whose `LastModified` is earlier than the moment it took effect, so that the
    /// server's list order (it is listed, and current, above everything written before
    /// `completed`) disagrees with timestamps:
    ///
    /// - a multipart upload, stamped with its initiation time `stamped`, completed at
    ///   `completed` after a later-stamped write or delete of the key (AWS);
    /// - a PUT racing a DELETE, stamped a few milliseconds before the delete marker yet
    ///   listed above it as the current version (Ceph radosgw).
    ///
    /// The change log records the content at `completed`: that is when a GET started
    /// returning it.
    pub fn put_late(
        &mut self,
        key: &str,
        content: &[u8],
        stamped: DateTime<Utc>,
        completed: DateTime<Utc>,
    ) -> String {
        self.write_stamped(
            key,
            Some(Arc::from(content)),
            stamped,
            completed,
            &PutMeta::default(),
        )
    }

    /// Store `entry` as the newest of its key exactly as a listing or a snapshot shows it:
    /// its version id, `LastModified`, ETag, size, storage class and writer. For a bench
    /// bucket that must agree with a report written elsewhere (an inventory), at the
    /// cost of its bytes: a version stored this way reads back empty (whatever its size
    /// says), and the change log behind [`SimBucket::truth_at`] does not see it.
    pub fn insert_listed(&mut self, entry: Entry) {
        let Entry { key, mut version } = entry;
        version.is_latest = false;
        let content = (!version.delete_marker).then(|| Content::from(&[][..]));
        self.keys.entry(key).or_default().insert(
            0,
            SimVersion {
                version,
                content,
                content_type: None,
            },
        );
    }

    /// DELETE without a version id: adds a delete marker (see the module table).
    pub fn delete(&mut self, key: &str, at: DateTime<Utc>) -> String {
        self.write(key, None, at, &PutMeta::default())
    }

    /// DELETE by a given writer (for detection scenarios).
    pub fn delete_by(&mut self, key: &str, at: DateTime<Utc>, owner_id: &str) -> String {
        let meta = PutMeta {
            owner_id: Some(owner_id.to_owned()),
            ..PutMeta::default()
        };
        self.write(key, None, at, &meta)
    }

    /// One stored entry (version or delete marker) of a key.
    pub fn version(&self, key: &str, version_id: &str) -> Option<&SimVersion> {
        self.keys
            .get(key)
            .and_then(|es| es.iter().find(|e| e.version.version_id == version_id))
    }

    /// DELETE with a version id: removes that version or marker permanently.
    /// s3rewind never does this by default; tests use it to model ransomware and lifecycle.
    pub fn delete_version(&mut self, key: &str, version_id: &str) -> Result<(), SimError> {
        let entries = self
            .keys
            .get_mut(key)
            .ok_or_else(|| SimError::NoSuchVersion {
                key: key.to_owned(),
                version_id: version_id.to_owned(),
            })?;
        let before = entries.len();
        entries.retain(|e| e.version.version_id != version_id);
        if entries.len() == before {
            return Err(SimError::NoSuchVersion {
                key: key.to_owned(),
                version_id: version_id.to_owned(),
            });
        }
        if entries.is_empty() {
            self.keys.remove(key);
        }
        Ok(())
    }

    /// Lifecycle expiry (`NoncurrentVersionExpiration` with `ExpiredObjectDeleteMarker`):
    /// permanently remove every entry that has been noncurrent for at least `after` at
    /// `now` (it became noncurrent when the entry above it was written), then every delete
    /// marker left as its key's only entry. Returns the removed entries, key first.
    ///
    /// Like S3's lifecycle, this leaves no trace in a listing; the change log, and so
    /// [`SimBucket::truth_at`], is not affected (what the key held at a time stays true).
    pub fn expire_noncurrent(
        &mut self,
        now: DateTime<Utc>,
        after: chrono::TimeDelta,
    ) -> Vec<(String, Version)> {
        let mut removed = Vec::new();
        for (key, entries) in &mut self.keys {
            let replaced_at: Vec<Option<DateTime<Utc>>> = std::iter::once(None)
                .chain(entries.iter().map(|e| Some(e.version.last_modified)))
                .take(entries.len())
                .collect();
            let mut kept = Vec::with_capacity(entries.len());
            for (e, replaced) in entries.drain(..).zip(replaced_at) {
                if replaced.is_some_and(|r| r + after <= now) {
                    removed.push((key.clone(), e.version));
                } else {
                    kept.push(e);
                }
            }
            if kept.len() == 1 && kept[0].version.delete_marker {
                removed.push((key.clone(), kept.remove(0).version));
            }
            *entries = kept;
        }
        self.keys.retain(|_, es| !es.is_empty());
        removed
    }

    /// The content of one version.
    pub fn get_version(&self, key: &str, version_id: &str) -> Result<Content, SimError> {
        let v = self
            .keys
            .get(key)
            .and_then(|es| es.iter().find(|e| e.version.version_id == version_id))
            .ok_or_else(|| SimError::NoSuchVersion {
                key: key.to_owned(),
                version_id: version_id.to_owned(),
            })?;
        v.content.clone().ok_or_else(|| SimError::IsDeleteMarker {
            key: key.to_owned(),
            version_id: version_id.to_owned(),
        })
    }

    /// The current entry of a key (version or delete marker).
    pub fn head(&self, key: &str) -> Option<&SimVersion> {
        self.keys.get(key).and_then(|es| es.first())
    }

    /// CopyObject with `?versionId=`: copies a version of `source` (another bucket, or
    /// `None` for this one) onto `key`. Returns the new version id.
    pub fn copy_version(
        &mut self,
        source: Option<&SimBucket>,
        source_key: &str,
        source_version_id: &str,
        key: &str,
        at: DateTime<Utc>,
    ) -> Result<String, SimError> {
        let src = source.unwrap_or(self);
        let content = src.get_version(source_key, source_version_id)?;
        let meta = PutMeta {
            content_type: src
                .version(source_key, source_version_id)
                .and_then(|v| v.content_type.clone()),
            ..PutMeta::default()
        };
        if source.is_none()
            && source_key == key
            && self
                .head(key)
                .is_some_and(|h| h.version.version_id == source_version_id)
        {
            return Err(SimError::SelfCopy {
                key: key.to_owned(),
            });
        }
        Ok(self.write(key, Some(content), at, &meta))
    }

    /// Every entry in list order (key ascending, newest first), with `IsLatest` set.
    pub fn list_order(&self, prefix: &str) -> Vec<Entry> {
        self.keys
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .flat_map(|(k, es)| {
                es.iter().enumerate().map(move |(i, e)| {
                    let mut version = e.version.clone();
                    version.is_latest = i == 0;
                    Entry {
                        key: k.clone(),
                        version,
                    }
                })
            })
            .collect()
    }

    /// One ListObjectVersions page as S3 answers it: entries in list order under `prefix`
    /// after the markers (`key_marker` alone: keys after it; with `version_marker`: the
    /// entries of `key_marker` after that version, then later keys), at most `max_keys`
    /// entries and common prefixes together. With a `delimiter`, keys that hold it after
    /// the prefix are rolled up into one common prefix each, and a key marker that is such
    /// a prefix skips all of it.
    pub fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<&str>,
        max_keys: usize,
    ) -> SimPage {
        let mut fill = PageFill::new(prefix, delimiter, key_marker, max_keys);
        let start = match key_marker {
            Some(k) if k >= prefix => k.to_owned(),
            _ => prefix.to_owned(),
        };
        for (key, entries) in self.keys.range(start..) {
            let key = key.as_str();
            if !key.starts_with(prefix) {
                break;
            }
            let skip_from = match (key_marker, version_marker) {
                (Some(k), Some(v)) if k == key => {
                    match entries.iter().position(|e| e.version.version_id == v) {
                        Some(i) => i + 1,
                        None => entries.len(),
                    }
                }
                (Some(k), None) if k == key => continue,
                (Some(k), _) if k > key => continue,
                _ => 0,
            };
            match fill.rolled(key) {
                Some(true) => continue,
                Some(false) => break,
                None => {}
            }
            for (i, e) in entries.iter().enumerate().skip(skip_from) {
                let mut version = e.version.clone();
                version.is_latest = i == 0;
                let key = key.to_owned();
                if !fill.push(Entry { key, version }) {
                    break;
                }
            }
            if fill.full() {
                break;
            }
        }
        fill.finish()
    }

    /// One ListObjectsV2 page: the keys under `prefix` after `after` whose newest entry is
    /// an object version, in key order, with that version; at most `max_keys`, and
    /// whether more follow.
    pub fn current_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        max_keys: usize,
    ) -> (Vec<(&str, &SimVersion)>, bool) {
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a.to_owned()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        let mut out = Vec::new();
        for (k, es) in self
            .keys
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            let Some(head) = es.first().filter(|e| !e.version.delete_marker) else {
                continue;
            };
            if out.len() == max_keys.max(1) {
                return (out, true);
            }
            out.push((k.as_str(), head));
        }
        (out, false)
    }

    /// [`current_page`](Self::current_page) as S3 may page it: every key read counts
    /// toward `max_keys`, a deleted one too, so a page may hold fewer objects than asked,
    /// or none, and still say more follow. Returns the page's objects and, when more
    /// follow, the continuation (the last key read).
    pub fn current_page_sparse(
        &self,
        prefix: &str,
        after: Option<&str>,
        max_keys: usize,
    ) -> (Vec<(&str, &SimVersion)>, Option<String>) {
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a.to_owned()),
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        let mut keys = self
            .keys
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .peekable();
        let mut out = Vec::new();
        let mut read = 0usize;
        while let Some((k, es)) = keys.next() {
            read += 1;
            if let Some(head) = es.first().filter(|e| !e.version.delete_marker) {
                out.push((k.as_str(), head));
            }
            if read == max_keys.max(1) {
                return (out, keys.peek().map(|_| k.clone()));
            }
        }
        (out, None)
    }

    /// The listing as the SDK returns it: pages of at most `page_size` entries, each with
    /// its versions and delete markers in two separate lists.
    pub fn list_pages(&self, prefix: &str, page_size: usize) -> Vec<ListPage> {
        ListPage::split(&self.list_order(prefix), page_size)
    }

    /// The listing as the server sends it on the wire: pages of at most `page_size`
    /// entries, versions and delete markers interleaved in list order (S3, radosgw), for
    /// [`TimelineBuilder::push_document`](crate::TimelineBuilder::push_document).
    pub fn list_documents(&self, prefix: &str, page_size: usize) -> Vec<Vec<Entry>> {
        self.list_order(prefix)
            .chunks(page_size.max(1))
            .map(<[Entry]>::to_vec)
            .collect()
    }

    /// The current content of every existing key.
    pub fn current_contents(&self) -> BTreeMap<String, Content> {
        self.keys
            .iter()
            .filter_map(|(k, es)| {
                es.first()
                    .and_then(|e| e.content.clone())
                    .map(|c| (k.clone(), c))
            })
            .collect()
    }

    /// The true content of every key at `at` (inclusive), replayed from the change log.
    /// Unlike a listing, this knows about `null` versions that were later replaced.
    pub fn truth_at(&self, at: DateTime<Utc>) -> BTreeMap<String, Content> {
        let mut state = BTreeMap::new();
        for c in self.log.iter().filter(|c| c.at <= at) {
            match &c.content {
                Some(content) => {
                    state.insert(c.key.clone(), content.clone());
                }
                None => {
                    state.remove(&c.key);
                }
            }
        }
        state
    }

    /// All entries of all keys (for checking that nothing was lost).
    pub fn all_versions(&self) -> impl Iterator<Item = (&str, &SimVersion)> {
        self.keys
            .iter()
            .flat_map(|(k, es)| es.iter().map(move |e| (k.as_str(), e)))
    }

    /// Carry out a plan: against this bucket in place, or from `source` into this bucket.
    ///
    /// The same rules as the real executor: the [`preflight`] checks first, then for
    /// every action a check that the key still holds what the plan expected (else it is
    /// skipped as drifted), then the write.
    pub fn apply(
        &mut self,
        plan: &RestorePlan,
        source: Option<&SimBucket>,
        at: DateTime<Utc>,
    ) -> Result<ApplyReport, PlanError> {
        let source_versioning = source.map_or(self.versioning, |s| s.versioning);
        let dest_versioning = match plan.destination {
            Destination::InPlace => None,
            _ => Some(self.versioning),
        };
        preflight(
            &plan.source.bucket,
            source_versioning,
            &plan.destination,
            dest_versioning,
        )?;
        let mut report = ApplyReport::default();
        for action in &plan.actions {
            let key = action.key();
            let now = self
                .head(key)
                .filter(|h| !h.version.delete_marker)
                .map(|h| h.version.version_id.to_string());
            if now.as_deref() != action.expect().map(|e| e.version_id.as_str()).as_deref() {
                report.drifted.push(key.to_owned());
                continue;
            }
            let result = match action {
                Action::Copy(c) => self
                    .copy_version(
                        source,
                        &c.source_key,
                        &c.source_version_id.as_str(),
                        &c.key,
                        at,
                    )
                    .map(drop),
                Action::DeleteMarker(d) => {
                    self.delete(&d.key, at);
                    Ok(())
                }
            };
            match result {
                Ok(()) => report.done += 1,
                Err(e) => report.failed.push((key.to_owned(), e)),
            }
        }
        Ok(report)
    }
}
