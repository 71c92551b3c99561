//! A watched index on disk: `FILE` in the index format (`s3rewind index`'s), and
//! `FILE.events`, the append-only event log the watcher keeps beside it
//! ([`s3rewind_engine::watch`]). A command given `--index FILE` reads both: the index,
//! then every complete line of the log folded over it.
//!
//! Writes are ordered so that a crash at any point leaves a readable pair:
//!
//! - a new watched index: the log (its `Begin` line, and the events received during
//!   the baseline listing) is written and synced first, then the index is renamed into
//!   place; a log without its index is a baseline that never finished, and is replaced;
//! - an append: lines are written, then synced, and only then are their messages
//!   acknowledged; a line cut short by a crash is dropped on reading (its message was
//!   not acknowledged, so it comes again);
//! - a compaction: the new index is written to `FILE.next`, the new log to
//!   `FILE.events.next`, both synced; the log is renamed into place, then the index.
//!   A log whose `Begin` names an index other than `FILE`'s, with `FILE.next` that
//!   index, is a compaction interrupted between the two renames: the watcher finishes
//!   it, a reader reads `FILE.next`.

pub mod listen;
pub mod queue;

use crate::error::{CliError, CliResult, Exit};
use chrono::{DateTime, Utc};
use s3rewind_engine::Timeline;
use s3rewind_engine::index::{self, IndexHeader};
use s3rewind_engine::watch::{Begin, Record, Watch, fold_log, read_begin, write_record};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The event log beside an index.
pub fn log_path(index: &Path) -> PathBuf {
    with_suffix(index, ".events")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// True when `index` is a watched index (its event log exists).
pub fn is_watched(index: &Path) -> bool {
    log_path(index).is_file()
}

fn failure(what: &str, path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::failure(format!("{what} {}: {e}", path.display()))
}

/// A watched index as read: its header, the fold, and where the log's next line goes.
#[derive(Debug)]
pub struct Loaded {
    /// The index's header.
    pub header: IndexHeader,
    /// The index with the log folded in.
    pub watch: Watch,
    /// Bytes of complete lines in the log.
    pub log_bytes: u64,
    /// The log ended in a line cut short (dropped).
    pub torn_tail: bool,
    /// Log lines folded (the `Begin` line included).
    pub records: u64,
}

/// Read a watched index (keys under `prefix`, the index's or a longer one). `repair`:
/// finish a compaction interrupted between its renames (the watcher does; a reader
/// only reads the new index in place).
pub fn load(path: &Path, prefix: &str, repair: bool) -> CliResult<Loaded> {
    let log = log_path(path);
    let file = File::open(&log).map_err(|e| {
        CliError::new(
            Exit::NotFound,
            format!("cannot read the event log {}: {e}", log.display()),
        )
    })?;
    // The Begin line names the index; the rest of the log is folded as it is read.
    let (begin, begin_bytes, rest) = read_begin(BufReader::with_capacity(1 << 16, file))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => CliError::failure(format!(
                "the event log {} does not start with its Begin line; it is not an s3rewind event log",
                log.display()
            )),
            _ => failure("cannot read the event log", &log, e),
        })?;
    let header = read_header(path)?;
    let mut index_path = path.to_path_buf();
    if header.created != begin.base_created {
        let next = with_suffix(path, ".next");
        match read_header(&next) {
            Ok(h) if h.created == begin.base_created => {
                if repair {
                    std::fs::rename(&next, path)
                        .map_err(|e| failure("cannot finish the compaction of", path, e))?;
                } else {
                    index_path = next;
                }
            }
            _ => {
                return Err(CliError::failure(format!(
                    "the event log {} continues an index created {}, but {} was created {}: they do not belong together; start the watcher again with a new --index",
                    log.display(),
                    crate::output::rfc3339(begin.base_created),
                    path.display(),
                    crate::output::rfc3339(header.created)
                )));
            }
        }
    }
    let file = File::open(&index_path).map_err(|e| failure("cannot read the index", path, e))?;
    let (header, base) = index::read_index(file, prefix)
        .map_err(|e| CliError::failure(format!("{}: {e}", index_path.display())))?;
    let mut watch = Watch::new(begin, base);
    let folded =
        fold_log(rest, &mut watch).map_err(|e| failure("cannot read the event log", &log, e))?;
    Ok(Loaded {
        header,
        watch,
        log_bytes: begin_bytes + folded.good_bytes,
        torn_tail: folded.torn_tail,
        records: folded.records + 1,
    })
}

