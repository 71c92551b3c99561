//! The one runner under every writing command (`restore`, `apply`, `undo`, `undelete`
//! in both modes, restores into a directory): bounded, adaptive, resumable.
//!
//! A command hands the runner a [`Job`] (what one attempt at item `i` does) and the items
//! to run, either all at once or as a stream (a listing of the destination hands each
//! action its key's current state, [`Probe::Listed`], as soon as it has passed the key;
//! or a planner hands each action over as soon as the source listing has passed its key,
//! [`Items::Open`]).
//! The runner owns what every command needs once:
//!
//! - at most `limit` attempts in flight; the limit starts at `--concurrency`, halves
//!   whenever the server says SlowDown/503 and grows by one after each run of `limit`
//!   successes (AIMD), never above `--concurrency`;
//! - a failed attempt is not retried blindly: the item goes back in the queue with
//!   [`Probe::Read`], so its next attempt first reads the key again and converges on
//!   whatever actually happened;
//! - Ctrl-C stops starting new items; those in flight finish (and are journaled by the
//!   job), the rest are left for a re-run;
//! - progress, and the [`ExecReport`] that accounts for every item exactly once.

use crate::error::{CliError, CliResult};
use crate::output::Printer;
use serde::Serialize;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A key that did not end up restored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyIssue {
    /// The destination key.
    pub key: String,
    /// What happened.
    pub detail: String,
}

/// Issues held in memory at the most; past it every issue of the list goes to disk.
pub const HELD_ISSUES: usize = if cfg!(test) { 3 } else { 10_000 };

/// Keys that did not end up restored, and why: held while they are few, on disk (sorted
/// in chunks) past [`HELD_ISSUES`], so that a run in which each of 40 million copies
/// fails holds a chunk of reasons, not 40 million. In key order once
/// [`finish`](Self::finish)ed, as the report lists them; `--output json` writes them
/// from disk as they are read.
#[derive(Debug, Default)]
pub struct KeyIssues {
    held: Vec<KeyIssue>,
    /// Past [`HELD_ISSUES`]: every issue, being sorted onto disk.
    sorting: Option<crate::spill::Sorter<IssueRecord>>,
    /// Finished: every issue on disk in key order.
    sorted: Option<crate::spill::Spilled<IssueRecord>>,
    len: u64,
    /// The disk could not take an issue: the list cannot be read back (the count stands).
    broken: Option<String>,
    /// [`finish`](Self::finish)ed (an issue added after is put in its place).
    finished: bool,
}

/// One issue on disk, sorted by `KEY\0ORDINAL` (two issues of one key both kept).
#[derive(Debug, Clone)]
struct IssueRecord {
    key: String,
    detail: String,
}
crate::spill::record!(IssueRecord { key, detail });

impl IssueRecord {
    fn issue(self) -> KeyIssue {
        let key = match self.key.rsplit_once('\0') {
            Some((k, _)) => k.to_owned(),
            None => self.key,
        };
        KeyIssue {
            key,
            detail: self.detail,
        }
    }
}

