//! The current objects of a range, held on disk: what the cross-check compares a listing
//! with, without holding one entry per key in memory.
//!
//! ListObjectsV2 lists a range's current objects in key order before the version listing
//! begins. At 40 million keys that list is gigabytes; here each object is written to an
//! anonymous temporary file (removed by the system when it is closed) as its page
//! arrives, and memory keeps only the first key and the file offset of every
//! [`BLOCK`]-th object, and one bit per object (named by the listing or not). A part of
//! the version listing (its keys sorted, a contiguous range of the listing) is looked up
//! by one forward read from the block its first key falls in.

use crate::bucket::CurrentObject;
use crate::error::{CliError, CliResult};
use chrono::{DateTime, Utc};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Objects per index entry.
pub const BLOCK: u64 = 256;

/// The current objects of a range in key order, on disk (see the module docs).
#[derive(Debug)]
pub struct Spilled {
    writer: Option<BufWriter<std::fs::File>>,
    file: Option<std::fs::File>,
    /// Objects written.
    len: u64,
    /// Bytes written.
    offset: u64,
    /// The key and file offset of objects 0, BLOCK, 2·BLOCK, …
    index: Vec<(String, u64)>,
    /// The last key written (keys must go strictly up).
    last: Option<String>,
    /// One bit per object: named by a part of the listing.
    matched: Vec<u64>,
}

fn io_error(e: std::io::Error) -> CliError {
    CliError::failure(format!(
        "cannot keep the ListObjectsV2 listing in a temporary file: {e}; set TMPDIR to a writable directory with room (about 100 bytes per key)"
    ))
}

impl Spilled {
    /// An empty list, backed by a new anonymous temporary file in `TMPDIR`.
    pub fn new() -> CliResult<Spilled> {
        Spilled::new_in(&std::env::temp_dir())
    }

    /// [`new`](Self::new) with the file in `dir`.
    pub fn new_in(dir: &std::path::Path) -> CliResult<Spilled> {
        let file = tempfile::tempfile_in(dir).map_err(io_error)?;
        Ok(Spilled {
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            file: None,
            len: 0,
            offset: 0,
            index: Vec::new(),
            last: None,
            matched: Vec::new(),
        })
    }

    /// Objects held.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no object is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add `o`, whose key must come after every key added so far (`Err` names the two
    /// keys otherwise: the server's paging is broken).
    pub fn push(&mut self, o: &CurrentObject) -> CliResult<Result<(), (String, String)>> {
        if let Some(last) = &self.last
            && o.key.as_str() <= last.as_str()
        {
            return Ok(Err((o.key.clone(), last.clone())));
        }
        let w = self
            .writer
            .as_mut()
            .expect("objects are added before the first lookup");
        if self.len.is_multiple_of(BLOCK) {
            self.index.push((o.key.clone(), self.offset));
        }
        let record = encode(o);
        w.write_all(&record).map_err(io_error)?;
        self.offset += record.len() as u64;
        self.len += 1;
        self.last = Some(o.key.clone());
        Ok(Ok(()))
    }

    /// Done adding: flush, and ready the lookups.
    pub fn seal(&mut self) -> CliResult<()> {
        if let Some(w) = self.writer.take() {
            let file = w.into_inner().map_err(|e| io_error(e.into_error()))?;
            self.file = Some(file);
            self.matched = vec![0; self.len.div_ceil(64) as usize];
        }
        Ok(())
    }

    fn reader_at(&self, block: usize) -> CliResult<(BufReader<&std::fs::File>, u64)> {
        let file = self.file.as_ref().expect("sealed before the first lookup");
        let mut r = BufReader::with_capacity(1 << 16, file);
        let (offset, first) = self
            .index
            .get(block)
            .map_or((self.offset, self.len), |(_, o)| (*o, block as u64 * BLOCK));
        r.seek(SeekFrom::Start(offset)).map_err(io_error)?;
        Ok((r, first))
    }

    /// The objects of `keys` (sorted, strictly up), each `None` where ListObjectsV2 lists
    /// no such key; the found ones are marked as named.
    pub fn lookup(&mut self, keys: &[&str]) -> CliResult<Vec<Option<CurrentObject>>> {
        self.seal()?;
        let mut out = Vec::with_capacity(keys.len());
        let Some(first) = keys.first() else {
            return Ok(out);
        };
        // The block the first key falls in: the last whose first key is not after it.
        let block = self
            .index
            .partition_point(|(k, _)| k.as_str() <= *first)
            .saturating_sub(1);
        let (mut r, mut ordinal) = self.reader_at(block)?;
        let mut next = read_record(&mut r, ordinal < self.len)?;
        let mut found = Vec::new();
        for key in keys {
            while next.as_ref().is_some_and(|o| o.key.as_str() < *key) {
                ordinal += 1;
                next = read_record(&mut r, ordinal < self.len)?;
            }
            match &next {
                Some(o) if o.key == *key => {
                    found.push(ordinal);
                    out.push(Some(o.clone()));
                }
                _ => out.push(None),
            }
        }
        for i in found {
            self.matched[(i / 64) as usize] |= 1 << (i % 64);
        }
        Ok(out)
    }

