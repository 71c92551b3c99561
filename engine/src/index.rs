//! A saved timeline: the versioned binary file `s3rewind index` writes and `--index`
//! reads, so a bucket listed (or an inventory read) once can be planned on many times.
//!
//! # Format (version 2)
//!
//! ```text
//! magic      8 bytes  "S3RWIDX\n"
//! version    u32 LE   2
//! header     u32 LE length, then JSON: IndexHeader (bucket, prefix, created, source,
//!                     counts, anomalies)
//! blocks     each: u32 keys, u32 entries, u64 raw length, u64 stored length, u32 CRC-32
//!            of the raw bytes (LE), then the stored bytes (raw deflate); a block head
//!            of zeros ends the file.
//!            Raw, a block is whole keys, in key order: key (u32-length-prefixed
//!            UTF-8), u32 entry count, then its entries newest first, each: version id
//!            and ETag in their compact forms, time (i64 s + u32 ns), flags, size,
//!            storage class and owner as text when present.
//! ```
//!
//! Blocks are independent, so a reader decodes them on every core; a key is stored
//! once, with its entry count, so its history is allocated once. Version 1 (one gzip
//! stream of entries, each with its key and its ids as text) is still read.
//!
//! Entries are stored in list order, so reading pushes them back as they are (no
//! reordering, no guessing): the timeline read is the timeline written, anomalies
//! included. A file of a newer format version is refused, not misread.

use crate::inventory::{Stored, read_entry, read_version_as, write_version_as};
use crate::model::Version;
use crate::timeline::{Anomaly, KeyHistory, Timeline, TimelineBuilder};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{self, BufReader, BufWriter, Read, Write};
use thiserror::Error;

/// The first bytes of every index file.
pub const INDEX_MAGIC: &[u8; 8] = b"S3RWIDX\n";
/// The format version this build writes (it reads this one and every older one).
pub const INDEX_VERSION: u32 = 2;

/// About how many entries a block holds (whole keys: a key with more makes a larger one).
const BLOCK_ENTRIES: usize = 32_768;
/// Blocks compressed or decoded at once (in parallel), so a read or a write holds only
/// these in memory besides the timeline. Two in tests, so that the tests' few blocks
/// span batches as millions of entries do.
const BATCH_BLOCKS: usize = if cfg!(test) { 2 } else { 16 };

/// What an index file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexHeader {
    /// The bucket the timeline is of.
    pub bucket: String,
    /// The prefix it covers (every key under it).
    pub prefix: String,
    /// When the history it holds was read: the listing's start, or the inventory's
    /// creation time. Writes after it are not in it.
    pub created: DateTime<Utc>,
    /// `listing` or `inventory`.
    pub source: String,
    /// Number of keys.
    pub keys: u64,
    /// Number of versions and delete markers.
    pub entries: u64,
    /// What the build could not order for sure.
    pub anomalies: Vec<Anomaly>,
}

/// An index file that cannot be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Not an index file.
    #[error("not an s3rewind timeline index (it does not start with the index magic)")]
    NotAnIndex,
    /// Written by a newer s3rewind.
    #[error(
        "this timeline index has format version {0}, newer than this s3rewind reads ({INDEX_VERSION}): upgrade s3rewind or write the index again"
    )]
    NewerVersion(u32),
    /// The header does not parse.
    #[error("the timeline index header is corrupt: {0}")]
    Header(String),
    /// The entries do not make a timeline (a corrupt file).
    #[error("the timeline index is corrupt: {0}")]
    Corrupt(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Write `timeline` as an index of `bucket`/`prefix`, read at `created` from `source`.
pub fn write_index(
    w: impl Write,
    bucket: &str,
    prefix: &str,
    created: DateTime<Utc>,
    source: &str,
    timeline: &Timeline,
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 16, w);
    let header = IndexHeader {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        created,
        source: source.to_owned(),
        keys: timeline
            .keys()
            .iter()
            .filter(|h| !h.entries.is_empty())
            .count() as u64,
        entries: timeline.len() as u64,
        anomalies: timeline.anomalies().to_vec(),
    };
    let json = serde_json::to_vec(&header).map_err(io::Error::other)?;
    w.write_all(INDEX_MAGIC)?;
    w.write_all(&INDEX_VERSION.to_le_bytes())?;
    w.write_all(&(json.len() as u32).to_le_bytes())?;
    w.write_all(&json)?;
    // Blocks of whole keys, compressed a batch at a time on every core.
    let mut batch: Vec<&[KeyHistory]> = Vec::with_capacity(BATCH_BLOCKS);
    let keys = timeline.keys();
    let (mut from, mut entries) = (0, 0);
    for (i, h) in keys.iter().enumerate() {
        entries += h.entries.len();
        if entries >= BLOCK_ENTRIES || i + 1 == keys.len() {
            batch.push(&keys[from..=i]);
            (from, entries) = (i + 1, 0);
            if batch.len() == BATCH_BLOCKS || i + 1 == keys.len() {
                write_batch(&mut w, &batch)?;
                batch.clear();
            }
        }
    }
    w.write_all(&[0u8; BLOCK_HEAD])?;
    w.flush()
}