impl KeyIssues {
    /// No issue.
    pub fn new() -> KeyIssues {
        KeyIssues::default()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add one. Should the disk not take it, the count still holds it and reading the
    /// list back says why it cannot be (a run is not stopped by its report).
    pub fn push(&mut self, issue: KeyIssue) {
        let finished = self.finished;
        if let Err(e) = self.try_push(issue)
            && self.broken.is_none()
        {
            self.broken = Some(e.message);
        }
        if finished {
            self.finish();
        }
    }

    fn try_push(&mut self, issue: KeyIssue) -> CliResult<()> {
        self.len += 1;
        if self.sorting.is_none() && self.sorted.is_none() && self.held.len() < HELD_ISSUES {
            self.held.push(issue);
            return Ok(());
        }
        if let Some(sorted) = self.sorted.take() {
            // Added after it was finished (a run's closing note): sorted again with it.
            let mut s = crate::spill::Sorter::new()?;
            sorted.scan(|r| s.push(r).map(|()| true))?;
            self.sorting = Some(s);
        }
        let sorting = match &mut self.sorting {
            Some(s) => s,
            None => {
                let mut s = crate::spill::Sorter::new()?;
                for (i, held) in std::mem::take(&mut self.held).into_iter().enumerate() {
                    s.push(IssueRecord {
                        key: format!("{}\0{i:016}", held.key),
                        detail: held.detail,
                    })?;
                }
                self.sorting.insert(s)
            }
        };
        sorting.push(IssueRecord {
            key: format!("{}\0{:016}", issue.key, self.len - 1),
            detail: issue.detail,
        })
    }

    /// Add each of `other`'s (finished).
    pub fn extend(&mut self, other: KeyIssues) {
        let read = other.each(|i| {
            self.push(i);
            Ok(true)
        });
        if let Err(e) = read
            && self.broken.is_none()
        {
            self.broken = Some(e.message);
        }
    }

    /// Done adding: the issues in key order from now on.
    pub fn finish(&mut self) {
        self.finished = true;
        self.held.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(s) = self.sorting.take() {
            match s.sorted() {
                Ok(sorted) => self.sorted = Some(sorted),
                Err(e) => {
                    self.broken.get_or_insert(e.message);
                }
            }
        }
    }

    /// Each issue (in key order once finished), for as long as `f` says go on.
    pub fn each(&self, mut f: impl FnMut(KeyIssue) -> CliResult<bool>) -> CliResult<()> {
        if let Some(why) = &self.broken {
            return Err(CliError::failure(format!(
                "the {} key(s) with issues could not be kept on disk ({why}); set TMPDIR to a writable directory with room",
                self.len
            )));
        }
        if let Some(sorted) = &self.sorted {
            return sorted.scan(|r| f(r.issue()));
        }
        if self.sorting.is_some() {
            return Err(CliError::failure(
                "internal error: issues read before the list was finished; please report this",
            ));
        }
        for i in &self.held {
            if !f(i.clone())? {
                break;
            }
        }
        Ok(())
    }

    /// The first `n`.
    pub fn first(&self, n: usize) -> CliResult<Vec<KeyIssue>> {
        crate::spill::first_of(n, |item| self.each(item))
    }

    /// Every one (tests, and lists known to be short).
    pub fn to_vec(&self) -> CliResult<Vec<KeyIssue>> {
        self.first(self.len())
    }
}

impl From<Vec<KeyIssue>> for KeyIssues {
    fn from(issues: Vec<KeyIssue>) -> KeyIssues {
        let mut out = KeyIssues::new();
        for i in issues {
            out.push(i);
        }
        out
    }
}

impl serde::Serialize for KeyIssues {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::output::serialize_each(s, self.len(), |item| self.each(item))
    }
}

/// What an execution did.
#[derive(Debug, Default, Serialize)]
pub struct ExecReport {
    /// Copies made.
    pub copied: u64,
    /// Delete markers added.
    pub delete_markers: u64,
    /// Keys brought back by removing their delete markers (`undelete
    /// --remove-delete-markers`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undeleted: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Actions found already done (resumed or converged), not repeated.
    pub already_done: u64,
    /// Keys skipped because they changed since the plan was made.
    pub drifted: KeyIssues,
    /// Actions that failed.
    pub failed: KeyIssues,
    /// Copies waiting for an archive restore.
    pub waiting: KeyIssues,
    /// Actions skipped on purpose, with the reason (`--to-dir`: folder markers).
    #[serde(skip_serializing_if = "KeyIssues::is_empty")]
    pub skipped: KeyIssues,
    /// True when Ctrl-C (or a cap, see `stopped`) stopped the run early.
    pub interrupted: bool,
    /// Why a cap stopped the run (`--max-bytes`, `--max-cost`); resumable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The concurrency limit at the end (lower than asked if S3 throttled).
    pub final_concurrency: usize,
    /// Times S3 asked us to slow down.
    pub throttled: u64,
    /// Actions settled (done, or given up on) while the listing they were planned from was
    /// still going (a restore that writes as it lists; see [`Items::Open`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub while_listing: u64,
}

