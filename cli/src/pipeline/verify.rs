//! The last stage, verification: does a bucket, another bucket or prefix, or a directory hold the
//! source's state at TIME?
//!
//! The comparison itself is the engine's ([`s3rewind_engine::verify::compare`]); this
//! module gathers the two sides, reads content where asked, and reports.
//!
//! - `verify s3://SRC --at T` checks the bucket against its own past (after an in-place
//!   restore); `--to s3://DEST[/PREFIX]` or `--to-dir DIR` check a restore's
//!   destination against the source's state at T.
//! - `restore` and `apply` run the same check at the end unless `--no-verify`.
//! - Default: ETag and size from one listing (one call per 1,000 keys); for a directory,
//!   the file's MD5 against the ETag where the ETag is an MD5, content otherwise.
//!   `--deep` (`--deep-verify` on restore) reads both sides and compares SHA-256: equal
//!   content with different ETags (multipart, SSE-KMS) then matches, and a restored
//!   object that is listed but cannot be read (radosgw: a `null` version copied into an
//!   unversioned bucket) is caught.
//! - `--report FILE` writes one line per key (JSON Lines, or CSV for `*.csv`): key,
//!   source key and version, destination version, size, ETag, SHA-256, outcome.
//!
//! Any difference gives exit 1 and a list of the keys with the reason.

use crate::args::ExecArgs;
use crate::bucket::Bucket;
use crate::crosscheck::current_checked_each;
use crate::error::{CliError, CliResult, Exit};
use crate::journal;
use crate::listing::Streams;
use crate::output::{Printer, human_bytes};
use crate::pipeline::report::print_verification;
use crate::pipeline::target::TargetState;
use crate::pipeline::{App, Clients, filter_of, rfc3339};
use crate::spill::Spilled;
use chrono::{DateTime, Utc};
use s3rewind_engine::pairs::destination_prefix;
use s3rewind_engine::select::KeyFilter;
use s3rewind_engine::verify::{
    Comparison, Counted, KeyCheck, Outcome, is_settled_match, recognise_copies,
};
use s3rewind_engine::{
    BucketState, Destination, Location, RestorePlan, Selection, StateEntry, Version, Warning,
    destination_key,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinSet;

/// One version, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRef {
    /// The version id.
    pub version_id: String,
    /// Its ETag (quotes stripped).
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its `LastModified`.
    pub last_modified: DateTime<Utc>,
    /// SHA-256 of its content (hex), when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl From<&Version> for VersionRef {
    fn from(v: &Version) -> Self {
        VersionRef {
            version_id: v.version_id.to_string(),
            etag: v.etag.to_string(),
            size: v.size,
            last_modified: v.last_modified,
            sha256: None,
        }
    }
}

/// A key that differs from its state at TIME.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The key (at the destination).
    pub key: String,
    /// Why.
    pub reason: Outcome,
    /// One line for humans.
    pub detail: String,
    /// The source's version at TIME (`None`: absent then).
    pub expected: Option<VersionRef>,
    /// The destination's current version (`None`: absent now).
    pub current: Option<VersionRef>,
}

/// How the keys that match were found to match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matched {
    /// The current version is the version at TIME.
    pub same_version: u64,
    /// Another version with the same size and ETag (default check; for a directory,
    /// the file's MD5 equals the ETag).
    pub same_size_and_etag: u64,
    /// The same content (SHA-256 of both sides).
    pub same_content: u64,
    /// The copy of the source version that the restore's journal records, same size
    /// (multipart copies have ETags of their own).
    pub known_copy: u64,
}

impl Matched {
    /// Keys that matched, however.
    pub fn total(&self) -> u64 {
        self.same_version + self.same_size_and_etag + self.same_content + self.known_copy
    }
}

/// The name and version of `verify --output json`'s document ([`VerifyReport`]; also
/// the `verification` of `restore`, `apply` and `drill`).
pub const VERIFY_SCHEMA: &str = "s3rewind.verify/v1";

/// The result of a verification (`--output json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Always [`VERIFY_SCHEMA`].
    pub schema: &'static str,
    /// The bucket and prefix whose state at TIME was the reference.
    pub source: Location,
    /// What was checked: `in_place`, `s3://DEST/PREFIX` or a directory.
    pub destination: String,
    /// The instant whose state was compared with.
    pub at: DateTime<Utc>,
    /// True when content was compared (`--deep`).
    pub deep: bool,
    /// True when no key differs.
    pub ok: bool,
    /// Keys that existed at TIME.
    pub keys_at_target: u64,
    /// Keys that exist at the destination (for a directory: of those expected).
    pub keys_now: u64,
    /// Keys that match, by how.
    pub matched: Matched,
    /// Keys at another bucket or prefix that did not exist at TIME: a restore leaves
    /// them alone, so they are listed in the report but are not differences.
    pub extra: u64,
    /// Objects and files read to compare content.
    pub objects_read: u64,
    /// Bytes read to compare content.
    pub bytes_read: u64,
    /// The keys that differ, sorted by key (on disk, written as they are read).
    pub differences: Differences,
    /// Keys whose state at TIME is not known for sure (a `null` version was rewritten
    /// after TIME); the comparison used the best surviving answer.
    pub uncertain: Vec<String>,
    /// Keys whose state at TIME depends on a guessed order (a same-second tie).
    pub ambiguous: Vec<String>,
    /// Every key's check, decided, when asked for (`--report`: [`Extras::every_check`]);
    /// otherwise those of the keys that differ. On disk, in key order.
    #[serde(skip)]
    pub checks: Arc<Spilled<Checked>>,
    /// Checks the comparison kept to look at further (the others were settled matches,
    /// only counted): they were decided a batch at a time from disk.
    #[serde(skip)]
    pub kept: u64,
}

/// Where the restored state is.
#[derive(Debug, Clone)]
pub enum Side {
    /// The source bucket itself.
    InPlace,
    /// Another bucket or prefix (possibly behind another endpoint).
    Bucket {
        /// The destination bucket.
        bucket: Arc<dyn Bucket>,
        /// Bucket and prefix.
        location: Location,
    },
    /// A directory of files.
    Directory(PathBuf),
}

impl Side {
    fn destination(&self) -> Destination {
        match self {
            Side::InPlace => Destination::InPlace,
            Side::Bucket { location, .. } => Destination::Bucket {
                location: location.clone(),
            },
            Side::Directory(p) => Destination::Directory {
                path: p.to_string_lossy().into_owned(),
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Side::InPlace => "in_place".to_owned(),
            Side::Bucket { location, .. } => {
                format!("s3://{}/{}", location.bucket, location.prefix)
            }
            Side::Directory(p) => p.display().to_string(),
        }
    }
}

fn describe(v: &Version) -> String {
    format!(
        "version {}, {}, ETag {}",
        v.version_id,
        human_bytes(v.size),
        if v.etag.is_empty() {
            "-".into()
        } else {
            v.etag.as_str()
        }
    )
}

/// An ETag that is the MD5 of the content (single-part, unencrypted or SSE-S3).
fn is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The directory's side: for each key expected, its file (size, and the MD5 where the
/// expected ETag is one). A file whose expected ETag is not an MD5 gets no ETag, so
/// the comparison asks for its content.
fn directory_state(dir: &Path, source: &Location, target: &BucketState) -> BucketState {
    let destination = Destination::Directory {
        path: dir.to_string_lossy().into_owned(),
    };
    let mut objects = Vec::new();
    for e in target
        .objects
        .iter()
        .filter(|e| e.key.starts_with(&source.prefix))
    {
        let key = s3rewind_engine::destination_key(&source.prefix, &destination, &e.key);
        let Ok(rel) = s3rewind_engine::paths::key_to_path(&key) else {
            continue;
        };
        let file = dir.join(rel.as_str());
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let etag = if meta.len() == e.version.size && is_md5(&e.version.etag.as_str()) {
            md5_of_file(&file).unwrap_or_default()
        } else {
            String::new()
        };
        objects.push(StateEntry {
            key,
            version: Version {
                version_id: "file".into(),
                last_modified: meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or(e.version.last_modified),
                delete_marker: false,
                etag: etag.into(),
                size: meta.len(),
                storage_class: None,
                owner_id: None,
                is_latest: true,
            },
        });
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    BucketState {
        objects,
        ..BucketState::default()
    }
}

/// Feed a file to `update` in 256 KiB chunks; returns its length.
fn read_chunks(path: &Path, mut update: impl FnMut(&[u8])) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        update(&buf[..got]);
        n += got as u64;
    }
}

