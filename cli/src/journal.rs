//! The journal: one JSON line per completed action, appended as each one finishes.
//!
//! It makes a restore resumable (a re-run recognises finished copies, even ones whose
//! ETag differs from the source's) and undoable (`s3rewind undo JOURNAL` puts back the
//! version each key had before).
//!
//! # Write and sync discipline
//!
//! A run opens its journal with `O_APPEND` and holds an exclusive lock on it (`flock`) for
//! as long as it writes: a second process is refused (exit 4). Each line is one `write`
//! of the whole line, made after the server confirmed the action; the run's start line
//! (and any repair) is `fsync`ed, action lines are left to the OS, and the file is synced
//! when the run closes it. So `kill -9` loses nothing the OS received, but a crash of the
//! process mid-write can leave a *torn* last line, and a power loss the last lines: the
//! bucket then holds writes the journal does not fully record. A journal is evidence,
//! not proof:
//!
//! - On open for appending, a torn tail is terminated and marked with a
//!   `{"type":"torn","offset":N}` record naming the byte offset where it begins, and the
//!   run says so; nothing is cut away. Readers return it as [`Line::Torn`] with its text.
//! - The action a torn line may record is re-checked against the bucket: a resumed
//!   restore plans from the bucket's current state, `undo` re-reads the key the torn
//!   line names (and reports, exit 1, one cut before its key); no command skips it
//!   silently.
//!
//! # Runs
//!
//! The start line binds the journal to its run ([`Run`]): what it restores (source,
//! destination, TIME, and for `apply` the plan's digest). A run refuses a journal that
//! holds another run (exit 4, nothing written), naming both; starting the same run again
//! (a resume) appends a start line with the same run id.
//!
//! Format (`s3rewind.journal/v1`), one object per line:
//!
//! ```text
//! {"type":"start","schema":"s3rewind.journal/v1","source":{...},"destination":{...},"at":"…","started_at":"…","run":"3f2a…","kind":"restore","plan_digest":"sha256:…"}
//! {"type":"done","op":"copy","bucket":"b","key":"k","source_bucket":"b","source_key":"k","source_version_id":"v1","previous_version_id":"v7","new_version_id":"v9","time":"…"}
//! {"type":"done","op":"delete_marker","bucket":"b","key":"k2","previous_version_id":"v3","new_version_id":"d4","time":"…"}
//! {"type":"done","op":"remove_delete_marker","bucket":"b","key":"k3","previous_version_id":"d5","new_version_id":"v2","time":"…"}
//! {"type":"torn","offset":1234}
//! ```
//!
//! `previous_version_id` is `null` when the key did not exist before the action.

use crate::error::{CliError, CliResult};
use crate::output::Printer;
use chrono::{DateTime, Utc};
use s3rewind_engine::{Destination, KnownCopy, Location};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub mod by_key;
pub mod remote;

/// The journal schema name.
pub const JOURNAL_SCHEMA: &str = "s3rewind.journal/v1";

/// What kind of run wrote a journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A restore (`restore`, `apply`, `drill`, `batch reconcile`): to a TIME.
    #[default]
    Restore,
    /// An `undo` of another run.
    Undo,
    /// An `undelete`.
    Undelete,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// A run started (or was started again, to resume it).
    Start {
        /// Always [`JOURNAL_SCHEMA`].
        schema: String,
        /// Source of the restore.
        source: Location,
        /// Destination of the restore.
        destination: Destination,
        /// The instant restored to.
        at: DateTime<Utc>,
        /// When the run started.
        started_at: DateTime<Utc>,
        /// The run's id ([`Run::id`]); absent in journals written before runs had ids.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        /// What kind of run (absent: a restore).
        #[serde(default)]
        kind: RunKind,
        /// `undo`: the id of the run it undoes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of: Option<String>,
        /// `apply`: the digest of the plan it executes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_digest: Option<String>,
    },
    /// An action completed.
    Done(Done),
    /// A multipart upload was created (`open`) or completed/aborted (`!open`). An upload
    /// left open by a killed run is aborted when the run is started again.
    Upload {
        /// Destination bucket.
        bucket: String,
        /// Destination key.
        key: String,
        /// The upload id.
        upload_id: String,
        /// True at creation, false at completion or abort.
        open: bool,
    },
    /// A torn line (a crash mid-write) begins at byte `offset`: on disk the record that
    /// marks it, read back with the torn line's text.
    Torn {
        /// The byte offset in the journal where the torn line begins.
        offset: u64,
        /// The torn line's text (read from the journal; never written in the record).
        #[serde(default, skip_serializing)]
        text: String,
    },
}

