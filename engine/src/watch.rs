//! Continuous protection: a timeline index kept current from the bucket's event
//! notifications instead of listings.
//!
//! # Brief overview
//!
//! - [`event`]: what a notification says ([`Event`]), parsed from either message shape
//!   (S3's `Records[]`, EventBridge's `detail`, either inside an SNS envelope).
//! - [`seq`]: the per-key [`Sequencer`] and the one comparison that is decisive.
//! - [`Record`]: one line of the **event log** kept beside an index (`FILE.events`,
//!   JSON Lines, append-only): the [`Begin`] line naming the index it continues, then
//!   every event as received, every re-read of a key from the bucket, every
//!   reconciliation, and heartbeats. A line is synced before its message is
//!   acknowledged, so a killed watcher loses nothing: the log replays to the same state.
//! - [`Watch`]: the index's timeline with the log folded in, key by key. The fold is a
//!   pure function of (index, log): the watcher, and every command reading a watched
//!   index, get the same timeline from the same files.
//!
//! # Ordering
//!
//! Events arrive at least once and in any order. An event whose version id the key
//! already holds is a duplicate. A new entry goes above every entry read from the bucket
//! (a listing would have shown it otherwise; see below), and among the entries that came
//! from events it is placed:
//!
//! - [`OrderBy::Sequencer`] (AWS): by sequencer, where the comparison is decisive
//!   ([`Sequencer::order`]); else by event time;
//! - [`OrderBy::EventTime`] (radosgw, MinIO: sequencers that do not order): by event
//!   time, when it is at least the **tie window** away from every other event entry of
//!   the key.
//!
//! Where the placement is not decisive (a tie, a sequencer pair the documented rules read
//! differently, an event without a version id, an event from around the time the key was
//! last read), the entry is placed provisionally and the key is **in doubt**: the watcher
//! reads its history again from the bucket ([`Reread`]), whose list order is the truth,
//! and the doubt is gone. Nothing is guessed into the index for good.
//!
//! # Events older than what was read
//!
//! Every key's entries were read at some point (the baseline listing, or a later
//! re-read), within a window of time. An event for a version the read did not show, from
//! well before that window, was for a version removed before the read: it is kept as a
//! removal record, not as a live entry. One from around the window puts the key in doubt.
//!
//! # Permanent removals
//!
//! A version deleted by id, a lifecycle expiration, a `null` version replaced in place,
//! or a version found missing by a re-read stays in the key's history as a removed slot
//! ([`Removal`]): not in the timeline (it cannot be restored from this bucket), but
//! [`Watch::unrestorable_at`] says which keys had such a version current at a time.
//!
//! # Loss
//!
//! A re-read counts what the events never told: entries it shows that no event or read
//! had brought (a lost creation event), and live entries it no longer shows (a lost
//! removal event), older than the re-read's cutoff (events still in flight are not
//! counted). The cheap periodic reconciliation re-reads every key whose current object
//! disagrees with one ListObjectsV2 pass ([`Watch::disagreeing`]).

pub mod event;
mod fold;
pub mod seq;

pub use event::{Event, EventError, EventKind, Parsed, parse_message};
pub use fold::{
    Applied, Current, Doubt, KeyState, LentTimeline, Removal, RemovalKind, Removals, Slot, Unnamed,
    Unrestorable, Watch, WatchStats,
};
pub use seq::Sequencer;

use crate::model::Version;
use crate::timeline::Anomaly;
use chrono::{DateTime, TimeDelta, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Read, Write};

/// The `schema` of the [`Begin`] line of an event log.
pub const LOG_SCHEMA: &str = "s3rewind.watch-log/v1";

/// How a server's events of one key are ordered (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderBy {
    /// By sequencer, as AWS documents it.
    Sequencer,
    /// By event time, with re-reads where it is within the tie window.
    EventTime,
}

/// A span of time in which something was read from the bucket (by the watcher's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// When the read began.
    pub start: DateTime<Utc>,
    /// When it ended.
    pub end: DateTime<Utc>,
}

/// The first line of an event log: what it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begin {
    /// [`LOG_SCHEMA`].
    pub schema: String,
    /// The bucket.
    pub bucket: String,
    /// The prefix watched (the index's).
    pub prefix: String,
    /// The `created` of the index this log continues: a log is folded only over that
    /// index (a compaction writes both anew).
    pub base_created: DateTime<Utc>,
    /// The window in which every key the log does not otherwise name was last known
    /// (the baseline listing; after a compaction, up to the compaction less the delivery
    /// horizon).
    pub baseline: Window,
    /// How this server's events are ordered.
    pub order: OrderBy,
    /// Clock difference allowed between the watcher and the server, milliseconds.
    pub skew_ms: i64,
    /// Event-time ordering: events of one key closer than this (ms) are not decisive.
    pub tie_ms: i64,
}