fn md5_of_file(path: &Path) -> std::io::Result<String> {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    read_chunks(path, |b| h.update(b))?;
    Ok(hex(&h.finalize()))
}

fn sha256_of_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let n = read_chunks(path, |b| h.update(b))?;
    Ok((hex(&h.finalize()), n))
}

/// What a verification looks at beyond the two sides, and what it keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The restore's journal: the copies it records are recognised where ETags differ
    /// (only the records of such keys are kept, read a line at a time).
    pub journal: Option<&'a Path>,
    /// Keep every key's check (for `--report`); otherwise the keys that match by
    /// version, or by size and ETag, are only counted.
    pub every_check: bool,
}

/// The source's current state, when the caller listed it already (a verification in
/// place compares with it): held, or on disk (a part of the listing at a time, see
/// [`crate::pipeline::target::state_at`]).
pub enum Current {
    /// In memory.
    Held(BucketState),
    /// On disk, in key order.
    OnDisk(Spilled<StateEntry>),
}

/// Entries of a current state on disk compared at a time.
const CURRENT_BATCH: usize = if cfg!(test) { 3 } else { 4096 };

/// Check `side` against the source's state `target` at `at`. `current` is the
/// destination's current state when the caller already listed it (in place).
///
/// Neither side is held whole: the destination's listing is compared a part at a time
/// as it streams, each part's keys looked up in the state at T (in memory, or on disk
/// after a streamed restore), and the keys at T no part named are the missing ones. Only
/// the checks still to look at are kept (on disk); the settled matches are counted. Then
/// the kept checks are decided ([`decide`]).
#[allow(clippy::too_many_arguments)]
pub async fn check(
    printer: &Printer,
    source_bucket: &Arc<dyn Bucket>,
    source: &Location,
    side: &Side,
    at: DateTime<Utc>,
    target: TargetState,
    current: Option<Current>,
    filter: &KeyFilter,
    extras: Extras<'_>,
    deep: bool,
    listing: (i32, Streams),
    concurrency: usize,
) -> CliResult<VerifyReport> {
    let mut target = target;
    let directory = match side {
        Side::Directory(dir) => {
            // A directory's files are found from the state's keys (and named by paths
            // relative to the source prefix): the state is read whole and walked beside
            // them.
            let whole = target.into_whole()?;
            let files = directory_state(dir, source, &whole);
            target = TargetState::whole(whole);
            Some(files)
        }
        _ => None,
    };
    let compared = compare(
        printer,
        source_bucket,
        source,
        side,
        &mut target,
        directory.as_ref(),
        current,
        filter,
        extras.every_check,
        deep,
        listing,
    )
    .await?;
    let (kept, tally, counted) = compared;
    let notes = &target.state;
    let left_out = |o| counted.left_out.get(&o).copied().unwrap_or(0);
    let mut report = VerifyReport {
        schema: VERIFY_SCHEMA,
        source: source.clone(),
        destination: side.describe(),
        at,
        deep,
        ok: true,
        keys_at_target: counted.at_target,
        keys_now: counted.now,
        matched: Matched {
            same_version: left_out(Outcome::SameVersion),
            same_size_and_etag: left_out(Outcome::SameSizeAndEtag),
            ..Matched::default()
        },
        extra: left_out(Outcome::Extra),
        objects_read: 0,
        bytes_read: 0,
        differences: Differences::default(),
        uncertain: notes
            .uncertain
            .iter()
            .filter(|u| u.key.starts_with(&source.prefix))
            .map(|u| u.key.clone())
            .collect(),
        ambiguous: notes
            .ambiguous
            .iter()
            .filter(|k| k.starts_with(&source.prefix))
            .cloned()
            .collect(),
        checks: Arc::new(Spilled::new()?),
        kept: kept.len(),
    };
    decide(
        printer,
        source_bucket,
        side,
        kept,
        &tally,
        extras,
        concurrency,
        &mut report,
    )
    .await?;
    Ok(report)
}

/// The first stage of [`check`]: both sides compared a part at a time, the checks still to
/// look at kept on disk (every one with `every_check`), the rest counted.
#[allow(clippy::too_many_arguments)]
async fn compare(
    printer: &Printer,
    source_bucket: &Arc<dyn Bucket>,
    source: &Location,
    side: &Side,
    target: &mut TargetState,
    directory: Option<&BucketState>,
    current: Option<Current>,
    filter: &KeyFilter,
    every_check: bool,
    deep: bool,
    listing: (i32, Streams),
) -> CliResult<(Spilled<KeyCheck>, Tally, Counted)> {
    let destination = side.destination();
    // Kept beyond the checks that do not match: the copies of `null` versions into
    // another bucket, which are read back (`read_back_null_copies`).
    let to_bucket = matches!(side, Side::Bucket { .. });
    let keep = |c: &KeyCheck| {
        every_check
            || !is_settled_match(c.outcome)
            || (to_bucket
                && c.outcome == Outcome::SameSizeAndEtag
                && c.expected.as_ref().is_some_and(|v| v.is_null()))
    };
    let dest_prefix = destination_prefix(&source.prefix, &destination);
    let to_source = crate::pipeline::to_source_key(&source.prefix, &destination);
    let (notes, mut lookups) = target.split();
    let mut comparison = Comparison::new(&destination, notes, deep);
    // The checks kept go to disk as each part is compared.
    let mut kept: Spilled<KeyCheck> = Spilled::new()?;
    let mut tally = Tally::default();
    let in_directory = directory.is_some();
    let mut hand_over = |comparison: &mut Comparison<'_>| -> CliResult<()> {
        let part = comparison.take_kept();
        for c in &part {
            tally.different_etag += u64::from(c.outcome == Outcome::DifferentEtag);
            tally.needs_content += u64::from(
                c.outcome == Outcome::NeedsContent || (in_directory && needs_content_of_file(c)),
            );
        }
        kept.push_part(&part, "the verification's checks")
    };
    if let Some(files) = directory {
        for p in s3rewind_engine::pairs::pairs(&source.prefix, &destination, notes, files) {
            let source_key = p.target.map(|t| t.key.as_str());
            if source_key.is_none_or(|k| filter.matches(k)) {
                comparison.pair(p.key, p.target, p.current, keep);
            }
        }
        hand_over(&mut comparison)?;
    }
    let mut compare_part = |part: Vec<StateEntry>| -> CliResult<()> {
        let mut part: Vec<(String, StateEntry)> = part
            .into_iter()
            .filter(|c| c.key.starts_with(dest_prefix))
            .map(|c| (to_source(&c.key), c))
            .filter(|(k, _)| filter.matches(k))
            .collect();
        if !part.is_sorted_by(|a, b| a.0 < b.0) {
            part.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let keys: Vec<&str> = part.iter().map(|(k, _)| k.as_str()).collect();
        let found = lookups.lookup(&keys)?;
        for ((_, c), t) in part.iter().zip(&found) {
            comparison.pair(c.key.clone(), t.as_ref(), Some(c), keep);
        }
        hand_over(&mut comparison)
    };
    match (current, side) {
        (_, Side::Directory(_)) => {}
        (Some(Current::Held(c)), _) => compare_part(c.objects)?,
        (Some(Current::OnDisk(c)), _) => {
            // In key order, a batch at a time.
            let mut batch = Vec::with_capacity(CURRENT_BATCH);
            c.scan(|e| {
                batch.push(e);
                if batch.len() == CURRENT_BATCH {
                    compare_part(std::mem::take(&mut batch))?;
                }
                Ok(true)
            })?;
            compare_part(batch)?;
        }
        // The current state from a listing cross-checked against ListObjectsV2 (another
        // API, another paging): a verification must not share the blind spots of the
        // listing the restore was planned from. Streamed: a part at a time.
        (None, side) => {
            let (bucket, prefix) = match side {
                Side::Bucket { bucket, location } => (bucket, &location.prefix),
                _ => (source_bucket, &source.prefix),
            };
            let (page_size, streams) = listing;
            current_checked_each(
                bucket,
                printer,
                prefix,
                page_size,
                streams,
                &mut compare_part,
            )
            .await?;
        }
    }
    // The keys at T no part of the destination named: missing there (a directory's
    // were compared whole above).
    if directory.is_none() {
        let mut since = 0;
        lookups.each_unnamed(|t| {
            if t.key.starts_with(&source.prefix) && filter.matches(&t.key) {
                let key = destination_key(&source.prefix, &destination, &t.key);
                comparison.pair(key, Some(t), None, keep);
                since += 1;
                if since == CURRENT_BATCH {
                    since = 0;
                    hand_over(&mut comparison)?;
                }
            }
            Ok(())
        })?;
        hand_over(&mut comparison)?;
    }
    let (rest, counted) = comparison.finish();
    debug_assert!(rest.is_empty(), "every kept check was handed over");
    kept.seal()?;
    Ok((kept, tally, counted))
}