/// Blocks of whole keys, compressed on every core, written with their heads.
fn write_batch(w: &mut impl Write, batch: &[&[KeyHistory]]) -> io::Result<()> {
    let done: Vec<io::Result<Block>> = batch.par_iter().map(|b| encode_block(b)).collect();
    for block in done {
        let block = block?;
        write_block_head(w, &block)?;
        w.write_all(&block.stored)?;
    }
    Ok(())
}

/// An index written a key at a time, for a timeline never held whole: the keys (in key
/// order) are grouped into blocks and compressed as the blocks fill, and written to
/// `blocks` (a temporary file: the header, first in the file, needs the totals);
/// [`finish`](Self::finish) gives the header and [`assemble`] puts the file together.
/// The file is the one [`write_index`] writes of the same timeline, byte for byte
/// (tested), when the anomalies are given in the timeline's order.
pub struct IndexParts<W: Write> {
    blocks: W,
    /// Keys of the block being filled, and its entries.
    pending: Vec<KeyHistory>,
    pending_entries: usize,
    /// Filled blocks not yet compressed (up to a batch).
    full: Vec<Vec<KeyHistory>>,
    keys: u64,
    entries: u64,
    anomalies: Vec<Anomaly>,
    last_key: Option<String>,
}

impl<W: Write> IndexParts<W> {
    /// Blocks to `blocks`.
    pub fn new(blocks: W) -> Self {
        IndexParts {
            blocks,
            pending: Vec::new(),
            pending_entries: 0,
            full: Vec::new(),
            keys: 0,
            entries: 0,
            anomalies: Vec::new(),
            last_key: None,
        }
    }

    /// Add the next key's history: after every key added before, or an error.
    pub fn push(&mut self, h: KeyHistory) -> io::Result<()> {
        if let Some(last) = &self.last_key
            && h.key <= *last
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("key {:?} after {last:?}: out of key order", h.key),
            ));
        }
        self.last_key = Some(h.key.clone());
        self.entries += h.entries.len() as u64;
        self.keys += u64::from(!h.entries.is_empty());
        self.pending_entries += h.entries.len();
        self.pending.push(h);
        if self.pending_entries >= BLOCK_ENTRIES {
            self.full.push(std::mem::take(&mut self.pending));
            self.pending_entries = 0;
            if self.full.len() == BATCH_BLOCKS {
                self.write_full()?;
            }
        }
        Ok(())
    }

    /// Add anomalies (the header keeps them in the order given).
    pub fn anomalies(&mut self, anomalies: impl IntoIterator<Item = Anomaly>) {
        self.anomalies.extend(anomalies);
    }

    fn write_full(&mut self) -> io::Result<()> {
        let batch: Vec<&[KeyHistory]> = self.full.iter().map(Vec::as_slice).collect();
        write_batch(&mut self.blocks, &batch)?;
        self.full.clear();
        Ok(())
    }

    /// The last blocks written (and `blocks` flushed and given back), and the header of
    /// the index of `bucket`/`prefix`, read at `created` from `source`.
    pub fn finish(
        mut self,
        bucket: &str,
        prefix: &str,
        created: DateTime<Utc>,
        source: &str,
    ) -> io::Result<(W, IndexHeader)> {
        if !self.pending.is_empty() {
            self.full.push(std::mem::take(&mut self.pending));
        }
        self.write_full()?;
        self.blocks.flush()?;
        let header = IndexHeader {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            created,
            source: source.to_owned(),
            keys: self.keys,
            entries: self.entries,
            anomalies: self.anomalies,
        };
        Ok((self.blocks, header))
    }
}

