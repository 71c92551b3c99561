//! A journal's completed actions by destination key, on disk: what a resumed run looks
//! up a part of its keys at a time instead of holding the journal.
//!
//! A journal is in completion order, one line per action; a run stopped halfway through
//! 40 million copies leaves 20 million lines (gigabytes, held). Here the `done` records
//! are read a line at a time, sorted in memory [`CHUNK`] at a time, each sorted chunk
//! written to a [`Spilled`] list as a run, and the runs merged into one list in key order
//! (each key's records together, in journal order). Memory holds a chunk while reading,
//! then the list's block index (a few bytes a key).

use super::{Done, Line, Op, Run, check_not_in_use, check_runs, each_line, warn_if_torn};
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::spill::{Record, Spilled, get_bytes, get_stamp, get_text, put_stamp, put_text};
use s3rewind_engine::KnownCopy;
use std::io::Read;
use std::path::Path;

/// `done` records sorted in memory before they go to disk as one run (small in tests,
/// so that the merge of many runs is what the tests go through).
const CHUNK: usize = if cfg!(test) { 3 } else { 1 << 16 };

/// One key's completed actions, each with its place in the journal (its ordinal among the
/// journal's `done` lines), in journal order.
#[derive(Debug, Clone)]
pub struct KeyDone {
    key: String,
    done: Vec<(u64, Done)>,
}

/// The key, the number of records (u32), then each record: its ordinal (u64), what it
/// did (u8: copy 0, delete marker 1, file 2, removed delete marker 3), its bucket, source
/// bucket, source key, source version, previous version (each optional text: a flag, then
/// the text), the version it created (text), its ETag (optional text), its size (a flag,
/// then a u64) and its time. Texts are a u32 length and the bytes; little-endian. The
/// record's key is the list's key, not written again: that is why this form is written
/// by hand rather than with `spill::record!` (a key written once per `done` line made a
/// 10M-line journal's temporary files 13% larger and its reading 8% slower).
impl Record for KeyDone {
    fn key(&self) -> &str {
        &self.key
    }

    fn encode(&self, b: &mut Vec<u8>) {
        put_text(b, &self.key);
        b.extend_from_slice(&(self.done.len() as u32).to_le_bytes());
        for (n, d) in &self.done {
            b.extend_from_slice(&n.to_le_bytes());
            b.push(match d.op {
                Op::Copy => 0,
                Op::DeleteMarker => 1,
                Op::File => 2,
                Op::RemoveDeleteMarker => 3,
            });
            put_text(b, &d.bucket);
            for t in [
                &d.source_bucket,
                &d.source_key,
                &d.source_version_id,
                &d.previous_version_id,
            ] {
                put_opt(b, t.as_deref());
            }
            put_text(b, &d.new_version_id);
            put_opt(b, d.etag.as_deref());
            match d.size {
                Some(size) => {
                    b.push(1);
                    b.extend_from_slice(&size.to_le_bytes());
                }
                None => b.push(0),
            }
            put_stamp(b, d.time);
        }
    }

    fn decode(r: &mut impl Read) -> CliResult<Self> {
        let key = get_text(r)?;
        let count = u32::from_le_bytes(get_bytes(r)?);
        let mut done = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let n = u64::from_le_bytes(get_bytes(r)?);
            let op = match get_bytes::<1>(r)?[0] {
                0 => Op::Copy,
                1 => Op::DeleteMarker,
                2 => Op::File,
                3 => Op::RemoveDeleteMarker,
                other => {
                    return Err(CliError::failure(format!(
                        "a journal record kept in a temporary file reads back wrong (action {other}); please report this"
                    )));
                }
            };
            let bucket = get_text(r)?;
            let source_bucket = get_opt(r)?;
            let source_key = get_opt(r)?;
            let source_version_id = get_opt(r)?;
            let previous_version_id = get_opt(r)?;
            let new_version_id = get_text(r)?;
            let etag = get_opt(r)?;
            let size = match get_bytes::<1>(r)?[0] {
                0 => None,
                _ => Some(u64::from_le_bytes(get_bytes(r)?)),
            };
            let time = get_stamp(r)?;
            done.push((
                n,
                Done {
                    op,
                    bucket,
                    key: key.clone(),
                    source_bucket,
                    source_key,
                    source_version_id,
                    previous_version_id,
                    new_version_id,
                    etag,
                    size,
                    time,
                },
            ));
        }
        Ok(KeyDone { key, done })
    }
}