impl ExecReport {
    /// The exit status a run's report gives a command: 4 when a cap stopped it (resumable),
    /// 130 when Ctrl-C did, 1 when an action failed, drifted or waits, else 0.
    pub fn exit(&self) -> crate::error::Exit {
        use crate::error::Exit;
        if self.stopped.is_some() {
            Exit::Refused
        } else if self.interrupted {
            Exit::Interrupted
        } else if self.complete() {
            Exit::Ok
        } else {
            Exit::Partial
        }
    }

    /// Done adding issues: each list in key order from now on.
    pub fn finish_issues(&mut self) {
        self.drifted.finish();
        self.failed.finish();
        self.waiting.finish();
        self.skipped.finish();
    }

    /// True when every action completed.
    pub fn complete(&self) -> bool {
        self.drifted.is_empty()
            && self.failed.is_empty()
            && self.waiting.is_empty()
            && !self.interrupted
    }
}

/// The result of one attempt at one action.
pub enum Step {
    /// A copy (or a file written) of `bytes` bytes.
    Copied {
        /// Its size.
        bytes: u64,
    },
    /// A delete marker added.
    Marked,
    /// A deleted key brought back by removing its delete markers.
    Undeleted,
    /// Found already done (an earlier attempt or run landed): not repeated.
    AlreadyDone,
    /// The key changed since the plan was made: left as it is.
    Drifted(String),
    /// Waiting for something outside the run (an archive restore).
    Waiting(String),
    /// Failed for good.
    Failed(String),
    /// Try again (after reading the key again); `throttled` when S3 said slow down.
    Retry {
        /// S3 asked us to slow down.
        throttled: bool,
        /// What went wrong.
        error: String,
    },
}

