//! `--to-dir`: write the state at T into a local directory.
//!
//! Each key below the source prefix becomes the file `DIR/<relative key>` (the rules for
//! which keys are paths are in [`s3rewind_engine::paths`]; a key that is not one is
//! reported, never rewritten). Every file is written atomically: downloaded into a
//! temporary file in its own folder, its mtime set to the version's `LastModified`,
//! fsynced, then renamed over the final name. A file that already has the version's size
//! and mtime counts as written, so running the same command again after an interruption
//! continues where it stopped (and the planner already counts such files as unchanged,
//! see `existing_state`).
//!
//! Nothing is written outside DIR: paths have only normal segments, every folder on the
//! way is checked not to be a symbolic link (and created if missing), and the final
//! folder, once resolved, must still lie inside DIR. An existing symbolic link where a
//! file or folder would go is refused, not followed or replaced.

use crate::bucket::Bucket;
use crate::error::{CliError, CliResult};
use crate::execute::{ExecConfig, ExecReport, KeyIssue};
use crate::journal::{self, Done, Journal, Line, Op};
use crate::output::Printer;
use crate::run::{Attempt, Items, Job, Probe, RunOptions, Step};
use crate::s3::ErrorKind;
use chrono::{DateTime, Utc};
use s3rewind_engine::paths::{
    PathError, RelPath, file_folder_conflicts, key_to_path, relative_key,
};
use s3rewind_engine::{
    Action, BucketState, CopyAction, Destination, RestorePlan, StateEntry, destination_key,
};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

/// The relative path a source key is written to (the same as the plan's destination key,
/// see [`relative_key`]), or why it cannot be.
pub fn path_for(prefix: &str, key: &str) -> Result<RelPath, PathError> {
    key_to_path(relative_key(prefix, key).unwrap_or(key))
}

/// True when `meta` is a regular file with `size` bytes whose mtime is `last_modified`
/// (to the second: S3 times have whole seconds, and some filesystems store less).
fn same_file(meta: &std::fs::Metadata, size: u64, last_modified: DateTime<Utc>) -> bool {
    meta.file_type().is_file()
        && meta.len() == size
        && meta
            .modified()
            .ok()
            .is_some_and(|m| DateTime::<Utc>::from(m).timestamp() == last_modified.timestamp())
}

/// True when every parent folder of `rel` under `dir` exists and is a real folder (no
/// symbolic link on the way); `known` caches the folders already checked.
fn real_folders(dir: &Path, rel: &RelPath, known: &mut HashSet<PathBuf>) -> bool {
    let mut p = dir.to_path_buf();
    for segment in rel.parents() {
        p.push(segment);
        if known.contains(&p) {
            continue;
        }
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                known.insert(p.clone());
            }
            _ => return false,
        }
    }
    true
}

