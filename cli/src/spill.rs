//! Sorted lists held on disk: what a check compares a listing with, without holding one
//! entry per key in memory.
//!
//! Four lists live here. The cross-check's: a range's current objects as ListObjectsV2
//! lists them in key order before the version listing begins ([`CurrentObject`]). The
//! verification's: the state at T a streamed restore planned ([`StateEntry`]), a sorted
//! run per part of the listing, the parts in whatever order parallel streams finished
//! them. A destination's current state, listed before a restore into it and looked up a
//! part's keys at a time by the planner ([`StateEntry`] too). And a plan's actions
//! ([`ActionSpool`], read back through [`PlanActions`]). At 40 million keys each is
//! gigabytes; here each record is written to an
//! anonymous temporary file (removed by the system when it is closed) as it arrives, and
//! memory keeps only the first and last key and the file offset of every block of at
//! most [`BLOCK`] records (a block never spans two runs), and one bit per record (found
//! by a lookup or not).
//!
//! Runs may interleave: a listing split by folders hands over a part of the top level
//! (`a!b`, `a0`) whose range spans the parts of a folder (`a/…`). Sealed, the blocks are
//! dealt into layers, each a sequence of blocks that do not overlap, in key order (the
//! fewest layers: as many as blocks overlap at one key; one for a list written in key
//! order, two for a listing split by folders). A sorted run of keys is looked up in each
//! layer by one forward read from the block its first key falls in, going on block by
//! block; a key found in two layers (listed twice) is an error.

use crate::bucket::CurrentObject;
use crate::error::{CliError, CliResult};
use chrono::{DateTime, Utc};
use s3rewind_engine::explore::diff::{Changed, DiffSide, OneSide};
use s3rewind_engine::timeline::KeyHistory;
use s3rewind_engine::undelete::{DeletedKey, EntryRef, Skipped};
use s3rewind_engine::{
    Action, CopyAction, DeleteMarkerAction, ETag, Expect, OwnerId, StateEntry, StorageClass,
    Version, VersionId,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Write};

mod codec;
pub(crate) use codec::{Codec, codec, get_bytes, put_text, record};

/// Layers a merged read compares head by head; more are merged from a heap.
const FEW_LAYERS: usize = if cfg!(test) { 2 } else { 8 };

/// Records per block (per index entry) at the most.
pub const BLOCK: u64 = 256;

/// Bytes a reader buffers: small in tests, so that readers of several layers at once
/// meet in the file as they do at millions of keys.
const READ_BUFFER: usize = if cfg!(test) { 64 } else { 1 << 15 };

/// A record a [`Spilled`] list holds: it has a key, and a byte form.
pub trait Record: Sized {
    /// The key the list is sorted by.
    fn key(&self) -> &str;
    /// Append the byte form to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Read one byte form back.
    fn decode(r: &mut impl Read) -> CliResult<Self>;
}

/// One block of records: all of one run, in the file from `offset`.
#[derive(Debug)]
struct Block {
    first: String,
    last: String,
    offset: u64,
    /// The ordinal of its first record (in file order: the bit that marks it).
    ordinal: u64,
    len: u64,
}

/// Records in key order, on disk (see the module docs).
#[derive(Debug)]
pub struct Spilled<R> {
    writer: Option<BufWriter<std::fs::File>>,
    file: Option<std::fs::File>,
    /// Records written.
    len: u64,
    /// Bytes written.
    offset: u64,
    /// The blocks, in file order until sealed.
    blocks: Vec<Block>,
    /// Sealed: the blocks in layers, each in key order with no two overlapping.
    layers: Vec<Vec<Block>>,
    /// The run being written has its last block last in `blocks`.
    in_run: bool,
    /// One bit per record (by ordinal): found by a lookup.
    matched: Vec<u64>,
    record: std::marker::PhantomData<R>,
}

impl<R: Record + Clone + serde::Serialize> Spilled<R> {
    /// Write the records, in key order, as the array field `name` of `doc` (a sealed
    /// list): a document's list of millions of entries, never held. A record that cannot
    /// be read back is an error of the writing, as a full disk is.
    pub fn write_array(
        &self,
        doc: &mut crate::output::JsonObject<'_>,
        name: &str,
    ) -> std::io::Result<()> {
        let mut a = doc.array(name)?;
        let mut written = Ok(());
        self.scan(|r| {
            written = a.push(&r);
            Ok(written.is_ok())
        })
        .map_err(|e| std::io::Error::other(e.message))?;
        written?;
        a.end()
    }
}

pub(crate) fn io_error(e: std::io::Error) -> CliError {
    CliError::failure(format!(
        "cannot keep a listing in a temporary file: {e}; set TMPDIR to a writable directory with room (about 100 bytes per key, and 200 per planned action)"
    ))
}

impl<R: Record + Clone> Spilled<R> {
    /// An empty list, backed by a new anonymous temporary file in `TMPDIR`.
    pub fn new() -> CliResult<Spilled<R>> {
        Spilled::new_in(&std::env::temp_dir())
    }

    /// [`new`](Self::new) with the file in `dir`.
    pub fn new_in(dir: &std::path::Path) -> CliResult<Spilled<R>> {
        let file = tempfile::tempfile_in(dir).map_err(io_error)?;
        Ok(Spilled {
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            file: None,
            len: 0,
            offset: 0,
            blocks: Vec::new(),
            layers: Vec::new(),
            in_run: false,
            matched: Vec::new(),
            record: std::marker::PhantomData,
        })
    }