/// What a completed action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Copied a version onto the key.
    Copy,
    /// Added a delete marker.
    DeleteMarker,
    /// Wrote a file into a directory (`bucket` is the directory, `key` the relative path).
    File,
    /// Removed a delete marker (`undelete --remove-delete-markers`): `previous_version_id`
    /// is the removed marker, `new_version_id` the entry that became current.
    RemoveDeleteMarker,
}

/// A completed action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// What was done.
    pub op: Op,
    /// Destination bucket (or directory).
    pub bucket: String,
    /// Destination key.
    pub key: String,
    /// Source bucket of a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_bucket: Option<String>,
    /// Source key of a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    /// Source version of a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version_id: Option<String>,
    /// The key's current version before the action (`None`: it did not exist).
    pub previous_version_id: Option<String>,
    /// The version (or delete marker) the action created. `null` where the destination
    /// keeps no versions; empty when the server did not say and the key could not be
    /// read back as ours.
    pub new_version_id: String,
    /// The ETag of what a copy created, when it was read back (a copy that named no
    /// version): with `size`, what identifies a `null` copy later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The size of what a copy created, when it was read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When it completed.
    pub time: DateTime<Utc>,
}

/// Which run a journal belongs to: what it restores, where to and to when (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// What kind of run.
    pub kind: RunKind,
    /// Its source.
    pub source: Location,
    /// Its destination.
    pub destination: Destination,
    /// The instant restored to (part of a restore's identity; for an undo or an
    /// undelete, when it ran).
    pub at: DateTime<Utc>,
    /// `undo`: the run it undoes.
    pub of: Option<String>,
    /// `apply`: the digest of the plan it executes.
    pub plan_digest: Option<String>,
}

impl Run {
    /// A restore of `source` into `destination` to `at`.
    pub fn restore(source: &Location, destination: &Destination, at: DateTime<Utc>) -> Run {
        Run {
            kind: RunKind::Restore,
            source: source.clone(),
            destination: destination.clone(),
            at,
            of: None,
            plan_digest: None,
        }
    }

    /// The run that executes plan `p` (an undo's and an undelete's by its selection;
    /// the plan's digest, when it carries one).
    pub fn of_plan(p: &s3rewind_engine::RestorePlan) -> Run {
        Run {
            kind: match p.selection {
                s3rewind_engine::Selection::Undo => RunKind::Undo,
                s3rewind_engine::Selection::Undelete => RunKind::Undelete,
                _ => RunKind::Restore,
            },
            plan_digest: p.digest.clone(),
            ..Run::restore(&p.source, &p.destination, p.at)
        }
    }

    /// The run a start line begins.
    fn of_start(line: &Line) -> Option<Run> {
        match line {
            Line::Start {
                source,
                destination,
                at,
                kind,
                of,
                plan_digest,
                ..
            } => Some(Run {
                kind: *kind,
                source: source.clone(),
                destination: destination.clone(),
                at: *at,
                of: of.clone(),
                plan_digest: plan_digest.clone(),
            }),
            _ => None,
        }
    }