impl Begin {
    /// A log of `bucket`/`prefix` continuing the index created at `base_created`, whose
    /// entries were read in `baseline`, with the default skew (2 s) and tie window (1 s).
    pub fn new(
        bucket: &str,
        prefix: &str,
        base_created: DateTime<Utc>,
        baseline: Window,
        order: OrderBy,
    ) -> Begin {
        Begin {
            schema: LOG_SCHEMA.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            base_created,
            baseline,
            order,
            skew_ms: 2_000,
            tie_ms: 1_000,
        }
    }

    fn skew(&self) -> TimeDelta {
        TimeDelta::milliseconds(self.skew_ms)
    }

    fn tie(&self) -> TimeDelta {
        TimeDelta::milliseconds(self.tie_ms)
    }
}

/// Why a key was read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RereadReason {
    /// Its events were not decisive.
    Doubt,
    /// The reconciliation found its current object other than the index says.
    Reconcile,
}

/// A key's history as read again from the bucket (ListObjectVersions, list order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reread {
    /// The key.
    pub key: String,
    /// When the read ran.
    pub window: Window,
    /// Why.
    pub reason: RereadReason,
    /// Entries the read shows older than this that no event had brought are counted as
    /// lost (younger ones may still be in flight).
    pub cutoff: DateTime<Utc>,
    /// The entries, in list order (empty: the key has no entry).
    pub entries: Vec<Version>,
    /// What the read could not order for sure (ties of a whole-second server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<Anomaly>,
}

/// A reconciliation pass, for the record (its re-reads are logged before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciled {
    /// When the pass began.
    pub at: DateTime<Utc>,
    /// Current objects listed (ListObjectsV2).
    pub objects: u64,
    /// ListObjectsV2 calls.
    pub calls: u64,
    /// Keys whose current object disagreed (and were re-read).
    pub disagreed: u64,
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// The first line.
    Begin(Begin),
    /// An event as received.
    Event(Event),
    /// A key read again.
    Reread(Reread),
    /// A key's state carried over a compaction (what the index format cannot hold).
    Keep(KeyState),
    /// A reconciliation pass.
    Reconciled(Reconciled),
    /// The watcher was running and had synced everything received until `at`.
    Alive {
        /// The watcher's clock.
        at: DateTime<Utc>,
    },
}

/// Write one record as a line.
pub fn write_record(w: &mut impl Write, r: &Record) -> io::Result<()> {
    serde_json::to_writer(&mut *w, r).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// What reading a log found.
#[derive(Debug, Clone, Default)]
pub struct LogRead {
    /// Every complete record, in order.
    pub records: Vec<Record>,
    /// Bytes of complete lines (where the next append starts).
    pub good_bytes: u64,
    /// A last line cut short (a crash while appending): not a record, dropped.
    pub torn_tail: bool,
}

/// Read a log. A last line without its newline is a torn append and is dropped; any
/// other line that does not parse is an error (the log is corrupt).
pub fn read_log(r: impl BufRead + Send) -> io::Result<LogRead> {
    let mut records = Vec::new();
    let (good_bytes, torn_tail) = each_record_in(r, 8 << 20, 0, |rec| records.push(rec))?;
    Ok(LogRead {
        records,
        good_bytes,
        torn_tail,
    })
}

/// What [`fold_log`] read: the bytes of complete lines (where the next append starts),
/// how many records, and whether a torn last line was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogFolded {
    /// Bytes of complete lines, from where the reading began.
    pub good_bytes: u64,
    /// Records read.
    pub records: u64,
    /// A last line cut short was dropped.
    pub torn_tail: bool,
}

/// Read a log's first line, its [`Begin`], and hand back the reader after it (with the
/// line's length): a reader of a watched index reads the index it names, then folds the
/// rest of the log with [`fold_log`].
pub fn read_begin<R: BufRead>(mut r: R) -> io::Result<(Begin, u64, R)> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let not_begin = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the event log does not start with its Begin line; it is not an s3rewind event log",
        )
    };
    if line.last() != Some(&b'\n') {
        return Err(not_begin());
    }
    match serde_json::from_slice(&line) {
        Ok(Record::Begin(b)) => Ok((b, line.len() as u64, r)),
        _ => Err(not_begin()),
    }
}

