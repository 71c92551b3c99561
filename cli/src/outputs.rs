//! Every local path a command will write, checked before it starts: a refusal comes
//! before the first request that writes (docs/src/exit-codes.md: exit codes 2–6 are "before any write"),
//! and a long listing is not spent on a run that could not keep its report at the end.
//!
//! A path is checked by what it takes to write it: its directory exists (or, for a
//! journal or a directory the command creates, can be created) and a file can be made
//! in it; an existing file can be opened for writing. The check writes nothing but a
//! temporary file it removes.

use crate::error::{CliError, CliResult};
use std::path::{Path, PathBuf};

/// Whether the command creates the path's missing directories itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// The directory must exist (`--report`, `--out`, `--svg`).
    MustExist,
    /// Missing directories are created (a journal).
    Created,
}

fn refuse(option: &str, path: &Path, why: impl std::fmt::Display) -> CliError {
    CliError::usage(format!(
        "{option} {}: {why}; give another path; nothing was written",
        path.display()
    ))
}

/// The nearest directory that exists at or above `dir`.
fn existing_ancestor(dir: &Path) -> PathBuf {
    let mut d = dir.to_path_buf();
    while !d.exists() {
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => d = p.to_path_buf(),
            _ => return PathBuf::from("."),
        }
    }
    d
}

/// A file can be created in `dir` (a temporary one, removed at once).
fn writable(option: &str, path: &Path, dir: &Path) -> CliResult<()> {
    if !dir.is_dir() {
        return Err(refuse(
            option,
            path,
            format!("{} is not a directory", dir.display()),
        ));
    }
    tempfile::Builder::new()
        .prefix(".s3rewind-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            refuse(
                option,
                path,
                format!("cannot write in {}: {e}", dir.display()),
            )
        })
}

/// The file `path` (given as `option`) can be written.
pub fn file(option: &str, path: &Path, parent: Parent) -> CliResult<()> {
    if path.is_dir() {
        return Err(refuse(option, path, "it is a directory, not a file"));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (dir.exists(), parent) {
        (true, _) => writable(option, path, dir)?,
        (false, Parent::MustExist) => {
            return Err(refuse(
                option,
                path,
                format!("directory {} does not exist", dir.display()),
            ));
        }
        (false, Parent::Created) => writable(option, path, &existing_ancestor(dir))?,
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| refuse(option, path, format!("cannot be written: {e}")))?;
    }
    Ok(())
}

/// The directory `dir` (given as `option`) can be created, or written if it exists.
pub fn dir(option: &str, dir: &Path) -> CliResult<()> {
    if dir.exists() {
        writable(option, dir, dir)
    } else {
        writable(option, dir, &existing_ancestor(dir))
    }
}

/// The outputs of a command that executes a plan: its `--report`, and its `--journal` or
/// else the directory its default journal goes to.
pub fn of_exec(exec: &crate::args::ExecArgs, journal_dir: &Path) -> CliResult<()> {
    if let Some(report) = &exec.report {
        file("--report", report, Parent::MustExist)?;
    }
    match &exec.journal {
        Some(j) => file("--journal", j, Parent::Created),
        None => dir("the journal directory", journal_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_cannot_be_written_are_refused_before_anything() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        assert!(file("--report", &d.path().join("r.jsonl"), Parent::MustExist).is_ok());
        assert!(file("--report", &f, Parent::MustExist).is_ok());
        let e = file("--report", &d.path().join("no/r.jsonl"), Parent::MustExist).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        assert_eq!(e.exit.code(), 2);
        assert!(file("--journal", &d.path().join("no/j.jsonl"), Parent::Created).is_ok());
        assert!(file("--journal", &f.join("j.jsonl"), Parent::Created).is_err());
        assert!(file("--report", d.path(), Parent::MustExist).is_err());
        assert!(dir("--emit", &d.path().join("a/b")).is_ok());
        assert!(dir("--emit", &f.join("a")).is_err());
        assert!(!d.path().join("a").exists(), "a check creates nothing");
    }
}
