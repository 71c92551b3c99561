//! Executing a plan on two [`Bucket`]s, through the one runner
//! ([`crate::run`]): a whole plan ([`run_plan`]), or actions as a planner
//! hands them over while the source is still being listed ([`run_stream`], for a
//! destination range that held nothing).
//!
//! Every action first learns the destination key's current version: from a listing of
//! the destination range taken right before (one request per page of entries, streamed:
//! copying starts as soon as the listing has passed a key), or, for a plan that touches
//! few of the destination's keys, and after any failed attempt, from a HEAD of the key:
//! - if it is what the plan expected, the action goes ahead;
//! - if the key already holds the target content (a copy that "failed" with a timeout but
//!   in fact landed, or a restore resumed after a kill), it is counted as done and never
//!   repeated, so duplicate versions do not pile up;
//! - otherwise a concurrent writer changed it since the plan was made: the key is skipped
//!   and reported as drifted, never overwritten (unless `--force`).
//!
//! A failed request is not retried blindly: the action goes back in the queue and its
//! next attempt starts with a fresh read, so it converges on whatever actually happened.
//! Completed actions are appended to the [`Journal`].
//!
//! A copy is one CopyObject, which carries the version's bytes, metadata, content
//! headers and tags by itself; the source version is read first (HEAD) only for what a
//! listing cannot show: `--fidelity full`, multipart and streamed copies, archived
//! classes. Where the endpoint supports conditional writes (AWS), copies carry
//! `If-Match`/`If-None-Match` with what the listing saw, which closes the race between
//! the check and the write.

use crate::bucket::{Bucket, Part, PartCopy};
use crate::error::CliResult;
use crate::journal::{Done, Journal, Line, Op};
use crate::output::Printer;
pub use crate::run::{Aimd, ExecReport, KeyIssue, print_issues};
use crate::run::{Attempt, Items, Job, Probe, RunOptions, Step};
use crate::s3::{Acl, ArchiveRestoreState, CopyRequest, ErrorKind, Head, ObjectAttrs, S3Error};
use crate::spill::ActionSpool;
use chrono::Utc;
use s3rewind_engine::{Action, CopyAction, DeleteMarkerAction, Expect, NULL_VERSION, RestorePlan};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
    /// Send `If-Match` / `If-None-Match` with copies where the destination supports them
    /// (its [`Capabilities`](crate::bucket::Capabilities): AWS's own endpoints): they
    /// close the race between the check and the write.
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
    /// `--fidelity full`: read each source version (HEAD) before copying it, to carry
    /// what a listing cannot show (its own SSE-KMS key, website redirect).
    pub fidelity_full: bool,
    /// How long to wait after a throttled request before going on.
    pub throttle_pause: std::time::Duration,
    /// Caps on requests per second, bytes and cost (see [`crate::bucket::Capped`]); the
    /// buckets of the run are wrapped in them by whoever builds the run's buckets.
    pub caps: Option<Arc<crate::bucket::Caps>>,
}

/// How to request archive restores.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveRestore {
    /// Days the restored copy stays available.
    pub days: i32,
    /// Retrieval tier.
    /// Retrieval tier, as RestoreObject names it (`Standard`, `Bulk`, `Expedited`).
    pub tier: &'static str,
}

pub use crate::bucket::{COPY_LIMIT, part_ranges};

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
            fidelity_full: false,
            throttle_pause: crate::s3::THROTTLE_PAUSE,
            caps: None,
        }
    }
}

/// The runner's job for a plan: one item is one action, run against the two buckets.
struct ActionJob {
    /// The source bucket.
    src: Arc<dyn Bucket>,
    /// The destination bucket (the same endpoint as `src` unless configured apart).
    dst: Arc<dyn Bucket>,
    /// True when the destination has its own client: copies are streamed.
    separate: bool,
    config: ExecConfig,
    journal: Option<Journal>,
    /// The actions it runs (see [`Actions`]).
    actions: std::sync::RwLock<Actions>,
    /// The destination range is listed: right before the writes for the drift check
    /// instead of a HEAD per action, and after the run to read back the copies that
    /// named no version instead of a HEAD each (see [`read_back`]).
    list_range: bool,
    /// Such copies, journaled with an unknown version until then, with the source
    /// version they copied.
    unresolved: std::sync::Mutex<Vec<(Done, Head)>>,
}

/// The actions a job runs, by the runner's item index.
enum Actions {
    /// A plan's, all known before the run (shared, not copied: see [`run_plan_owned`]).
    Plan(Arc<Vec<Action>>),
    /// Those a planner hands over while its listing goes on ([`run_stream`]), each kept
    /// only until the runner settles it: what is held is the runner's window, not the
    /// plan, however many actions pass through.
    Handed {
        /// The actions not settled yet.
        open: std::collections::HashMap<usize, Action>,
        /// The index the next one handed over gets.
        next: usize,
        /// The most held at once.
        most: usize,
    },
}

impl Actions {
    /// An empty store of handed-over actions.
    fn handed() -> Actions {
        Actions::Handed {
            open: Default::default(),
            next: 0,
            most: 0,
        }
    }

    fn get(&self, i: usize) -> Action {
        match self {
            Actions::Plan(all) => all[i].clone(),
            Actions::Handed { open, .. } => open
                .get(&i)
                .cloned()
                .expect("the runner asks only for items it has not settled"),
        }
    }

    /// Take one more action (handed over): its index.
    fn push(&mut self, a: Action) -> usize {
        match self {
            Actions::Plan(_) => unreachable!("a plan's actions are all given before its run"),
            Actions::Handed { open, next, most } => {
                open.insert(*next, a);
                *most = (*most).max(open.len());
                *next += 1;
                *next - 1
            }
        }
    }

    /// Item `i` is settled: a handed-over action is forgotten.
    fn settle(&mut self, i: usize) {
        if let Actions::Handed { open, .. } = self {
            open.remove(&i);
        }
    }