    /// The objects no lookup found, in key order.
    pub fn unmatched(&mut self) -> CliResult<Vec<CurrentObject>> {
        self.seal()?;
        let (mut r, _) = self.reader_at(0)?;
        let mut out = Vec::new();
        for i in 0..self.len {
            let o = read_record(&mut r, true)?.expect("a record per object");
            if self.matched[(i / 64) as usize] & (1 << (i % 64)) == 0 {
                out.push(o);
            }
        }
        Ok(out)
    }
}

/// key length (u32), key, ETag length (u32), ETag, size (u64), seconds (i64), nanoseconds
/// (u32); little-endian.
fn encode(o: &CurrentObject) -> Vec<u8> {
    let mut b = Vec::with_capacity(28 + o.key.len() + o.etag.len());
    b.extend_from_slice(&(o.key.len() as u32).to_le_bytes());
    b.extend_from_slice(o.key.as_bytes());
    b.extend_from_slice(&(o.etag.len() as u32).to_le_bytes());
    b.extend_from_slice(o.etag.as_bytes());
    b.extend_from_slice(&o.size.to_le_bytes());
    b.extend_from_slice(&o.last_modified.timestamp().to_le_bytes());
    b.extend_from_slice(&o.last_modified.timestamp_subsec_nanos().to_le_bytes());
    b
}

/// The next record, or `None` when `more` is false (past the last object).
fn read_record(r: &mut impl Read, more: bool) -> CliResult<Option<CurrentObject>> {
    if !more {
        return Ok(None);
    }
    let mut word = [0u8; 4];
    let mut long = [0u8; 8];
    let mut text = |r: &mut dyn Read| -> CliResult<String> {
        r.read_exact(&mut word).map_err(io_error)?;
        let mut s = vec![0u8; u32::from_le_bytes(word) as usize];
        r.read_exact(&mut s).map_err(io_error)?;
        String::from_utf8(s).map_err(|e| io_error(std::io::Error::other(e)))
    };
    let key = text(r)?;
    let etag = text(r)?;
    r.read_exact(&mut long).map_err(io_error)?;
    let size = u64::from_le_bytes(long);
    r.read_exact(&mut long).map_err(io_error)?;
    let secs = i64::from_le_bytes(long);
    r.read_exact(&mut word).map_err(io_error)?;
    let nanos = u32::from_le_bytes(word);
    let last_modified = DateTime::<Utc>::from_timestamp(secs, nanos)
        .ok_or_else(|| io_error(std::io::Error::other("a stamp out of range")))?;
    Ok(Some(CurrentObject {
        key,
        etag,
        size,
        last_modified,
    }))
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
            let mut s = Spilled::new().unwrap();
            for o in &objects {
                prop_assert!(s.push(o).unwrap().is_ok());
            }
            prop_assert_eq!(s.len(), objects.len() as u64);
            let mut named = std::collections::BTreeSet::new();
            for run in &probes {
                let run: Vec<&str> = run.iter().map(String::as_str).collect();
                let got = s.lookup(&run).unwrap();
                for (k, g) in run.iter().zip(&got) {
                    let want = objects.iter().find(|o| o.key == *k);
                    prop_assert_eq!(g.as_ref(), want, "{}", k);
                    if want.is_some() {
                        named.insert(k.to_string());
                    }
                }
            }
            let rest: Vec<CurrentObject> =
                objects.iter().filter(|o| !named.contains(&o.key)).cloned().collect();
            prop_assert_eq!(s.unmatched().unwrap(), rest);
        }
    }

    /// No room for the file: one line that names the temporary directory and what to do,
    /// as a failure (exit 7), before anything is listed or written.
    #[test]
    fn a_temporary_directory_that_cannot_hold_the_file_is_named() {
        let e = Spilled::new_in(std::path::Path::new("/nonexistent/s3rewind-tmp")).unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Failure);
        assert!(e.message.contains("set TMPDIR"), "{}", e.message);
        assert!(!e.message.contains('\n'), "{}", e.message);
    }

    #[test]
    fn keys_must_go_strictly_up() {
        let mut s = Spilled::new().unwrap();
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