    /// Records held.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add `r` to the run being written, whose keys must go strictly up (`Err` names the
    /// two keys otherwise: the server's paging is broken).
    pub fn push(&mut self, r: &R) -> CliResult<Result<(), (String, String)>> {
        let key = r.key();
        let w = self
            .writer
            .as_mut()
            .expect("records are added before the first lookup");
        let current = self.blocks.last_mut().filter(|_| self.in_run);
        if let Some(b) = &current
            && key <= b.last.as_str()
        {
            return Ok(Err((key.to_owned(), b.last.clone())));
        }
        let mut record = Vec::with_capacity(64 + key.len());
        r.encode(&mut record);
        w.write_all(&record).map_err(io_error)?;
        match current {
            Some(b) if b.len < BLOCK => {
                b.last = key.to_owned();
                b.len += 1;
            }
            _ => self.blocks.push(Block {
                first: key.to_owned(),
                last: key.to_owned(),
                offset: self.offset,
                ordinal: self.len,
                len: 1,
            }),
        }
        self.in_run = true;
        self.offset += record.len() as u64;
        self.len += 1;
        Ok(Ok(()))
    }

    /// End the run being written: the next record begins another (in any order, its keys
    /// interleaved with this one's or not, but none the same).
    pub fn end_run(&mut self) {
        self.in_run = false;
    }

    /// Add a whole run (sorted, strictly up) and end it.
    pub fn push_run(&mut self, run: &[R]) -> CliResult<Result<(), (String, String)>> {
        self.end_run();
        for r in run {
            if let Err(pair) = self.push(r)? {
                return Ok(Err(pair));
            }
        }
        self.end_run();
        Ok(Ok(()))
    }

    /// [`push_run`](Self::push_run) of one part of a listing, whose keys not going up is
    /// the listing's fault and said so (`what` names the listing).
    pub fn push_part(&mut self, run: &[R], what: &str) -> CliResult<()> {
        match self.push_run(run)? {
            Ok(()) => Ok(()),
            Err((key, last)) => Err(CliError::failure(format!(
                "a part of {what} is out of order ({key:?} after {last:?}); please report this"
            ))),
        }
    }

    /// Done adding: flush, deal the blocks into layers (module docs), and ready the
    /// lookups.
    pub fn seal(&mut self) -> CliResult<()> {
        let Some(w) = self.writer.take() else {
            return Ok(());
        };
        let file = w.into_inner().map_err(|e| io_error(e.into_error()))?;
        self.file = Some(file);
        self.matched = vec![0; self.len.div_ceil(64) as usize];
        let mut blocks = std::mem::take(&mut self.blocks);
        blocks.sort_by(|a, b| a.first.cmp(&b.first));
        // Each block to a layer whose last block ends before it begins (the one that
        // ended first), else to a new one: as few layers as blocks overlap.
        let mut ends: BinaryHeap<Reverse<(String, usize)>> = BinaryHeap::new();
        for b in blocks {
            let layer = match ends.peek() {
                Some(Reverse((last, i))) if *last < b.first => {
                    let i = *i;
                    ends.pop();
                    i
                }
                _ => {
                    self.layers.push(Vec::new());
                    self.layers.len() - 1
                }
            };
            ends.push(Reverse((b.last.clone(), layer)));
            self.layers[layer].push(b);
        }
        Ok(())
    }