/// Fold every record of a log (from after its first line, numbered from 2) into `w` as it
/// is read, a chunk of whole lines at a time (their JSON parsed on every core): the log
/// is never held whole. The same rules as [`read_log`].
pub fn fold_log(r: impl BufRead + Send, w: &mut fold::Watch) -> io::Result<LogFolded> {
    let mut records = 0u64;
    let (good_bytes, torn_tail) = each_chunk_in(r, 8 << 20, 1, |recs| {
        records += recs.len() as u64;
        w.apply_batch(recs);
    })?;
    Ok(LogFolded {
        good_bytes,
        records,
        torn_tail,
    })
}

/// Call `f` with each record of whole lines read `chunk` bytes at a time; lines are
/// numbered from `lines_before + 1` in errors. Returns the bytes of whole lines and
/// whether a torn last line was dropped.
fn each_record_in(
    r: impl BufRead + Send,
    chunk: u64,
    lines_before: usize,
    mut f: impl FnMut(Record),
) -> io::Result<(u64, bool)> {
    each_chunk_in(r, chunk, lines_before, |recs| {
        recs.drain(..).for_each(&mut f)
    })
}

/// [`each_record_in`] a chunk's records at a time. The next chunk is read and parsed
/// (on every core) on a thread of its own while `f` takes the one before: a fold is one
/// thread, and the parsing costs about as much again.
fn each_chunk_in(
    r: impl BufRead + Send,
    chunk: u64,
    lines_before: usize,
    mut f: impl FnMut(&mut Vec<Record>),
) -> io::Result<(u64, bool)> {
    use std::sync::mpsc::{channel, sync_channel};
    // Parsed chunks go one way, emptied record vectors come back to be refilled: at most
    // three chunks are held (one folded, one waiting, one being read), and no buffer is
    // freed and faulted in anew per chunk.
    let (full_tx, full_rx) = sync_channel::<io::Result<Vec<Record>>>(1);
    let (empty_tx, empty_rx) = channel::<Vec<Record>>();
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            read_chunks(r, chunk, lines_before, |recs| {
                let spare = empty_rx.try_recv().unwrap_or_default();
                full_tx.send(Ok(std::mem::replace(recs, spare))).is_ok()
            })
            .inspect_err(|e| {
                let _ = full_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
            })
        });
        for recs in full_rx.iter() {
            let mut recs = recs?;
            f(&mut recs);
            recs.clear();
            let _ = empty_tx.send(recs);
        }
        reader.join().expect("the log reader does not panic")
    })
}

/// Read `r` `chunk` bytes at a time, parse each chunk's whole lines on every core, and
/// hand its records to `f` (which returns false to stop).
fn read_chunks(
    mut r: impl BufRead,
    chunk: u64,
    mut lines_before: usize,
    mut f: impl FnMut(&mut Vec<Record>) -> bool,
) -> io::Result<(u64, bool)> {
    let mut good_bytes = 0u64;
    // Every buffer is reused from chunk to chunk (megabytes each: freed, they would be
    // given back to the system and faulted in anew).
    let mut buf: Vec<u8> = Vec::new();
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let mut parsed: Vec<Result<Record, String>> = Vec::new();
    let mut recs: Vec<Record> = Vec::new();
    loop {
        let got = (&mut r).take(chunk).read_to_end(&mut buf)?;
        let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if got == 0 {
            return Ok((good_bytes, whole < buf.len()));
        }
        if whole == 0 {
            continue;
        }
        lines.clear();
        let mut at = 0;
        for line in buf[..whole].split_inclusive(|&b| b == b'\n') {
            lines.push((at, at + line.len()));
            at += line.len();
        }
        parsed.clear();
        let text = &buf[..whole];
        parsed.par_extend(
            lines
                .par_iter()
                .map(|&(a, b)| serde_json::from_slice(&text[a..b]).map_err(|e| e.to_string())),
        );
        recs.clear();
        for (i, rec) in parsed.drain(..).enumerate() {
            recs.push(rec.map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} of the event log is not a record: {e}",
                        lines_before + i + 1
                    ),
                )
            })?);
        }
        if !f(&mut recs) {
            return Ok((good_bytes, false));
        }
        lines_before += lines.len();
        good_bytes += whole as u64;
        buf.drain(..whole);
    }
}

#[cfg(test)]
mod tests;