    /// The run's id: 12 hex digits of a SHA-256 of its kind, source and destination,
    /// and its TIME (a restore) or the run it undoes (an undo). Starting the same run
    /// again gives the same id.
    pub fn id(&self) -> String {
        use sha2::Digest as _;
        let ident = serde_json::json!({
            "kind": self.kind,
            "source": self.source,
            "destination": self.destination,
            "at": (self.kind == RunKind::Restore).then_some(self.at),
            "of": self.of,
        });
        let hash = sha2::Sha256::digest(ident.to_string().as_bytes());
        hash[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One line for messages: `run ID (restore of s3://b/p in place to T)`.
    pub fn describe(&self) -> String {
        let dest = match &self.destination {
            Destination::InPlace => "in place".to_owned(),
            Destination::Bucket { location } => format!("into {location}"),
            Destination::Directory { path } => format!("into directory {path}"),
        };
        let what = match self.kind {
            RunKind::Restore => format!(
                "restore of {} {dest} to {}",
                self.source,
                self.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            RunKind::Undo => format!(
                "undo of run {} on {}",
                self.of.as_deref().unwrap_or("?"),
                self.source
            ),
            RunKind::Undelete => format!("undelete of {}", self.source),
        };
        match &self.plan_digest {
            Some(d) => format!("run {} ({what}, plan {d})", self.id()),
            None => format!("run {} ({what})", self.id()),
        }
    }

    /// Can a journal of `self` take lines of `other`? The same run, and not two plans
    /// with different digests.
    fn accepts(&self, other: &Run) -> bool {
        self.id() == other.id()
            && match (&self.plan_digest, &other.plan_digest) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// The start line of this run, now.
    fn start_line(&self) -> Line {
        Line::Start {
            schema: JOURNAL_SCHEMA.to_owned(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            at: self.at,
            started_at: Utc::now(),
            run: Some(self.id()),
            kind: self.kind,
            of: self.of.clone(),
            plan_digest: self.plan_digest.clone(),
        }
    }
}

/// The runs a journal holds, in order of their first start line, each with its lines
/// (start lines included; a line before any start line counts for the first run).
pub fn runs(lines: &[Line]) -> Vec<(Run, Vec<Line>)> {
    let mut tracker = RunTracker::default();
    let mut of_run: Vec<Vec<Line>> = Vec::new();
    for l in lines {
        let i = tracker.run_of(l);
        if i >= of_run.len() {
            of_run.resize_with(i + 1, Vec::new);
        }
        of_run[i].push(l.clone());
    }
    tracker.found.into_iter().zip(of_run).collect()
}

/// Which run each line of a journal read in order belongs to (see [`runs`]): the run of
/// the last start line before it; a line before any start line counts for the first run
/// (index 0, also when the journal has no start line at all).
#[derive(Debug, Default)]
pub struct RunTracker {
    /// The runs found so far, in order of their first start line.
    pub found: Vec<Run>,
    current: Option<usize>,
}

impl RunTracker {
    /// The index in [`found`](Self::found) of the run `l` (the next line) belongs to.
    pub fn run_of(&mut self, l: &Line) -> usize {
        if let Some(run) = Run::of_start(l) {
            self.current = Some(join_run(&mut self.found, run));
        }
        self.current.unwrap_or(0)
    }
}

/// Count `run` (read from a start line) in `found`, the runs of a journal so far: the one
/// that accepts it (bound to a plan from the first start line that names one), else a new
/// one at the end. Its index.
fn join_run(found: &mut Vec<Run>, run: Run) -> usize {
    match found.iter().position(|r| r.accepts(&run)) {
        Some(i) => {
            if found[i].plan_digest.is_none() {
                found[i].plan_digest = run.plan_digest;
            }
            i
        }
        None => {
            found.push(run);
            found.len() - 1
        }
    }
}

/// The runs the journal at `path` holds, as [`runs`] finds them, read a line at a time
/// (a journal of millions of actions is not held to learn whose it is).
pub fn runs_in(path: &Path) -> CliResult<Vec<Run>> {
    let mut found = Vec::new();
    each_line(path, |l| {
        if let Some(run) = Run::of_start(&l) {
            join_run(&mut found, run);
        }
    })?;
    Ok(found)
}

/// An open journal, shared by the executor's tasks: it holds the journal's lock until it
/// is dropped (and then syncs it).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Open (create or append to) a journal for `run`: lock it, terminate a torn tail
    /// (with a warning naming its byte offset), refuse a journal of another run (exit 4),
    /// and append the run's start line (synced).
    pub fn begin(path: &Path, run: &Run, printer: &Printer) -> CliResult<Journal> {
        Journal::begin_since(path, run, printer, Utc::now())
    }

    /// [`begin`](Self::begin) for a run that started at `started_at` (before this
    /// process: `batch reconcile` journals jobs that began earlier).
    pub fn begin_since(
        path: &Path,
        run: &Run,
        printer: &Printer,
        started_at: DateTime<Utc>,
    ) -> CliResult<Journal> {
        let j = Journal::open(path, printer)?;
        check_runs(path, &runs_in(path)?, run)?;
        let mut start = run.start_line();
        if let Line::Start { started_at: s, .. } = &mut start {
            *s = started_at;
        }
        j.append(&start)?;
        j.sync();
        Ok(j)
    }

    /// Open (create or append to) a journal without starting a run (to record what an
    /// earlier run of it left): locked, a torn tail terminated.
    pub fn open(path: &Path, printer: &Printer) -> CliResult<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::failure(format!(
                    "cannot create journal directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                CliError::failure(format!("cannot open journal {}: {e}", path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(in_use(path)),
            Err(std::fs::TryLockError::Error(e)) => printer.warn(format!(
                "cannot lock journal {} ({e}): make sure no other s3rewind process writes to it",
                path.display()
            )),
        }
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| {
                CliError::failure(format!("cannot read journal {}: {e}", path.display()))
            })?;
        let j = Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
        };
        if let Some(tail) = unterminated(&bytes) {
            j.terminate(printer, tail)?;
        }
        Ok(j)
    }

    /// End a torn tail with a newline and, unless it is a whole record, mark it.
    fn terminate(&self, printer: &Printer, (offset, text): (u64, &str)) -> CliResult<()> {
        let whole = serde_json::from_str::<Line>(text).is_ok();
        let mut out = String::from("\n");
        if !whole {
            out.push_str(
                &serde_json::to_string(&Line::Torn {
                    offset,
                    text: String::new(),
                })
                .expect("a journal line serialises"),
            );
            out.push('\n');
        }
        self.write(&out)?;
        self.sync();
        if !whole {
            printer.warn(format!(
                "journal {}: the line at byte {offset} is torn (a crash mid-write: {}); it is kept and marked, and the action it may record is checked against the bucket, not taken from the journal",
                self.path.display(),
                preview(text)
            ));
        }
        Ok(())
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line, in one write (see the module docs).
    pub fn append(&self, line: &Line) -> CliResult<()> {
        let mut text = serde_json::to_string(line).expect("journal line serialises");
        text.push('\n');
        self.write(&text)
    }

    fn write(&self, text: &str) -> CliResult<()> {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(text.as_bytes()).map_err(|e| {
            CliError::failure(format!("cannot write journal {}: {e}", self.path.display()))
        })
    }

    fn sync(&self) {
        let f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.sync_data() {
            tracing::warn!(error = %e, path = %self.path.display(), "could not sync the journal");
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.sync();
    }
}

fn in_use(path: &Path) -> CliError {
    CliError::refused(format!(
        "journal {} is in use: another s3rewind process is writing it (it holds the journal's lock); wait for it to end, or give this run its own --journal; nothing was written",
        path.display()
    ))
}

/// Refuse (exit 4) when another process holds the journal's lock: it is being written.
pub fn check_not_in_use(path: &Path) -> CliResult<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    match file.try_lock_shared() {
        Err(std::fs::TryLockError::WouldBlock) => Err(in_use(path)),
        _ => Ok(()),
    }
}

/// A journal's text, shortened for a message.
fn preview(text: &str) -> String {
    let cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// The file's last line when it does not end with a newline: its offset and text.
fn unterminated(bytes: &[u8]) -> Option<(u64, &str)> {
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return None;
    }
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Some((
        start as u64,
        std::str::from_utf8(&bytes[start..]).unwrap_or(""),
    ))
}

/// Refuse (exit 4) a journal that holds a run other than `run`.
fn check_runs(path: &Path, found: &[Run], run: &Run) -> CliResult<()> {
    if let Some(other) = found.iter().find(|r| !r.accepts(run)) {
        return Err(CliError::refused(format!(
            "journal {} belongs to another run: it holds {}, this is {}; give this run its own --journal (without --journal each run gets its own); nothing was written",
            path.display(),
            other.describe(),
            run.describe()
        )));
    }
    Ok(())
}

/// Read a journal and, for a run that will write to it (`run`), refuse (exit 4) one that
/// holds another run or that another process is writing; say what a torn line in it
/// means for this command (`torn`: how its action is dealt with).
pub fn load(path: &Path, run: Option<&Run>, printer: &Printer, torn: &str) -> CliResult<Vec<Line>> {
    let lines = read(path)?;
    if let Some(run) = run {
        // A run that will write learns now, before its listing, that it cannot.
        check_not_in_use(path)?;
        let found: Vec<Run> = runs(&lines).into_iter().map(|(r, _)| r).collect();
        check_runs(path, &found, run)?;
    }
    for l in &lines {
        warn_if_torn(path, l, printer, torn);
    }
    Ok(lines)
}

/// Read a journal a line at a time (no run will write to it): an error if it is not a
/// journal, and a warning for each torn line in it, saying `torn` of it (as [`load`]).
pub fn warn_torn(path: &Path, printer: &Printer, torn: &str) -> CliResult<()> {
    each_line(path, |l| warn_if_torn(path, &l, printer, torn))
}

pub(crate) fn warn_if_torn(path: &Path, l: &Line, printer: &Printer, torn: &str) {
    if let Line::Torn { offset, text } = l {
        printer.warn(format!(
            "journal {}: the line at byte {offset} is torn (a crash mid-write: {}); {torn}",
            path.display(),
            preview(text)
        ));
    }
}

/// Read every line of a journal. A torn line (a crash mid-write: the unterminated last
/// line, or one a `torn` record marks) comes back as [`Line::Torn`]; so does the torn
/// start of a line that a run before these records went on to append right after it. Any
/// other line that is not a journal line is an error.
pub fn read(path: &Path) -> CliResult<Vec<Line>> {
    let mut out = Vec::new();
    each_line(path, |l| out.push(l))?;
    Ok(out)
}

/// Hand each line of a journal to `each`, in order, as [`read`] returns them, reading
/// the file a line at a time: the journal of a run over millions of keys is hundreds of
/// megabytes, and a caller that keeps a few of its records need not hold them all.
/// On an error (named as [`read`] names it) some lines may already have been handed on.
pub fn each_line(path: &Path, each: impl FnMut(Line)) -> CliResult<()> {
    let cannot =
        |e: std::io::Error| CliError::usage(format!("cannot read journal {}: {e}", path.display()));
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(cannot(e)),
    };
    parse(std::io::BufReader::with_capacity(1 << 16, file), each).map_err(|e| match e {
        ParseError::Io(e) => cannot(e),
        ParseError::Line(line, e) => CliError::usage(format!(
            "journal {} line {line} is not a valid s3rewind journal line: {e}",
            path.display()
        )),
    })
}

/// Why a journal's lines could not be read.
#[derive(Debug)]
enum ParseError {
    Io(std::io::Error),
    /// The line number (from 1) and what is wrong with it.
    Line(usize, String),
}

/// The lines of a journal read from `r`, each handed to `out` (see [`read`]).
fn parse(mut r: impl std::io::BufRead, mut out: impl FnMut(Line)) -> Result<(), ParseError> {
    // A line that did not parse, waiting for the record that marks it torn.
    let mut pending: Option<(usize, u64, String)> = None;
    let mut offset = 0u64;
    let mut raw = Vec::new();
    let unmarked = |n: usize| ParseError::Line(n, "not a journal line, and not marked torn".into());
    for i in 0.. {
        raw.clear();
        if r.read_until(b'\n', &mut raw).map_err(ParseError::Io)? == 0 {
            break;
        }
        let at = offset;
        offset += raw.len() as u64;
        if !raw.ends_with(b"\n") {
            // The unterminated last line: whole but for its newline, or torn.
            if let Some((n, _, _)) = pending.take() {
                return Err(unmarked(n));
            }
            let text = std::str::from_utf8(&raw).unwrap_or("");
            match serde_json::from_str::<Line>(text) {
                Ok(line) => out(line),
                Err(_) => out(Line::Torn {
                    offset: at,
                    text: text.to_owned(),
                }),
            }
            return Ok(());
        }
        let text = String::from_utf8_lossy(&raw);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(text) {
            Ok(Line::Torn { offset: o, .. }) => match pending.take() {
                Some((_, p, t)) if p == o => out(Line::Torn { offset: o, text: t }),
                _ => {
                    return Err(ParseError::Line(
                        i + 1,
                        format!("a torn-line record names byte {o}, where no torn line begins"),
                    ));
                }
            },
            Ok(line) => {
                if let Some((n, _, _)) = pending {
                    return Err(unmarked(n));
                }
                out(line);
            }
            Err(_) => {
                if let Some((n, _, _)) = pending {
                    return Err(unmarked(n));
                }
                // A torn line with a whole record appended right after it (written
                // before torn tails were terminated).
                if let Some((cut, line)) = glued(text) {
                    out(Line::Torn {
                        offset: at,
                        text: text[..cut].to_owned(),
                    });
                    out(line);
                    continue;
                }
                pending = Some((i + 1, at, text.to_owned()));
            }
        }
    }
    match pending {
        Some((n, _, _)) => Err(unmarked(n)),
        None => Ok(()),
    }
}

/// `text` as a torn line's start followed by a whole record: where the record begins.
fn glued(text: &str) -> Option<(usize, Line)> {
    text.match_indices("{\"type\":\"")
        .filter(|(i, _)| *i > 0)
        .find_map(|(i, _)| Some((i, serde_json::from_str::<Line>(&text[i..]).ok()?)))
}

/// What a torn line still says, read field by field as far as it goes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Salvaged {
    /// Its `type`, when that much was written.
    pub kind: Option<String>,
    /// `op`.
    pub op: Option<Op>,
    /// `bucket`.
    pub bucket: Option<String>,
    /// `key`.
    pub key: Option<String>,
    /// `previous_version_id` (`Some(None)`: written as `null`).
    pub previous_version_id: Option<Option<String>>,
}

/// Read what a torn line's fields say, as far as they are whole.
pub fn salvage(text: &str) -> Salvaged {
    fn field<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Option<T> {
        let pat = format!("\"{name}\":");
        let at = text.find(&pat)? + pat.len();
        let mut values = serde_json::Deserializer::from_str(&text[at..]).into_iter::<T>();
        let v = values.next()?.ok()?;
        // A value is whole only when something follows it (a torn `"k":"ab` is not).
        let end = at + values.byte_offset();
        (end < text.len()).then_some(v)
    }
    Salvaged {
        kind: field(text, "type"),
        op: field(text, "op"),
        bucket: field(text, "bucket"),
        key: field(text, "key"),
        previous_version_id: field(text, "previous_version_id"),
    }
}

/// Multipart uploads the journal at `path` shows as created but never completed or
/// aborted (read a line at a time).
pub fn open_uploads(path: &Path) -> CliResult<Vec<(String, String, String)>> {
    let mut open: Vec<(String, String, String)> = Vec::new();
    each_line(path, |l| {
        if let Line::Upload {
            bucket,
            key,
            upload_id,
            open: started,
        } = l
        {
            let id = (bucket, key, upload_id);
            if started {
                open.push(id);
            } else {
                open.retain(|o| o != &id);
            }
        }
    })?;
    Ok(open)
}

/// The copies a journal records, for the planner to recognise as done.
#[cfg(test)]
pub fn known_copies(lines: &[Line]) -> Vec<KnownCopy> {
    lines.iter().filter_map(known_copy).collect()
}

/// The copy a journal line records, if it records one.
fn known_copy(l: &Line) -> Option<KnownCopy> {
    match l {
        Line::Done(d) => by_key::known_copy(d),
        _ => None,
    }
}

/// The copies the journal at `path` records of the keys `wanted` names, read a line at
/// a time (a verification needs the few whose ETags differ, not the whole journal).
pub fn known_copies_of(path: &Path, wanted: impl Fn(&str) -> bool) -> CliResult<Vec<KnownCopy>> {
    let mut out = Vec::new();
    each_line(path, |l| {
        if let Line::Done(d) = &l
            && wanted(&d.key)
            && let Some(k) = known_copy(&l)
        {
            out.push(k);
        }
    })?;
    Ok(out)
}

/// A stable 64-bit FNV-1a hash, for naming journals.
fn fnv(s: &str) -> u64 {
    s3rewind_engine::hash::fnv1a(s.bytes())
}

/// The directory default journals go to (`$XDG_STATE_HOME/s3rewind/journals`).
pub fn default_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("s3rewind/journals")
}