    /// A reader of layer `layer` from its block `block` on (in key order).
    fn cursor(&self, layer: usize, block: usize) -> Cursor<'_, R> {
        Cursor {
            file: self.file.as_ref().expect("sealed before reading"),
            blocks: &self.layers[layer],
            block,
            within: 0,
            reader: None,
            record: std::marker::PhantomData,
        }
    }

    /// The records of `keys` (sorted, strictly up), each `None` where the list has no
    /// such key; the found ones are marked.
    pub fn lookup(&mut self, keys: &[&str]) -> CliResult<Vec<Option<R>>> {
        self.seal()?;
        let (out, found) = self.find(keys)?;
        for i in found {
            self.matched[(i / 64) as usize] |= 1 << (i % 64);
        }
        Ok(out)
    }

    /// [`lookup`](Self::lookup) on a sealed list without marking what is found (a list
    /// read again by scans afterwards).
    pub fn get(&self, keys: &[&str]) -> CliResult<Vec<Option<R>>> {
        if self.writer.is_some() {
            return Err(CliError::failure(
                "internal error: a list on disk is read before it is sealed; please report this",
            ));
        }
        Ok(self.find(keys)?.0)
    }

    /// The records of `keys`, and the ordinals of those found.
    fn find(&self, keys: &[&str]) -> CliResult<(Vec<Option<R>>, Vec<u64>)> {
        let mut out: Vec<Option<R>> = vec![None; keys.len()];
        let Some(first) = keys.first() else {
            return Ok((out, Vec::new()));
        };
        let mut found = Vec::new();
        for (layer, blocks) in self.layers.iter().enumerate() {
            // The block the first key falls in: the last whose first key is not after it.
            let block = blocks
                .partition_point(|b| b.first.as_str() <= *first)
                .saturating_sub(1);
            let mut cursor = self.cursor(layer, block);
            let mut next = cursor.next()?;
            for (key, slot) in keys.iter().zip(out.iter_mut()) {
                while next.as_ref().is_some_and(|(_, r)| r.key() < *key) {
                    next = cursor.next()?;
                }
                let Some((ordinal, r)) = next.take_if(|(_, r)| r.key() == *key) else {
                    continue;
                };
                if slot.is_some() {
                    return Err(CliError::failure(format!(
                        "key {key:?} was listed twice (in two parts of a listing): the listing is broken"
                    )));
                }
                found.push(ordinal);
                *slot = Some(r);
                next = cursor.next()?;
            }
        }
        Ok((out, found))
    }

    /// Mark the records of `keys` (sorted, strictly up) as found, as [`lookup`](Self::lookup)
    /// does, without reading them out: how many were not marked before.
    pub fn mark(&mut self, keys: &[&str]) -> CliResult<u64> {
        let marked = |s: &Self| {
            s.matched
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>()
        };
        self.seal()?;
        let before = marked(self);
        self.lookup(keys)?;
        Ok(marked(self) - before)
    }

    /// Hand each record no lookup found to `f`, in key order (the layers merged).
    pub fn each_unmatched(&mut self, mut f: impl FnMut(R) -> CliResult<()>) -> CliResult<()> {
        self.seal()?;
        self.scan(|r| f(r).map(|()| true))
    }

    /// [`each_unmatched`](Self::each_unmatched) on a sealed list, for as long as `f`
    /// says go on (`Ok(true)`): several readers may scan one list at once.
    pub fn scan(&self, f: impl FnMut(R) -> CliResult<bool>) -> CliResult<()> {
        self.scan_from(None, f)
    }

    /// [`scan`](Self::scan) of the records whose keys come after `after` (all of them for
    /// `None`): a reader that stops to do something else between batches goes on from
    /// the last key it was given, each layer read from the block that key falls in.
    pub fn scan_from(
        &self,
        after: Option<&str>,
        mut f: impl FnMut(R) -> CliResult<bool>,
    ) -> CliResult<()> {
        if self.writer.is_some() {
            return Err(CliError::failure(
                "internal error: a list on disk is read before it is sealed; please report this",
            ));
        }
        let mut cursors: Vec<Cursor<'_, R>> = (0..self.layers.len())
            .map(|l| {
                // The first block that holds a key after `after`.
                let block = after.map_or(0, |k| {
                    self.layers[l].partition_point(|b| b.last.as_str() <= k)
                });
                self.cursor(l, block)
            })
            .collect();
        let mut heads = Vec::with_capacity(cursors.len());
        for c in &mut cursors {
            let mut head = c.next()?;
            while let (Some((_, r)), Some(k)) = (&head, after)
                && r.key() <= k
            {
                head = c.next()?;
            }
            heads.push(head);
        }
        // The layer whose head is lowest (the first such layer on a tie): by a look at
        // each head where the layers are few (a listing: one or two), from a heap where
        // they are many (a journal sorted a chunk at a time: hundreds).
        let mut heap: Option<BinaryHeap<Reverse<(String, usize)>>> = (heads.len() > FEW_LAYERS)
            .then(|| {
                heads
                    .iter()
                    .enumerate()
                    .filter_map(|(l, h)| h.as_ref().map(|(_, r)| Reverse((r.key().to_owned(), l))))
                    .collect()
            });
        loop {
            let lowest = match &mut heap {
                Some(heap) => heap.pop().map(|Reverse((_, l))| l),
                None => heads
                    .iter()
                    .enumerate()
                    .filter_map(|(l, h)| h.as_ref().map(|(_, r)| (r.key(), l)))
                    .min()
                    .map(|(_, l)| l),
            };
            let Some(l) = lowest else {
                return Ok(());
            };
            let (i, r) = std::mem::replace(&mut heads[l], cursors[l].next()?).expect("the lowest");
            if let (Some(heap), Some((_, next))) = (&mut heap, &heads[l]) {
                heap.push(Reverse((next.key().to_owned(), l)));
            }
            if self.matched[(i / 64) as usize] & (1 << (i % 64)) == 0 && !f(r)? {
                return Ok(());
            }
        }
    }

    /// The next `n` records after the key `after` (all of them from the first for `None`),
    /// in key order, `after` moved to the last one given: a reader that does something
    /// asynchronous between batches holds one batch. Empty after the last record.
    pub fn next_batch(&self, after: &mut Option<String>, n: usize) -> CliResult<Vec<R>> {
        let mut batch = Vec::with_capacity(n.min(1 << 16));
        self.scan_from(after.as_deref(), |r| {
            batch.push(r);
            Ok(batch.len() < n.max(1))
        })?;
        if let Some(last) = batch.last() {
            *after = Some(last.key().to_owned());
        }
        Ok(batch)
    }

    /// Add `r` after the last record added, whose key it must follow (`what` names the
    /// list for the error, a fault of ours).
    pub fn push_next(&mut self, r: &R, what: &str) -> CliResult<()> {
        self.push(r)?.map_err(|(key, last)| {
            CliError::failure(format!(
                "internal error: {what} out of order ({key:?} after {last:?}); please report this"
            ))
        })
    }

    /// The records no lookup found, in key order.
    pub fn unmatched(&mut self) -> CliResult<Vec<R>> {
        let mut out = Vec::new();
        self.each_unmatched(|r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }
}

/// The first `n` items `each` hands to the function it is given (which says stop once it
/// has them): the head of a list read back from disk.
pub fn first_of<T>(
    n: usize,
    each: impl FnOnce(&mut dyn FnMut(T) -> CliResult<bool>) -> CliResult<()>,
) -> CliResult<Vec<T>> {
    let mut out = Vec::new();
    if n > 0 {
        each(&mut |item| {
            out.push(item);
            Ok(out.len() < n)
        })?;
    }
    Ok(out)
}

/// Records a [`Sorter`] sorts in memory before they go to disk as a run.
pub(crate) const SORT_CHUNK: usize = if cfg!(test) { 3 } else { 50_000 };

/// Records sorted onto disk: gathered [`SORT_CHUNK`] at a time, each chunk sorted and
/// written as a run (the list's scans merge the runs).
#[derive(Debug)]
pub(crate) struct Sorter<R: Record + Clone> {
    list: Spilled<R>,
    chunk: Vec<R>,
}

impl<R: Record + Clone> Sorter<R> {
    /// Nothing yet.
    pub(crate) fn new() -> CliResult<Self> {
        Ok(Sorter {
            list: Spilled::new()?,
            chunk: Vec::new(),
        })
    }

