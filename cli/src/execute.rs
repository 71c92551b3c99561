//! Executing a plan against S3: bounded, adaptive, parallel, resumable.
//!
//! Each action runs as its own task, at most `limit` at once. The limit starts at
//! `--concurrency`, halves whenever S3 answers SlowDown/503, and grows by one after each
//! run of `limit` successes (AIMD), never above `--concurrency`.
//!
//! Every action first reads the destination key's current version:
//! - if it is what the plan expected, the action goes ahead;
//! - if the key already holds the target content (a copy that "failed" with a timeout but
//!   in fact landed, or a restore resumed after a kill), it is counted as done and never
//!   repeated, so duplicate versions do not pile up;
//! - otherwise a concurrent writer changed it since the plan was made: the key is skipped
//!   and reported as drifted, never overwritten (unless `--force`).
//!
//! A failed request is not retried blindly: the action goes back in the queue and its
//! next attempt starts with that same read, so it converges on whatever actually happened.
//! Completed actions are appended to the [`Journal`].

use crate::commands::restore::Clients;
use crate::journal::{Done, Journal, Line, Op};
use crate::output::Printer;
use crate::s3::{Acl, ArchiveRestoreState, CopyRequest, ErrorKind, Head, ObjectAttrs, S3, S3Error};
use chrono::Utc;
use s3rewind_engine::{Action, CopyAction, DeleteMarkerAction, Expect, NULL_VERSION, RestorePlan};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::task::JoinSet;

/// How to execute.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The most actions in flight at once.
    pub concurrency: usize,
    /// Attempts per action before it is reported as failed.
    pub attempts: u32,
    /// Write even when a key drifted from what the plan expected.
    pub force: bool,
    /// Send `If-Match` / `If-None-Match` with copies (servers that support them close the
    /// race between the check and the write).
    pub conditional: bool,
    /// Storage class for copies (`None`: each source version's own).
    pub storage_class: Option<String>,
    /// SSE-KMS key for copies (`None`: each source version's own encryption).
    pub sse_kms_key_id: Option<String>,
    /// Copy each source version's ACL onto its copy.
    pub preserve_acl: bool,
    /// Objects larger than this are copied with multipart UploadPartCopy.
    pub multipart_threshold: u64,
    /// Part size for multipart copies.
    pub part_size: u64,
    /// Request restores of archived source versions.
    pub archive_restore: Option<ArchiveRestore>,
}

/// How to request archive restores.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveRestore {
    /// Days the restored copy stays available.
    pub days: i32,
    /// Retrieval tier.
    pub tier: crate::args::ArchiveTier,
}

/// The largest object a single CopyObject can copy (5 GiB).
pub const COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 32,
            attempts: 4,
            force: false,
            conditional: false,
            storage_class: None,
            sse_kms_key_id: None,
            preserve_acl: false,
            multipart_threshold: COPY_LIMIT,
            part_size: 256 * 1024 * 1024,
            archive_restore: None,
        }
    }
}

/// A key that did not end up restored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyIssue {
    /// The destination key.
    pub key: String,
    /// What happened.
    pub detail: String,
}

/// What an execution did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecReport {
    /// Copies made.
    pub copied: u64,
    /// Delete markers added.
    pub delete_markers: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Actions found already done (resumed or converged), not repeated.
    pub already_done: u64,
    /// Keys skipped because they changed since the plan was made.
    pub drifted: Vec<KeyIssue>,
    /// Actions that failed.
    pub failed: Vec<KeyIssue>,
    /// Copies waiting for an archive restore.
    pub waiting: Vec<KeyIssue>,
    /// Actions skipped on purpose, with the reason (`--to-dir`: folder markers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<KeyIssue>,
    /// True when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The concurrency limit at the end (lower than asked if S3 throttled).
    pub final_concurrency: usize,
    /// Times S3 asked us to slow down.
    pub throttled: u64,
}