/// How an action learns what its key holds right before writing.
#[derive(Debug, Clone)]
pub enum Probe {
    /// From a listing of the destination range, taken just before: no request of its own.
    Listed(Option<Box<crate::bucket::Head>>),
    /// Not known: read it (HEAD), as after a failed attempt.
    Read,
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

/// Runners that own Ctrl-C now (they stop cleanly on it); outside them the binary's own
/// watcher ends the process ([`owns_ctrl_c`]).
static RUNNERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// True while a runner (or a command, see [`CtrlC`]) handles Ctrl-C itself (in-flight
/// items finish and are journaled).
pub fn owns_ctrl_c() -> bool {
    RUNNERS.load(Ordering::SeqCst) > 0
}

/// Held by a command that handles Ctrl-C itself for as long as it does (`watch`: Ctrl-C
/// is its usual stop): the binary's watcher then leaves the process alone.
#[derive(Debug)]
pub struct CtrlC(());

impl CtrlC {
    /// Handle Ctrl-C here until the guard is dropped.
    pub fn claim() -> CtrlC {
        RUNNERS.fetch_add(1, Ordering::SeqCst);
        CtrlC(())
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        RUNNERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A flag that Ctrl-C sets, and the task watching for it (abort it when done). The runner
/// checks the flag before starting each item, so in-flight items finish and are
/// journaled, and the rest is left for a re-run.
fn ctrl_c_flag() -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
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
pub fn print_issues(printer: &Printer, lists: &[(&str, &KeyIssues)]) {
    for (title, list) in lists {
        if !list.is_empty() {
            printer.line(format!("{title} ({}):", list.len()));
            match list.first(SHOWN_ISSUES) {
                Ok(shown) => {
                    for i in &shown {
                        printer.line(format!("  {:?}: {}", i.key, i.detail));
                    }
                    if list.len() > shown.len() {
                        printer.line(format!(
                            "  … and {} more (--output json lists them all)",
                            list.len() - shown.len()
                        ));
                    }
                }
                Err(e) => printer.line(format!("  {}", e.message)),
            }
        }
    }
}

/// Issues of one kind a summary names; `--output json` lists them all.
const SHOWN_ISSUES: usize = 1_000;

/// One attempt in flight: what [`Job::attempt`] returns.
pub type Attempt = Pin<Box<dyn Future<Output = Step> + Send>>;

/// What one attempt at one item does, for the runner.
pub trait Job: Send + Sync + 'static {
    /// The key item `i` writes (for the report).
    fn key(&self, i: usize) -> String;

    /// One attempt at item `i` (`attempt` counts from 0), knowing what `probe` says of
    /// its key.
    fn attempt(self: Arc<Self>, i: usize, attempt: u32, probe: Probe) -> Attempt;

    /// Item `i` is settled (done, or given up on): the runner asks nothing more of it,
    /// so a job that keeps items only while they are open may forget it.
    fn settled(&self, _i: usize) {}
}

/// How the runner runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The most attempts in flight.
    pub concurrency: usize,
    /// Attempts per item before it is reported as failed.
    pub attempts: u32,
    /// How long to wait after a throttled request.
    pub throttle_pause: Duration,
    /// The progress bar's label.
    pub label: &'static str,
    /// The run's caps (`--max-rps`, `--max-bytes`, `--max-cost`): once one is reached the
    /// runner starts nothing more.
    pub caps: Option<Arc<crate::bucket::Caps>>,
}

/// The items to run.
pub enum Items {
    /// Items `0..n`, each read by its first attempt.
    All(usize),
    /// Items as a listing hands them over, with what it saw of their keys; `n` in all.
    Streamed(usize, tokio::sync::mpsc::Receiver<(usize, Probe)>),
    /// Items as a planner hands them over while the listing it plans from goes on: how
    /// many is known when the channel closes (the progress bar grows as they come). The
    /// flag says the listing has ended: items settled before it count as
    /// [`ExecReport::while_listing`].
    Open(tokio::sync::mpsc::Receiver<(usize, Probe)>, Arc<AtomicBool>),
}

/// Run `job` over `items`. Never returns early on a failed item: every item is
/// attempted, and the report names every one that did not complete.
///
/// The runner stops starting items on Ctrl-C; `stop` is a flag to use instead (tests,
/// which have no terminal and no signal driver).
pub async fn run_job<J: Job>(
    job: Arc<J>,
    items: Items,
    options: &RunOptions,
    printer: &Printer,
    stop: Option<&AtomicBool>,
) -> ExecReport {
    let watched = stop.is_none().then(ctrl_c_flag);
    let cancel = match (stop, &watched) {
        (Some(flag), _) => flag,
        (None, Some((flag, _))) => flag.as_ref(),
        (None, None) => unreachable!("watched when no stop flag is given"),
    };
    if watched.is_some() {
        RUNNERS.fetch_add(1, Ordering::SeqCst);
    }
    let report = run_items(job, items, options, printer, cancel).await;
    if let Some((_, watcher)) = watched {
        RUNNERS.fetch_sub(1, Ordering::SeqCst);
        watcher.abort();
    }
    report
}

/// What the bar says besides its counts: bytes copied, keys failed and drifted, and
/// whether the listing that feeds the run still goes on.
fn status(bar: &indicatif::ProgressBar, report: &ExecReport, listing: bool) {
    bar.set_prefix(format!(
        "{} copied, {} failed, {} drifted{}",
        crate::output::human_bytes(report.bytes_copied),
        report.failed.len(),
        report.drifted.len(),
        if listing { ", listing…" } else { "" }
    ));
}

/// The one loop of the runner (see the module docs): start items while the limit
/// allows, settle each finished attempt (retry, give up, count), adapt the limit, stop
/// on Ctrl-C or a cap. Longer than 120 lines on purpose: every branch shares the
/// `JoinSet`, the AIMD limit and the report, and the contract is easiest to check
/// against one loop.
async fn run_items<J: Job>(
    job: Arc<J>,
    items: Items,
    options: &RunOptions,
    printer: &Printer,
    cancel: &AtomicBool,
) -> ExecReport {
    let started = Instant::now();
    let (total, mut feed, listing) = match items {
        Items::All(n) => (n, None, None),
        Items::Streamed(n, rx) => (n, Some(rx), None),
        Items::Open(rx, ended) => (0, Some(rx), Some(ended)),
    };
    let listing_goes_on = || listing.as_ref().is_some_and(|l| !l.load(Ordering::SeqCst));
    let bar = printer.bar(total as u64, options.label);
    // Items handed over while a listing goes on: the total is unknown until it ends.
    let open_total = listing.is_some();
    if open_total && printer.progress == crate::output::ProgressMode::Bars {
        bar.set_style(crate::output::bar_style(false));
    }
    let mut received = 0u64;
    let mut aimd = Aimd::new(options.concurrency);
    let mut report = ExecReport::default();
    let mut queue: VecDeque<(usize, u32, Probe)> = VecDeque::new();
    if feed.is_none() {
        queue.extend((0..total).map(|i| (i, 0, Probe::Read)));
    }
    let mut tasks: JoinSet<(usize, u32, Step)> = JoinSet::new();
    loop {
        if cancel.load(Ordering::SeqCst) {
            report.interrupted = true;
        }
        if let Some(why) = options.caps.as_ref().and_then(|c| c.stopped()) {
            report.interrupted = true;
            report.stopped = Some(why);
        }
        while !report.interrupted && tasks.len() < aimd.limit() {
            let Some((i, attempt, probe)) = queue.pop_front() else {
                break;
            };
            let job = job.clone();
            tasks.spawn(async move { (i, attempt, job.attempt(i, attempt, probe).await) });
        }
        let waiting_for_items = feed.is_some() && !report.interrupted;
        if tasks.is_empty() && !waiting_for_items {
            break;
        }
        let joined = match feed.as_mut() {
            Some(rx) if waiting_for_items && tasks.len() < aimd.limit() => {
                tokio::select! {
                    item = rx.recv() => {
                        match item {
                            Some((i, p)) => {
                                received += 1;
                                queue.push_back((i, 0, p));
                            }
                            None => {
                                feed = None;
                                if open_total {
                                    // The listing ended: the total is known now.
                                    bar.set_length(received);
                                    if printer.progress == crate::output::ProgressMode::Bars {
                                        bar.set_style(crate::output::bar_style(true));
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    joined = tasks.join_next(), if !tasks.is_empty() => joined,
                }
            }
            _ => tasks.join_next().await,
        };
        let Some(joined) = joined else {
            continue;
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
        let issue = |detail: String| KeyIssue {
            key: job.key(i),
            detail,
        };
        match step {
            Step::Retry { throttled, error } => {
                if throttled {
                    report.throttled += 1;
                    aimd.on_throttle();
                    tracing::debug!(limit = aimd.limit(), "throttled: concurrency lowered");
                    tokio::time::sleep(options.throttle_pause).await;
                }
                if attempt + 1 < options.attempts {
                    tracing::debug!(
                        key = job.key(i),
                        attempt,
                        error,
                        "retrying after reading the key again"
                    );
                    queue.push_back((i, attempt + 1, Probe::Read));
                } else {
                    report.failed.push(issue(format!(
                        "gave up after {} attempts: {error}",
                        attempt + 1
                    )));
                    job.settled(i);
                    bar.inc(1);
                    if listing_goes_on() {
                        report.while_listing += 1;
                    }
                }
                continue;
            }
            Step::Copied { bytes } => {
                report.copied += 1;
                report.bytes_copied += bytes;
            }
            Step::Marked => report.delete_markers += 1,
            Step::Undeleted => report.undeleted += 1,
            Step::AlreadyDone => report.already_done += 1,
            Step::Drifted(d) => report.drifted.push(issue(d)),
            Step::Waiting(d) => report.waiting.push(issue(d)),
            Step::Failed(d) => report.failed.push(issue(d)),
        }
        job.settled(i);
        bar.inc(1);
        if listing_goes_on() {
            report.while_listing += 1;
        }
        status(&bar, &report, listing_goes_on());
        aimd.on_success();
    }
    bar.finish_and_clear();
    if !report.interrupted {
        for (i, _, _) in queue {
            report.failed.push(KeyIssue {
                key: job.key(i),
                detail: "not attempted".to_owned(),
            });
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.final_concurrency = aimd.limit();
    report.finish_issues();
    report
}

#[cfg(test)]
mod tests {
    use super::{HELD_ISSUES, KeyIssue, KeyIssues};
    use proptest::prelude::*;

    fn issue(key: &str, detail: usize) -> KeyIssue {
        KeyIssue {
            key: key.to_owned(),
            detail: format!("detail {detail}"),
        }
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(128))]
        /// Held or on disk (past [`HELD_ISSUES`]), a list of issues reads back, and is
        /// written as JSON, exactly as the issues sorted by key (a key's issues in the
        /// order they came), whatever order they came in; one added after it was finished
        /// takes its place, and the count is every one added.
        #[test]
        fn issues_on_disk_read_back_sorted_as_held_ones(
            keys in prop::collection::vec("[a-c]{0,2}", 0..12),
            late in prop::option::of("[a-c]{0,2}"),
        ) {
            let mut list = KeyIssues::new();
            let mut want: Vec<KeyIssue> = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                list.push(issue(k, i));
                want.push(issue(k, i));
            }
            list.finish();
            if let Some(k) = &late {
                list.push(issue(k, 99));
                want.push(issue(k, 99));
            }
            want.sort_by(|a, b| a.key.cmp(&b.key));
            prop_assert_eq!(list.len(), want.len());
            prop_assert_eq!(list.to_vec().unwrap(), want.clone());
            prop_assert_eq!(
                serde_json::to_string(&list).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
            let first: Vec<KeyIssue> = want.iter().take(2).cloned().collect();
            prop_assert_eq!(list.first(2).unwrap(), first);
        }
    }

    /// Past [`HELD_ISSUES`] none is held: each goes to disk.
    #[test]
    fn past_the_limit_issues_go_to_disk() {
        let mut list = KeyIssues::new();
        for i in 0..=HELD_ISSUES {
            list.push(issue(&format!("k{i}"), i));
        }
        assert!(list.held.is_empty() && list.sorting.is_some());
        // Read before it is finished: an error, not a partial list.
        assert!(list.to_vec().is_err());
        list.finish();
        assert_eq!(list.to_vec().unwrap().len(), HELD_ISSUES + 1);
    }

    /// `while_listing` is in a report's JSON exactly when some action was settled while
    /// its listing went on (the restore document's optional field).
    #[test]
    fn while_listing_is_written_only_when_some_action_overlapped_the_listing() {
        let none = serde_json::to_value(super::ExecReport::default()).unwrap();
        assert!(none.get("while_listing").is_none(), "{none}");
        let some = serde_json::to_value(super::ExecReport {
            while_listing: 3,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(some["while_listing"], 3, "{some}");
    }

    /// While a command holds the claim, the binary's own Ctrl-C watcher leaves the process
    /// to it (other tests may hold claims too: only "held, so owned" is certain here).
    #[test]
    fn a_claim_owns_ctrl_c_while_it_is_held() {
        let claim = super::CtrlC::claim();
        assert!(super::owns_ctrl_c());
        let second = super::CtrlC::claim();
        drop(claim);
        assert!(super::owns_ctrl_c(), "one claim is still held");
        drop(second);
    }
}