    /// Add one (its key must be unique).
    pub(crate) fn push(&mut self, r: R) -> CliResult<()> {
        self.chunk.push(r);
        if self.chunk.len() >= SORT_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> CliResult<()> {
        self.chunk.sort_by(|a, b| a.key().cmp(b.key()));
        self.list
            .push_part(&self.chunk, "the records being sorted")?;
        self.chunk.clear();
        Ok(())
    }

    /// Done adding: the records in key order.
    pub(crate) fn sorted(mut self) -> CliResult<Spilled<R>> {
        self.flush()?;
        self.list.seal()?;
        Ok(self.list)
    }
}

/// Reads one layer of a sealed list in key order, block after block, with the records'
/// ordinals.
struct Cursor<'a, R> {
    file: &'a std::fs::File,
    blocks: &'a [Block],
    block: usize,
    within: u64,
    reader: Option<BufReader<At<'a>>>,
    record: std::marker::PhantomData<R>,
}

impl<R: Record> Cursor<'_, R> {
    fn next(&mut self) -> CliResult<Option<(u64, R)>> {
        loop {
            let Some(b) = self.blocks.get(self.block) else {
                return Ok(None);
            };
            if self.within == b.len {
                self.block += 1;
                self.within = 0;
                self.reader = None;
                continue;
            }
            let r = match &mut self.reader {
                Some(r) => r,
                None => {
                    let at = At {
                        file: self.file,
                        offset: b.offset,
                    };
                    self.reader
                        .insert(BufReader::with_capacity(READ_BUFFER, at))
                }
            };
            let record = R::decode(r)?;
            let ordinal = b.ordinal + self.within;
            self.within += 1;
            return Ok(Some((ordinal, record)));
        }
    }
}

/// Reads the file from its own offset (positioned reads): cursors of several layers read
/// the one file at once, and a shared file position would mix their records.
struct At<'a> {
    file: &'a std::fs::File,
    offset: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.offset)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

pub(crate) fn put_stamp(b: &mut Vec<u8>, t: DateTime<Utc>) {
    t.put(b);
}

pub(crate) fn get_text(r: &mut impl Read) -> CliResult<String> {
    String::get(r)
}

pub(crate) fn get_stamp(r: &mut impl Read) -> CliResult<DateTime<Utc>> {
    DateTime::get(r)
}

// A current object (the cross-check's list): its key, ETag, size and stamp.
record!(CurrentObject {
    key,
    etag,
    size,
    last_modified
});

// An entry of a state: its key and version.
record!(StateEntry { key, version });

// A key's whole history (for an index written from a listing in parts): the key and its
// entries.
record!(KeyHistory { key, entries });

// A side of a diff.
codec!(DiffSide {
    version_id,
    last_modified,
    size,
    etag
});

// A key added or deleted between a diff's two instants.
record!(OneSide { key, version });

// A key changed between a diff's two instants.
record!(Changed { key, from, to });

// A delete marker of a key `undelete` brings back.
codec!(EntryRef {
    version_id,
    last_modified
});

// A key `undelete` brings back: its markers and its last version.
record!(DeletedKey {
    key,
    deleted_at,
    markers,
    last,
    last_version_id,
    size
});

// A deleted key `undelete` cannot bring back, and why.
record!(Skipped { key, reason });

/// A version's byte form: its id, ETag, storage class and owner (texts, empty for none),
/// size (u64), stamp, and flags (delete marker 1, `IsLatest` 2).
impl Codec for Version {
    fn put(&self, b: &mut Vec<u8>) {
        put_text(b, &self.version_id.as_str());
        put_text(b, &self.etag.as_str());
        put_text(b, self.storage_class.map_or("", |c| c.as_str()));
        put_text(b, self.owner_id.map_or("", |o| o.as_str()));
        b.extend_from_slice(&self.size.to_le_bytes());
        put_stamp(b, self.last_modified);
        b.push(u8::from(self.delete_marker) | (u8::from(self.is_latest) << 1));
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        let version_id = VersionId::new(&get_text(r)?);
        let etag = ETag::new(&get_text(r)?);
        let class = get_text(r)?;
        let owner = get_text(r)?;
        let size = u64::from_le_bytes(get_bytes(r)?);
        let last_modified = get_stamp(r)?;
        let [flags] = get_bytes(r)?;
        Ok(Version {
            version_id,
            last_modified,
            delete_marker: flags & 1 != 0,
            etag,
            size,
            storage_class: (!class.is_empty()).then(|| StorageClass::new(&class)),
            owner_id: (!owner.is_empty()).then(|| OwnerId::new(&owner)),
            is_latest: flags & 2 != 0,
        })
    }
}

fn put_flag(b: &mut Vec<u8>, on: bool) {
    on.put(b);
}

fn get_flag(r: &mut impl Read) -> CliResult<bool> {
    bool::get(r)
}

/// A tag (u8: copy 0, delete marker 1), the key, then for a copy: the source key (a flag,
/// then the text unless it is the key), source version id, ETag, size (u64), storage
/// class (a flag, then the text), stamp, and the expected version (a flag, then its id
/// and ETag); for a delete marker: the expected version's id and ETag. Texts and stamps
/// as above. About 200 bytes for an AWS-shaped copy (its plan-file JSON is about 380).
impl Record for Action {
    fn key(&self) -> &str {
        Action::key(self)
    }