fn read_header(path: &Path) -> CliResult<IndexHeader> {
    let file = File::open(path).map_err(|e| {
        CliError::new(
            Exit::NotFound,
            format!("cannot read the index {}: {e}", path.display()),
        )
    })?;
    index::read_header(&mut BufReader::new(file))
        .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))
}

/// The log, open for appending at the end of its last complete line.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// Lines written since the last sync.
    unsynced: usize,
    /// Lines written since the log began (or was compacted).
    pub lines: u64,
}

impl LogWriter {
    /// Open `FILE.events` for appending after `good_bytes` (a torn last line is cut).
    pub fn open(index: &Path, good_bytes: u64, lines: u64) -> CliResult<LogWriter> {
        let path = log_path(index);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| failure("cannot open the event log", &path, e))?;
        file.set_len(good_bytes)
            .map_err(|e| failure("cannot open the event log", &path, e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        use std::io::Seek;
        out.seek(std::io::SeekFrom::End(0))
            .map_err(|e| failure("cannot open the event log", &path, e))?;
        Ok(LogWriter {
            path,
            out,
            unsynced: 0,
            lines,
        })
    }

    /// Append a record (not yet synced).
    pub fn append(&mut self, r: &Record) -> CliResult<()> {
        write_record(&mut self.out, r)
            .map_err(|e| failure("cannot write the event log", &self.path, e))?;
        self.unsynced += 1;
        self.lines += 1;
        Ok(())
    }

    /// Flush and sync what was appended: after this, it survives a crash.
    pub fn sync(&mut self) -> CliResult<()> {
        if self.unsynced == 0 {
            return Ok(());
        }
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|e| failure("cannot sync the event log", &self.path, e))?;
        self.unsynced = 0;
        Ok(())
    }
}

/// Write a file and sync it.
fn write_synced(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> CliResult<()> {
    let file = File::create(path).map_err(|e| failure("cannot write", path, e))?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    f(&mut w)
        .and_then(|()| w.flush())
        .and_then(|()| w.get_ref().sync_all())
        .map_err(|e| failure("cannot write", path, e))
}

fn write_log(path: &Path, records: &[Record]) -> CliResult<()> {
    write_synced(path, |w| {
        for r in records {
            write_record(w, r)?;
        }
        Ok(())
    })
}

fn write_index_file(
    path: &Path,
    begin: &Begin,
    created: DateTime<Utc>,
    timeline: &Timeline,
) -> CliResult<()> {
    write_synced(path, |w| {
        index::write_index(w, &begin.bucket, &begin.prefix, created, "watch", timeline)
    })
}

/// Write a new watched index: `timeline` (the baseline, read in `begin.baseline`) and a
/// log of `begin` and `records` (events received while it was read).
pub fn create(
    path: &Path,
    begin: &Begin,
    timeline: &Timeline,
    records: &[Record],
) -> CliResult<()> {
    let tmp = with_suffix(path, ".tmp");
    write_index_file(&tmp, begin, begin.base_created, timeline)?;
    let mut all = vec![Record::Begin(begin.clone())];
    all.extend_from_slice(records);
    write_log(&log_path(path), &all)?;
    std::fs::rename(&tmp, path).map_err(|e| failure("cannot write the index", path, e))
}

/// Compact: the log folded into a new index created `now`; event entries older than
/// `horizon` count as read. Returns the new log's line count.
pub fn compact(
    path: &Path,
    watch: Watch,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> CliResult<u64> {
    let (timeline, records) = watch.into_compaction(now, horizon);
    let Some(Record::Begin(begin)) = records.first() else {
        return Err(CliError::failure(
            "internal error: a compaction without its Begin line",
        ));
    };
    let next = with_suffix(path, ".next");
    write_index_file(&next, begin, now, &timeline)?;
    let log_next = with_suffix(&log_path(path), ".next");
    write_log(&log_next, &records)?;
    std::fs::rename(&log_next, log_path(path))
        .map_err(|e| failure("cannot replace the event log of", path, e))?;
    std::fs::rename(&next, path).map_err(|e| failure("cannot replace the index", path, e))?;
    drop(timeline);
    Ok(records.len() as u64)
}