/// An optional text: a flag (u8), then the text where there is one.
fn put_opt(b: &mut Vec<u8>, t: Option<&str>) {
    match t {
        Some(t) => {
            b.push(1);
            put_text(b, t);
        }
        None => b.push(0),
    }
}

/// An optional text as [`put_opt`] wrote it.
fn get_opt(r: &mut impl Read) -> CliResult<Option<String>> {
    Ok(match get_bytes::<1>(r)?[0] {
        0 => None,
        _ => Some(get_text(r)?),
    })
}

/// A journal's `done` records by destination key, on disk (see the module docs).
pub struct DoneByKey {
    list: Spilled<KeyDone>,
    /// `done` records read.
    records: u64,
    /// Of those, copies a planner can recognise ([`known_copy`]).
    copies: u64,
}

impl DoneByKey {
    /// Read the journal at `path` a line at a time, as [`super::load`] reads it: for a run
    /// that will write to it (`run`), refuse (exit 4) one that holds another run or that
    /// another process is writing; warn of each torn line, saying `torn` of it. A journal
    /// that does not exist holds nothing.
    pub fn read(
        path: &Path,
        run: Option<&Run>,
        printer: &Printer,
        torn: &str,
    ) -> CliResult<DoneByKey> {
        if run.is_some() {
            check_not_in_use(path)?;
        }
        let mut runs: Vec<Run> = Vec::new();
        let read = DoneByKey::read_with(path, |l| {
            warn_if_torn(path, &l, printer, torn);
            if let Some(r) = Run::of_start(&l) {
                super::join_run(&mut runs, r);
            }
            match l {
                Line::Done(d) => Ok(Some(d)),
                _ => Ok(None),
            }
        })?;
        if let Some(run) = run {
            check_runs(path, &runs, run)?;
        }
        Ok(read)
    }