/// The index file: `header`, then the blocks [`IndexParts`] wrote (read back from
/// `blocks`), then the end mark.
pub fn assemble(w: impl Write, header: &IndexHeader, mut blocks: impl Read) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 16, w);
    let json = serde_json::to_vec(header).map_err(io::Error::other)?;
    w.write_all(INDEX_MAGIC)?;
    w.write_all(&INDEX_VERSION.to_le_bytes())?;
    w.write_all(&(json.len() as u32).to_le_bytes())?;
    w.write_all(&json)?;
    io::copy(&mut blocks, &mut w)?;
    w.write_all(&[0u8; BLOCK_HEAD])?;
    w.flush()
}

/// The bytes of a block head.
const BLOCK_HEAD: usize = 28;

/// One block as stored.
#[derive(Default)]
struct Block {
    keys: u32,
    entries: u32,
    raw: u64,
    crc: u32,
    stored: Vec<u8>,
}

fn write_block_head(w: &mut impl Write, b: &Block) -> io::Result<()> {
    w.write_all(&b.keys.to_le_bytes())?;
    w.write_all(&b.entries.to_le_bytes())?;
    w.write_all(&b.raw.to_le_bytes())?;
    w.write_all(&(b.stored.len() as u64).to_le_bytes())?;
    w.write_all(&b.crc.to_le_bytes())
}

/// One block of whole keys: counted, checksummed and deflated.
fn encode_block(keys: &[KeyHistory]) -> io::Result<Block> {
    let mut raw = Vec::new();
    let (mut nkeys, mut nentries) = (0u32, 0u32);
    for h in keys.iter().filter(|h| !h.entries.is_empty()) {
        nkeys += 1;
        nentries += h.entries.len() as u32;
        put_str(&mut raw, &h.key);
        raw.extend_from_slice(&(h.entries.len() as u32).to_le_bytes());
        for v in &h.entries {
            write_version_as::<Stored>(&mut raw, v)?;
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(&raw);
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw)?;
    Ok(Block {
        keys: nkeys,
        entries: nentries,
        raw: raw.len() as u64,
        crc: crc.sum(),
        stored: z.finish()?,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Read only the header (to check bucket, prefix and age before reading the entries).
pub fn read_header(r: &mut impl Read) -> Result<IndexHeader, IndexError> {
    read_versioned_header(r).map(|(_, h)| h)
}

fn read_versioned_header(r: &mut impl Read) -> Result<(u32, IndexHeader), IndexError> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|_| IndexError::NotAnIndex)?;
    if &magic != INDEX_MAGIC {
        return Err(IndexError::NotAnIndex);
    }
    let mut n = [0u8; 4];
    r.read_exact(&mut n)?;
    let version = u32::from_le_bytes(n);
    if version > INDEX_VERSION {
        return Err(IndexError::NewerVersion(version));
    }
    r.read_exact(&mut n)?;
    let len = u64::from(u32::from_le_bytes(n));
    let mut json = Vec::new();
    r.take(len).read_to_end(&mut json)?;
    if json.len() as u64 != len {
        return Err(IndexError::Header(
            "the file ends inside its header".to_owned(),
        ));
    }
    let header = serde_json::from_slice(&json).map_err(|e| IndexError::Header(e.to_string()))?;
    Ok((version, header))
}

/// Read an index, keeping the keys under `prefix` (the index's own prefix or a longer
/// one).
pub fn read_index(r: impl Read, prefix: &str) -> Result<(IndexHeader, Timeline), IndexError> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let (version, header) = read_versioned_header(&mut r)?;
    let anomalies = anomalies_under(&header, prefix);
    if version < 2 {
        return read_entries_v1(r, prefix, header, anomalies);
    }
    let mut keys: Vec<KeyHistory> = Vec::with_capacity(header.keys.min(1 << 24) as usize);
    read_blocks(&mut r, prefix, &header, &mut |part| {
        keys.extend(part);
        Ok(())
    })?;
    Ok((header, Timeline::from_histories(keys, anomalies)))
}

/// [`read_index`] a part at a time, never holding the whole timeline: `each` is given
/// the timeline of one block's keys under `prefix` at a time (about 32,768 entries, each
/// key whole, parts in key order), with the anomalies of its keys; anomalies of keys no
/// block holds come in a last part of their own. A version 1 index (one gzip stream) is
/// read whole and given as one part. Every check of [`read_index`] is made; a part may
/// have been given before an error found further on.
pub fn read_index_parts(
    r: impl Read,
    prefix: &str,
    mut each: impl FnMut(Timeline) -> Result<(), IndexError>,
) -> Result<IndexHeader, IndexError> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let (version, header) = read_versioned_header(&mut r)?;
    let mut anomalies = anomalies_under(&header, prefix);
    if version < 2 {
        let (header, timeline) = read_entries_v1(r, prefix, header, anomalies)?;
        each(timeline)?;
        return Ok(header);
    }
    anomalies.sort_by(|a, b| a.key().cmp(b.key()));
    let mut pending = anomalies.into_iter().peekable();
    read_blocks(&mut r, prefix, &header, &mut |part| {
        let Some(last) = part.last().map(|h| h.key.clone()) else {
            return Ok(());
        };
        let mut mine = Vec::new();
        while let Some(a) = pending.next_if(|a| a.key() <= last.as_str()) {
            mine.push(a);
        }
        each(Timeline::from_histories(part, mine))
    })?;
    let rest: Vec<Anomaly> = pending.collect();
    if !rest.is_empty() {
        each(Timeline::from_histories(Vec::new(), rest))?;
    }
    Ok(header)
}