    fn encode(&self, b: &mut Vec<u8>) {
        match self {
            Action::Copy(c) => {
                b.push(0);
                put_text(b, &c.key);
                put_flag(b, c.source_key != c.key);
                if c.source_key != c.key {
                    put_text(b, &c.source_key);
                }
                put_text(b, &c.source_version_id.as_str());
                put_text(b, &c.etag.as_str());
                b.extend_from_slice(&c.size.to_le_bytes());
                put_flag(b, c.storage_class.is_some());
                if let Some(class) = c.storage_class {
                    put_text(b, class.as_str());
                }
                put_stamp(b, c.last_modified);
                put_flag(b, c.expect.is_some());
                if let Some(e) = &c.expect {
                    put_text(b, &e.version_id.as_str());
                    put_text(b, &e.etag.as_str());
                }
            }
            Action::DeleteMarker(d) => {
                b.push(1);
                put_text(b, &d.key);
                put_text(b, &d.expect.version_id.as_str());
                put_text(b, &d.expect.etag.as_str());
            }
        }
    }

    fn decode(r: &mut impl Read) -> CliResult<Self> {
        let [tag] = get_bytes(r)?;
        let key = get_text(r)?;
        let expect = |r: &mut _| -> CliResult<Expect> {
            Ok(Expect {
                version_id: VersionId::new(&get_text(r)?),
                etag: ETag::new(&get_text(r)?),
            })
        };
        match tag {
            0 => {
                let source_key = if get_flag(r)? {
                    get_text(r)?
                } else {
                    key.clone()
                };
                let source_version_id = VersionId::new(&get_text(r)?);
                let etag = ETag::new(&get_text(r)?);
                let size = u64::from_le_bytes(get_bytes(r)?);
                let storage_class = if get_flag(r)? {
                    Some(StorageClass::new(&get_text(r)?))
                } else {
                    None
                };
                let last_modified = get_stamp(r)?;
                let expect = if get_flag(r)? { Some(expect(r)?) } else { None };
                Ok(Action::Copy(CopyAction {
                    key,
                    source_key,
                    source_version_id,
                    etag,
                    size,
                    storage_class,
                    last_modified,
                    expect,
                }))
            }
            1 => Ok(Action::DeleteMarker(DeleteMarkerAction {
                key,
                expect: expect(r)?,
            })),
            other => Err(io_error(std::io::Error::other(format!(
                "an action of unknown kind {other}"
            )))),
        }
    }
}

/// A plan's actions on disk, in key order: what an in-place restore (or one into a range
/// that holds something) plans is written here a part at a time as the listing goes,
/// and read back by the gates, the printed and JSON plan, and the runner. Memory holds
/// the index of [`Spilled`] (a few bytes an action), not the actions (about 320 bytes
/// each: 13 GB for 40 million).
#[derive(Debug)]
pub struct ActionSpool {
    list: Spilled<Action>,
    /// Actions taken out ([`remove`](Self::remove)).
    removed: u64,
}

impl ActionSpool {
    /// An empty spool, in a new anonymous temporary file in `TMPDIR`.
    pub fn new() -> CliResult<ActionSpool> {
        Ok(ActionSpool {
            list: Spilled::new()?,
            removed: 0,
        })
    }

    /// Add the actions one part of the listing planned (sorted by key; parts in any
    /// order, no key in two).
    pub fn push_run(&mut self, run: &[Action]) -> CliResult<()> {
        match self.list.push_run(run)? {
            Ok(()) => Ok(()),
            Err((key, last)) => Err(CliError::failure(format!(
                "the planner handed over {key:?} after {last:?}: actions out of order; please report this"
            ))),
        }
    }

    /// Add one action to the run being written (keys strictly up within it).
    pub fn push(&mut self, a: &Action) -> CliResult<()> {
        match self.list.push(a)? {
            Ok(()) => Ok(()),
            Err((key, last)) => Err(CliError::failure(format!(
                "action for {key:?} handed over after {last:?}: actions out of order; please report this"
            ))),
        }
    }

    /// Cut the sealed file to half its length: a spool that cannot be read back to its end
    /// (tests).
    #[cfg(test)]
    pub(crate) fn damage(&self) {
        let file = self.list.file.as_ref().expect("sealed");
        file.set_len(self.list.offset / 2)
            .expect("a temporary file");
    }

    /// Done adding: the spool is read from now on.
    pub fn seal(&mut self) -> CliResult<()> {
        self.list.seal()
    }

    /// Actions held (added, less those removed).
    pub fn len(&self) -> u64 {
        self.list.len() - self.removed
    }

    /// True when no action is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take out the actions of `keys` (any order; keys with no action, or taken out
    /// already, are passed over): how many were taken out.
    pub fn remove(&mut self, keys: &[String]) -> CliResult<u64> {
        let mut sorted: Vec<&str> = keys.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let taken = self.list.mark(&sorted)?;
        self.removed += taken;
        Ok(taken)
    }

    /// Each action in key order, for as long as `f` says go on.
    pub fn scan(&self, f: impl FnMut(Action) -> CliResult<bool>) -> CliResult<()> {
        self.list.scan(f)
    }

    /// [`scan`](Self::scan) of the actions whose keys come after `after`.
    pub fn scan_from(
        &self,
        after: Option<&str>,
        f: impl FnMut(Action) -> CliResult<bool>,
    ) -> CliResult<()> {
        self.list.scan_from(after, f)
    }
}

/// A plan's actions wherever they are: held in the plan, or in a spool (the plan then
/// holds none).
#[derive(Debug, Clone, Copy)]
pub struct PlanActions<'a> {
    held: &'a [Action],
    spool: Option<&'a ActionSpool>,
}

impl<'a> PlanActions<'a> {
    /// The actions of `p`, or of `spool` where it is given.
    pub fn of(p: &'a s3rewind_engine::RestorePlan, spool: Option<&'a ActionSpool>) -> Self {
        PlanActions {
            held: &p.actions,
            spool,
        }
    }

