//! The journal: one JSON line per completed action, appended as each one finishes.
//!
//! It makes a restore resumable (a re-run recognises finished copies, even ones whose
//! ETag differs from the source's) and undoable (`s3rewind undo JOURNAL` puts back the
//! version each key had before). Lines are appended with `O_APPEND` and flushed one at a
//! time, so a process killed at any point (`kill -9` included) leaves whole lines for
//! everything that completed, at worst minus the line being written.
//!
//! Format (`s3rewind.journal/v1`), one object per line:
//!
//! ```text
//! {"type":"start","schema":"s3rewind.journal/v1","source":{...},"destination":{...},"at":"…","started_at":"…"}
//! {"type":"done","op":"copy","bucket":"b","key":"k","source_bucket":"b","source_key":"k","source_version_id":"v1","previous_version_id":"v7","new_version_id":"v9","time":"…"}
//! {"type":"done","op":"delete_marker","bucket":"b","key":"k2","previous_version_id":"v3","new_version_id":"d4","time":"…"}
//! {"type":"done","op":"remove_delete_marker","bucket":"b","key":"k3","previous_version_id":"d5","new_version_id":"v2","time":"…"}
//! ```
//!
//! `previous_version_id` is `null` when the key did not exist before the action.

use crate::error::{CliError, CliResult};
use chrono::{DateTime, Utc};
use s3rewind_engine::{Destination, KnownCopy, Location};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal schema name.
pub const JOURNAL_SCHEMA: &str = "s3rewind.journal/v1";

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// A run started.
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

/// An open journal, shared by the executor's tasks.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Open (create or append to) a journal.
    pub fn open(path: &Path) -> CliResult<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::failure(format!(
                    "cannot create journal directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                CliError::failure(format!("cannot open journal {}: {e}", path.display()))
            })?;
        Ok(Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line and flush it to the OS.
    pub fn append(&self, line: &Line) -> CliResult<()> {
        let mut text = serde_json::to_string(line).expect("journal line serialises");
        text.push('\n');
        let mut f = self.file.lock().expect("journal lock");
        f.write_all(text.as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| {
                CliError::failure(format!("cannot write journal {}: {e}", self.path.display()))
            })
    }
}

/// Read every whole line of a journal (a torn last line, from a kill, is ignored).
pub fn read(path: &Path) -> CliResult<Vec<Line>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read journal {}: {e}",
                path.display()
            )));
        }
    };
    let mut out = Vec::new();
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::usage(format!("cannot read journal {}: {e}", path.display())))?;
    let n = lines.len();
    for (i, l) in lines.into_iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(&l) {
            Ok(line) => out.push(line),
            Err(_) if i + 1 == n => {} // torn final line
            Err(e) => {
                return Err(CliError::usage(format!(
                    "journal {} line {} is not a valid s3rewind journal line: {e}",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(out)
}

/// Multipart uploads a journal shows as created but never completed or aborted.
pub fn open_uploads(lines: &[Line]) -> Vec<(String, String, String)> {
    let mut open: Vec<(String, String, String)> = Vec::new();
    for l in lines {
        if let Line::Upload {
            bucket,
            key,
            upload_id,
            open: started,
        } = l
        {
            let id = (bucket.clone(), key.clone(), upload_id.clone());
            if *started {
                open.push(id);
            } else {
                open.retain(|o| o != &id);
            }
        }
    }
    open
}

/// The copies a journal records, for the planner to recognise as done.
pub fn known_copies(lines: &[Line]) -> Vec<KnownCopy> {
    lines
        .iter()
        .filter_map(|l| match l {
            Line::Done(d) if d.op == Op::Copy => Some(KnownCopy {
                key: d.key.clone(),
                version_id: d.new_version_id.clone(),
                source_key: d.source_key.clone()?,
                source_version_id: d.source_version_id.clone()?,
                etag: d.etag.clone().unwrap_or_default(),
                size: d.size,
            }),
            _ => None,
        })
        .collect()
}

/// A stable 64-bit FNV-1a hash, for naming journals.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The default journal path for a restore of `source` into `destination` as of `at`:
/// the same restore always gets the same journal, so running it again resumes.
pub fn default_path(source: &Location, destination: &Destination, at: DateTime<Utc>) -> PathBuf {
    let ident = format!(
        "{}|{}|{:?}|{}",
        source.bucket,
        source.prefix,
        destination,
        at.timestamp_millis()
    );
    let dir = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("s3rewind/journals");
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
    fn round_trip_and_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let done = Done {
            op: Op::Copy,
            bucket: "b".into(),
            key: "k".into(),
            source_bucket: Some("b".into()),
            source_key: Some("k".into()),
            source_version_id: Some("v1".into()),
            previous_version_id: None,
            new_version_id: "v2".into(),
            etag: None,
            size: None,
            time: Utc::now(),
        };
        j.append(&Line::Done(done.clone())).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"done\",\"op\":")
            .unwrap();
        let lines = read(&path).unwrap();
        assert_eq!(lines, vec![Line::Done(done)]);
        assert_eq!(known_copies(&lines)[0].version_id, "v2");
    }

    #[test]
    fn default_path_is_stable_and_distinct() {
        let l = Location {
            bucket: "b".into(),
            prefix: "p/".into(),
        };
        let t = Utc::now();
        let a = default_path(&l, &Destination::InPlace, t);
        assert_eq!(a, default_path(&l, &Destination::InPlace, t));
        let other = Location {
            bucket: "b".into(),
            prefix: "q/".into(),
        };
        assert_ne!(a, default_path(&other, &Destination::InPlace, t));
    }
}