/// The directory's "current state" for the planner: the keys of `target` whose file
/// already exists in `dir` with the version's size and mtime (they are then unchanged).
/// Keys that cannot be written as files are announced here, before anything is written.
pub(crate) fn existing_state(
    printer: &Printer,
    dir: &Path,
    prefix: &str,
    target: &BucketState,
) -> BucketState {
    let mut objects = Vec::new();
    let mut invalid = Vec::new();
    let destination = Destination::Directory {
        path: dir.to_string_lossy().into_owned(),
    };
    // Folders known to be real folders (not symbolic links) inside `dir`.
    let mut folders: HashSet<PathBuf> = HashSet::new();
    for e in target.objects.iter().filter(|e| e.key.starts_with(prefix)) {
        match path_for(prefix, &e.key) {
            Ok(rel) => {
                let file = dir.join(rel.as_str());
                if real_folders(dir, &rel, &mut folders)
                    && std::fs::symlink_metadata(&file)
                        .is_ok_and(|m| same_file(&m, e.version.size, e.version.last_modified))
                {
                    objects.push(StateEntry {
                        // The planner matches on the destination key.
                        key: destination_key(prefix, &destination, &e.key),
                        version: e.version.clone(),
                    });
                }
            }
            Err(PathError::FolderMarker) => {}
            Err(err) => invalid.push(format!("{:?} ({err})", e.key)),
        }
    }
    if !invalid.is_empty() {
        printer.warn(format!(
            "{} key(s) cannot be written as files and will be reported as failed: {}{}",
            invalid.len(),
            invalid
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if invalid.len() > 5 { ", …" } else { "" }
        ));
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    BucketState {
        objects,
        ..BucketState::default()
    }
}

/// One file to write.
struct FileJob {
    rel: RelPath,
    copy: CopyAction,
}

fn retry(error: String) -> Step {
    Step::Retry {
        throttled: false,
        error,
    }
}

/// The runner's job for a restore into a directory: one item is one file downloaded.
struct DownloadJob {
    /// The source bucket.
    src: Arc<dyn Bucket>,
    /// The files to write.
    jobs: Vec<FileJob>,
    /// The directory as given (for messages and the journal).
    dir_name: String,
    /// The directory, resolved (symbolic links of DIR itself followed once, at start).
    root: PathBuf,
    journal: Journal,
    temp_counter: AtomicU64,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl DownloadJob {
    /// Make sure every folder of `rel` exists inside the root and none is a symbolic
    /// link; returns the folder the file goes into.
    fn folder_for(&self, rel: &RelPath) -> Result<PathBuf, String> {
        let mut dir = self.root.clone();
        for segment in rel.parents() {
            dir.push(segment);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(format!(
                        "refusing to write through the symbolic link {}",
                        dir.display()
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(format!(
                        "{} is a file, but this key needs a folder of that name",
                        dir.display()
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match std::fs::create_dir(&dir) {
                        Ok(()) => {}
                        // Another task made it meanwhile: check what it is.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            let m = std::fs::symlink_metadata(&dir)
                                .map_err(|e| io("cannot read", &dir, e))?;
                            if !m.is_dir() {
                                return Err(format!(
                                    "{} is not a folder, but this key needs one",
                                    dir.display()
                                ));
                            }
                        }
                        Err(e) => return Err(io("cannot create folder", &dir, e)),
                    }
                }
                Err(e) => return Err(io("cannot read", &dir, e)),
            }
        }
        // Checked after joining: the resolved folder must still be inside the root.
        let resolved = std::fs::canonicalize(&dir).map_err(|e| io("cannot resolve", &dir, e))?;
        if !resolved.starts_with(&self.root) {
            return Err(format!(
                "{} resolves to {}, outside {}; refusing to write",
                dir.display(),
                resolved.display(),
                self.root.display()
            ));
        }
        Ok(resolved)
    }

    async fn write(&self, job: &FileJob) -> Step {
        let c = &job.copy;
        let folder = match self.folder_for(&job.rel) {
            Ok(f) => f,
            Err(e) => return Step::Failed(e),
        };
        let path = folder.join(job.rel.file_name());
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Step::Failed(format!(
                    "refusing to replace the symbolic link {}",
                    path.display()
                ));
            }
            Ok(m) if m.is_dir() => {
                return Step::Failed(format!(
                    "{} is a folder (other keys are below it), so this key cannot be a file there",
                    path.display()
                ));
            }
            Ok(m) if same_file(&m, c.size, c.last_modified) => return Step::AlreadyDone,
            Ok(_) => {} // another file: replaced atomically below
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Step::Failed(io("cannot read", &path, e)),
        }
        let temp = folder.join(format!(
            ".s3rewind-{}-{}.part",
            std::process::id(),
            self.temp_counter.fetch_add(1, Ordering::Relaxed)
        ));
        let step = self.download_into(c, &temp, &path).await;
        if !matches!(step, Step::Copied { .. }) {
            let _ = std::fs::remove_file(&temp);
        }
        step
    }

    async fn download_into(&self, c: &CopyAction, temp: &Path, path: &Path) -> Step {
        let file = match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp)
            .await
        {
            Ok(f) => f,
            Err(e) => return Step::Failed(io("cannot create", temp, e)),
        };
        let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let written = match self
            .src
            .download(&c.source_key, &c.source_version_id.as_str(), &mut file)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                return match e.kind {
                    ErrorKind::Archived => Step::Waiting(format!(
                        "source version is archived: {e}; restore it from the archive first"
                    )),
                    ErrorKind::NotFound => Step::Failed(format!(
                        "source version {} of {:?} no longer exists",
                        c.source_version_id, c.source_key
                    )),
                    ErrorKind::AccessDenied
                    | ErrorKind::NoCredentials
                    | ErrorKind::NoSuchBucket => Step::Failed(e.to_string()),
                    _ => retry(e.to_string()),
                };
            }
        };
        if written != c.size {
            return retry(format!(
                "downloaded {written} bytes of {:?} version {}, expected {}",
                c.source_key, c.source_version_id, c.size
            ));
        }
        use tokio::io::AsyncWriteExt;
        if let Err(e) = file.flush().await {
            return Step::Failed(io("cannot write", temp, e));
        }
        let std_file = file.into_inner().into_std().await;
        let (temp, path) = (temp.to_owned(), path.to_owned());
        let mtime = SystemTime::from(c.last_modified);
        // mtime, fsync, rename and the folder's fsync block: off the async workers.
        let finished = tokio::task::spawn_blocking(move || -> Result<(), String> {
            std_file
                .set_modified(mtime)
                .and_then(|()| std_file.sync_all())
                .map_err(|e| io("cannot finish", &temp, e))?;
            drop(std_file);
            std::fs::rename(&temp, &path).map_err(|e| io("cannot rename into place", &path, e))?;
            // Make the rename itself durable.
            if let Some(parent) = path.parent()
                && let Ok(d) = std::fs::File::open(parent)
            {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await;
        match finished {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Step::Failed(e),
            Err(e) => return Step::Failed(format!("internal error: {e}")),
        }
        Step::Copied { bytes: written }
    }

    fn record(&self, job: &FileJob) -> Result<(), String> {
        self.journal
            .append(&Line::Done(Done {
                op: Op::File,
                bucket: self.dir_name.clone(),
                key: job.rel.as_str().to_owned(),
                source_bucket: Some(self.src.name().to_owned()),
                source_key: Some(job.copy.source_key.clone()),
                source_version_id: Some(job.copy.source_version_id.to_string()),
                previous_version_id: None,
                new_version_id: String::new(),
                etag: None,
                size: None,
                time: Utc::now(),
            }))
            .map_err(|e| e.to_string())
    }
}

/// Sort a directory plan's actions into files to write, keys skipped (folder markers)
/// and keys that cannot be written (with the reason).
fn sort_out(plan: &RestorePlan) -> (Vec<FileJob>, Vec<KeyIssue>, Vec<KeyIssue>) {
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for a in &plan.actions {
        match a {
            Action::Copy(c) => match path_for(&plan.source.prefix, &c.source_key) {
                Ok(rel) => jobs.push(FileJob {
                    rel,
                    copy: c.clone(),
                }),
                Err(e @ PathError::FolderMarker) => skipped.push(KeyIssue {
                    key: c.source_key.clone(),
                    detail: e.to_string(),
                }),
                Err(e) => failed.push(KeyIssue {
                    key: c.source_key.clone(),
                    detail: format!("not a valid file path: {e}"),
                }),
            },
            Action::DeleteMarker(d) => failed.push(KeyIssue {
                key: d.key.clone(),
                detail: "a delete marker has no meaning in a directory restore".to_owned(),
            }),
        }
    }
    // A key that is also a folder of another key cannot be written as a file.
    let conflicts: HashMap<String, String> = file_folder_conflicts(jobs.iter().map(|j| &j.rel))
        .into_iter()
        .map(|(f, below)| (f.as_str().to_owned(), below.as_str().to_owned()))
        .collect();
    jobs.retain(|j| match conflicts.get(j.rel.as_str()) {
        Some(below) => {
            failed.push(KeyIssue {
                key: j.copy.source_key.clone(),
                detail: format!(
                    "{:?} would be both a file and a folder (for {below:?}); the key below it is written",
                    j.rel.as_str()
                ),
            });
            false
        }
        None => true,
    });
    (jobs, skipped, failed)
}

/// Execute a plan whose destination is a directory.
pub async fn execute_to_dir(
    source: &Arc<dyn Bucket>,
    plan: &RestorePlan,
    config: &ExecConfig,
    journal_path: &Path,
    printer: &Printer,
) -> CliResult<ExecReport> {
    let started = Instant::now();
    let Destination::Directory { path } = &plan.destination else {
        return Err(CliError::failure("internal error: not a directory restore"));
    };
    let dir = PathBuf::from(path);
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::failure(format!("cannot create directory {}: {e}", dir.display()))
    })?;
    let root = std::fs::canonicalize(&dir).map_err(|e| {
        CliError::failure(format!("cannot resolve directory {}: {e}", dir.display()))
    })?;
    if !root.is_dir() {
        return Err(CliError::failure(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let journal = Journal::begin(journal_path, &journal::Run::of_plan(plan), printer)?;

    let (jobs, skipped, failed) = sort_out(plan);
    let mut report = ExecReport {
        skipped: skipped.into(),
        failed: failed.into(),
        ..ExecReport::default()
    };
    let count = jobs.len();
    let ctx = Arc::new(DownloadJob {
        src: source.clone(),
        jobs,
        dir_name: path.clone(),
        root,
        journal,
        temp_counter: AtomicU64::new(0),
    });
    let options = RunOptions {
        concurrency: config.concurrency,
        attempts: config.attempts,
        throttle_pause: config.throttle_pause,
        label: "writing",
        caps: config.caps.clone(),
    };
    let run = crate::run::run_job(ctx, Items::All(count), &options, printer, None).await;
    report.copied = run.copied;
    report.bytes_copied = run.bytes_copied;
    report.already_done = run.already_done;
    report.waiting = run.waiting;
    report.failed.extend(run.failed);
    report.interrupted = run.interrupted;
    report.throttled = run.throttled;
    report.final_concurrency = run.final_concurrency;
    report.seconds = started.elapsed().as_secs_f64();
    report.finish_issues();
    Ok(report)
}

impl Job for DownloadJob {
    fn key(&self, i: usize) -> String {
        self.jobs[i].copy.source_key.clone()
    }

    fn attempt(self: Arc<Self>, i: usize, _attempt: u32, _probe: Probe) -> Attempt {
        Box::pin(async move {
            let job = &self.jobs[i];
            match self.write(job).await {
                Step::Copied { bytes } => match self.record(job) {
                    Ok(()) => Step::Copied { bytes },
                    Err(e) => Step::Failed(e),
                },
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3rewind_engine::{Location, PLAN_SCHEMA, PlanStats};

    fn copy(key: &str) -> Action {
        Action::Copy(CopyAction {
            key: key.to_owned(),
            source_key: key.to_owned(),
            source_version_id: "v".into(),
            etag: Default::default(),
            size: 1,
            storage_class: None,
            last_modified: Utc::now(),
            expect: None,
        })
    }

    #[test]
    fn invalid_keys_conflicts_and_folder_markers_are_sorted_out() {
        let plan = RestorePlan {
            schema: PLAN_SCHEMA.into(),
            created_at: None,
            digest: None,
            source: Location {
                bucket: "b".into(),
                prefix: "p/".into(),
            },
            destination: Destination::Directory { path: "d".into() },
            at: Utc::now(),
            selection: Default::default(),
            keys: None,
            inventory: None,
            stats: PlanStats::default(),
            estimate: None,
            warnings: Vec::new(),
            actions: ["p/../escape", "p//b", "p/a", "p/a/b", "p/dir/", "p/ok.txt"]
                .into_iter()
                .map(copy)
                .collect(),
        };
        let (jobs, skipped, failed) = sort_out(&plan);
        let jobs: Vec<&str> = jobs.iter().map(|j| j.rel.as_str()).collect();
        assert_eq!(jobs, ["a/b", "ok.txt"]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].key, "p/dir/");
        let failed: Vec<&str> = failed.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(failed, ["p/../escape", "p//b", "p/a"]);
    }
}