/// The header's anomalies of keys under `prefix`.
fn anomalies_under(header: &IndexHeader, prefix: &str) -> Vec<Anomaly> {
    header
        .anomalies
        .iter()
        .filter(|a| a.key().starts_with(prefix))
        .cloned()
        .collect()
}

/// Version 2's blocks after the header, decoded a batch at a time in parallel and checked
/// (each block's CRC and counts, blocks in key order, the totals against the header):
/// each block's histories under `prefix` go to `each` in key order.
fn read_blocks(
    r: &mut impl Read,
    prefix: &str,
    header: &IndexHeader,
    each: &mut dyn FnMut(Vec<KeyHistory>) -> Result<(), IndexError>,
) -> Result<(), IndexError> {
    let (mut nkeys, mut nentries) = (0u64, 0u64);
    let mut last_key: Option<String> = None;
    // The blocks' buffers are reused from batch to batch: freed and asked for again,
    // megabytes at a time, they would be given back to the system and faulted in anew.
    let mut batch: Vec<Block> = Vec::with_capacity(BATCH_BLOCKS);
    let mut scratch: Vec<Vec<u8>> = vec![Vec::new(); BATCH_BLOCKS];
    let mut ended = false;
    while !ended {
        let mut n = 0;
        while n < BATCH_BLOCKS {
            let mut head = [0u8; BLOCK_HEAD];
            r.read_exact(&mut head).map_err(truncated)?;
            if head == [0u8; BLOCK_HEAD] {
                ended = true;
                break;
            }
            let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
            let u64_at = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
            if batch.len() == n {
                batch.push(Block::default());
            }
            let b = &mut batch[n];
            (b.keys, b.entries, b.raw, b.crc) = (u32_at(0), u32_at(4), u64_at(8), u32_at(24));
            let stored_len = u64_at(16);
            b.stored.clear();
            (&mut *r).take(stored_len).read_to_end(&mut b.stored)?;
            if b.stored.len() as u64 != stored_len {
                return Err(truncated(io::ErrorKind::UnexpectedEof.into()));
            }
            n += 1;
        }
        let parts: Vec<Result<Vec<KeyHistory>, IndexError>> = batch[..n]
            .par_iter()
            .zip(scratch[..n].par_iter_mut())
            .map(|(b, data)| decode_block(b, data, prefix))
            .collect();
        for (
            Block {
                keys: k,
                entries: n,
                ..
            },
            part,
        ) in batch.iter().zip(parts)
        {
            let part = part?;
            if let (Some(last), Some(first)) = (&last_key, part.first())
                && first.key <= *last
            {
                return Err(corrupt(format!(
                    "key {:?} after {:?}: the blocks are out of order",
                    first.key, last
                )));
            }
            nkeys += u64::from(*k);
            nentries += u64::from(*n);
            if let Some(h) = part.last() {
                last_key = Some(h.key.clone());
            }
            each(part)?;
        }
    }
    if nentries != header.entries || nkeys != header.keys {
        return Err(corrupt(format!(
            "{nentries} entries of {nkeys} keys, but the header says {} of {}",
            header.entries, header.keys
        )));
    }
    Ok(())
}