/// The last stage of [`check`]: the kept checks decided a batch at a time, in key order,
/// from disk, and counted into `report`.
#[allow(clippy::too_many_arguments)]
async fn decide(
    printer: &Printer,
    source_bucket: &Arc<dyn Bucket>,
    side: &Side,
    kept: Spilled<KeyCheck>,
    tally: &Tally,
    extras: Extras<'_>,
    concurrency: usize,
    report: &mut VerifyReport,
) -> CliResult<()> {
    // The kept checks are decided a batch at a time, in key order, from disk: the
    // journal's copies recognised, copies of `null` versions read back, content read
    // where asked; the decided checks go to disk in turn (every one for `--report`,
    // else the differences), and the report is written from there.
    let mut copies = JournalCopies::of(extras.journal, &kept, tally.different_etag)?;
    let mut bar = None;
    let mut decided: Spilled<Checked> = Spilled::new()?;
    let mut differences = 0u64;
    let mut after: Option<String> = None;
    loop {
        let mut batch = kept.next_batch(&mut after, VERIFY_BATCH)?;
        if batch.is_empty() {
            break;
        }
        copies.recognise(&mut batch)?;
        if matches!(side, Side::Directory(_)) {
            // No MD5 to compare (multipart or encrypted source): compare content instead.
            for c in &mut batch {
                if needs_content_of_file(c) {
                    c.outcome = Outcome::NeedsContent;
                }
            }
        }
        let mut batch: Vec<Checked> = batch
            .into_iter()
            .map(|check| Checked {
                check,
                read: (None, None),
            })
            .collect();
        if let Side::Bucket { bucket, .. } = side {
            read_back_null_copies(bucket.as_ref(), &mut batch).await;
        }
        let pending: Vec<usize> = batch
            .iter()
            .enumerate()
            .filter(|(_, c)| c.check.outcome == Outcome::NeedsContent)
            .map(|(i, _)| i)
            .collect();
        if !pending.is_empty() {
            let total = tally.needs_content.max(pending.len() as u64);
            let bar = bar.get_or_insert_with(|| printer.bar(total, "verifying"));
            read_content(
                source_bucket,
                side,
                &mut batch,
                pending,
                concurrency,
                bar,
                report,
            )
            .await;
        }
        for c in batch {
            match c.check.outcome {
                Outcome::SameVersion => report.matched.same_version += 1,
                Outcome::SameSizeAndEtag => report.matched.same_size_and_etag += 1,
                Outcome::SameContent => report.matched.same_content += 1,
                Outcome::KnownCopy => report.matched.known_copy += 1,
                Outcome::Extra => report.extra += 1,
                Outcome::Uncertain => {}
                _ => differences += 1,
            }
            if extras.every_check || c.check.outcome.is_difference() {
                decided.push_next(&c, "the checks")?;
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    decided.seal()?;
    let decided = Arc::new(decided);
    report.ok = differences == 0;
    report.differences = Differences {
        count: differences,
        at: report.at,
        checks: Some(decided.clone()),
    };
    report.checks = decided;
    Ok(())
}

/// A directory's file whose expected ETag is no MD5 got no ETag: its content decides.
fn needs_content_of_file(c: &KeyCheck) -> bool {
    c.outcome == Outcome::DifferentEtag && c.current.as_ref().is_some_and(|v| v.etag.is_empty())
}

/// Kept checks decided at a time (from disk, in key order).
const VERIFY_BATCH: usize = if cfg!(test) { 3 } else { 4096 };

/// Keys whose ETags differ up to which their journal records are found by one read of the
/// journal into memory; past it, the journal is sorted by key on disk and looked up a
/// batch at a time.
const HELD_ETAG_KEYS: u64 = if cfg!(test) { 2 } else { 100_000 };

/// What the comparison kept, counted as it goes to disk: what the batches after it
/// need to know before they begin.
#[derive(Debug, Default)]
struct Tally {
    /// Checks whose ETags differ (the journal may know them as copies).
    different_etag: u64,
    /// Checks whose content will be read.
    needs_content: u64,
}

/// The copies a restore's journal records of the keys whose ETags differ.
enum JournalCopies {
    /// No journal, or no such key.
    None,
    /// Few such keys: their copies, read in one pass.
    Held(Vec<s3rewind_engine::KnownCopy>),
    /// Many: the journal by key on disk.
    ByKey(journal::by_key::DoneByKey),
}

impl JournalCopies {
    fn of(path: Option<&Path>, kept: &Spilled<KeyCheck>, differ: u64) -> CliResult<Self> {
        let Some(path) = path.filter(|_| differ > 0) else {
            return Ok(JournalCopies::None);
        };
        if differ > HELD_ETAG_KEYS {
            let by_key = journal::by_key::DoneByKey::read_with(path, |l| {
                Ok(match l {
                    journal::Line::Done(d) => Some(d),
                    _ => None,
                })
            })?;
            return Ok(JournalCopies::ByKey(by_key));
        }
        let mut keys = std::collections::HashSet::new();
        kept.scan(|c| {
            if c.outcome == Outcome::DifferentEtag {
                keys.insert(c.key);
            }
            Ok(true)
        })?;
        Ok(JournalCopies::Held(journal::known_copies_of(path, |k| {
            keys.contains(k)
        })?))
    }

    /// Turn the batch's ETag differences the journal records as copies into matches.
    fn recognise(&mut self, batch: &mut [KeyCheck]) -> CliResult<()> {
        match self {
            JournalCopies::None => {}
            JournalCopies::Held(known) => recognise_copies(batch, known),
            JournalCopies::ByKey(by_key) => {
                let keys: Vec<&str> = batch
                    .iter()
                    .filter(|c| c.outcome == Outcome::DifferentEtag)
                    .map(|c| c.key.as_str())
                    .collect();
                if keys.is_empty() {
                    return Ok(());
                }
                let known = by_key.known_copies_of(&keys)?;
                recognise_copies(batch, &known);
            }
        }
        Ok(())
    }
}

/// One decided check, and what reading it found: SHA-256 of (source, destination) where
/// the content was read, or for an unreadable key the reason on the side that failed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The check.
    pub check: KeyCheck,
    /// What was read of each side.
    pub read: (Option<String>, Option<String>),
}

/// Every outcome, by the byte that stands for it on disk.
const OUTCOMES: [Outcome; 13] = [
    Outcome::SameVersion,
    Outcome::SameSizeAndEtag,
    Outcome::SameContent,
    Outcome::KnownCopy,
    Outcome::Extra,
    Outcome::Uncertain,
    Outcome::NeedsContent,
    Outcome::Missing,
    Outcome::Unexpected,
    Outcome::DifferentSize,
    Outcome::DifferentEtag,
    Outcome::DifferentContent,
    Outcome::Unreadable,
];

/// One byte: its place in [`OUTCOMES`].
impl crate::spill::Codec for Outcome {
    fn put(&self, b: &mut Vec<u8>) {
        let i = OUTCOMES
            .iter()
            .position(|o| o == self)
            .expect("every outcome is listed");
        b.push(i as u8);
    }

    fn get(r: &mut impl std::io::Read) -> CliResult<Self> {
        let [i] = crate::spill::get_bytes(r)?;
        OUTCOMES
            .get(usize::from(i))
            .copied()
            .ok_or_else(|| crate::spill::io_error(std::io::Error::other("an unknown outcome")))
    }
}

crate::spill::record!(KeyCheck {
    key,
    source_key,
    expected,
    current,
    outcome
});

impl crate::spill::Record for Checked {
    fn key(&self) -> &str {
        &self.check.key
    }

    fn encode(&self, b: &mut Vec<u8>) {
        use crate::spill::Codec;
        self.check.put(b);
        self.read.put(b);
    }

    fn decode(r: &mut impl std::io::Read) -> CliResult<Self> {
        use crate::spill::Codec;
        Ok(Checked {
            check: KeyCheck::get(r)?,
            read: Codec::get(r)?,
        })
    }
}

/// The keys that differ, on disk in key order: `--output json` writes them as they are
/// read, and the summary reads the first few.
#[derive(Debug, Clone, Default)]
pub struct Differences {
    count: u64,
    at: DateTime<Utc>,
    /// The decided checks (the differences among them).
    checks: Option<Arc<Spilled<Checked>>>,
}

impl Differences {
    /// How many keys differ.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no key differs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each difference in key order, for as long as `f` says go on.
    pub fn each(&self, mut f: impl FnMut(Difference) -> CliResult<bool>) -> CliResult<()> {
        let Some(checks) = &self.checks else {
            return Ok(());
        };
        checks.scan(|c| {
            if c.check.outcome.is_difference() {
                f(difference(&c, self.at))
            } else {
                Ok(true)
            }
        })
    }

    /// The first `n` differences.
    pub fn first(&self, n: usize) -> CliResult<Vec<Difference>> {
        crate::spill::first_of(n, |item| self.each(item))
    }

    /// Every difference.
    pub fn to_vec(&self) -> CliResult<Vec<Difference>> {
        self.first(self.len())
    }
}

impl Serialize for Differences {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::output::serialize_each(s, self.len(), |item| self.each(item))
    }
}

fn difference(checked: &Checked, at: DateTime<Utc>) -> Difference {
    let c = &checked.check;
    let (h_src, h_dst) = checked.read.clone();
    let detail = match (c.outcome, &c.expected, &c.current) {
        (Outcome::Missing, Some(t), _) => {
            format!("existed at {} ({}), absent now", rfc3339(at), describe(t))
        }
        (Outcome::Unexpected, _, Some(v)) => {
            format!("absent at {}, exists now ({})", rfc3339(at), describe(v))
        }
        (Outcome::DifferentSize, Some(t), Some(v)) => {
            format!("size {} now, {} at {}", v.size, t.size, rfc3339(at))
        }
        (Outcome::DifferentEtag, Some(t), Some(v)) => format!(
            "same size but ETag {} now, {} at {} (ETags of multipart or SSE-KMS objects differ for equal content: --deep compares the content)",
            if v.etag.is_empty() {
                "-".into()
            } else {
                v.etag.as_str()
            },
            if t.etag.is_empty() {
                "-".into()
            } else {
                t.etag.as_str()
            },
            rfc3339(at)
        ),
        (Outcome::DifferentContent, _, _) => format!(
            "same size but different content: SHA-256 {} now, {} at {}",
            h_dst.as_deref().map_or("-", |h| &h[..16]),
            h_src.as_deref().map_or("-", |h| &h[..16]),
            rfc3339(at)
        ),
        (Outcome::Unreadable, _, _) => h_dst
            .or(h_src)
            .unwrap_or_else(|| "could not be read".to_owned()),
        (o, _, _) => format!("{o:?}"),
    };
    let mut expected = c.expected.as_ref().map(VersionRef::from);
    let mut current = c.current.as_ref().map(VersionRef::from);
    if c.outcome == Outcome::DifferentContent {
        if let Some(e) = &mut expected {
            e.sha256.clone_from(&checked.read.0);
        }
        if let Some(e) = &mut current {
            e.sha256.clone_from(&checked.read.1);
        }
    }
    Difference {
        key: c.key.clone(),
        reason: c.outcome,
        detail,
        expected,
        current,
    }
}

/// Copies of `null` source versions in another bucket are read back with HEAD (one
/// request each): radosgw lists such a copy with the source's size and ETag while reads
/// return another object, which no listing can show.
async fn read_back_null_copies(bucket: &dyn Bucket, checks: &mut [Checked]) {
    for checked in checks.iter_mut().filter(|c| {
        c.check.outcome == Outcome::SameSizeAndEtag
            && c.check.expected.as_ref().is_some_and(|v| v.is_null())
    }) {
        let c = &mut checked.check;
        let exp = c.expected.as_ref().expect("filtered");
        let problem = match bucket.head(&c.key, None).await {
            Ok(Some(h)) if h.size == exp.size && h.etag == exp.etag => continue,
            Ok(Some(h)) => format!(
                "listed with the source's size and ETag, but reads as another object ({}, ETag {})",
                human_bytes(h.size),
                h.etag
            ),
            Ok(None) => "listed, but a read answers that it does not exist".to_owned(),
            Err(e) => format!("listed, but cannot be read: {e}"),
        };
        c.outcome = Outcome::Unreadable;
        checked.read = (None, Some(problem));
    }
}

/// Write the per-key report: JSON Lines, or CSV when the file name ends in `.csv`.
pub fn write_report(path: &Path, r: &VerifyReport) -> CliResult<()> {
    let fail = |e: std::io::Error| {
        CliError::failure(format!("cannot write report {}: {e}", path.display()))
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if csv {
        writeln!(
            out,
            "key,source_key,source_version_id,destination_version_id,size,etag,sha256,outcome"
        )
        .map_err(fail)?;
    }
    let mut written = Ok(());
    r.checks
        .scan(|checked| {
            written = report_row(&mut out, csv, &checked);
            Ok(written.is_ok())
        })
        .map_err(|e| {
            CliError::failure(format!(
                "cannot write report {}: {}",
                path.display(),
                e.message
            ))
        })?;
    written.map_err(fail)?;
    out.flush().map_err(fail)
}

/// One key's line of the `--report` file.
fn report_row(out: &mut impl Write, csv: bool, checked: &Checked) -> std::io::Result<()> {
    let c = &checked.check;
    {
        // For unreadable keys `read` holds the reason, not a checksum.
        let hash = Some(&checked.read)
            .filter(|_| matches!(c.outcome, Outcome::SameContent | Outcome::DifferentContent));
        let sha = hash
            .and_then(|h| h.1.clone().or(h.0.clone()))
            .unwrap_or_default();
        let source_version_id = c.expected.as_ref().map(|v| v.version_id.to_string());
        let destination_version_id = c.current.as_ref().map(|v| v.version_id.to_string());
        let etag = c
            .current
            .as_ref()
            .or(c.expected.as_ref())
            .map(|v| v.etag.to_string())
            .filter(|e| !e.is_empty());
        let row = ReportRow {
            key: &c.key,
            source_key: c.source_key.as_deref(),
            source_version_id: source_version_id.as_deref(),
            destination_version_id: destination_version_id.as_deref(),
            size: c.current.as_ref().or(c.expected.as_ref()).map(|v| v.size),
            etag: etag.as_deref(),
            sha256: Some(sha.as_str()).filter(|s| !s.is_empty()),
            outcome: c.outcome,
            ok: !c.outcome.is_difference(),
        };
        if csv {
            let field = |s: Option<&str>| csv_field(s.unwrap_or(""));
            writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                field(Some(row.key)),
                field(row.source_key),
                field(row.source_version_id),
                field(row.destination_version_id),
                row.size.map(|s| s.to_string()).unwrap_or_default(),
                field(row.etag),
                field(row.sha256),
                serde_json::to_value(row.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        } else {
            let line = serde_json::to_string(&row)?;
            writeln!(out, "{line}")
        }
    }
}

/// One line of the `--report` file (JSON Lines; the CSV has the same columns less `ok`).
#[derive(Serialize)]
struct ReportRow<'a> {
    key: &'a str,
    source_key: Option<&'a str>,
    source_version_id: Option<&'a str>,
    destination_version_id: Option<&'a str>,
    size: Option<u64>,
    etag: Option<&'a str>,
    sha256: Option<&'a str>,
    outcome: Outcome,
    ok: bool,
}

/// RFC 4180: quote a field that holds a comma, quote, CR or LF; double the quotes.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// An `AsyncWrite` that hashes what is written to it and keeps nothing.
struct HashWriter(Sha256);

impl tokio::io::AsyncWrite for HashWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.update(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) and length of one version's content (`None`: of the current object),
/// streamed.
async fn sha256_of(
    bucket: &dyn Bucket,
    key: &str,
    version_id: Option<&str>,
) -> Result<(String, u64), String> {
    let mut w = HashWriter(Sha256::new());
    let n = match version_id {
        Some(v) => bucket.download(key, v, &mut w).await,
        None => bucket.download_current(key, &mut w).await,
    }
    .map_err(|e| e.to_string())?;
    Ok((hex(&w.0.finalize()), n))
}

/// Read both sides of every pending key (at most `concurrency` at once) and decide it.
#[allow(clippy::too_many_arguments)]
async fn read_content(
    source_bucket: &Arc<dyn Bucket>,
    side: &Side,
    checks: &mut [Checked],
    pending: Vec<usize>,
    concurrency: usize,
    bar: &indicatif::ProgressBar,
    report: &mut VerifyReport,
) {
    let mut queue: VecDeque<usize> = pending.into();
    let mut tasks = JoinSet::new();
    loop {
        while tasks.len() < concurrency.max(1) {
            let Some(i) = queue.pop_front() else { break };
            let c = &checks[i].check;
            let (Some(src_key), Some(exp), Some(_)) = (&c.source_key, &c.expected, &c.current)
            else {
                continue;
            };
            let src = (
                source_bucket.clone(),
                src_key.clone(),
                exp.version_id.to_string(),
            );
            // The destination is read as users read it: its current object, no version id.
            let dst: Dest = match side {
                Side::InPlace => Dest::Bucket(source_bucket.clone(), c.key.clone()),
                Side::Bucket { bucket, .. } => Dest::Bucket(bucket.clone(), c.key.clone()),
                Side::Directory(dir) => match s3rewind_engine::paths::key_to_path(&c.key) {
                    Ok(rel) => Dest::File(dir.join(rel.as_str())),
                    Err(e) => Dest::Invalid(e.to_string()),
                },
            };
            tasks.spawn(async move {
                let a = sha256_of(src.0.as_ref(), &src.1, Some(&src.2)).await;
                let b = match dst {
                    Dest::Bucket(bucket, key) => sha256_of(bucket.as_ref(), &key, None).await,
                    Dest::File(path) => tokio::task::spawn_blocking(move || {
                        sha256_of_file(&path)
                            .map_err(|e| format!("reading {}: {e}", path.display()))
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
                    Dest::Invalid(e) => Err(e),
                };
                (i, a, b)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        bar.inc(1);
        let Ok((i, a, b)) = joined else { continue };
        for (_, len) in [&a, &b].into_iter().flatten() {
            report.objects_read += 1;
            report.bytes_read += len;
        }
        let c = &mut checks[i];
        let (outcome, read) = match (a, b) {
            (Ok((x, _)), Ok((y, _))) if x == y => (Outcome::SameContent, (Some(x), Some(y))),
            (Ok((x, _)), Ok((y, _))) => (Outcome::DifferentContent, (Some(x), Some(y))),
            (Err(e), _) => (
                Outcome::Unreadable,
                (Some(format!("cannot read the source version: {e}")), None),
            ),
            (_, Err(e)) => (
                Outcome::Unreadable,
                (None, Some(format!("cannot read the restored object: {e}"))),
            ),
        };
        c.check.outcome = outcome;
        c.read = read;
    }
}

/// The destination side of one content read.
enum Dest {
    /// The current object of a key.
    Bucket(Arc<dyn Bucket>, String),
    File(PathBuf),
    Invalid(String),
}

/// The current state of a plan's destination range as ListObjectsV2 shows it (keys,
/// ETags, sizes; no version ids): what a restore from a snapshot verifies against.
pub async fn current_objects_state(clients: &Clients, p: &RestorePlan) -> CliResult<BucketState> {
    let (bucket, prefix) = match &p.destination {
        Destination::Bucket { location } => (&clients.dest, location.prefix.as_str()),
        _ => (&clients.source, p.source.prefix.as_str()),
    };
    let (objects, _) = crate::crosscheck::current_objects(bucket.as_ref(), prefix).await?;
    let objects = objects
        .into_iter()
        .map(|o| s3rewind_engine::StateEntry {
            key: o.key,
            version: s3rewind_engine::Version {
                version_id: s3rewind_engine::VersionId::new(""),
                last_modified: o.last_modified,
                delete_marker: false,
                etag: s3rewind_engine::ETag::new(&o.etag),
                size: o.size,
                storage_class: None,
                owner_id: None,
                is_latest: true,
            },
        })
        .collect();
    Ok(BucketState {
        objects,
        ..BucketState::default()
    })
}

/// After `restore` or `apply`: check the destination against the source's state at T
/// (unless `--no-verify`), print the result, write `--report`, and fold it into the exit
/// status. `target` is the state the plan was made from; without it (`apply`) the source
/// is listed again, which works for plans made `--at` a time or `--before-corruption`.
#[allow(clippy::too_many_arguments)]
pub async fn verify_after(
    app: &App,
    clients: &Clients,
    p: &RestorePlan,
    exec: &ExecArgs,
    target: Option<TargetState>,
    listing: (i32, Streams),
    journal_path: &Path,
    result: (Exit, crate::pipeline::report::RunDoc),
    current: Option<BucketState>,
) -> CliResult<Exit> {
    let printer = &app.printer;
    let (exit, doc) = result;
    if exec.no_verify || exit == Exit::Interrupted {
        printer.json_value(&doc);
        return Ok(exit);
    }
    // Taken, not copied: the state at T is one entry per key.
    let mut target = match target {
        Some(t) => t,
        None if p.selection == Selection::PerKey => {
            printer.info(
                "a per-key plan has no single instant to verify against; re-run the per-key restore (it verifies at the end), or `s3rewind verify` the keys",
            );
            printer.json_value(&doc);
            return Ok(exit);
        }
        None => {
            crate::pipeline::target::listed_at(
                &clients.source_endpoint,
                printer,
                &p.source,
                p.at,
                listing.0,
                listing.1,
            )
            .await?
        }
    };
    let side = match &p.destination {
        Destination::InPlace => Side::InPlace,
        Destination::Bucket { location } => Side::Bucket {
            bucket: clients.dest.clone(),
            location: location.clone(),
        },
        Destination::Directory { path } => Side::Directory(PathBuf::from(path)),
    };
    // The range holds what it held when planned plus one entry per action: listing it by
    // folder pays only when that is many pages.
    // (Counted by the stats: a restore that wrote as it listed keeps no actions.)
    let after = p.stats.entries_now() + p.stats.copies + p.stats.delete_markers;
    let listing = (
        listing.0,
        listing
            .1
            .with_max(crate::listing::streams_for(after, listing.0, listing.1.max)),
    );
    // A key whose version at T was removed since (warning unrestorable) was left alone,
    // or copied from a replica: the state at T read from this bucket cannot judge it.
    let unrestorable: Vec<String> = p
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::Unrestorable { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    if !unrestorable.is_empty() {
        printer.info(format!(
            "not verifying {} key(s) named unrestorable (their version at TIME is gone from this bucket)",
            unrestorable.len()
        ));
    }
    let filter = filter_of(&p.keys.clone().unwrap_or_default())?.excluding(unrestorable);
    target.retain(&filter);
    let report = check(
        printer,
        &clients.source,
        &p.source,
        &side,
        p.at,
        target,
        current.map(Current::Held),
        &filter,
        Extras {
            journal: Some(journal_path),
            every_check: exec.report.is_some(),
        },
        exec.deep_verify,
        listing,
        exec.concurrency.min(64) as usize,
    )
    .await?;
    if let Some(path) = &exec.report {
        // Checked before the run; should it fail now all the same, say what was done.
        write_report(path, &report).map_err(|e| {
            CliError::new(
                e.exit,
                format!(
                    "{}; the restore itself ran (journal {}; `s3rewind undo` of it takes it back): only the verification report is missing, `s3rewind verify` writes it again",
                    e.message,
                    journal_path.display()
                ),
            )
        })?;
        printer.info(format!("verification report written to {}", path.display()));
    }
    printer.line("Verification:");
    print_verification(printer, app.verbose, &report);
    // The differences (and the run's lists of keys) are read from disk as the document
    // is written.
    doc.print_with(printer, Some(&report));
    Ok(if report.ok || exit != Exit::Ok {
        exit
    } else {
        Exit::Partial
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::CopyRequest;
    use s3rewind_engine::verify::compare;

    #[tokio::test]
    async fn hash_writer_hashes_what_it_is_given() {
        use tokio::io::AsyncWriteExt;
        let mut w = HashWriter(Sha256::new());
        w.write_all(b"ab").await.unwrap();
        w.write_all(b"c").await.unwrap();
        assert_eq!(
            hex(&w.0.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn md5_etags_are_recognised_and_csv_fields_quoted() {
        assert!(is_md5("900150983cd24fb0d6963f7d28e17f72"));
        assert!(!is_md5("900150983cd24fb0d6963f7d28e17f72-2"));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn a_directory_file_is_checked_by_md5_or_by_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"abc").unwrap();
        std::fs::write(dir.path().join("m"), b"abc").unwrap();
        let v = |etag: &str| Version {
            version_id: "v".into(),
            last_modified: Utc::now(),
            delete_marker: false,
            etag: etag.into(),
            size: 3,
            storage_class: None,
            owner_id: None,
            is_latest: false,
        };
        let target = BucketState {
            objects: vec![
                StateEntry {
                    key: "a".into(),
                    version: v("900150983cd24fb0d6963f7d28e17f72"),
                },
                StateEntry {
                    key: "m".into(),
                    version: v("0123-2"),
                },
                StateEntry {
                    key: "z".into(),
                    version: v("x"),
                },
            ],
            ..BucketState::default()
        };
        let src = Location {
            bucket: "b".into(),
            prefix: String::new(),
        };
        let current = directory_state(dir.path(), &src, &target);
        assert_eq!(current.objects.len(), 2);
        assert_eq!(
            current.objects[0].version.etag,
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            current.objects[1].version.etag, "",
            "a multipart ETag is no MD5"
        );
        let dest = Destination::Directory {
            path: dir.path().to_string_lossy().into_owned(),
        };
        let checks = compare(&src, &dest, &target, &current, false);
        let got: Vec<Outcome> = checks.iter().map(|c| c.outcome).collect();
        assert_eq!(
            got,
            [
                Outcome::SameSizeAndEtag,
                Outcome::DifferentEtag,
                Outcome::Missing
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(48))]
        /// The verification never holds either side whole, and that changes nothing: with
        /// the state at T on disk in runs cut anywhere, dealt interleaved and written in
        /// any order (as a streamed restore's parts come), on any server habit, page size
        /// and number of listing streams, in place or into another bucket that holds
        /// another history, it reports what it reports from the state held in memory
        /// (every check, the counts, the differences), or both fail alike.
        #[test]
        fn a_spilled_state_at_t_verifies_as_the_whole_one(
            steps in crate::bucket::histories::steps(3, 30),
            other in crate::bucket::histories::steps(0, 20),
            t in crate::bucket::histories::t_pick(),
            personality in 0..crate::bucket::Personality::COMBINATIONS,
            page in 1i32..9,
            parallel: bool,
            in_place: bool,
            every_check: bool,
            cuts in proptest::collection::vec(0usize..40, 0..6),
            order: u64,
        ) {
            use crate::bucket::histories;
            let (h, o) = (histories::play(&steps, "v"), histories::play(&other, "w"));
            let at = histories::pick_t(&h, &t);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            let (whole, spilled) = rt.block_on(async {
                let store = crate::bucket::MemStore::new();
                let src: Arc<dyn Bucket> = Arc::new(store.insert("src", h.sim.clone()));
                let dst: Arc<dyn Bucket> = Arc::new(store.insert("dst", o.sim.clone()));
                store.set_personality(crate::bucket::Personality::nth(personality));
                let quiet = Printer::new(crate::output::OutputFormat::Text, true, true);
                let streams = if parallel {
                    Streams::new(3, crate::listing::Split::Folders)
                } else {
                    Streams::ONE
                };
                let target = crate::listing::list_bucket(&src, &quiet, "", 1000, Streams::ONE)
                    .await
                    .unwrap()
                    .state_at(at);
                let side = if in_place {
                    Side::InPlace
                } else {
                    Side::Bucket { bucket: dst.clone(), location: Location::whole("dst") }
                };
                let all = KeyFilter::new(&[], &[], None).unwrap();
                let extras = Extras { journal: None, every_check };
                let source = Location::whole("src");
                let run = |t: TargetState| {
                    check(&quiet, &src, &source, &side, at, t, None, &all, extras, false, (page, streams), 4)
                };
                // The entries cut into runs, each dealt into two interleaved ones, in
                // a shuffled order.
                let mut rng = s3rewind_engine::prng::Prng(order);
                let n = target.objects.len();
                let mut bounds: Vec<usize> = cuts.iter().map(|c| (*c).min(n)).chain([0, n]).collect();
                bounds.sort();
                bounds.dedup();
                let mut runs: Vec<Vec<StateEntry>> = Vec::new();
                for w in bounds.windows(2) {
                    let mut dealt = vec![Vec::new(), Vec::new()];
                    for e in &target.objects[w[0]..w[1]] {
                        dealt[rng.below(2) as usize].push(e.clone());
                    }
                    runs.extend(dealt);
                }
                rng.shuffle(&mut runs);
                let mut file = crate::spill::Spilled::<StateEntry>::new().unwrap();
                for r in &runs {
                    file.push_run(r).unwrap().unwrap();
                }
                let notes = BucketState { objects: Vec::new(), ..target.clone() };
                // The engine's comparison of the two sides held whole: what every check
                // decided a batch at a time from disk must be.
                let current_of = if in_place { &src } else { &dst };
                let current = crate::listing::list_bucket(current_of, &quiet, "", 1000, Streams::ONE)
                    .await
                    .unwrap()
                    .current();
                let oracle = compare(&source, &side.destination(), &target, &current, false);
                let whole = run(TargetState::whole(target)).await;
                let spilled = run(TargetState::spilled(notes, file).unwrap()).await;
                (whole, (spilled, oracle))
            });
            let (spilled, oracle) = spilled;
            if let (Ok(s), true) = (&spilled, every_check) {
                let mut checks = Vec::new();
                s.checks.scan(|c| { checks.push(c.check); Ok(true) }).unwrap();
                proptest::prop_assert_eq!(&checks, &oracle);
                let differ: Vec<&str> = oracle.iter().filter(|c| c.outcome.is_difference()).map(|c| c.key.as_str()).collect();
                let named: Vec<String> = s.differences.to_vec().unwrap().into_iter().map(|d| d.key).collect();
                proptest::prop_assert_eq!(named, differ);
                proptest::prop_assert_eq!(s.ok, oracle.iter().all(|c| !c.outcome.is_difference()));
            }
            match (whole, spilled) {
                (Ok(w), Ok(s)) => proptest::prop_assert_eq!(
                    serde_json::to_value(&s).unwrap(),
                    serde_json::to_value(&w).unwrap()
                ),
                (Err(w), Err(s)) => proptest::prop_assert_eq!(s.message, w.message),
                (w, s) => proptest::prop_assert!(false, "one failed: {:?} / {:?}", w.err(), s.err()),
            }
        }
    }

    /// The keys a report names as different, with the reason.
    fn differences(report: &VerifyReport) -> Vec<(String, Outcome)> {
        report
            .differences
            .to_vec()
            .unwrap()
            .into_iter()
            .map(|d| (d.key, d.reason))
            .collect()
    }

    /// The two sides of an in-memory verification: `src` with the given history, `dst`
    /// an empty bucket (`versioning`), both in one store.
    fn two_buckets(
        sim: s3rewind_engine::sim::SimBucket,
        versioning: s3rewind_engine::Versioning,
    ) -> (
        Arc<crate::bucket::MemStore>,
        Arc<dyn Bucket>,
        Arc<dyn Bucket>,
    ) {
        let store = crate::bucket::MemStore::new();
        let src: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
        let empty = s3rewind_engine::sim::SimBucket::new(versioning, "d");
        let dst: Arc<dyn Bucket> = Arc::new(store.insert("dst", empty));
        (store, src, dst)
    }

    /// Verify `dst` against `src`'s state at `at`, as a restore into it does (in place
    /// when `dst` is `src`).
    async fn verify_into(
        src: &Arc<dyn Bucket>,
        dst: &Arc<dyn Bucket>,
        at: DateTime<Utc>,
        extras: Extras<'_>,
    ) -> VerifyReport {
        let quiet = Printer::new(crate::output::OutputFormat::Text, true, true);
        let streams = crate::listing::Streams::ONE;
        let target = crate::listing::list_bucket(src, &quiet, "", 1000, streams)
            .await
            .unwrap()
            .state_at(at);
        let side = if Arc::ptr_eq(src, dst) {
            Side::InPlace
        } else {
            Side::Bucket {
                bucket: dst.clone(),
                location: Location::whole("dst"),
            }
        };
        let all = KeyFilter::new(&[], &[], None).unwrap();
        check(
            &quiet,
            src,
            &Location::whole("src"),
            &side,
            at,
            TargetState::whole(target),
            None,
            &all,
            extras,
            false,
            (1000, streams),
            4,
        )
        .await
        .unwrap()
    }

    /// A copy of a `null` version into a bucket that keeps no versions lists with the
    /// source's size and ETag but, on radosgw, reads as another object (which no listing
    /// shows, and the in-memory bucket does not play): the verification reads each such
    /// copy back, one HEAD each, and no other key. (Such copies are kept for that read
    /// though they match by size and ETag; the other matches are only counted.)
    #[tokio::test]
    async fn the_verification_reads_back_each_copy_of_a_null_version() {
        use crate::bucket::Op;
        use s3rewind_engine::{Versioning, sim::SimBucket};
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut sim = SimBucket::new(Versioning::Suspended, "v");
        sim.put("m", b"a null version", t0);
        sim.put("n", b"another null one", t0);
        sim.set_versioning(Versioning::Enabled);
        let v = sim.put("v", b"a versioned one", t0);
        let at = t0 + chrono::TimeDelta::seconds(5);
        sim.put("n", b"written after T", at + chrono::TimeDelta::seconds(1));
        let (store, src, dst) = two_buckets(sim, Versioning::Unversioned);
        for (key, version) in [("m", "null"), ("n", "null"), ("v", v.as_str())] {
            let head = src.head(key, Some(version)).await.unwrap().unwrap();
            dst.copy(&CopyRequest::plain("src", key, version, key, &head))
                .await
                .unwrap();
        }
        store.reset_requests();
        let report = verify_into(&src, &dst, at, Extras::default()).await;
        assert!(report.ok, "{report:?}");
        assert_eq!(report.matched.same_size_and_etag, 3);
        assert_eq!((report.keys_at_target, report.keys_now), (3, 3));
        assert_eq!(store.requests().of(Op::Head), 2, "one HEAD per null copy");
        assert_eq!(
            report.kept, 2,
            "the null copies' checks, kept to read them back"
        );
        assert!(report.checks.is_empty(), "no difference to keep after");
    }

    /// A copy whose ETag differs from its source's (a multipart copy's) matches when the
    /// restore's journal records it as the copy of the version at T, and only then; the
    /// journal is read for that key alone. Matches are counted, not kept, unless every
    /// check is asked for (`--report`).
    #[tokio::test]
    async fn a_copy_the_journal_records_matches_though_its_etag_differs() {
        use crate::journal::{Done, Journal, Line, Op};
        use s3rewind_engine::{Versioning, sim::SimBucket};
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        let v_big = sim.put("big", b"0123456789", t0);
        let v_same = sim.put("same", b"same bytes", t0);
        let at = t0 + chrono::TimeDelta::seconds(5);
        let (_, src, dst) = two_buckets(sim, Versioning::Enabled);
        // Same size, other bytes (so another ETag), as if copied in parts.
        dst.put("big", b"9876543210".to_vec(), "").await.unwrap();
        let head = src.head("same", Some(&v_same)).await.unwrap().unwrap();
        dst.copy(&CopyRequest::plain("src", "same", &v_same, "same", &head))
            .await
            .unwrap();
        let now = dst.head("big", None).await.unwrap().unwrap();

        let report = verify_into(&src, &dst, at, Extras::default()).await;
        assert!(!report.ok);
        assert_eq!(
            differences(&report),
            [("big".to_owned(), Outcome::DifferentEtag)]
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let printer = Printer::capturing(crate::output::OutputFormat::Text, true).0;
        let j = Journal::open(&path, &printer).unwrap();
        let done = |version: &str| Done {
            op: Op::Copy,
            bucket: "dst".into(),
            key: "big".into(),
            source_bucket: Some("src".into()),
            source_key: Some("big".into()),
            source_version_id: Some(version.into()),
            previous_version_id: None,
            new_version_id: now.version_id.clone(),
            etag: Some(now.etag.clone()),
            size: Some(10),
            time: at,
        };
        j.append(&Line::Done(done("another version"))).unwrap();
        drop(j);
        let journal = |every_check| Extras {
            journal: Some(&path),
            every_check,
        };
        let report = verify_into(&src, &dst, at, journal(false)).await;
        assert!(!report.ok, "a copy of another source version is no match");

        let j = Journal::open(&path, &printer).unwrap();
        j.append(&Line::Done(done(&v_big))).unwrap();
        drop(j);
        let report = verify_into(&src, &dst, at, journal(false)).await;
        assert!(report.ok, "{report:?}");
        assert_eq!(report.matched.known_copy, 1);
        assert_eq!(report.matched.same_size_and_etag, 1);
        assert_eq!(report.kept, 1, "the match by ETag is counted, not kept");
        assert!(report.checks.is_empty(), "and no difference is kept after");
        let every = verify_into(&src, &dst, at, journal(true)).await;
        assert_eq!(every.checks.len(), 2);
        assert_eq!(every.matched, report.matched);
    }

    /// A bucket of seven keys whose first `exact` are exact copies and the others have
    /// other bytes of the same size (another ETag, as a copy in parts has), and a
    /// journal that records each of the others as the copy of its version at T, but for
    /// "b" (not recorded) and "f" (recorded as the copy of another version): the report
    /// with that journal, and without it.
    async fn copies_in_parts(exact: usize) -> (VerifyReport, VerifyReport) {
        use crate::journal::{Done, Journal, Line, Op};
        use s3rewind_engine::{Versioning, sim::SimBucket};
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        let keys = ["a", "b", "c", "d", "e", "f", "g"];
        let versions: Vec<String> = keys.iter().map(|k| sim.put(k, b"0123456789", t0)).collect();
        let at = t0 + chrono::TimeDelta::seconds(5);
        let (_, src, dst) = two_buckets(sim, Versioning::Enabled);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let printer = Printer::capturing(crate::output::OutputFormat::Text, true).0;
        let j = Journal::open(&path, &printer).unwrap();
        for (i, key) in keys.iter().enumerate() {
            if i < exact {
                let head = src.head(key, Some(&versions[i])).await.unwrap().unwrap();
                dst.copy(&CopyRequest::plain("src", key, &versions[i], key, &head))
                    .await
                    .unwrap();
                continue;
            }
            dst.put(key, b"9876543210".to_vec(), "").await.unwrap();
            let now = dst.head(key, None).await.unwrap().unwrap();
            let version = match *key {
                "b" => continue,
                "f" => "another version".to_owned(),
                _ => versions[i].clone(),
            };
            j.append(&Line::Done(Done {
                op: Op::Copy,
                bucket: "dst".into(),
                key: (*key).into(),
                source_bucket: Some("src".into()),
                source_key: Some((*key).into()),
                source_version_id: Some(version),
                previous_version_id: None,
                new_version_id: now.version_id.clone(),
                etag: Some(now.etag.clone()),
                size: Some(10),
                time: at,
            }))
            .unwrap();
        }
        drop(j);
        let journal = Extras {
            journal: Some(&path),
            every_check: true,
        };
        (
            verify_into(&src, &dst, at, journal).await,
            verify_into(&src, &dst, at, Extras::default()).await,
        )
    }

    /// Past [`HELD_ETAG_KEYS`] keys whose ETags differ, the journal is read by key from
    /// disk, a batch's keys at a time; up to it, their records are read in one pass. Either
    /// way its copies are recognised across batches (the copies of another version, or
    /// of no key recorded, are not).
    #[tokio::test]
    async fn copies_the_journal_records_match_a_batch_at_a_time() {
        // Seven keys differ: the journal by key.
        const { assert!(7 > HELD_ETAG_KEYS && 7 > VERIFY_BATCH) };
        let (report, bare) = copies_in_parts(0).await;
        assert_eq!(report.matched.known_copy, 5, "{report:?}");
        assert_eq!(
            differences(&report),
            [
                ("b".to_owned(), Outcome::DifferentEtag),
                ("f".to_owned(), Outcome::DifferentEtag)
            ]
        );
        assert_eq!(report.checks.len(), 7, "every check, for --report");
        assert_eq!(
            bare.differences.len(),
            7,
            "none matches without the journal"
        );
        // Two keys differ, "f" and "g": held, both looked for.
        const { assert!(2 <= HELD_ETAG_KEYS) };
        let (report, bare) = copies_in_parts(5).await;
        assert_eq!(report.matched.known_copy, 1, "{report:?}");
        assert_eq!(report.matched.same_size_and_etag, 5);
        assert_eq!(
            differences(&report),
            [("f".to_owned(), Outcome::DifferentEtag)]
        );
        assert_eq!(bare.differences.len(), 2);
    }

    /// In place, the keys whose current version is their version at T, and those that
    /// hold the same bytes again, are counted as matches by how; only the difference is
    /// kept as a check.
    #[tokio::test]
    async fn in_place_the_matches_are_counted_by_how() {
        use s3rewind_engine::{Versioning, sim::SimBucket};
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        for key in ["a", "b", "c", "d"] {
            sim.put(key, key.as_bytes(), t0);
        }
        let at = t0 + chrono::TimeDelta::seconds(5);
        let later = at + chrono::TimeDelta::seconds(1);
        sim.put("b", b"b", later);
        sim.put("c", b"other bytes", later);
        sim.put("e", b"new", later);
        let (_, src, _) = two_buckets(sim, Versioning::Enabled);
        let report = verify_into(&src, &src, at, Extras::default()).await;
        assert_eq!(report.matched.same_version, 2, "a and d");
        assert_eq!(report.matched.same_size_and_etag, 1, "b");
        let named = differences(&report);
        let named: Vec<(&str, Outcome)> = named.iter().map(|(k, o)| (k.as_str(), *o)).collect();
        assert_eq!(
            named,
            [("c", Outcome::DifferentSize), ("e", Outcome::Unexpected)]
        );
        assert_eq!((report.keys_at_target, report.keys_now), (4, 5));
        assert_eq!((report.kept, report.checks.len()), (2, 2));
    }

    /// The keys at T that no part of the destination's listing named are missing there,
    /// an empty object as much as any (its key is all it has), and only those.
    #[tokio::test]
    async fn every_key_at_t_the_destination_lacks_is_missing_even_an_empty_one() {
        use s3rewind_engine::{Versioning, sim::SimBucket};
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        for (key, body) in [("a", &b"a"[..]), ("empty", b""), ("z", b"z")] {
            sim.put(key, body, t0);
        }
        let (store, src, dst) = two_buckets(sim, Versioning::Enabled);
        store.with("dst", |d| d.put("a", b"a", t0));
        let at = t0 + chrono::TimeDelta::seconds(5);
        let report = verify_into(&src, &dst, at, Extras::default()).await;
        let named = differences(&report);
        let named: Vec<(&str, Outcome)> = named.iter().map(|(k, o)| (k.as_str(), *o)).collect();
        assert_eq!(
            named,
            [("empty", Outcome::Missing), ("z", Outcome::Missing)]
        );
        assert_eq!((report.keys_at_target, report.keys_now), (3, 1));
    }

    /// Into a directory the files are named by paths relative to the source prefix: a
    /// restore of `p/` finds the files it wrote beside their keys, and names as missing
    /// only the file that is not there (not a key outside the prefix or the selection).
    /// (The in-memory bucket's ETags are no MD5 of the content, so a file that is there
    /// compares as another ETag: what is asserted is which key meets which file.)
    #[tokio::test]
    async fn a_directory_is_verified_by_paths_relative_to_the_source_prefix() {
        use s3rewind_engine::{Versioning, sim::SimBucket};
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        for key in ["p/a", "p/d/b", "p/gone", "p/skipped", "q/other"] {
            sim.put(key, key.as_bytes(), t0);
        }
        let (_, src, _) = two_buckets(sim, Versioning::Enabled);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "p/a").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/b"), "p/d/b").unwrap();
        let quiet = Printer::new(crate::output::OutputFormat::Text, true, true);
        let at = t0 + chrono::TimeDelta::seconds(5);
        let target = crate::listing::list_bucket(&src, &quiet, "", 1000, Streams::ONE)
            .await
            .unwrap()
            .state_at(at);
        let source = Location {
            bucket: "src".into(),
            prefix: "p/".into(),
        };
        let filter = KeyFilter::new(&[], &["p/skipped".to_owned()], None).unwrap();
        let report = check(
            &quiet,
            &src,
            &source,
            &Side::Directory(dir.path().to_path_buf()),
            at,
            TargetState::whole(target),
            None,
            &filter,
            Extras::default(),
            false,
            (1000, Streams::ONE),
            4,
        )
        .await
        .unwrap();
        let named = differences(&report);
        let named: Vec<(&str, Outcome)> = named.iter().map(|(k, o)| (k.as_str(), *o)).collect();
        assert_eq!(
            named,
            [
                ("a", Outcome::DifferentEtag),
                ("d/b", Outcome::DifferentEtag),
                ("gone", Outcome::Missing)
            ]
        );
        assert_eq!((report.keys_at_target, report.keys_now), (3, 2));
    }
}