    /// Actions held now, and the most held at once.
    fn held(&self) -> (usize, usize) {
        match self {
            Actions::Plan(all) => (all.len(), all.len()),
            Actions::Handed { open, most, .. } => (open.len(), *most),
        }
    }
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
        // Not sent: the runner sees the cap and stops; the action waits for a re-run.
        ErrorKind::CapReached => Step::Retry {
            throttled: false,
            error: e.to_string(),
        },
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

/// Parts copied at once within one multipart copy.
const PART_CONCURRENCY: usize = 8;
/// Test hook: `S3REWIND_FAULT_INJECT=part-copy:N` makes the copy of part N of every
/// multipart copy fail, so tests can check that a failed upload is aborted. Compiled into
/// debug builds only: a release binary has no such hook.
#[cfg(debug_assertions)]
fn fault_injected_part() -> Option<i32> {
    std::env::var("S3REWIND_FAULT_INJECT")
        .ok()?
        .strip_prefix("part-copy:")?
        .parse()
        .ok()
}

#[cfg(not(debug_assertions))]
fn fault_injected_part() -> Option<i32> {
    None
}

fn injected_failure(n: i32) -> S3Error {
    S3Error {
        kind: ErrorKind::Other,
        context: format!("UploadPartCopy part {n}"),
        code: Some("InjectedFault".to_owned()),
        status: None,
        message: "failure injected by the test hook".to_owned(),
    }
}

fn internal_error(message: String) -> S3Error {
    S3Error::other("internal".to_owned(), message)
}

/// Is `e` a server's refusal to copy a version onto its own key ("copy an object to
/// itself" without changing anything: 400 InvalidRequest)? S3 allows it for an older
/// version (the documented way to restore one); some servers refuse it anyway.
fn refuses_self_copy(e: &S3Error, c: &CopyAction, src: &str, dst: &str) -> bool {
    src == dst
        && c.source_key == c.key
        && e.status == Some(400)
        && e.code.as_deref() == Some("InvalidRequest")
        // "…to itself…", "…onto itself…": every wording seen names it.
        && e.message.to_lowercase().contains("itself")
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

impl ActionJob {
    fn new(
        buckets: Buckets,
        config: &ExecConfig,
        journal: Option<Journal>,
        actions: Actions,
        list_range: bool,
    ) -> Arc<ActionJob> {
        // Conditional writes go only where the destination says it honours them.
        let conditional = config.conditional && buckets.dst.capabilities().conditional_writes;
        Arc::new(ActionJob {
            src: buckets.src,
            dst: buckets.dst,
            separate: buckets.separate,
            config: ExecConfig {
                conditional,
                ..config.clone()
            },
            journal,
            actions: std::sync::RwLock::new(actions),
            list_range,
            unresolved: Default::default(),
        })
    }

    /// Run `items` with the one runner, then read back the copies that named no version
    /// (by a listing of `prefix`, see [`read_back`]).
    async fn run(
        self: &Arc<Self>,
        items: Items,
        prefix: &str,
        printer: &Printer,
        stop: Option<&AtomicBool>,
    ) -> ExecReport {
        let options = RunOptions {
            concurrency: self.config.concurrency,
            attempts: self.config.attempts,
            throttle_pause: self.config.throttle_pause,
            label: "restoring",
            caps: self.config.caps.clone(),
        };
        let report = crate::run::run_job(self.clone(), items, &options, printer, stop).await;
        let unresolved =
            std::mem::take(&mut *self.unresolved.lock().unwrap_or_else(|p| p.into_inner()));
        if !unresolved.is_empty() {
            read_back(self, prefix, unresolved, printer).await;
        }
        report
    }

    /// Say (debug) how many handed-over actions the `what` run still holds, and the most
    /// it held at once.
    fn log_held(&self, what: &str) {
        let (held, most) = self
            .actions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .held();
        tracing::debug!(
            held,
            most,
            "actions held by the {what} run (left, most at once)"
        );
    }

    /// Action `i` (a copy: the list may grow meanwhile).
    fn action(&self, i: usize) -> Action {
        self.actions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(i)
    }

    fn record(&self, done: Done) -> Result<(), String> {
        match &self.journal {
            Some(j) => j.append(&Line::Done(done)).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// One attempt at one copy: the destination checked against the plan, the source
    /// version read where a listing cannot tell enough, the copy made (streamed,
    /// multipart or one CopyObject), and what it wrote confirmed and journaled.
    async fn copy(&self, c: &CopyAction, attempt: u32, probe: Probe) -> Step {
        let now = match self.check_destination(c, attempt, probe).await {
            Ok(now) => now,
            Err(step) => return step,
        };
        let read_source = self.needs_source_head(c);
        let head = if read_source {
            match self.source_head(c).await {
                Ok(h) => h,
                Err(step) => return step,
            }
        } else {
            listed_source(c)
        };
        if head.needs_archive_restore() {
            return self.archived(c, &head).await;
        }
        if read_source
            && c.source_version_id == NULL_VERSION
            && !c.etag.is_empty()
            && !reads_as(&head.etag, head.size, &listed_source(c))
        {
            return Step::Drifted(format!(
                "the source's null version changed after the plan (ETag {}, {} bytes now; {}, {} bytes planned); nothing written",
                head.etag, head.size, c.etag, c.size
            ));
        }
        let acl = if self.config.preserve_acl {
            match self
                .src
                .acl(&c.source_key, &c.source_version_id.as_str())
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
            match self.single_copy(c, &head, acl, now.as_ref()).await {
                Ok(result) => result,
                Err(step) => return step,
            }
        };
        let single = !self.separate && head.size <= self.config.multipart_threshold.min(COPY_LIMIT);
        let new_version_id = match result {
            Ok(v) => match self.copied_other_content(c, &v, single).await {
                Some(h) => return self.drifted_source(c, now, h),
                None => v,
            },
            // An archive tier the listing does not show (Intelligent-Tiering): now read
            // the version to say what to do.
            Err(e) if e.kind == ErrorKind::Archived && !read_source => {
                return match self
                    .src
                    .head(&c.source_key, Some(&c.source_version_id.as_str()))
                    .await
                {
                    Ok(Some(h)) => self.archived(c, &h).await,
                    _ => retry_or_fail(e),
                };
            }
            Err(e) => return retry_or_fail(e),
        };
        self.copied(c, new_version_id, now, head, acl).await
    }

    /// The destination key now (from the listing's probe, or read), checked against what
    /// the plan expects there: `Err` with the step when the copy is already done (an
    /// earlier attempt landed: journaled now) or the key drifted.
    async fn check_destination(
        &self,
        c: &CopyAction,
        attempt: u32,
        probe: Probe,
    ) -> Result<Option<Head>, Step> {
        let now = match probe {
            Probe::Listed(now) => now.map(|h| *h),
            Probe::Read => self.dst.head(&c.key, None).await.map_err(retry_or_fail)?,
        };
        if matches_expect(c.expect.as_ref(), now.as_ref()) {
            return Ok(now);
        }
        let holds_target = now
            .as_ref()
            .is_some_and(|h| !c.etag.is_empty() && h.etag == c.etag && h.size == c.size);
        if holds_target {
            if attempt > 0 {
                // Our earlier attempt landed after all (its reply was lost): journal it
                // for undo, and count it as the copy it is.
                let h = now.as_ref().expect("checked");
                self.record(self.copy_done(c, &h.version_id))
                    .map_err(Step::Failed)?;
                return Err(Step::Copied { bytes: c.size });
            }
            return Err(Step::AlreadyDone);
        }
        if !self.config.force {
            return Err(Step::Drifted(format!(
                "expected {} but found {}; left as it is (use --force to overwrite)",
                describe_expect(c.expect.as_ref()),
                describe(now.as_ref())
            )));
        }
        Ok(now)
    }

    /// The source version's HEAD (`Err` with the step when it is gone or unreadable).
    async fn source_head(&self, c: &CopyAction) -> Result<Head, Step> {
        match self
            .src
            .head(&c.source_key, Some(&c.source_version_id.as_str()))
            .await
        {
            Ok(Some(h)) => Ok(h),
            Ok(None) => Err(Step::Failed(format!(
                "source version {} of {:?} no longer exists",
                c.source_version_id, c.source_key
            ))),
            Err(e) => Err(retry_or_fail(e)),
        }
    }

    /// One CopyObject, conditional on the destination as checked. A server that refuses
    /// to copy an older version onto its own key unchanged (S3 allows it) gets the copy
    /// again with the source's own metadata written explicitly.
    async fn single_copy(
        &self,
        c: &CopyAction,
        head: &Head,
        acl: Option<&Acl>,
        now: Option<&Head>,
    ) -> Result<Result<String, S3Error>, Step> {
        let conditional = self.config.conditional && !self.config.force;
        let if_match = match (now, conditional) {
            (Some(h), true) if !h.etag.is_empty() => Some(h.etag.as_str()),
            _ => None,
        };
        let (version_id, etag) = (c.source_version_id.as_str(), c.etag.as_str());
        let mut request = CopyRequest {
            source_bucket: self.src.name(),
            source_key: &c.source_key,
            source_version_id: &version_id,
            bucket: self.dst.name(),
            key: &c.key,
            head,
            storage_class: self.config.storage_class.as_deref(),
            sse_kms_key_id: self.config.sse_kms_key_id.as_deref(),
            if_match,
            if_none_match: conditional && now.is_none(),
            acl,
            source_if_match: (c.source_version_id == NULL_VERSION && !c.etag.is_empty())
                .then_some(&*etag),
            // `--fidelity full` read the source: every attribute is written as read, so
            // servers that drop some on copy (Expires) keep them.
            replace_metadata: self.config.fidelity_full,
        };
        match self.dst.copy(&request).await {
            Err(e)
                if refuses_self_copy(&e, c, self.src.name(), self.dst.name())
                    && !request.replace_metadata =>
            {
                // The copy is made again with the source's own metadata, content headers
                // and Expires written explicitly (read by HEAD), which such servers
                // accept. The refusal wrote nothing.
                tracing::debug!(
                    key = c.key,
                    "the server refuses a self-copy: copying with the metadata replaced"
                );
                let full = self.source_head(c).await?;
                request.head = &full;
                request.replace_metadata = true;
                Ok(self.dst.copy(&request).await)
            }
            other => Ok(other),
        }
    }

    /// A `null` source version can be rewritten in place after the plan, and a server
    /// that ignores `x-amz-copy-source-if-match` (moto, radosgw: conditional writes off)
    /// copies what it holds now; a multipart or streamed copy (`single` false) carries no
    /// condition on the source anywhere. Such a copy is read back, and where it does not
    /// read as the planned version (see [`reads_as`]; a multipart copy's ETag never does)
    /// the source is read too: the destination's head when the source no longer holds
    /// the planned content, else `None` (a copy that reads wrong from an unchanged source
    /// is radosgw's, which [`copied`](Self::copied) rewrites with GET + PUT).
    async fn copied_other_content(
        &self,
        c: &CopyAction,
        new_version_id: &str,
        single: bool,
    ) -> Option<Head> {
        if (single && self.config.conditional)
            || c.source_version_id != NULL_VERSION
            || c.etag.is_empty()
        {
            return None;
        }
        let planned = listed_source(c);
        let version = (new_version_id != NULL_VERSION).then_some(new_version_id);
        let copy = match self.dst.head(&c.key, version).await {
            Ok(Some(h)) if !single || !reads_as(&h.etag, h.size, &planned) => h,
            Ok(_) => return None,
            Err(e) => {
                // Not read back: the verification at the end still compares the key.
                tracing::warn!(key = c.key, error = %e, "could not read back a copy of a null version");
                return None;
            }
        };
        match self.src.head(&c.source_key, Some(NULL_VERSION)).await {
            Ok(Some(s)) if reads_as(&s.etag, s.size, &planned) => None,
            Ok(_) => Some(copy),
            Err(e) => {
                tracing::warn!(key = c.source_key, error = %e, "could not read the source's null version");
                None
            }
        }
    }

    /// A copy that holds other content than planned ([`Self::copied_other_content`]):
    /// journaled as ours (undo takes it back) and reported as drifted, never as copied.
    fn drifted_source(&self, c: &CopyAction, now: Option<Head>, h: Head) -> Step {
        let mut done = self.copy_done(c, &h.version_id);
        done.previous_version_id = now.map(|n| n.version_id);
        done.etag = Some(h.etag.clone());
        done.size = Some(h.size);
        if let Err(e) = self.record(done) {
            return Step::Failed(e);
        }
        Step::Drifted(format!(
            "the source's null version changed after the plan (the server ignored x-amz-copy-source-if-match): the copy holds other content (ETag {}, {} bytes); journaled, `undo` takes it back",
            h.etag, h.size
        ))
    }

    /// After a copy wrote `new_version_id`: confirmed where the server names no version
    /// (read back now, or later with the others), rewritten with GET + PUT where it does
    /// not read back as the source, and journaled.
    async fn copied(
        &self,
        c: &CopyAction,
        new_version_id: String,
        now: Option<Head>,
        head: Head,
        acl: Option<&Acl>,
    ) -> Step {
        let mut done = self.copy_done(c, &new_version_id);
        done.previous_version_id = now.map(|h| h.version_id);
        // radosgw's CopyObject names no version. Read it back later with the others,
        // unless the source is a `null` version (see `confirm_written`).
        let later = new_version_id == NULL_VERSION
            && self.list_range
            && c.source_version_id != NULL_VERSION;
        if later {
            done.new_version_id = String::new();
            self.unresolved
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((done.clone(), head.clone()));
        } else if new_version_id == NULL_VERSION && !self.confirm_written(&mut done, &head).await {
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

    /// Does this copy need the source version's HEAD? Only for what a listing cannot
    /// show: `--fidelity full` (per-object encryption, website redirect), copies that set
    /// every attribute themselves (multipart, streamed to another client), and archived
    /// storage classes (is a restored copy available?). A plain CopyObject carries the
    /// version's metadata, content headers and tags by itself.
    fn needs_source_head(&self, c: &CopyAction) -> bool {
        let archived = c
            .storage_class
            .as_ref()
            .is_some_and(|s| matches!(s.as_str(), "GLACIER" | "DEEP_ARCHIVE"));
        self.config.fidelity_full
            || self.separate
            || archived
            || c.size > self.config.multipart_threshold.min(COPY_LIMIT)
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
        let tier = ar.tier;
        match self
            .src
            .request_archive_restore(&c.source_key, &c.source_version_id.as_str(), days, tier)
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
            .tags(&c.source_key, &c.source_version_id.as_str())
            .await?;
        let attrs = self.attrs(head, &tags, acl, true);
        let upload_id = self.dst.create_multipart(&c.key, &attrs).await?;
        self.note_upload(&c.key, &upload_id, true);
        let ranges = part_ranges(head.size, self.config.part_size);
        let result = self.copy_parts(c, &upload_id, &ranges).await;
        let result = match result {
            Ok(parts) => {
                let done = self
                    .dst
                    .complete_multipart(&c.key, &upload_id, &parts)
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
            && let Err(e) = self.dst.abort_multipart(&c.key, &upload_id).await
        {
            tracing::warn!(key = c.key, upload_id, error = %e, "could not abort a multipart upload");
            return result;
        }
        self.note_upload(&c.key, &upload_id, false);
        let version = result?;
        self.ensure_tags(&c.key, &version, &tags).await;
        Ok(version)
    }

    /// The attributes a multipart or streamed copy writes: the source's `head` and
    /// `tags`, the configured class and KMS key overrides, `acl` (`keep_source_kms`: see
    /// [`ObjectAttrs`]).
    fn attrs<'a>(
        &'a self,
        head: &'a Head,
        tags: &'a [(String, String)],
        acl: Option<&'a Acl>,
        keep_source_kms: bool,
    ) -> ObjectAttrs<'a> {
        ObjectAttrs {
            head,
            tags,
            storage_class: self.config.storage_class.as_deref(),
            sse_kms_key_id: self.config.sse_kms_key_id.as_deref(),
            keep_source_kms,
            acl,
        }
    }

    /// Some servers (radosgw) ignore `x-amz-tagging` on CreateMultipartUpload: after the
    /// upload completed, read the new version's tags and put them when they are missing.
    /// A failure is only logged: the object is there and complete, and a retry would
    /// only add a version.
    async fn ensure_tags(&self, key: &str, version: &str, tags: &[(String, String)]) {
        if let Err(e) = self.put_missing_tags(key, version, tags).await {
            tracing::warn!(key, error = %e, "copied, but its tags could not be checked or set");
        }
    }

    async fn put_missing_tags(
        &self,
        key: &str,
        version: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Error> {
        if tags.is_empty() {
            return Ok(());
        }
        let version = (version != NULL_VERSION).then_some(version);
        let mut now = self.dst.tags(key, version.unwrap_or_default()).await?;
        let mut want = tags.to_vec();
        now.sort();
        want.sort();
        if now != want {
            tracing::debug!(
                key,
                "the server dropped the tags of a multipart upload; putting them"
            );
            self.dst.put_tags(key, version, tags).await?;
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
        let now = self.dst.head(&c.key, None).await.ok()??;
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
                let (dst, key, upload, sb, sk, sv) = (
                    self.dst.clone(),
                    c.key.clone(),
                    upload_id.to_owned(),
                    self.src.name().to_owned(),
                    c.source_key.clone(),
                    c.source_version_id.to_string(),
                );
                tasks.spawn(async move {
                    if fail_part == Some(n) {
                        return (n, Err(injected_failure(n)));
                    }
                    let part = Part {
                        key: &key,
                        upload_id: &upload,
                        number: n,
                    };
                    let r = dst
                        .upload_part_copy(PartCopy {
                            part,
                            source: (&sb, &sk, &sv),
                            range,
                        })
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
            .tags(&c.source_key, &c.source_version_id.as_str())
            .await?;
        let attrs = self.attrs(head, &tags, acl, false);
        let get = |range: Option<(u64, u64)>| {
            let range = range.map(|(a, b)| format!("bytes={a}-{b}"));
            async move {
                self.src
                    .get(
                        &c.source_key,
                        &c.source_version_id.as_str(),
                        range.as_deref(),
                    )
                    .await
            }
        };
        if head.size <= self.config.part_size.max(crate::bucket::MIN_PART) {
            let body = get(None).await?;
            return self.dst.put_with_attrs(&c.key, body, &attrs).await;
        }
        let upload_id = self.dst.create_multipart(&c.key, &attrs).await?;
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
                let part = Part {
                    key: &c.key,
                    upload_id: &upload_id,
                    number: n,
                };
                self.dst.upload_part(part, body).await
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
                self.dst
                    .complete_multipart(&c.key, &upload_id, &parts)
                    .await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            let _ = self.dst.abort_multipart(&c.key, &upload_id).await;
        }
        self.note_upload(&c.key, &upload_id, false);
        let version = result?;
        self.ensure_tags(&c.key, &version, &tags).await;
        Ok(version)
    }

    /// Journal the start (or the end) of a multipart upload, so that a run killed in the
    /// middle can abort it when it is started again.
    fn note_upload(&self, key: &str, upload_id: &str, started: bool) {
        if let Some(j) = &self.journal {
            let line = Line::Upload {
                bucket: self.dst.name().to_owned(),
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
        match self.dst.head(&done.key, None).await {
            Ok(Some(h)) if reads_as(&h.etag, h.size, source) => {
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
            bucket: self.dst.name().to_owned(),
            key: c.key.clone(),
            source_bucket: Some(self.src.name().to_owned()),
            source_key: Some(c.source_key.clone()),
            source_version_id: Some(c.source_version_id.to_string()),
            previous_version_id: c.expect.as_ref().map(|e| e.version_id.to_string()),
            new_version_id: new_version_id.to_owned(),
            etag: None,
            size: None,
            time: Utc::now(),
        }
    }

    async fn delete_marker(&self, d: &DeleteMarkerAction, attempt: u32, probe: Probe) -> Step {
        let now = match probe {
            Probe::Listed(now) => now.map(|h| *h),
            Probe::Read => match self.dst.head(&d.key, None).await {
                Ok(h) => h,
                Err(e) => return retry_or_fail(e),
            },
        };
        if now.is_none() {
            // Already absent: an earlier attempt landed, or someone deleted it. Never
            // stack a second delete marker.
            if attempt > 0 {
                // Ours, whose reply was lost: journaled and counted as the marker it is.
                let previous = Some(d.expect.version_id.to_string());
                if let Err(e) = self.record(self.marker_done(d, previous, String::new())) {
                    return Step::Failed(e);
                }
                return Step::Marked;
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
        match self.dst.add_delete_marker(&d.key).await {
            Ok(new_version_id) => {
                let done = self.marker_done(d, now.map(|h| h.version_id), new_version_id);
                match self.record(done) {
                    Ok(()) => Step::Marked,
                    Err(e) => Step::Failed(e),
                }
            }
            Err(e) => retry_or_fail(e),
        }
    }

    /// The journal line of a delete marker put on `d`'s key (`new_version_id` empty when
    /// an earlier attempt had put it).
    fn marker_done(
        &self,
        d: &DeleteMarkerAction,
        previous_version_id: Option<String>,
        new_version_id: String,
    ) -> Done {
        Done {
            op: Op::DeleteMarker,
            bucket: self.dst.name().to_owned(),
            key: d.key.clone(),
            source_bucket: None,
            source_key: None,
            source_version_id: None,
            previous_version_id,
            new_version_id,
            etag: None,
            size: None,
            time: Utc::now(),
        }
    }
}

/// The two sides of a run.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// The source bucket.
    pub src: Arc<dyn Bucket>,
    /// The destination bucket (the source itself for an in-place restore).
    pub dst: Arc<dyn Bucket>,
    /// True when the destination is reached through another client: copies are then
    /// streamed (GET from the source, PUT to the destination) instead of CopyObject.
    pub separate: bool,
}

/// Whether a key that reads with `etag` and `size` holds a copy of `source`: the same
/// size, and the same ETag where the source's is an MD5 (a copy of a multipart version
/// gets an ETag of its own).
fn reads_as(etag: &str, size: u64, source: &Head) -> bool {
    let md5 = source.etag.len() == 32 && source.etag.bytes().all(|b| b.is_ascii_hexdigit());
    size == source.size && (!md5 || etag == source.etag)
}

/// Read back the copies that named no version (`unresolved`) by listing the destination
/// range once, and journal each with the version it created: a key whose current
/// version reads as the copy's source (see [`reads_as`]). One listing call per 1,000
/// entries instead of a HEAD per copy. Until then (or if the key was written again
/// meanwhile) a copy stays journaled with an unknown version, which later runs and
/// `undo` treat as not ours.
async fn read_back(
    ctx: &ActionJob,
    prefix: &str,
    unresolved: Vec<(Done, Head)>,
    printer: &Printer,
) {
    let streams = crate::listing::Streams::new(8, crate::listing::Split::Auto);
    let current = match crate::listing::list_bucket(&ctx.dst, printer, prefix, 1000, streams).await
    {
        Ok(t) => t.current(),
        Err(e) => {
            tracing::warn!(error = %e.message, copies = unresolved.len(), "could not list the destination to read back the copies that named no version; they stay journaled without one");
            return;
        }
    };
    let mut missed = 0usize;
    for (mut done, source) in unresolved {
        match current.get(&done.key) {
            Some(v) if reads_as(&v.etag.to_string(), v.size, &source) => {
                done.new_version_id = v.version_id.to_string();
                done.etag = Some(v.etag.to_string());
                done.size = Some(v.size);
                if let Err(e) = ctx.record(done) {
                    tracing::warn!(error = e, "could not journal a copy read back");
                }
            }
            _ => missed += 1,
        }
    }
    if missed > 0 {
        tracing::warn!(
            copies = missed,
            "copies that named no version no longer read back as theirs (written again since?): journaled without a version"
        );
    }
}

/// True when listing the destination range costs fewer requests than one HEAD per
/// action. A page covers [`probe_page_size`] entries at first (more while the writes wait
/// for it): list when the range's versions, at that page size, take no more calls than
/// the plan has actions. A plan that does not say how many versions the range holds
/// (older plan files) assumes 20 per key.
fn probe_by_listing(actions: usize, plan: &RestorePlan, concurrency: usize) -> bool {
    let actions = actions as u64;
    let page = probe_page_size(concurrency) as u64;
    let entries = plan.stats.entries_now();
    actions > 0 && entries <= actions.saturating_mul(page)
}

/// The source version as the plan lists it (size, ETag, class), for a CopyObject that
/// needs nothing more.
fn listed_source(c: &CopyAction) -> Head {
    Head {
        version_id: c.source_version_id.to_string(),
        etag: c.etag.to_string(),
        size: c.size,
        storage_class: c
            .storage_class
            .as_ref()
            .map_or_else(|| "STANDARD".to_owned(), |s| s.as_str().to_owned()),
        ..Head::default()
    }
}

/// Entries per page of the drift-check listing: eight per action in flight, between 100
/// and 1,000. Small enough that the listing stays close to the writes, large enough that
/// it costs a few hundredths of a request per key.
pub fn probe_page_size(concurrency: usize) -> i32 {
    (concurrency.saturating_mul(8)).clamp(100, 1000) as i32
}

/// What a listing entry says about a key's current version (for the drift check).
fn listed_head(e: &s3rewind_engine::Entry) -> Option<Head> {
    (!e.version.delete_marker).then(|| Head {
        version_id: e.version.version_id.to_string(),
        etag: e.version.etag.to_string(),
        size: e.version.size,
        storage_class: e
            .version
            .storage_class
            .as_ref()
            .map_or_else(|| "STANDARD".to_owned(), |c| c.as_str().to_owned()),
        last_modified: Some(e.version.last_modified),
        ..Head::default()
    })
}

/// List the destination from the start of its prefix to the last key the plan writes
/// (not from a marker just before the first: moto mishandles a key marker that is not
/// a key, and the plan touches enough of the range for this to be cheaper than HEADs
/// anyway, see [`probe_by_listing`]), through the one pager ([`crate::pager`]), and hand
/// each action its key's current version as soon as the listing has passed the key
/// (`order`: the indices of `actions` in key order). A key's current entry is the one the
/// server marks `IsLatest`, found by key on whichever page holds it, never by its place
/// in the document (servers lay out a page's versions and delete markers differently). A
/// listing that fails, or that the pager refuses (markers that stall, a truncated page
/// without a marker), hands the rest over to be read one by one (HEAD), never as absent.
async fn list_current(
    dst: Arc<dyn Bucket>,
    prefix: String,
    mut keys: tokio::sync::mpsc::Receiver<(usize, String)>,
    page_size: i32,
    tx: tokio::sync::mpsc::Sender<(usize, Probe)>,
) {
    let Some(mut next) = keys.recv().await else {
        return;
    };
    let mut pager = crate::pager::Pager::new(&prefix, page_size);
    let mut page_size = page_size;
    // The current entry of the key the listing is in (it may go on in the next page).
    let mut open: Option<(String, Option<Head>)> = None;
    let mut failed = false;
    loop {
        let page = match pager.next(dst.as_ref()).await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e.message, "listing the destination failed; reading keys one by one");
                failed = true;
                break;
            }
        };
        // The writes drained everything handed over while this page was being listed:
        // the listing is the bottleneck (a slow server, or one whose listing cost grows
        // with the bucket, like moto), so ask for more per call, up to 1,000.
        if pager.pages() > 1 && tx.capacity() == tx.max_capacity() && page_size < 1000 {
            page_size = (page_size * 2).min(1000);
            pager.set_page_size(page_size);
            tracing::debug!(
                page_size,
                "the drift-check listing is behind the writes: larger pages"
            );
        }
        let mut heads: std::collections::BTreeMap<String, Option<Head>> = Default::default();
        if let Some((k, h)) = open.take() {
            heads.insert(k, h);
        }
        for (key, entries) in page.by_key() {
            if let Some(latest) = entries.iter().find(|e| e.version.is_latest) {
                heads.insert(key.to_owned(), listed_head(latest));
            }
        }
        while page.passed(&next.1) {
            let head = heads.get(&next.1).cloned().flatten();
            if tx
                .send((next.0, Probe::Listed(head.map(Box::new))))
                .await
                .is_err()
            {
                return;
            }
            match keys.recv().await {
                Some(k) => next = k,
                None => return,
            }
        }
        if let Some(o) = &page.open_key
            && let Some(h) = heads.remove(o)
        {
            open = Some((o.clone(), h));
        }
    }
    // Unlisted (the listing ended early): read each key; a listing that ended normally
    // has passed every key already.
    let probe = || {
        if failed {
            Probe::Read
        } else {
            Probe::Listed(None)
        }
    };
    let mut next = Some(next);
    while let Some((index, _)) = next {
        if tx.send((index, probe())).await.is_err() {
            return;
        }
        next = keys.recv().await;
    }
}

/// Run a plan's actions on two buckets, with the one runner ([`crate::run`]). The job
/// works on a copy of the actions; [`run_plan_owned`] makes none.
pub async fn run_plan(
    buckets: Buckets,
    plan: &RestorePlan,
    config: &ExecConfig,
    journal: Option<Journal>,
    printer: &Printer,
    stop: Option<&AtomicBool>,
) -> ExecReport {
    let actions = Arc::new(plan.actions.clone());
    run_actions(buckets, plan, actions, config, journal, printer, stop).await
}

/// [`run_plan`] without a second copy of the actions (a plan of millions holds hundreds
/// of bytes an action): they are taken out of `plan` for the run and put back after it.
pub async fn run_plan_owned(
    buckets: Buckets,
    plan: &mut RestorePlan,
    config: &ExecConfig,
    journal: Option<Journal>,
    printer: &Printer,
    stop: Option<&AtomicBool>,
) -> ExecReport {
    let actions = Arc::new(std::mem::take(&mut plan.actions));
    let report = run_actions(
        buckets,
        plan,
        actions.clone(),
        config,
        journal,
        printer,
        stop,
    )
    .await;
    // The run is over and its job dropped: the only holder left is this one.
    plan.actions = Arc::try_unwrap(actions).unwrap_or_else(|shared| (*shared).clone());
    report
}

/// The run of [`run_plan`]: `actions` are `plan`'s (which may hold none while they run).
async fn run_actions(
    buckets: Buckets,
    plan: &RestorePlan,
    actions: Arc<Vec<Action>>,
    config: &ExecConfig,
    journal: Option<Journal>,
    printer: &Printer,
    stop: Option<&AtomicBool>,
) -> ExecReport {
    let n = actions.len();
    let list_range = probe_by_listing(n, plan, config.concurrency);
    let ctx = ActionJob::new(
        buckets,
        config,
        journal,
        Actions::Plan(actions.clone()),
        list_range,
    );
    let prefix = plan
        .destination_location()
        .map_or_else(|| plan.source.prefix.clone(), |l| l.prefix.clone());
    // Each action's key is read by a listing of the destination range (one request per
    // page) rather than a HEAD each, when that is cheaper.
    let mut listing = None;
    let items = if ctx.list_range {
        // The listing runs only a little ahead of the writes (a page, and a queue as
        // long as the concurrency), so what it saw of a key is fresh when the key is
        // written: a writer who changes a key after that is seen, not overwritten.
        let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Probe)>(config.concurrency.max(1));
        // The actions in key order, by index (a plan's are already: then nothing is sorted).
        let mut order: Vec<usize> = (0..n).collect();
        if !actions.windows(2).all(|w| w[0].key() <= w[1].key()) {
            order.sort_by(|a, b| actions[*a].key().cmp(actions[*b].key()).then(a.cmp(b)));
        }
        let page = probe_page_size(config.concurrency);
        // The keys in that order, handed to the listing as it reaches them.
        let (ktx, krx) = tokio::sync::mpsc::channel::<(usize, String)>(1024);
        let keys = tokio::spawn(async move {
            for i in order {
                if ktx.send((i, actions[i].key().to_owned())).await.is_err() {
                    return;
                }
            }
        });
        listing = Some((
            keys,
            tokio::spawn(list_current(ctx.dst.clone(), prefix.clone(), krx, page, tx)),
        ));
        Items::Streamed(n, rx)
    } else {
        Items::All(n)
    };
    let report = ctx.run(items, &prefix, printer, stop).await;
    if let Some((keys, l)) = listing {
        keys.abort();
        l.abort();
        // Aborted or done, it holds the actions until it is gone.
        let _ = keys.await;
        let _ = l.await;
    }
    report
}

/// Run a plan whose actions are on disk (`spool`, see [`ActionSpool`]; `plan` holds
/// none of them) with the one runner, holding only the runner's window: a thread reads
/// the actions in key order, each is handed to the runner as the drift check reaches
/// its key (the destination range listed a page ahead of the writes, as for a plan in
/// memory, or a HEAD each where that is cheaper: [`probe_by_listing`]), and forgotten
/// once settled. An action the spool cannot hand over (its file unreadable) fails the
/// run: the report names it, never a shorter run that looks complete.
pub async fn run_spooled(
    buckets: Buckets,
    plan: &RestorePlan,
    spool: ActionSpool,
    config: &ExecConfig,
    journal: Option<Journal>,
    printer: &Printer,
    stop: Option<&AtomicBool>,
) -> ExecReport {
    let list_range = probe_by_listing(spool.len() as usize, plan, config.concurrency);
    let handed = Actions::handed();
    let ctx = ActionJob::new(buckets, config, journal, handed, list_range);
    let prefix = plan
        .destination_location()
        .map_or_else(|| plan.source.prefix.clone(), |l| l.prefix.clone());
    ctx.run_spool(spool, &prefix, printer, stop).await
}

impl ActionJob {
    /// [`run_spooled`]'s run, on a job that takes [`Actions::Handed`].
    async fn run_spool(
        self: &Arc<Self>,
        spool: ActionSpool,
        prefix: &str,
        printer: &Printer,
        stop: Option<&AtomicBool>,
    ) -> ExecReport {
        let n = spool.len() as usize;
        let list_range = self.list_range;
        let window = self.config.concurrency.max(1);
        let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Probe)>(window);
        let (atx, mut arx) = tokio::sync::mpsc::channel::<CliResult<Action>>(window);
        let reader = tokio::task::spawn_blocking(move || {
            let read = spool.scan(|a| Ok(atx.blocking_send(Ok(a)).is_ok()));
            if let Err(e) = read {
                let _ = atx.blocking_send(Err(e));
            }
        });
        let (ktx, krx) = tokio::sync::mpsc::channel::<(usize, String)>(window);
        let listing = list_range.then(|| {
            let page = probe_page_size(self.config.concurrency);
            tokio::spawn(list_current(
                self.dst.clone(),
                prefix.to_owned(),
                krx,
                page,
                tx.clone(),
            ))
        });
        let feeder = {
            let ctx = self.clone();
            tokio::spawn(async move {
                let mut handed = 0usize;
                while let Some(a) = arx.recv().await {
                    let a = match a {
                        Ok(a) => a,
                        Err(e) => return (handed, Some(e.message)),
                    };
                    let key = a.key().to_owned();
                    let i = ctx
                        .actions
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(a);
                    handed += 1;
                    let sent = if list_range {
                        ktx.send((i, key)).await.is_ok()
                    } else {
                        tx.send((i, Probe::Read)).await.is_ok()
                    };
                    if !sent {
                        break;
                    }
                }
                (handed, None)
            })
        };
        let mut report = self
            .run(Items::Streamed(n, rx), prefix, printer, stop)
            .await;
        let fed = feeder.await;
        if let Some(l) = listing {
            l.abort();
            let _ = l.await;
        }
        let _ = reader.await;
        let short = match fed {
            Ok((_, Some(e))) => Some(e),
            Ok((handed, None)) if handed < n && !report.interrupted => Some(format!(
                "{handed} of {n} actions read back from the plan's temporary file"
            )),
            Ok(_) => None,
            Err(e) => Some(format!("internal error: {e}")),
        };
        if let Some(why) = short {
            report.failed.push(KeyIssue {
                key: String::new(),
                detail: format!(
                    "the plan's actions could not all be read back from its temporary file ({why}): the rest were not attempted; run the same command again"
                ),
            });
        }
        self.log_held("spooled");
        report
    }
}

/// Run actions as a planner hands them over while its listing goes on (`first`, then
/// `actions` until it closes when the listing is done), with the one runner: copying
/// starts as soon as the listing has passed the first key that needs one, and the listing
/// never runs more than a queue's length (`concurrency` actions) ahead of the writes,
/// since the planner waits for room to hand the next one over.
///
/// For a destination range that held nothing when it was listed (the caller's
/// condition, see `restore`): an action that expects the key absent trusts that listing
/// (no request of its own; conditional writes, where the endpoint has them, still make
/// the copy fail on a key written meanwhile); any other is read first.
/// `report.while_listing` counts the actions settled before `actions` closed.
#[allow(clippy::too_many_arguments)]
pub async fn run_stream(
    buckets: Buckets,
    prefix: &str,
    config: &ExecConfig,
    journal: Option<Journal>,
    printer: &Printer,
    stop: Option<&AtomicBool>,
    first: Action,
    actions: tokio::sync::mpsc::Receiver<Action>,
) -> ExecReport {
    // Copies that name no version are read back by one listing after the run.
    let handed = Actions::handed();
    let ctx = ActionJob::new(buckets, config, journal, handed, true);
    ctx.run_handed(prefix, printer, stop, first, actions).await
}

impl ActionJob {
    /// [`run_stream`]'s run, on a job that takes [`Actions::Handed`].
    async fn run_handed(
        self: &Arc<Self>,
        prefix: &str,
        printer: &Printer,
        stop: Option<&AtomicBool>,
        first: Action,
        mut actions: tokio::sync::mpsc::Receiver<Action>,
    ) -> ExecReport {
        let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Probe)>(self.config.concurrency.max(1));
        let ended = Arc::new(AtomicBool::new(false));
        let feeder = {
            let ctx = self.clone();
            let ended = ended.clone();
            tokio::spawn(async move {
                let mut next = Some(first);
                while let Some(a) = match next.take() {
                    Some(a) => Some(a),
                    None => actions.recv().await,
                } {
                    let probe = match &a {
                        Action::Copy(c) if c.expect.is_none() => Probe::Listed(None),
                        _ => Probe::Read,
                    };
                    let i = ctx
                        .actions
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(a);
                    if tx.send((i, probe)).await.is_err() {
                        return;
                    }
                }
                ended.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let report = self
            .run(Items::Open(rx, ended), prefix, printer, stop)
            .await;
        feeder.abort();
        self.log_held("streamed");
        report
    }
}

impl Job for ActionJob {
    fn key(&self, i: usize) -> String {
        self.action(i).key().to_owned()
    }

    fn attempt(self: Arc<Self>, i: usize, attempt: u32, probe: Probe) -> Attempt {
        Box::pin(async move {
            match &self.action(i) {
                Action::Copy(c) => self.copy(c, attempt, probe).await,
                Action::DeleteMarker(d) => self.delete_marker(d, attempt, probe).await,
            }
        })
    }

    fn settled(&self, i: usize) {
        self.actions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .settle(i);
    }
}

#[cfg(test)]
mod mem_tests;

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

    /// A key reads as a copy of its source when the sizes agree and, where the source's
    /// ETag is an MD5 (32 hex digits), the ETags too; any other ETag (multipart, another
    /// length, none known) leaves the size alone to decide (a shard 5 survivor: `&&` →
    /// `||` in the MD5 test).
    #[test]
    fn a_copy_reads_as_its_source_by_size_and_an_md5_etag_only() {
        let source = |etag: &str| Head {
            etag: etag.to_owned(),
            size: 5,
            ..Head::default()
        };
        let md5 = "0123456789abcdef0123456789abcdef";
        assert!(reads_as(md5, 5, &source(md5)));
        assert!(!reads_as(
            "fedcba9876543210fedcba9876543210",
            5,
            &source(md5)
        ));
        assert!(!reads_as(md5, 6, &source(md5)), "another size");
        for other in [
            "0123456789abcdef0123456789abcdef-3",
            "0123456789abcdef0123456789abcdef01234567",
            "",
        ] {
            assert!(reads_as("anything", 5, &source(other)), "{other:?}");
            assert!(!reads_as("anything", 4, &source(other)), "{other:?}");
        }
    }

    /// Only a refusal to copy a version onto its own key in the same bucket is retried as
    /// a self-copy: every condition is needed (a shard 4 survivor: the wording alone).
    #[test]
    fn a_self_copy_refusal_is_recognised_only_for_the_same_key_in_the_same_bucket() {
        let c = CopyAction {
            key: "k".to_owned(),
            source_key: "k".to_owned(),
            source_version_id: "v1".into(),
            etag: "e".into(),
            size: 1,
            storage_class: None,
            last_modified: chrono::DateTime::UNIX_EPOCH,
            expect: None,
        };
        let refusal = |status: u16, code: &str, message: &str| S3Error {
            kind: ErrorKind::Other,
            context: String::new(),
            code: Some(code.to_owned()),
            status: Some(status),
            message: message.to_owned(),
        };
        let itself =
            "This copy request is illegal because it is trying to copy an object to itself";
        let e = refusal(400, "InvalidRequest", itself);
        assert!(refuses_self_copy(&e, &c, "b", "b"));
        assert!(!refuses_self_copy(&e, &c, "b", "other"), "another bucket");
        let other_key = CopyAction {
            key: "elsewhere".to_owned(),
            ..c.clone()
        };
        assert!(!refuses_self_copy(&e, &other_key, "b", "b"), "another key");
        assert!(!refuses_self_copy(
            &refusal(403, "InvalidRequest", itself),
            &c,
            "b",
            "b"
        ));
        assert!(!refuses_self_copy(
            &refusal(400, "InvalidArgument", itself),
            &c,
            "b",
            "b"
        ));
        let unrelated = refusal(400, "InvalidRequest", "bad storage class");
        assert!(
            !refuses_self_copy(&unrelated, &c, "b", "b"),
            "another refusal"
        );
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