    /// The `done` records `keep` returns, shown each line of the journal at `path` in
    /// order (its first error ends the read), by key on disk. Nothing is checked here:
    /// whose journal it is, and what a torn line means, are the caller's.
    pub fn read_with(
        path: &Path,
        mut keep: impl FnMut(Line) -> CliResult<Option<Done>>,
    ) -> CliResult<DoneByKey> {
        let mut chunk: Vec<(u64, Done)> = Vec::new();
        let mut sorted = Spilled::<KeyDone>::new()?;
        let mut chunks = 0u64;
        let mut records = 0u64;
        let mut copies = 0u64;
        let mut failed = None;
        each_line(path, |l| {
            if failed.is_some() {
                return;
            }
            match keep(l) {
                Err(e) => failed = Some(e),
                Ok(None) => {}
                Ok(Some(d)) => {
                    copies += u64::from(known_copy(&d).is_some());
                    chunk.push((records, d));
                    records += 1;
                    if chunk.len() >= CHUNK {
                        chunks += 1;
                        if let Err(e) = push_sorted(&mut sorted, &mut chunk) {
                            failed = Some(e);
                        }
                    }
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if !chunk.is_empty() {
            chunks += 1;
            push_sorted(&mut sorted, &mut chunk)?;
        }
        sorted.seal()?;
        // One run is in key order already; several are merged into one.
        let list = if chunks <= 1 {
            sorted
        } else {
            merged(&sorted)?
        };
        Ok(DoneByKey {
            list,
            records,
            copies,
        })
    }

    /// `done` records read.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The copies among them a planner can recognise (see [`known_copy`]).
    pub fn copies(&self) -> u64 {
        self.copies
    }

    /// The records of each of `keys` (destination keys, sorted, strictly up), each key's
    /// in journal order (empty for a key the journal does not name).
    pub fn lookup(&mut self, keys: &[&str]) -> CliResult<Vec<Vec<Done>>> {
        Ok(self
            .list
            .lookup(keys)?
            .into_iter()
            .map(|k| k.map_or_else(Vec::new, |k| k.done.into_iter().map(|(_, d)| d).collect()))
            .collect())
    }

    /// The copies recorded of `keys` (sorted, strictly up), for a planner given a part of
    /// a listing at a time.
    pub fn known_copies_of(&mut self, keys: &[&str]) -> CliResult<Vec<KnownCopy>> {
        Ok(self
            .lookup(keys)?
            .iter()
            .flatten()
            .filter_map(known_copy)
            .collect())
    }

    /// Its keys in key order, each with its records in journal order, `size` keys at a
    /// time (keys a lookup found are passed over): a caller that does something
    /// asynchronous with each batch holds one batch.
    pub fn batches(&self, size: usize) -> Batches<'_> {
        Batches {
            list: self,
            after: None,
            size: size.max(1),
        }
    }

    /// Every copy recorded, in key order (for a planner that holds the listing whole
    /// anyway).
    pub fn known_copies(&self) -> CliResult<Vec<KnownCopy>> {
        let mut out = Vec::new();
        self.list.scan(|k| {
            out.extend(k.done.iter().filter_map(|(_, d)| known_copy(d)));
            Ok(true)
        })?;
        Ok(out)
    }
}

/// A key and its records, in journal order.
pub type KeyRecords = (String, Vec<Done>);

/// The keys of a [`DoneByKey`], a batch at a time (see [`DoneByKey::batches`]).
pub struct Batches<'a> {
    list: &'a DoneByKey,
    /// The last key handed out.
    after: Option<String>,
    size: usize,
}

impl Batches<'_> {
    /// The next batch (`None` after the last key).
    pub fn next_batch(&mut self) -> CliResult<Option<Vec<KeyRecords>>> {
        let batch = self.list.list.next_batch(&mut self.after, self.size)?;
        Ok((!batch.is_empty()).then(|| {
            batch
                .into_iter()
                .map(|k| (k.key, k.done.into_iter().map(|(_, d)| d).collect()))
                .collect()
        }))
    }
}

/// The copy a `done` record records, if it records one a planner can recognise.
pub fn known_copy(d: &Done) -> Option<KnownCopy> {
    (d.op == Op::Copy).then_some(())?;
    Some(KnownCopy {
        key: d.key.clone(),
        version_id: d.new_version_id.clone(),
        source_key: d.source_key.clone()?,
        source_version_id: d.source_version_id.clone()?,
        etag: d.etag.clone().unwrap_or_default(),
        size: d.size,
    })
}

/// Sort `chunk` by key (each key's records keep their journal order), write it to `to`
/// as one run, and empty it.
fn push_sorted(to: &mut Spilled<KeyDone>, chunk: &mut Vec<(u64, Done)>) -> CliResult<()> {
    chunk.sort_by(|a, b| a.1.key.cmp(&b.1.key).then(a.0.cmp(&b.0)));
    let mut run: Vec<KeyDone> = Vec::new();
    for (n, d) in chunk.drain(..) {
        match run.last_mut() {
            Some(k) if k.key == d.key => k.done.push((n, d)),
            _ => run.push(KeyDone {
                key: d.key.clone(),
                done: vec![(n, d)],
            }),
        }
    }
    to.push_part(&run, "a journal's sorted records")
}

/// The runs of `sorted` merged into one list in key order: each key's records from every
/// run together, in journal order.
fn merged(sorted: &Spilled<KeyDone>) -> CliResult<Spilled<KeyDone>> {
    let mut out = Spilled::<KeyDone>::new()?;
    let mut pending: Option<KeyDone> = None;
    let put = |out: &mut Spilled<KeyDone>, mut k: KeyDone| -> CliResult<()> {
        k.done.sort_by_key(|(n, _)| *n);
        match out.push(&k)? {
            Ok(()) => Ok(()),
            Err((key, last)) => Err(CliError::failure(format!(
                "merging a journal's records went out of order ({key:?} after {last:?}); please report this"
            ))),
        }
    };
    sorted.scan(|k| {
        match &mut pending {
            Some(p) if p.key == k.key => p.done.extend(k.done),
            _ => {
                if let Some(p) = pending.replace(k) {
                    put(&mut out, p)?;
                }
            }
        }
        Ok(true)
    })?;
    if let Some(p) = pending {
        put(&mut out, p)?;
    }
    out.seal()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta, Utc};
    use proptest::prelude::*;