impl ExecReport {
    /// True when every action completed.
    pub fn complete(&self) -> bool {
        self.drifted.is_empty()
            && self.failed.is_empty()
            && self.waiting.is_empty()
            && !self.interrupted
    }
}

/// The result of one attempt at one action.
enum Step {
    Copied {
        bytes: u64,
    },
    Marked,
    AlreadyDone,
    Drifted(String),
    Waiting(String),
    Failed(String),
    /// Try again (after reading the key again); `throttled` when S3 said slow down.
    Retry {
        throttled: bool,
        error: String,
    },
}

struct Ctx {
    /// Client for the source bucket.
    src: S3,
    /// Client for the destination bucket (the same as `src` unless configured apart).
    s3: S3,
    /// True when the destination has its own client: copies are streamed.
    separate: bool,
    source_bucket: String,
    dest_bucket: String,
    config: ExecConfig,
    journal: Option<Journal>,
}

fn retry_or_fail(e: S3Error) -> Step {
    match e.kind {
        ErrorKind::Throttled => Step::Retry {
            throttled: true,
            error: e.to_string(),
        },
        ErrorKind::PreconditionFailed => Step::Drifted(format!(
            "changed during the write (conditional request failed: {e})"
        )),
        ErrorKind::Archived => Step::Waiting(format!("archived: {e}")),
        ErrorKind::AccessDenied | ErrorKind::NoCredentials | ErrorKind::NoSuchBucket => {
            Step::Failed(e.to_string())
        }
        _ if e.is_transient() || e.kind == ErrorKind::Other => Step::Retry {
            throttled: false,
            error: e.to_string(),
        },
        _ => Step::Failed(e.to_string()),
    }
}

/// Additive-increase, multiplicative-decrease concurrency: halve on throttling, add one
/// after each run of `limit` completions, never above the configured maximum.
#[derive(Debug, Clone)]
pub struct Aimd {
    max: usize,
    limit: usize,
    streak: usize,
}

impl Aimd {
    /// Start at the maximum.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Aimd {
            max,
            limit: max,
            streak: 0,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// S3 said slow down.
    pub fn on_throttle(&mut self) {
        self.limit = (self.limit / 2).max(1);
        self.streak = 0;
    }

    /// A request completed without throttling.
    pub fn on_success(&mut self) {
        self.streak += 1;
        if self.streak >= self.limit && self.limit < self.max {
            self.limit += 1;
            self.streak = 0;
        }
    }
}

/// Parts copied at once within one multipart copy.
const PART_CONCURRENCY: usize = 8;
/// The smallest part S3 accepts (except the last).
const MIN_PART: u64 = 5 * 1024 * 1024;
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

/// Test hook: `S3REWIND_FAULT_INJECT=part-copy:N` makes the copy of part N of every
/// multipart copy fail, so tests can check that a failed upload is aborted. Never set it
/// in production.
fn fault_injected_part() -> Option<i32> {
    std::env::var("S3REWIND_FAULT_INJECT")
        .ok()?
        .strip_prefix("part-copy:")?
        .parse()
        .ok()
}

fn injected_failure(n: i32) -> S3Error {
    S3Error {
        kind: ErrorKind::Other,
        context: format!("UploadPartCopy part {n}"),
        code: Some("InjectedFault".to_owned()),
        status: None,
        message: "failure injected by S3REWIND_FAULT_INJECT".to_owned(),
    }
}

fn internal_error(message: String) -> S3Error {
    S3Error {
        kind: ErrorKind::Other,
        context: "internal".to_owned(),
        code: None,
        status: None,
        message,
    }
}

/// Does the key's current state match what the plan expected?
fn matches_expect(expect: Option<&Expect>, now: Option<&Head>) -> bool {
    match (expect, now) {
        (None, None) => true,
        (Some(e), Some(h)) => {
            h.version_id == e.version_id
                // `null` versions are replaced in place: the id alone proves nothing.
                && (e.version_id != NULL_VERSION || e.etag.is_empty() || h.etag == e.etag)
        }
        _ => false,
    }
}