/// The default journal path for a restore of `source` into `destination` as of `at`:
/// the same restore always gets the same journal, so running it again resumes.
pub fn default_path(
    dir: &Path,
    source: &Location,
    destination: &Destination,
    at: DateTime<Utc>,
) -> PathBuf {
    let ident = format!(
        "{}|{}|{:?}|{}",
        source.bucket,
        source.prefix,
        destination,
        at.timestamp_millis()
    );
    let safe: String = source
        .bucket
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!(
        "{safe}-{}-{:016x}.jsonl",
        at.format("%Y%m%dT%H%M%SZ"),
        fnv(&ident)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_uploads_are_those_created_and_never_closed() {
        let up = |key: &str, id: &str, open: bool| Line::Upload {
            bucket: "b".into(),
            key: key.into(),
            upload_id: id.into(),
            open,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        assert!(open_uploads(&path).unwrap().is_empty(), "no journal yet");
        let j = Journal::open(&path, &quiet()).unwrap();
        for l in [up("a", "1", true), up("b", "2", true), up("a", "1", false)] {
            j.append(&l).unwrap();
        }
        drop(j);
        assert_eq!(
            open_uploads(&path).unwrap(),
            vec![("b".to_owned(), "b".to_owned(), "2".to_owned())]
        );
    }

    /// Read a line at a time, through a buffer of any size (lines cut across reads),
    /// a journal gives the same lines and errors, torn and glued lines included.
    #[test]
    fn a_journal_reads_the_same_through_any_buffer() {
        let whole = serde_json::to_string(&Line::Done(done("k"))).unwrap();
        let torn = serde_json::to_string(&Line::Torn {
            offset: whole.len() as u64 + 1,
            text: String::new(),
        })
        .unwrap();
        let texts = [
            format!("{whole}\n"),
            format!("{whole}\n\n{whole}"),
            format!("{whole}\n{{\"type\":\"do{whole}\n{whole}\n"),
            format!("{whole}\n{{\"type\":\"do\n{torn}\n{whole}\n"),
            format!("{whole}\n{{\"type\":\"do"),
            format!("{whole}\nnot json\n{whole}\n"),
            format!("{whole}\nnot json\n{whole}"),
            format!("{whole}\n{torn}\n"),
        ];
        for text in &texts {
            let lines = |capacity| {
                let mut out = Vec::new();
                let r = std::io::BufReader::with_capacity(capacity, text.as_bytes());
                let res = parse(r, |l| out.push(l)).map_err(|e| format!("{e:?}"));
                (out, res)
            };
            let (one, one_res) = lines(1);
            let (big, big_res) = lines(1 << 16);
            assert_eq!(one, big, "{text:?}");
            assert_eq!(one_res, big_res, "{text:?}");
        }
        // What each says (the cases above, in order).
        let read_all = |text: &str| {
            let mut out = Vec::new();
            parse(text.as_bytes(), |l| out.push(l)).map(|()| out)
        };
        assert_eq!(read_all(&texts[1]).unwrap().len(), 2);
        assert!(matches!(
            read_all(&texts[3]).unwrap().as_slice(),
            [Line::Done(_), Line::Torn { text, .. }, Line::Done(_)] if text == "{\"type\":\"do"
        ));
        assert!(matches!(
            read_all(&texts[4]).unwrap().as_slice(),
            [Line::Done(_), Line::Torn { offset, .. }] if *offset == whole.len() as u64 + 1
        ));
        assert!(matches!(read_all(&texts[5]), Err(ParseError::Line(2, _))));
        assert!(matches!(read_all(&texts[6]), Err(ParseError::Line(2, _))));
        assert!(matches!(read_all(&texts[7]), Err(ParseError::Line(2, _))));
    }

    #[test]
    fn the_known_copies_of_some_keys_are_those_the_journal_records_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path, &quiet()).unwrap();
        for k in ["a", "b", "c"] {
            j.append(&Line::Done(done(k))).unwrap();
        }
        drop(j);
        let keys = |ks: &[KnownCopy]| ks.iter().map(|k| k.key.clone()).collect::<Vec<_>>();
        assert_eq!(
            keys(&known_copies_of(&path, |k| k != "b").unwrap()),
            ["a", "c"]
        );
        assert_eq!(
            known_copies_of(&path, |_| true).unwrap(),
            known_copies(&read(&path).unwrap())
        );
        assert!(
            known_copies_of(&dir.path().join("none"), |_| true)
                .unwrap()
                .is_empty()
        );
    }

    /// An undo's and an undelete's plan make runs of their own kind: their journals are
    /// never taken for a restore's of the same bucket and TIME (nor the other way round).
    #[test]
    fn a_plan_s_run_is_of_the_kind_its_selection_says() {
        let at = Utc::now();
        let plan = |selection| s3rewind_engine::RestorePlan {
            schema: s3rewind_engine::PLAN_SCHEMA.to_owned(),
            created_at: None,
            digest: None,
            source: Location::whole("b-1"),
            destination: Destination::InPlace,
            at,
            selection,
            keys: None,
            inventory: None,
            stats: Default::default(),
            estimate: None,
            warnings: Vec::new(),
            actions: Vec::new(),
        };
        use s3rewind_engine::Selection;
        let restore = Run::of_plan(&plan(Selection::AtTime));
        assert_eq!(restore.kind, RunKind::Restore);
        assert_eq!(Run::of_plan(&plan(Selection::Undo)).kind, RunKind::Undo);
        let undelete = Run::of_plan(&plan(Selection::Undelete));
        assert_eq!(undelete.kind, RunKind::Undelete);
        assert_ne!(undelete.id(), restore.id());
        assert!(!restore.accepts(&undelete) && !undelete.accepts(&restore));
    }

    #[test]
    fn a_torn_line_is_quoted_in_its_warning_shortened_to_sixty_characters() {
        assert_eq!(preview(r#"{"type":"do"#), r#""{\"type\":\"do""#);
        let long = "x".repeat(100);
        assert_eq!(preview(&long), format!("{:?}…", "x".repeat(60)));
    }

    #[test]
    fn a_salvaged_value_counts_only_when_something_follows_it() {
        // A torn line may end right after a value that looks whole (`12` of `123`).
        let torn = salvage(r#"{"type":"done","op":"copy","key":"abc""#);
        assert_eq!(torn.op, Some(Op::Copy));
        assert_eq!(torn.key, None, "the last value, with nothing after it");
        let whole = salvage(r#"{"type":"done","op":"copy","key":"abc","#);
        assert_eq!(whole.key.as_deref(), Some("abc"));
    }
    use crate::error::Exit;

    fn done(key: &str) -> Done {
        Done {
            op: Op::Copy,
            bucket: "b".into(),
            key: key.into(),
            source_bucket: Some("b".into()),
            source_key: Some(key.into()),
            source_version_id: Some("v1".into()),
            previous_version_id: None,
            new_version_id: "v2".into(),
            etag: None,
            size: None,
            time: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        }
    }

    fn quiet() -> Printer {
        Printer::capturing(crate::output::OutputFormat::Text, true).0
    }

    #[test]
    fn round_trip_and_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path, &quiet()).unwrap();
        j.append(&Line::Done(done("k"))).unwrap();
        drop(j);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"done\",\"op\":")
            .unwrap();
        let lines = read(&path).unwrap();
        let torn = Line::Torn {
            offset: len,
            text: "{\"type\":\"done\",\"op\":".into(),
        };
        assert_eq!(lines, vec![Line::Done(done("k")), torn.clone()]);
        assert_eq!(known_copies(&lines)[0].version_id, "v2");
        // Opened again: terminated and marked, and the next record reads after it.
        let j = Journal::open(&path, &quiet()).unwrap();
        j.append(&Line::Done(done("k2"))).unwrap();
        drop(j);
        assert_eq!(
            read(&path).unwrap(),
            vec![Line::Done(done("k")), torn, Line::Done(done("k2"))]
        );
    }

    #[test]
    fn a_torn_line_with_a_record_glued_after_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let whole = serde_json::to_string(&Line::Done(done("k"))).unwrap();
        std::fs::write(&path, format!("{whole}\n{{\"type\":\"do{whole}\n")).unwrap();
        let lines = read(&path).unwrap();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            matches!(&lines[1], Line::Torn { offset, text } if *offset == whole.len() as u64 + 1 && text == "{\"type\":\"do")
        );
        // A line that is neither is still an error.
        std::fs::write(&path, format!("{whole}\nnot json\n{whole}\n")).unwrap();
        assert!(read(&path).unwrap_err().message.contains("line 2"));
    }

    #[test]
    fn salvage_reads_whole_fields_only() {
        let whole = serde_json::to_string(&Line::Done(done("dir/k \"q\""))).unwrap();
        let cut = whole.find("\"source_bucket\"").unwrap();
        let s = salvage(&whole[..cut]);
        assert_eq!(s.kind.as_deref(), Some("done"));
        assert_eq!(s.op, Some(Op::Copy));
        assert_eq!(s.key.as_deref(), Some("dir/k \"q\""));
        assert_eq!(s.previous_version_id, None);
        let key_at = whole.find("\"key\":").unwrap();
        assert_eq!(salvage(&whole[..key_at + 9]).key, None);
    }

    #[test]
    fn a_journal_of_another_run_is_refused_and_a_locked_one_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let loc = |b: &str| Location {
            bucket: b.into(),
            prefix: String::new(),
        };
        let t = Utc::now();
        let a = Run::restore(&loc("a"), &Destination::InPlace, t);
        let j = Journal::begin(&path, &a, &quiet()).unwrap();
        // Locked while open.
        assert_eq!(
            Journal::open(&path, &quiet()).unwrap_err().exit,
            Exit::Refused
        );
        assert_eq!(check_not_in_use(&path).unwrap_err().exit, Exit::Refused);
        drop(j);
        // The same run again: a resume.
        drop(Journal::begin(&path, &a, &quiet()).unwrap());
        let b = Run::restore(&loc("b"), &Destination::InPlace, t);
        let e = Journal::begin(&path, &b, &quiet()).unwrap_err();
        assert_eq!(e.exit, Exit::Refused);
        assert!(
            e.message.contains(&a.id()) && e.message.contains(&b.id()),
            "{}",
            e.message
        );
        // Two plans of one restore with different digests are two runs.
        let p1 = Run {
            plan_digest: Some("sha256:1".into()),
            ..a.clone()
        };
        let p2 = Run {
            plan_digest: Some("sha256:2".into()),
            ..a.clone()
        };
        drop(Journal::begin(&path, &p1, &quiet()).unwrap());
        assert_eq!(
            Journal::begin(&path, &p2, &quiet()).unwrap_err().exit,
            Exit::Refused
        );
        let lines = read(&path).unwrap();
        assert_eq!(runs(&lines).len(), 1);
    }

    /// The default journal's file is named after its bucket (letters, digits and `-`
    /// kept, anything else `_`), the run's time and a hash, so a reader of the journal
    /// directory can tell whose it is.
    #[test]
    fn a_default_journal_is_named_after_its_bucket() {
        let l = Location {
            bucket: "prod-photos.eu".into(),
            prefix: String::new(),
        };
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 6, 3, 4, 5).unwrap();
        let p = default_path(Path::new("j"), &l, &Destination::InPlace, t);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("prod-photos_eu-20261206T030405Z-"),
            "{name}"
        );
        assert!(name.ends_with(".jsonl"), "{name}");
    }

    /// A journal that is there but cannot be read is an error, never an empty journal
    /// (only a journal that does not exist yet reads as empty).
    #[test]
    fn an_unreadable_journal_is_an_error_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("none.jsonl")).unwrap().is_empty());
        let e = read(dir.path()).unwrap_err();
        assert!(e.message.contains("cannot read journal"), "{}", e.message);
    }

    #[test]
    fn default_path_is_stable_and_distinct() {
        let l = Location {
            bucket: "b".into(),
            prefix: "p/".into(),
        };
        let t = Utc::now();
        let a = default_path(Path::new("j"), &l, &Destination::InPlace, t);
        assert_eq!(
            a,
            default_path(Path::new("j"), &l, &Destination::InPlace, t)
        );
        let other = Location {
            bucket: "b".into(),
            prefix: "q/".into(),
        };
        assert_ne!(
            a,
            default_path(Path::new("j"), &other, &Destination::InPlace, t)
        );
    }
}