    fn done(key: &str, op: Op, source_vid: Option<&str>, new_vid: &str, n: i64) -> Done {
        Done {
            op,
            bucket: "b".into(),
            key: key.into(),
            source_bucket: source_vid.map(|_| "s".into()),
            source_key: source_vid.map(|_| key.into()),
            source_version_id: source_vid.map(str::to_owned),
            previous_version_id: None,
            new_version_id: new_vid.into(),
            etag: None,
            size: None,
            time: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()
                + TimeDelta::seconds(n),
        }
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(96))]
        /// Whatever the order the journal recorded them in, and however many sorted runs
        /// the chunks make: each key's lookup gives that key's records in journal order,
        /// a key the journal does not name gives none, the copies counted and returned are
        /// the journal's, and torn lines are warned of, not counted.
        #[test]
        fn a_journal_read_by_key_gives_each_keys_records_in_journal_order(
            actions in proptest::collection::vec(("[a-f]{1,2}", 0u8..3, 0u8..4), 0..40),
            torn_at in proptest::option::of(any::<prop::sample::Index>()),
            asked in proptest::collection::btree_set("[a-g]{1,2}", 0..10),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("j.jsonl");
            let mut text = String::new();
            let mut records = Vec::new();
            for (i, (key, kind, v)) in actions.iter().enumerate() {
                let d = match kind {
                    0 => done(key, Op::Copy, Some(&format!("v{v}")), &format!("n{i}"), i as i64),
                    1 => done(key, Op::DeleteMarker, None, &format!("d{i}"), i as i64),
                    _ => done(key, Op::Copy, None, "", i as i64),
                };
                if torn_at.as_ref().is_some_and(|t| t.index(actions.len()) == i) {
                    // A torn line, marked so, then the record written again whole.
                    let offset = text.len();
                    text.push_str("{\"type\":\"done\",\"op\":\"co\n");
                    text.push_str(&format!("{{\"type\":\"torn\",\"offset\":{offset}}}\n"));
                }
                text.push_str(&serde_json::to_string(&Line::Done(d.clone())).unwrap());
                text.push('\n');
                records.push(d);
            }
            std::fs::write(&path, &text).unwrap();
            let (printer, captured) = Printer::capturing(crate::output::OutputFormat::Text, false);
            let mut by_key = DoneByKey::read(&path, None, &printer, "it stays").unwrap();
            prop_assert_eq!(by_key.records(), records.len() as u64);
            let copies: Vec<KnownCopy> = records.iter().filter_map(known_copy).collect();
            prop_assert_eq!(by_key.copies(), copies.len() as u64);
            let mut sorted_copies = copies.clone();
            sorted_copies.sort_by(|a, b| a.key.cmp(&b.key));
            prop_assert_eq!(by_key.known_copies().unwrap(), sorted_copies);
            prop_assert_eq!(
                captured.stderr().contains("torn"),
                torn_at.is_some() && !actions.is_empty()
            );
            let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
            let found = by_key.lookup(&asked).unwrap();
            for (key, got) in asked.iter().zip(&found) {
                let want: Vec<&Done> = records.iter().filter(|d| d.key == *key).collect();
                prop_assert_eq!(got.iter().collect::<Vec<_>>(), want, "key {}", key);
            }
            let want_copies: Vec<&KnownCopy> = copies
                .iter()
                .filter(|c| asked.contains(&c.key.as_str()))
                .collect();
            let mut got_copies = by_key.known_copies_of(&asked).unwrap();
            got_copies.sort_by(|a, b| a.key.cmp(&b.key).then(a.version_id.cmp(&b.version_id)));
            let mut want_copies: Vec<KnownCopy> = want_copies.into_iter().cloned().collect();
            want_copies.sort_by(|a, b| a.key.cmp(&b.key).then(a.version_id.cmp(&b.version_id)));
            prop_assert_eq!(got_copies, want_copies);
        }
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(128))]
        /// A key's records read back from their byte form as they were, field for field
        /// (every action, any texts, empty or absent, any size and stamp), and each reads
        /// exactly its own bytes.
        #[test]
        fn a_keys_records_read_back_from_their_byte_form_as_they_were(
            key in ".{0,10}",
            records in proptest::collection::vec(
                (0u8..4, ".{0,6}", proptest::option::of(".{0,6}"), proptest::option::of(".{0,6}"),
                 proptest::option::of(".{0,6}"), proptest::option::of(".{0,6}"), ".{0,6}",
                 proptest::option::of(".{0,6}"), proptest::option::of(any::<u64>()),
                 0i64..4_000_000_000, 0u32..1_000_000_000, any::<u64>()),
                0..5,
            ),
        ) {
            let k = KeyDone {
                key: key.clone(),
                done: records
                    .into_iter()
                    .map(|(op, bucket, sb, sk, sv, pv, nv, etag, size, secs, nanos, n)| {
                        (n, Done {
                            op: [Op::Copy, Op::DeleteMarker, Op::File, Op::RemoveDeleteMarker][op as usize],
                            bucket,
                            key: key.clone(),
                            source_bucket: sb,
                            source_key: sk,
                            source_version_id: sv,
                            previous_version_id: pv,
                            new_version_id: nv,
                            etag,
                            size,
                            time: DateTime::<Utc>::from_timestamp(secs, nanos).unwrap(),
                        })
                    })
                    .collect(),
            };
            let mut bytes = Vec::new();
            k.encode(&mut bytes);
            k.encode(&mut bytes);
            let mut r = &bytes[..];
            for _ in 0..2 {
                let back = KeyDone::decode(&mut r).unwrap();
                prop_assert_eq!(&back.key, &k.key);
                prop_assert_eq!(&back.done, &k.done);
            }
            prop_assert!(r.is_empty(), "each record reads exactly its own bytes");
        }
    }

    #[test]
    fn a_journal_of_another_run_is_refused_without_holding_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let source = s3rewind_engine::Location::whole("src");
        let ours = Run::restore(&source, &s3rewind_engine::Destination::InPlace, at);
        let theirs = Run::restore(
            &source,
            &s3rewind_engine::Destination::InPlace,
            at + TimeDelta::seconds(1),
        );
        let mut text = serde_json::to_string(&theirs.start_line()).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let (printer, _) = Printer::capturing(crate::output::OutputFormat::Text, false);
        let e = DoneByKey::read(&path, Some(&ours), &printer, "")
            .err()
            .expect("another run's journal is refused");
        assert!(
            e.message.contains("belongs to another run"),
            "{}",
            e.message
        );
        assert!(DoneByKey::read(&path, Some(&theirs), &printer, "").is_ok());
    }
}