fn corrupt(why: String) -> IndexError {
    IndexError::Corrupt(why)
}

fn truncated(e: io::Error) -> IndexError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt("the file ends before its last block (a partial copy?)".to_owned())
    } else {
        IndexError::Io(e)
    }
}

/// The histories of one block under `prefix`, checked: its raw length and CRC-32, its
/// key and entry counts, keys in order, each version id once per key.
fn decode_block(
    block: &Block,
    data: &mut Vec<u8>,
    prefix: &str,
) -> Result<Vec<KeyHistory>, IndexError> {
    let Block {
        keys,
        entries,
        raw,
        crc,
        stored,
    } = block;
    data.clear();
    data.reserve((*raw).min(1 << 26) as usize);
    flate2::read::DeflateDecoder::new(&stored[..])
        .take(raw + 1)
        .read_to_end(data)
        .map_err(|e| corrupt(format!("a block does not inflate: {e}")))?;
    let mut sum = flate2::Crc::new();
    sum.update(data);
    if data.len() as u64 != *raw || sum.sum() != *crc {
        return Err(corrupt(
            "a block does not match its length and checksum (a damaged file)".to_owned(),
        ));
    }
    let bad = |e: io::Error| corrupt(format!("a block does not parse: {e}"));
    let mut r: &[u8] = data;
    let mut out: Vec<KeyHistory> = Vec::new();
    let mut seen = 0u64;
    let mut last: Option<String> = None;
    for _ in 0..*keys {
        let key = take_str(&mut r).map_err(bad)?;
        let n = take_u32(&mut r).map_err(bad)? as usize;
        // Every entry takes at least 23 bytes: a count beyond what is left is corrupt.
        if n == 0 || n > r.len() / 23 {
            return Err(corrupt(format!("key {key:?} claims {n} entries")));
        }
        if last.as_ref().is_some_and(|l| *l >= key) {
            return Err(corrupt(format!("key {key:?} is out of order")));
        }
        seen += n as u64;
        let keep = key.starts_with(prefix);
        let mut versions = Vec::with_capacity(if keep { n } else { 0 });
        for _ in 0..n {
            let v = read_version_as::<Stored>(&mut r).map_err(bad)?;
            if keep {
                versions.push(v);
            }
        }
        if keep {
            if let Some(id) = repeated_id(&versions) {
                return Err(corrupt(format!("key {key:?} holds version {id} twice")));
            }
            out.push(KeyHistory {
                key: key.clone(),
                entries: versions,
            });
        }
        last = Some(key);
    }
    if seen != u64::from(*entries) || !r.is_empty() {
        return Err(corrupt(
            "a block's entries do not match its head".to_owned(),
        ));
    }
    Ok(out)
}

/// A version id a history holds twice.
fn repeated_id(versions: &[Version]) -> Option<String> {
    if versions.len() <= 32 {
        for (i, v) in versions.iter().enumerate() {
            if versions[..i].iter().any(|w| w.version_id == v.version_id) {
                return Some(v.version_id.to_string());
            }
        }
        return None;
    }
    let mut seen = std::collections::HashSet::with_capacity(versions.len());
    versions
        .iter()
        .find(|v| !seen.insert(&v.version_id))
        .map(|v| v.version_id.to_string())
}