    /// How many.
    pub fn len(&self) -> u64 {
        self.spool.map_or(self.held.len() as u64, ActionSpool::len)
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each action in key order, for as long as `f` says go on.
    pub fn each(&self, mut f: impl FnMut(&Action) -> CliResult<bool>) -> CliResult<()> {
        match self.spool {
            Some(s) if self.held.is_empty() => s.scan(|a| f(&a)),
            Some(_) => Err(CliError::failure(
                "internal error: a plan holds actions beside its spool; please report this",
            )),
            None => {
                for a in self.held {
                    if !f(a)? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// The first `n` actions in key order.
    pub fn first(&self, n: usize) -> CliResult<Vec<Action>> {
        let mut out = Vec::with_capacity(n.min(1024));
        if n > 0 {
            self.each(|a| {
                out.push(a.clone());
                Ok(out.len() < n)
            })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn object(key: String, n: u64) -> CurrentObject {
        CurrentObject {
            key,
            etag: format!("{n:032x}"),
            size: n,
            last_modified: DateTime::<Utc>::from_timestamp(1_700_000_000 + n as i64, n as u32)
                .unwrap(),
        }
    }

    /// Every probe (a sorted run of keys) answered as `all` in memory answers it, and
    /// what no probe found is exactly the rest, in key order.
    fn answers_as_in_memory<R: Record + Clone + PartialEq + std::fmt::Debug>(
        s: &mut Spilled<R>,
        all: &[R],
        probes: &[std::collections::BTreeSet<String>],
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(s.len(), all.len() as u64);
        let mut named = std::collections::BTreeSet::new();
        for run in probes {
            let run: Vec<&str> = run.iter().map(String::as_str).collect();
            let got = s.lookup(&run).unwrap();
            for (k, g) in run.iter().zip(&got) {
                let want = all.iter().find(|r| r.key() == *k);
                prop_assert_eq!(g.as_ref(), want, "{}", k);
                if want.is_some() {
                    named.insert(k.to_string());
                }
            }
        }
        let rest: Vec<R> = all
            .iter()
            .filter(|r| !named.contains(r.key()))
            .cloned()
            .collect();
        prop_assert_eq!(s.unmatched().unwrap(), rest.clone());
        // Read on from any key (listed or not): the rest after it, in key order.
        let unnamed: Vec<String> = rest.iter().step_by(7).map(|r| r.key().to_owned()).collect();
        for after in probes.iter().flat_map(|p| p.iter().take(1)).chain(&unnamed) {
            let mut from = Vec::new();
            s.scan_from(Some(after), |r| {
                from.push(r);
                Ok(true)
            })
            .unwrap();
            let want: Vec<R> = rest
                .iter()
                .filter(|r| r.key() > after.as_str())
                .cloned()
                .collect();
            prop_assert_eq!(from, want, "after {}", after);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::proptest_config(64))]

        /// Looked up in sorted runs of any keys (listed or not), the file answers what the
        /// list held in memory answers, and what no run found is exactly the rest.
        #[test]
        fn a_spilled_list_answers_as_the_list_in_memory(
            keys in proptest::collection::btree_set("[a-c]{0,3}/[a-z]{1,4}", 0..700),
            probes in proptest::collection::vec(
                proptest::collection::btree_set("[a-c]{0,3}/[a-z]{1,4}", 0..60),
                0..12,
            ),
        ) {
            let objects: Vec<CurrentObject> = keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| object(k, i as u64))
                .collect();
            let mut s = Spilled::<CurrentObject>::new().unwrap();
            for o in &objects {
                prop_assert!(s.push(o).unwrap().is_ok());
            }
            answers_as_in_memory(&mut s, &objects, &probes)?;
        }
    }

    /// Ids and ETags of every form (`null`, UUIDs, packed, MD5s, multipart, empty, any
    /// text).
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("null".to_owned()),
            "[0-9a-f]{32}(-[0-9]{1,4})?",
            "[A-Za-z0-9._]{32}",
            ".{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(crate::proptest_config(256))]
        /// Every action reads back from its byte form as it was, field for field: copies
        /// with their source key the same or another, any ids, ETags and storage class
        /// (an empty one too), with and without an expected version; delete markers.
        #[test]
        fn an_action_reads_back_from_its_byte_form_as_it_was(
            copy: bool,
            key in ".{0,10}",
            other_source in proptest::option::of(".{0,10}"),
            vid in text(),
            tag in text(),
            class in proptest::option::of(text()),
            expect in proptest::option::of((text(), text())),
            size: u64,
            secs in 0i64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let action = if copy {
                Action::Copy(CopyAction {
                    source_key: other_source.unwrap_or_else(|| key.clone()),
                    key,
                    source_version_id: VersionId::new(&vid),
                    etag: ETag::new(&tag),
                    size,
                    storage_class: class.map(|c| StorageClass::new(&c)),
                    last_modified: DateTime::<Utc>::from_timestamp(secs, nanos).unwrap(),
                    expect: expect.map(|(v, e)| Expect { version_id: VersionId::new(&v), etag: ETag::new(&e) }),
                })
            } else {
                let (v, e) = expect.unwrap_or_default();
                Action::DeleteMarker(DeleteMarkerAction {
                    key,
                    expect: Expect { version_id: VersionId::new(&v), etag: ETag::new(&e) },
                })
            };
            let mut bytes = Vec::new();
            action.encode(&mut bytes);
            action.encode(&mut bytes);
            let mut r = &bytes[..];
            prop_assert_eq!(&Action::decode(&mut r).unwrap(), &action);
            prop_assert_eq!(&Action::decode(&mut r).unwrap(), &action);
            prop_assert!(r.is_empty(), "each record reads exactly its own bytes");
            prop_assert_eq!(serde_json::to_string(&Action::decode(&mut &bytes[..]).unwrap()).unwrap(), serde_json::to_string(&action).unwrap());
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_config(128))]
        /// A key's history reads back from its byte form as it was, entry for entry (any
        /// ids, ETags, classes, owners, stamps and flags; no entry too).
        #[test]
        fn a_key_history_reads_back_from_its_byte_form_as_it_was(
            key in ".{0,10}",
            entries in proptest::collection::vec(
                (text(), text(), proptest::option::of(text()), proptest::option::of(".{0,8}"),
                 any::<u64>(), 0i64..4_000_000_000, 0u32..1_000_000_000, any::<bool>(), any::<bool>()),
                0..6,
            ),
        ) {
            let h = KeyHistory {
                key,
                entries: entries
                    .into_iter()
                    .map(|(id, tag, class, owner, size, secs, nanos, dm, latest)| Version {
                        version_id: VersionId::new(&id),
                        last_modified: DateTime::<Utc>::from_timestamp(secs, nanos).unwrap(),
                        delete_marker: dm,
                        etag: ETag::new(&tag),
                        size,
                        storage_class: class.filter(|c| !c.is_empty()).map(|c| StorageClass::new(&c)),
                        owner_id: owner.filter(|o| !o.is_empty()).map(|o| OwnerId::new(&o)),
                        is_latest: latest,
                    })
                    .collect(),
            };
            let mut bytes = Vec::new();
            h.encode(&mut bytes);
            h.encode(&mut bytes);
            let mut r = &bytes[..];
            prop_assert_eq!(&KeyHistory::decode(&mut r).unwrap(), &h);
            prop_assert_eq!(&KeyHistory::decode(&mut r).unwrap(), &h);
            prop_assert!(r.is_empty(), "each record reads exactly its own bytes");
        }
    }

    fn stamp(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(secs, nanos).unwrap()
    }

    /// Two copies of `r`'s byte form read back as `r` twice, each reading exactly its own
    /// bytes.
    fn round_trip<R: Record + PartialEq + std::fmt::Debug>(r: &R) -> Result<(), TestCaseError> {
        let mut bytes = Vec::new();
        r.encode(&mut bytes);
        r.encode(&mut bytes);
        let mut at = &bytes[..];
        prop_assert_eq!(&R::decode(&mut at).unwrap(), r);
        prop_assert_eq!(&R::decode(&mut at).unwrap(), r);
        prop_assert!(at.is_empty(), "each record reads exactly its own bytes");
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::proptest_config(128))]
        /// The records of `undelete` (a key to bring back, a key skipped, the markers
        /// removed from a key), of `diff` (a key added or deleted, a key changed) and of
        /// the cross-check (a current object) read back from their byte forms as they
        /// were, field for field (and so serialise to the same JSON).
        #[test]
        fn undelete_and_diff_records_read_back_from_their_byte_forms(
            key in ".{0,10}",
            markers in proptest::collection::vec((text(), 0i64..4_000_000_000, 0u32..1_000_000_000), 0..4),
            ids in (text(), text(), text()),
            sizes in (any::<u64>(), any::<u64>()),
            secs in (0i64..4_000_000_000, 0i64..4_000_000_000),
            nanos in 0u32..1_000_000_000,
            reason in ".{0,20}",
        ) {
            let (vid, tag, other) = ids;
            let last = Version {
                version_id: VersionId::new(&vid),
                last_modified: stamp(secs.0, nanos),
                delete_marker: false,
                etag: ETag::new(&tag),
                size: sizes.0,
                storage_class: (!other.is_empty()).then(|| StorageClass::new(&other)),
                owner_id: None,
                is_latest: false,
            };
            round_trip(&DeletedKey {
                key: key.clone(),
                deleted_at: stamp(secs.1, nanos),
                markers: markers
                    .iter()
                    .map(|(id, s, n)| EntryRef { version_id: id.clone(), last_modified: stamp(*s, *n) })
                    .collect(),
                last: last.clone(),
                last_version_id: vid.clone(),
                size: sizes.0,
            })?;
            round_trip(&Skipped { key: key.clone(), reason })?;
            round_trip(&crate::pipeline::execute::remove_markers::RemovedOfKey {
                key: key.clone(),
                markers: markers.iter().map(|(id, s, n)| (id.clone(), stamp(*s, *n))).collect(),
            })?;
            round_trip(&CurrentObject {
                key: key.clone(),
                etag: tag.clone(),
                size: sizes.1,
                last_modified: stamp(secs.1, nanos),
            })?;
            let side = |id: &str, tag: &str, size: u64, secs: i64| DiffSide {
                version_id: id.to_owned(),
                last_modified: stamp(secs, nanos),
                size,
                etag: tag.to_owned(),
            };
            let one = OneSide { key: key.clone(), version: side(&vid, &tag, sizes.0, secs.0) };
            let mut bytes = Vec::new();
            one.encode(&mut bytes);
            let back = OneSide::decode(&mut &bytes[..]).unwrap();
            prop_assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&one).unwrap());
            let changed = Changed {
                key,
                from: side(&vid, &tag, sizes.0, secs.0),
                to: side(&other, &tag, sizes.1, secs.1),
            };
            let mut bytes = Vec::new();
            changed.encode(&mut bytes);
            changed.encode(&mut bytes);
            let mut at = &bytes[..];
            for _ in 0..2 {
                let back = Changed::decode(&mut at).unwrap();
                prop_assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&changed).unwrap());
            }
            prop_assert!(at.is_empty());
        }
    }

    fn entry(key: String, n: u64) -> StateEntry {
        StateEntry {
            key,
            version: Version {
                version_id: if n.is_multiple_of(5) {
                    VersionId::NULL
                } else {
                    VersionId::new(&format!("v{n}"))
                },
                last_modified: DateTime::<Utc>::from_timestamp(1_700_000_000 + n as i64, 7)
                    .unwrap(),
                delete_marker: n.is_multiple_of(7),
                etag: ETag::new(&format!("{n:032x}")),
                size: n,
                storage_class: (n.is_multiple_of(3)).then(|| StorageClass::new("GLACIER")),
                owner_id: (n.is_multiple_of(4)).then(|| OwnerId::new("owner")),
                is_latest: n.is_multiple_of(2),
            },
        }
    }

    proptest! {
        #![proptest_config(crate::proptest_config(64))]

        /// A state dealt into sorted runs (contiguous or interleaved, as parts of a
        /// listing split by ranges or by folders) and written in any order (as parallel
        /// streams hand them over) reads back as the state in memory: every lookup
        /// answered alike, and the rest in key order.
        #[test]
        fn runs_written_in_any_order_read_back_in_key_order(
            keys in proptest::collection::btree_set("[a-c]{0,3}/[a-z]{1,4}", 0..700),
            cuts in proptest::collection::vec(0usize..700, 0..12),
            interleave in 0u64..4,
            order in any::<u64>(),
            probes in proptest::collection::vec(
                proptest::collection::btree_set("[a-c]{0,3}/[a-z]{1,4}", 0..60),
                0..12,
            ),
        ) {
            let entries: Vec<StateEntry> = keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| entry(k, i as u64))
                .collect();
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(entries.len())).collect();
            bounds.extend([0, entries.len()]);
            bounds.sort();
            bounds.dedup();
            // Contiguous runs, each dealt again into `interleave + 1` interleaved ones.
            let mut rng = s3rewind_engine::prng::Prng(order);
            let mut runs: Vec<Vec<StateEntry>> = Vec::new();
            for w in bounds.windows(2) {
                let mut dealt = vec![Vec::new(); interleave as usize + 1];
                for e in &entries[w[0]..w[1]] {
                    dealt[rng.below(interleave + 1) as usize].push(e.clone());
                }
                runs.extend(dealt);
            }
            rng.shuffle(&mut runs);
            let mut s = Spilled::<StateEntry>::new().unwrap();
            for run in &runs {
                prop_assert!(s.push_run(run).unwrap().is_ok());
            }
            answers_as_in_memory(&mut s, &entries, &probes)?;
        }
    }

    /// Interleaved runs (a folder's part inside the top level's range) are two layers;
    /// a key listed in two runs is an error naming it, never one of the two answers.
    #[test]
    fn interleaved_runs_are_layers_and_a_key_listed_twice_is_refused() {
        let mut s = Spilled::<StateEntry>::new().unwrap();
        s.push_run(&[entry("a!b".into(), 1), entry("a0".into(), 2)])
            .unwrap()
            .unwrap();
        s.push_run(&[entry("a/x".into(), 3), entry("a/y".into(), 4)])
            .unwrap()
            .unwrap();
        let got = s.lookup(&["a!b", "a/y", "a0", "b"]).unwrap();
        let sizes: Vec<Option<u64>> = got
            .iter()
            .map(|e| e.as_ref().map(|e| e.version.size))
            .collect();
        assert_eq!(sizes, [Some(1), Some(4), Some(2), None]);
        assert_eq!(s.layers.len(), 2);
        let rest: Vec<String> = s.unmatched().unwrap().into_iter().map(|e| e.key).collect();
        assert_eq!(rest, ["a/x"]);

        let mut twice = Spilled::<StateEntry>::new().unwrap();
        twice
            .push_run(&[entry("a".into(), 1), entry("c".into(), 2)])
            .unwrap()
            .unwrap();
        twice.push_run(&[entry("c".into(), 3)]).unwrap().unwrap();
        let e = twice.lookup(&["c"]).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Failure);
        assert!(
            e.message.contains("\"c\" was listed twice"),
            "{}",
            e.message
        );
    }

    /// What memory keeps is one index entry per block of at most [`BLOCK`] records, and
    /// the blocks of one sorted run are one layer: 600 records in one run are three
    /// blocks in one layer; a list of no record is empty.
    #[test]
    fn a_run_is_blocks_of_at_most_block_records_in_one_layer() {
        let mut s = Spilled::<StateEntry>::new().unwrap();
        assert!(s.is_empty());
        let run: Vec<StateEntry> = (0..600u64).map(|n| entry(format!("k{n:04}"), n)).collect();
        s.push_run(&run).unwrap().unwrap();
        assert!(!s.is_empty());
        s.seal().unwrap();
        assert_eq!(s.layers.len(), 1);
        let sizes: Vec<u64> = s.layers[0].iter().map(|b| b.len).collect();
        assert_eq!(sizes, [BLOCK, BLOCK, 600 - 2 * BLOCK]);
        assert_eq!(
            s.lookup(&["k0256", "k0599"])
                .unwrap()
                .iter()
                .flatten()
                .count(),
            2
        );
    }

    /// No room for the file: one line that names the temporary directory and what to do,
    /// as a failure (exit 7), before anything is listed or written.
    #[test]
    fn a_temporary_directory_that_cannot_hold_the_file_is_named() {
        let e = Spilled::<CurrentObject>::new_in(std::path::Path::new("/nonexistent/s3rewind-tmp"))
            .unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Failure);
        assert!(e.message.contains("set TMPDIR"), "{}", e.message);
        assert!(!e.message.contains('\n'), "{}", e.message);
    }

    #[test]
    fn keys_must_go_strictly_up() {
        let mut s = Spilled::<CurrentObject>::new().unwrap();
        s.push(&object("b".into(), 1)).unwrap().unwrap();
        assert_eq!(
            s.push(&object("a".into(), 2)).unwrap(),
            Err(("a".to_owned(), "b".to_owned()))
        );
        assert_eq!(
            s.push(&object("b".into(), 3)).unwrap(),
            Err(("b".to_owned(), "b".to_owned()))
        );
        assert_eq!(s.len(), 1);
    }
}