fn describe(v: Option<&Head>) -> String {
    v.map_or_else(
        || "absent".to_owned(),
        |h| format!("version {}", h.version_id),
    )
}

fn describe_expect(e: Option<&Expect>) -> String {
    e.map_or_else(
        || "absent".to_owned(),
        |e| format!("version {}", e.version_id),
    )
}

impl Ctx {
    fn record(&self, done: Done) -> Result<(), String> {
        match &self.journal {
            Some(j) => j.append(&Line::Done(done)).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    async fn copy(&self, c: &CopyAction, attempt: u32) -> Step {
        let now = match self.s3.head(&self.dest_bucket, &c.key, None).await {
            Ok(h) => h,
            Err(e) => return retry_or_fail(e),
        };
        if !matches_expect(c.expect.as_ref(), now.as_ref()) {
            let holds_target = now
                .as_ref()
                .is_some_and(|h| !c.etag.is_empty() && h.etag == c.etag && h.size == c.size);
            if holds_target {
                if attempt > 0 {
                    // Our earlier attempt landed after all: journal it for undo.
                    let h = now.as_ref().expect("checked");
                    if let Err(e) = self.record(self.copy_done(c, &h.version_id)) {
                        return Step::Failed(e);
                    }
                }
                return Step::AlreadyDone;
            }
            if !self.config.force {
                return Step::Drifted(format!(
                    "expected {} but found {}; left as it is (use --force to overwrite)",
                    describe_expect(c.expect.as_ref()),
                    describe(now.as_ref())
                ));
            }
        }
        let head = match self
            .src
            .head(
                &self.source_bucket,
                &c.source_key,
                Some(&c.source_version_id),
            )
            .await
        {
            Ok(Some(h)) => h,
            Ok(None) => {
                return Step::Failed(format!(
                    "source version {} of {:?} no longer exists",
                    c.source_version_id, c.source_key
                ));
            }
            Err(e) => return retry_or_fail(e),
        };
        if head.needs_archive_restore() {
            return self.archived(c, &head).await;
        }
        let acl = if self.config.preserve_acl {
            match self
                .src
                .acl(&self.source_bucket, &c.source_key, &c.source_version_id)
                .await
            {
                Ok(a) => Some(a),
                Err(e) => return retry_or_fail(e),
            }
        } else {
            None
        };
        let acl = acl.as_ref();
        let result = if self.separate {
            self.stream_copy(c, &head, acl).await
        } else if head.size > self.config.multipart_threshold.min(COPY_LIMIT) {
            self.multipart_copy(c, &head, acl, now.as_ref()).await
        } else {
            let conditional = self.config.conditional && !self.config.force;
            let if_match = match (&now, conditional) {
                (Some(h), true) if !h.etag.is_empty() => Some(h.etag.as_str()),
                _ => None,
            };
            let request = CopyRequest {
                source_bucket: &self.source_bucket,
                source_key: &c.source_key,
                source_version_id: &c.source_version_id,
                bucket: &self.dest_bucket,
                key: &c.key,
                head: &head,
                storage_class: self.config.storage_class.as_deref(),
                sse_kms_key_id: self.config.sse_kms_key_id.as_deref(),
                if_match,
                if_none_match: conditional && now.is_none(),
                acl,
                source_if_match: (c.source_version_id == NULL_VERSION && !c.etag.is_empty())
                    .then_some(c.etag.as_str()),
            };
            self.s3.copy(&request).await
        };
        let new_version_id = match result {
            Ok(v) => v,
            Err(e) => return retry_or_fail(e),
        };
        let mut done = self.copy_done(c, &new_version_id);
        done.previous_version_id = now.map(|h| h.version_id);
        if new_version_id == NULL_VERSION && !self.confirm_written(&mut done, &head).await {
            // radosgw: a `null` source version copied into an unversioned bucket is
            // listed with the right size and ETag, but reads return another object.
            // Read back, found wrong: write the version's bytes with GET + PUT instead.
            tracing::warn!(
                key = c.key,
                "the server's copy does not read back as the source version; rewriting it with GET + PUT"
            );
            match self.stream_copy(c, &head, acl).await {
                Ok(v) => {
                    done = self.copy_done(c, &v);
                    if v == NULL_VERSION && !self.confirm_written(&mut done, &head).await {
                        return Step::Failed(format!(
                            "the copy at the destination does not read back as version {} of {:?} (size or ETag differ), even after GET + PUT",
                            c.source_version_id, c.source_key
                        ));
                    }
                }
                Err(e) => return retry_or_fail(e),
            }
        }
        if let Err(e) = self.record(done) {
            return Step::Failed(e);
        }
        Step::Copied { bytes: head.size }
    }

    /// An archived source version: request its restore when asked, else say what to do.
    async fn archived(&self, c: &CopyAction, head: &Head) -> Step {
        let what = format!(
            "{}{}",
            head.storage_class,
            head.archive_status
                .as_deref()
                .map(|a| format!(", {a}"))
                .unwrap_or_default()
        );
        if head.restore_ongoing() {
            return Step::Waiting(format!("archived ({what}); restore in progress"));
        }
        let Some(ar) = self.config.archive_restore else {
            return Step::Waiting(format!(
                "archived ({what}); re-run with --request-archive-restore, then again once restored"
            ));
        };
        // Intelligent-Tiering archive tiers take no Days; the others need one.
        let days = head.archive_status.is_none().then_some(ar.days);
        let tier = match ar.tier {
            crate::args::ArchiveTier::Standard => "Standard",
            crate::args::ArchiveTier::Bulk => "Bulk",
            crate::args::ArchiveTier::Expedited => "Expedited",
        };
        match self
            .src
            .request_archive_restore(
                &self.source_bucket,
                &c.source_key,
                &c.source_version_id,
                days,
                tier,
            )
            .await
        {
            Ok(ArchiveRestoreState::Requested) => Step::Waiting(format!(
                "archived ({what}); restore requested ({tier}); run again once it is ready"
            )),
            Ok(ArchiveRestoreState::InProgress) => {
                Step::Waiting(format!("archived ({what}); restore in progress"))
            }
            Err(e) => Step::Failed(format!("archived ({what}); restore request failed: {e}")),
        }
    }

    /// Copy a version above the CopyObject limit (or the threshold): CreateMultipartUpload
    /// with the source's attributes, UploadPartCopy of each range in parallel, Complete;
    /// on any failure the upload is aborted, so none is left behind.
    async fn multipart_copy(
        &self,
        c: &CopyAction,
        head: &Head,
        acl: Option<&Acl>,
        before: Option<&Head>,
    ) -> Result<String, S3Error> {
        let tags = self
            .src
            .tags(&self.source_bucket, &c.source_key, &c.source_version_id)
            .await?;
        let attrs = ObjectAttrs {
            head,
            tags: &tags,
            storage_class: self.config.storage_class.as_deref(),
            sse_kms_key_id: self.config.sse_kms_key_id.as_deref(),
            keep_source_kms: true,
            acl,
        };
        let upload_id = self
            .s3
            .create_multipart(&self.dest_bucket, &c.key, &attrs)
            .await?;
        self.note_upload(&c.key, &upload_id, true);
        let ranges = part_ranges(head.size, self.config.part_size);
        let result = self.copy_parts(c, &upload_id, &ranges).await;
        let result = match result {
            Ok(parts) => {
                let done = self
                    .s3
                    .complete_multipart(&self.dest_bucket, &c.key, &upload_id, &parts)
                    .await;
                match done {
                    Err(e) if e.is_transient() || e.kind == ErrorKind::Other => {
                        self.completed_anyway(c, head, before).await.ok_or(e)
                    }
                    other => other,
                }
            }
            Err(e) => Err(e),
        };
        if result.is_err()
            && let Err(e) = self
                .s3
                .abort_multipart(&self.dest_bucket, &c.key, &upload_id)
                .await
        {
            tracing::warn!(key = c.key, upload_id, error = %e, "could not abort a multipart upload");
            return result;
        }
        self.note_upload(&c.key, &upload_id, false);
        let version = result?;
        if let Err(e) = self.ensure_tags(&c.key, &version, &tags).await {
            // The object is there and complete: a retry would only add a version.
            tracing::warn!(key = c.key, error = %e, "copied, but its tags could not be checked or set");
        }
        Ok(version)
    }

    /// Some servers (radosgw) ignore `x-amz-tagging` on CreateMultipartUpload: after the
    /// upload completed, read the new version's tags and put them when they are missing.
    async fn ensure_tags(
        &self,
        key: &str,
        version: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Error> {
        if tags.is_empty() {
            return Ok(());
        }
        let version = (version != NULL_VERSION).then_some(version);
        let mut now = self
            .s3
            .tags(&self.dest_bucket, key, version.unwrap_or_default())
            .await?;
        let mut want = tags.to_vec();
        now.sort();
        want.sort();
        if now != want {
            tracing::debug!(
                key,
                "the server dropped the tags of a multipart upload; putting them"
            );
            self.s3
                .put_tags(&self.dest_bucket, key, version, tags)
                .await?;
        }
        Ok(())
    }

    /// After an unclear CompleteMultipartUpload failure (a timeout, an unreadable reply):
    /// did it complete? Yes if the key now holds a new version of the source's size.
    async fn completed_anyway(
        &self,
        c: &CopyAction,
        head: &Head,
        before: Option<&Head>,
    ) -> Option<String> {
        let now = self.s3.head(&self.dest_bucket, &c.key, None).await.ok()??;
        let new = before.is_none_or(|b| b.version_id != now.version_id);
        (new && now.size == head.size).then_some(now.version_id)
    }

    async fn copy_parts(
        &self,
        c: &CopyAction,
        upload_id: &str,
        ranges: &[(u64, u64)],
    ) -> Result<Vec<(i32, String)>, S3Error> {
        let fail_part = fault_injected_part();
        let mut parts = Vec::with_capacity(ranges.len());
        let mut tasks = JoinSet::new();
        let mut next = 0usize;
        let mut failure = None;
        while next < ranges.len() || !tasks.is_empty() {
            while failure.is_none() && next < ranges.len() && tasks.len() < PART_CONCURRENCY {
                let n = next as i32 + 1;
                let range = ranges[next];
                let (s3, bucket, key, upload, sb, sk, sv) = (
                    self.s3.clone(),
                    self.dest_bucket.clone(),
                    c.key.clone(),
                    upload_id.to_owned(),
                    self.source_bucket.clone(),
                    c.source_key.clone(),
                    c.source_version_id.clone(),
                );
                tasks.spawn(async move {
                    if fail_part == Some(n) {
                        return (n, Err(injected_failure(n)));
                    }
                    let r = s3
                        .upload_part_copy(&bucket, &key, &upload, n, (&sb, &sk, &sv), range)
                        .await;
                    (n, r)
                });
                next += 1;
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok((n, Ok(etag))) => parts.push((n, etag)),
                Ok((_, Err(e))) => failure = failure.or(Some(e)),
                Err(e) => failure = failure.or(Some(internal_error(e.to_string()))),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        parts.sort();
        Ok(parts)
    }

    /// Copy between two clients (another account or provider): GET from the source,
    /// PUT to the destination, with the source's attributes; multipart above the part
    /// size, aborted on failure.
    async fn stream_copy(
        &self,
        c: &CopyAction,
        head: &Head,
        acl: Option<&Acl>,
    ) -> Result<String, S3Error> {
        let tags = self
            .src
            .tags(&self.source_bucket, &c.source_key, &c.source_version_id)
            .await?;
        let attrs = ObjectAttrs {
            head,
            tags: &tags,
            storage_class: self.config.storage_class.as_deref(),
            sse_kms_key_id: self.config.sse_kms_key_id.as_deref(),
            keep_source_kms: false,
            acl,
        };
        let get = |range: Option<(u64, u64)>| {
            let range = range.map(|(a, b)| format!("bytes={a}-{b}"));
            async move {
                self.src
                    .get(
                        &self.source_bucket,
                        &c.source_key,
                        &c.source_version_id,
                        range.as_deref(),
                    )
                    .await
            }
        };
        if head.size <= self.config.part_size.max(MIN_PART) {
            let body = get(None).await?;
            return self
                .s3
                .put_with_attrs(&self.dest_bucket, &c.key, body, &attrs)
                .await;
        }
        let upload_id = self
            .s3
            .create_multipart(&self.dest_bucket, &c.key, &attrs)
            .await?;
        self.note_upload(&c.key, &upload_id, true);
        let mut parts = Vec::new();
        let mut result = Ok(());
        for (i, range) in part_ranges(head.size, self.config.part_size)
            .into_iter()
            .enumerate()
        {
            let n = i as i32 + 1;
            let step = async {
                let body = get(Some(range)).await?;
                self.s3
                    .upload_part(&self.dest_bucket, &c.key, &upload_id, n, body)
                    .await
            };
            match step.await {
                Ok(etag) => parts.push((n, etag)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let result = match result {
            Ok(()) => {
                self.s3
                    .complete_multipart(&self.dest_bucket, &c.key, &upload_id, &parts)
                    .await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            let _ = self
                .s3
                .abort_multipart(&self.dest_bucket, &c.key, &upload_id)
                .await;
        }
        self.note_upload(&c.key, &upload_id, false);
        let version = result?;
        if let Err(e) = self.ensure_tags(&c.key, &version, &tags).await {
            // The object is there and complete: a retry would only add a version.
            tracing::warn!(key = c.key, error = %e, "copied, but its tags could not be checked or set");
        }
        Ok(version)
    }

    /// Journal the start (or the end) of a multipart upload, so that a run killed in the
    /// middle can abort it when it is started again.
    fn note_upload(&self, key: &str, upload_id: &str, started: bool) {
        if let Some(j) = &self.journal {
            let line = Line::Upload {
                bucket: self.dest_bucket.clone(),
                key: key.to_owned(),
                upload_id: upload_id.to_owned(),
                open: started,
            };
            if let Err(e) = j.append(&line) {
                tracing::warn!(error = %e, "could not journal a multipart upload");
            }
        }
    }

    /// The write's response named no version (`null`): radosgw's CopyObject never does,
    /// nor does any unversioned destination. Read the key back once (HEAD, as users read
    /// it) so the journal holds the real version id, or, where there is none, the ETag
    /// and size that identify the copy. Returns false when the key does not read back as
    /// the source version (another size, or another ETag where the source's is an MD5);
    /// the version is then recorded as unknown (empty), which later runs and `undo`
    /// treat as not ours.
    async fn confirm_written(&self, done: &mut Done, source: &Head) -> bool {
        let md5 = |e: &str| e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit());
        match self.s3.head(&self.dest_bucket, &done.key, None).await {
            Ok(Some(h))
                if h.size == source.size && (!md5(&source.etag) || h.etag == source.etag) =>
            {
                done.new_version_id = h.version_id;
                done.etag = Some(h.etag);
                done.size = Some(h.size);
                true
            }
            Ok(_) => {
                done.new_version_id = String::new();
                false
            }
            Err(e) => {
                tracing::warn!(key = done.key, error = %e, "could not read back a copy that named no version");
                done.new_version_id = String::new();
                true
            }
        }
    }

    fn copy_done(&self, c: &CopyAction, new_version_id: &str) -> Done {
        Done {
            op: Op::Copy,
            bucket: self.dest_bucket.clone(),
            key: c.key.clone(),
            source_bucket: Some(self.source_bucket.clone()),
            source_key: Some(c.source_key.clone()),
            source_version_id: Some(c.source_version_id.clone()),
            previous_version_id: c.expect.as_ref().map(|e| e.version_id.clone()),
            new_version_id: new_version_id.to_owned(),
            etag: None,
            size: None,
            time: Utc::now(),
        }
    }

    async fn delete_marker(&self, d: &DeleteMarkerAction, attempt: u32) -> Step {
        let now = match self.s3.head(&self.dest_bucket, &d.key, None).await {
            Ok(h) => h,
            Err(e) => return retry_or_fail(e),
        };
        if now.is_none() {
            // Already absent: an earlier attempt landed, or someone deleted it. Never
            // stack a second delete marker.
            if attempt > 0 {
                let done = Done {
                    op: Op::DeleteMarker,
                    bucket: self.dest_bucket.clone(),
                    key: d.key.clone(),
                    source_bucket: None,
                    source_key: None,
                    source_version_id: None,
                    previous_version_id: Some(d.expect.version_id.clone()),
                    new_version_id: String::new(),
                    etag: None,
                    size: None,
                    time: Utc::now(),
                };
                if let Err(e) = self.record(done) {
                    return Step::Failed(e);
                }
            }
            return Step::AlreadyDone;
        }
        if !matches_expect(Some(&d.expect), now.as_ref()) && !self.config.force {
            return Step::Drifted(format!(
                "expected version {} but found {}; left as it is (use --force to delete anyway)",
                d.expect.version_id,
                describe(now.as_ref())
            ));
        }
        match self.s3.add_delete_marker(&self.dest_bucket, &d.key).await {
            Ok(new_version_id) => {
                let done = Done {
                    op: Op::DeleteMarker,
                    bucket: self.dest_bucket.clone(),
                    key: d.key.clone(),
                    source_bucket: None,
                    source_key: None,
                    source_version_id: None,
                    previous_version_id: now.map(|h| h.version_id),
                    new_version_id,
                    etag: None,
                    size: None,
                    time: Utc::now(),
                };
                match self.record(done) {
                    Ok(()) => Step::Marked,
                    Err(e) => Step::Failed(e),
                }
            }
            Err(e) => retry_or_fail(e),
        }
    }
}

/// A flag that Ctrl-C sets, and the task watching for it (abort it when done). Executors
/// check the flag before starting each action, so in-flight actions finish and are
/// journaled, and the rest is left for a re-run.
pub fn ctrl_c_flag() -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    (cancel, watcher)
}

/// Print the keys that did not complete, one titled list per outcome.
pub fn print_issues(printer: &Printer, lists: &[(&str, &[KeyIssue])]) {
    for (title, list) in lists {
        if !list.is_empty() {
            printer.line(format!("{title} ({}):", list.len()));
            for i in list.iter() {
                printer.line(format!("  {:?}: {}", i.key, i.detail));
            }
        }
    }
}

/// Execute a plan's actions. `journal` receives every completed action.
///
/// Never returns early on a failed action: every action is attempted, and the report
/// lists every one that did not complete.
pub async fn execute(
    clients: &Clients,
    plan: &RestorePlan,
    config: &ExecConfig,
    journal: Option<Journal>,
    printer: &Printer,
) -> ExecReport {
    let started = Instant::now();
    let dest_bucket = plan
        .destination_location()
        .map_or_else(|| plan.source.bucket.clone(), |l| l.bucket.clone());
    let ctx = Arc::new(Ctx {
        src: clients.source.clone(),
        s3: clients.dest.clone(),
        separate: clients.separate,
        source_bucket: plan.source.bucket.clone(),
        dest_bucket,
        config: config.clone(),
        journal,
    });
    let actions: Arc<Vec<Action>> = Arc::new(plan.actions.clone());
    let (cancel, watcher) = ctrl_c_flag();

    let bar = printer.bar(actions.len() as u64, "restoring");
    let mut aimd = Aimd::new(config.concurrency);
    let mut report = ExecReport::default();
    let mut queue: VecDeque<(usize, u32)> = (0..actions.len()).map(|i| (i, 0)).collect();
    let mut tasks: JoinSet<(usize, u32, Step)> = JoinSet::new();

    loop {
        if cancel.load(Ordering::SeqCst) {
            report.interrupted = true;
        }
        while !report.interrupted && tasks.len() < aimd.limit() {
            let Some((i, attempt)) = queue.pop_front() else {
                break;
            };
            let ctx = ctx.clone();
            let actions = actions.clone();
            tasks.spawn(async move {
                let step = match &actions[i] {
                    Action::Copy(c) => ctx.copy(c, attempt).await,
                    Action::DeleteMarker(d) => ctx.delete_marker(d, attempt).await,
                };
                (i, attempt, step)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, attempt, step) = match joined {
            Ok(r) => r,
            Err(e) => {
                report.failed.push(KeyIssue {
                    key: String::new(),
                    detail: format!("internal error: {e}"),
                });
                continue;
            }
        };
        let key = actions[i].key().to_owned();
        let issue = |detail: String| KeyIssue {
            key: key.clone(),
            detail,
        };
        match step {
            Step::Retry { throttled, error } => {
                if throttled {
                    report.throttled += 1;
                    aimd.on_throttle();
                    tracing::debug!(limit = aimd.limit(), "throttled: concurrency lowered");
                    tokio::time::sleep(crate::s3::THROTTLE_PAUSE).await;
                }
                if attempt + 1 < config.attempts {
                    tracing::debug!(key, attempt, error, "retrying after reading the key again");
                    queue.push_back((i, attempt + 1));
                } else {
                    report.failed.push(issue(format!(
                        "gave up after {} attempts: {error}",
                        attempt + 1
                    )));
                    bar.inc(1);
                }
                continue;
            }
            Step::Copied { bytes } => {
                report.copied += 1;
                report.bytes_copied += bytes;
            }
            Step::Marked => report.delete_markers += 1,
            Step::AlreadyDone => report.already_done += 1,
            Step::Drifted(d) => report.drifted.push(issue(d)),
            Step::Waiting(d) => report.waiting.push(issue(d)),
            Step::Failed(d) => report.failed.push(issue(d)),
        }
        bar.inc(1);
        aimd.on_success();
    }
    bar.finish_and_clear();
    watcher.abort();
    for (i, _) in queue {
        if report.interrupted {
            continue;
        }
        report.failed.push(KeyIssue {
            key: actions[i].key().to_owned(),
            detail: "not attempted".to_owned(),
        });
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.final_concurrency = aimd.limit();
    report.drifted.sort_by(|a, b| a.key.cmp(&b.key));
    report.failed.sort_by(|a, b| a.key.cmp(&b.key));
    report.waiting.sort_by(|a, b| a.key.cmp(&b.key));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aimd_halves_on_throttling_and_grows_back_slowly() {
        let mut a = Aimd::new(32);
        a.on_throttle();
        a.on_throttle();
        assert_eq!(a.limit(), 8);
        for _ in 0..7 {
            a.on_success();
        }
        assert_eq!(a.limit(), 8, "grows only after a full window of successes");
        a.on_success();
        assert_eq!(a.limit(), 9);
        for _ in 0..10_000 {
            a.on_success();
        }
        assert_eq!(a.limit(), 32, "never above the maximum");
        for _ in 0..10 {
            a.on_throttle();
        }
        assert_eq!(a.limit(), 1, "never below one");
    }

    #[test]
    fn part_ranges_cover_the_object_within_s3_limits() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(
            part_ranges(11 * MIB, 5 * MIB),
            vec![
                (0, 5 * MIB - 1),
                (5 * MIB, 10 * MIB - 1),
                (10 * MIB, 11 * MIB - 1)
            ]
        );
        // A part size below 5 MiB is raised to 5 MiB.
        assert_eq!(part_ranges(6 * MIB, 1).len(), 2);
        // Never more than 10,000 parts.
        let huge = 5 * 1024 * 1024 * MIB;
        let r = part_ranges(huge, 5 * MIB);
        assert!(r.len() <= 10_000);
        assert_eq!(r.last().unwrap().1, huge - 1);
        for w in r.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0);
        }
    }
}