fn take_u32(r: &mut &[u8]) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn take_str(r: &mut &[u8]) -> io::Result<String> {
    let n = take_u32(r)? as usize;
    if n > r.len() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let (s, rest) = r.split_at(n);
    *r = rest;
    String::from_utf8(s.to_vec()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Version 1: one gzip stream of entries, each with its key.
fn read_entries_v1(
    r: impl Read,
    prefix: &str,
    header: IndexHeader,
    anomalies: Vec<Anomaly>,
) -> Result<(IndexHeader, Timeline), IndexError> {
    let mut entries = BufReader::with_capacity(1 << 16, flate2::read::GzDecoder::new(r));
    let mut b = TimelineBuilder::new();
    let mut n = 0u64;
    while let Some(e) = read_entry(&mut entries).map_err(|e| IndexError::Corrupt(e.to_string()))? {
        n += 1;
        if e.key.starts_with(prefix) {
            b.push_entry(e)
                .map_err(|e| IndexError::Corrupt(e.to_string()))?;
        }
    }
    if n != header.entries {
        return Err(IndexError::Corrupt(format!(
            "{n} entries, but the header says {}",
            header.entries
        )));
    }
    b.set_anomalies(anomalies);
    Ok((header, b.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ETag, OwnerId, StorageClass, VersionId};
    use crate::{SimBucket, Versioning};
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn timeline() -> Timeline {
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        sim.put("a/x y+z", b"1", t(0));
        sim.delete("a/x y+z", t(0)); // a same-second tie: an anomaly to keep
        sim.put("a/x y+z", b"2", t(5));
        sim.put("a/ü", b"1", t(1));
        sim.put("b/k", b"1", t(2));
        sim.put("b/k", b"2", t(3));
        let mut b = TimelineBuilder::new();
        for p in sim.list_pages("", 10) {
            b.push_page(p).unwrap();
        }
        b.finish()
    }

    #[test]
    fn an_index_round_trips_with_its_anomalies() {
        let tl = timeline();
        assert!(!tl.anomalies().is_empty());
        let mut buf = Vec::new();
        write_index(&mut buf, "bkt", "", t(10), "listing", &tl).unwrap();
        let (h, back) = read_index(&buf[..], "").unwrap();
        assert_eq!(back, tl);
        assert_eq!((h.bucket.as_str(), h.created, h.keys), ("bkt", t(10), 3));
        // A longer prefix keeps only its keys and their anomalies.
        let (_, b) = read_index(&buf[..], "b/").unwrap();
        assert_eq!(b.keys().len(), 1);
        assert!(b.anomalies().is_empty());
    }

    #[test]
    fn other_files_newer_versions_and_truncation_are_refused() {
        let tl = timeline();
        let mut buf = Vec::new();
        write_index(&mut buf, "bkt", "", t(10), "listing", &tl).unwrap();
        assert!(matches!(
            read_index(&b"{\"json\": true}"[..], ""),
            Err(IndexError::NotAnIndex)
        ));
        let mut newer = buf.clone();
        newer[8..12].copy_from_slice(&(INDEX_VERSION + 1).to_le_bytes());
        assert!(matches!(
            read_index(&newer[..], ""),
            Err(IndexError::NewerVersion(3))
        ));
        for cut in [1, 24, 30, buf.len() - 60] {
            let cut = &buf[..buf.len() - cut];
            assert!(
                read_index(cut, "").is_err(),
                "cut {}",
                buf.len() - cut.len()
            );
        }
    }

    /// An index of format version 1 as an earlier build wrote it.
    fn write_v1(tl: &Timeline, created: DateTime<Utc>) -> Vec<u8> {
        let header = IndexHeader {
            bucket: "bkt".into(),
            prefix: String::new(),
            created,
            source: "listing".into(),
            keys: tl.keys().len() as u64,
            entries: tl.len() as u64,
            anomalies: tl.anomalies().to_vec(),
        };
        let json = serde_json::to_vec(&header).unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        for h in tl.keys() {
            for v in &h.entries {
                let e = crate::Entry {
                    key: h.key.clone(),
                    version: v.clone(),
                };
                crate::inventory::write_entry(&mut gz, &e).unwrap();
            }
        }
        gz.finish().unwrap()
    }

    #[test]
    fn a_version_1_index_still_reads_as_it_did() {
        let tl = timeline();
        let v1 = write_v1(&tl, t(10));
        let (h, back) = read_index(&v1[..], "").unwrap();
        assert_eq!(back, tl);
        assert_eq!(h.keys, 3);
        let (_, b) = read_index(&v1[..], "b/").unwrap();
        assert_eq!(b.keys().len(), 1);
    }

    /// Big enough for several blocks and batches, with every compact form of an id and
    /// an ETag, storage classes and owners.
    fn large() -> Timeline {
        let mut b = TimelineBuilder::new();
        for k in 0..3_000u32 {
            let n = 1 + (k % 41) as usize + if k == 1_234 { 40_000 } else { 0 };
            for i in 0..n {
                let id = match (k as usize + i) % 5 {
                    0 => format!("{k:08x}-0000-4000-8000-{i:012x}"),
                    1 => format!("Aw.{k}_{i}"),
                    2 if i == 0 => "null".to_owned(),
                    3 => format!("text id {k}/{i}"),
                    _ => format!("id{k}x{i}"),
                };
                let etag = match i % 4 {
                    0 => format!("{:032x}", u128::from(k) << 64 | i as u128),
                    1 => format!("{:032x}-{}", k, i + 2),
                    2 => format!("W/\"{k}\""),
                    _ => String::new(),
                };
                b.push_entry(crate::Entry {
                    key: format!("p/{k:05}/ü"),
                    version: Version {
                        version_id: VersionId::new(&id),
                        last_modified: t(100_000 - i as i64),
                        delete_marker: etag.is_empty(),
                        etag: ETag::new(&etag),
                        size: (k as u64) << 20 | i as u64,
                        storage_class: (i % 3 == 0).then(|| StorageClass::new("GLACIER")),
                        owner_id: (i % 2 == 0).then(|| OwnerId::new(&format!("owner{}", k % 7))),
                        is_latest: i == 0,
                    },
                })
                .unwrap();
            }
        }
        b.finish()
    }

    #[test]
    fn a_large_index_round_trips_in_blocks_and_reads_a_prefix() {
        let tl = large();
        let mut buf = Vec::new();
        write_index(&mut buf, "bkt", "", t(10), "listing", &tl).unwrap();
        let (h, back) = read_index(&buf[..], "").unwrap();
        assert_eq!((h.keys, h.entries), (3_000, tl.len() as u64));
        assert_eq!(back, tl);
        // The same timeline as version 1 gives.
        let (_, v1) = read_index(&write_v1(&tl, t(10))[..], "").unwrap();
        assert_eq!(back, v1);
        let (_, part) = read_index(&buf[..], "p/012").unwrap();
        assert_eq!(part.keys().len(), 100);
        assert!(part.keys().iter().all(|h| h.key.starts_with("p/012")));
        assert_eq!(part.get("p/01234/ü"), tl.get("p/01234/ü"));
    }

    /// The parts of `read_index_parts`, put back together, with what each part held.
    fn parts(buf: &[u8], prefix: &str) -> (Timeline, Vec<Timeline>) {
        let mut got = Vec::new();
        read_index_parts(buf, prefix, |p| {
            got.push(p);
            Ok(())
        })
        .unwrap();
        let keys = got.iter().flat_map(|p| p.keys().to_vec()).collect();
        let anomalies = got.iter().flat_map(|p| p.anomalies().to_vec()).collect();
        (Timeline::from_histories(keys, anomalies), got)
    }

    /// Read a part at a time, an index gives the timeline read whole: in key order, no
    /// key split between parts, each anomaly with its key's part (or, for a key no part
    /// holds, in a last part of its own), under any prefix, in both format versions.
    #[test]
    fn the_parts_are_the_whole_index() {
        let whole = large();
        let tie = |key: &str| Anomaly::OrderUnknown {
            key: key.to_owned(),
        };
        // Anomalies out of key order; two of keys the index does not hold, one of them
        // after its last key.
        let anomalies = vec![
            tie("p/99999/zzz"),
            tie("p/02999/ü"),
            tie("p/00000/ü"),
            tie("p/01234/ü"),
            tie("p/01200/zzz"),
            tie("p/01201/ü"),
        ];
        let tl = Timeline::from_histories(whole.keys().to_vec(), anomalies);
        let mut buf = Vec::new();
        write_index(&mut buf, "bkt", "", t(10), "listing", &tl).unwrap();
        for prefix in ["", "p/012", "p/0299", "q/"] {
            let (_, expected) = read_index(&buf[..], prefix).unwrap();
            let (joined, got) = parts(&buf, prefix);
            assert_eq!(joined.keys(), expected.keys(), "prefix {prefix:?}");
            let mut want = expected.anomalies().to_vec();
            want.sort_by(|a, b| a.key().cmp(b.key()));
            assert_eq!(joined.anomalies(), &want[..], "prefix {prefix:?}");
            for w in got.windows(2) {
                if let (Some(a), Some(b)) = (w[0].keys().last(), w[1].keys().first()) {
                    assert!(a.key < b.key, "{:?} then {:?}", a.key, b.key);
                }
            }
            for p in got.iter().filter(|p| !p.keys().is_empty()) {
                for a in p.anomalies() {
                    assert!(a.key() <= p.keys().last().unwrap().key.as_str());
                }
            }
            if prefix.is_empty() {
                // Three blocks, then the anomaly after the last key in a part of its own.
                assert_eq!(got.len(), 4);
                let last = got.last().unwrap();
                assert!(last.keys().is_empty());
                assert_eq!(last.anomalies(), &[tie("p/99999/zzz")][..]);
            }
        }
        // Version 1: one part, the timeline read whole.
        let (joined, got) = parts(&write_v1(&tl, t(10)), "");
        assert_eq!(got.len(), 1);
        assert_eq!(joined, read_index(&write_v1(&tl, t(10))[..], "").unwrap().1);
        // A damaged index fails read a part at a time too.
        let mut bad = buf.clone();
        let n = bad.len();
        bad.truncate(n - 40);
        assert!(read_index_parts(&bad[..], "", |_| Ok(())).is_err());
    }

    /// An index written a key at a time (`IndexParts`, then `assemble`) is the file
    /// `write_index` writes of the whole timeline, byte for byte; an empty one too; a
    /// key out of order is refused.
    #[test]
    fn an_index_written_a_key_at_a_time_is_the_index_written_whole() {
        let whole = large();
        let anomalies: Vec<Anomaly> = ["p/00000/ü", "p/01234/ü", "p/02999/ü"]
            .iter()
            .map(|k| Anomaly::OrderUnknown {
                key: (*k).to_owned(),
            })
            .collect();
        let tl = Timeline::from_histories(whole.keys().to_vec(), anomalies.clone());
        let written = |tl: &Timeline| {
            let mut parts = IndexParts::new(Vec::new());
            for h in tl.keys() {
                parts.push(h.clone()).unwrap();
            }
            parts.anomalies(tl.anomalies().to_vec());
            let (blocks, header) = parts.finish("bkt", "p/", t(10), "listing").unwrap();
            let mut got = Vec::new();
            assemble(&mut got, &header, &blocks[..]).unwrap();
            got
        };
        for tl in [tl, Timeline::default()] {
            let mut expected = Vec::new();
            write_index(&mut expected, "bkt", "p/", t(10), "listing", &tl).unwrap();
            assert!(written(&tl) == expected, "{} keys", tl.keys().len());
        }
        let mut parts = IndexParts::new(Vec::new());
        parts.push(whole.keys()[10].clone()).unwrap();
        assert!(parts.push(whole.keys()[10].clone()).is_err());
        assert!(parts.push(whole.keys()[5].clone()).is_err());
    }

    /// A header whose key or entry count is not the blocks' is refused, whichever of
    /// the two is wrong.
    #[test]
    fn a_header_that_miscounts_is_refused() {
        let tl = large();
        let mut buf = Vec::new();
        write_index(&mut buf, "bkt", "", t(10), "listing", &tl).unwrap();
        let entries = tl.len().to_string();
        // The same number of digits, so the header keeps its length.
        let fewer = (tl.len() - 1).to_string();
        for (from, to) in [
            ("\"keys\":3000".to_owned(), "\"keys\":2999".to_owned()),
            (
                format!("\"entries\":{entries}"),
                format!("\"entries\":{fewer}"),
            ),
        ] {
            let text = String::from_utf8_lossy(&buf).into_owned();
            let at = text.find(&from).expect("the count in the header");
            let mut bad = buf.clone();
            bad[at..at + to.len()].copy_from_slice(to.as_bytes());
            assert!(
                matches!(read_index(&bad[..], ""), Err(IndexError::Corrupt(_))),
                "{to}"
            );
            assert!(read_index_parts(&bad[..], "", |_| Ok(())).is_err(), "{to}");
        }
    }

    #[test]
    fn a_damaged_block_is_refused_never_misread() {
        let tl = large();
        let mut buf = Vec::new();
        write_index(&mut buf, "bkt", "", t(10), "listing", &tl).unwrap();
        let start = 16 + u32::from_le_bytes(buf[12..16].try_into().unwrap()) as usize;
        // Every byte of the first block head, and bytes through the data, changed one
        // at a time: an error, or (where deflate does not notice) a refusal of the
        // counts, never a different timeline.
        let mut refused = 0;
        for at in (start..start + BLOCK_HEAD)
            .chain((start + BLOCK_HEAD..buf.len()).step_by(buf.len() / 40))
        {
            let mut bad = buf.clone();
            bad[at] ^= 0x41;
            match read_index(&bad[..], "") {
                Err(_) => refused += 1,
                Ok((_, t)) => assert!(t == tl, "byte {at} changed the timeline"),
            }
        }
        assert!(refused > BLOCK_HEAD + 30, "{refused}");
    }
}
