//! A saved timeline: the versioned binary file `s3rewind index` writes and `--index`
//! reads, so a bucket listed (or an inventory read) once can be planned on many times.
//!
//! # Format (version 1)
//!
//! ```text
//! magic      8 bytes  "S3RWIDX\n"
//! version    u32 LE   1
//! header     u32 LE length, then JSON: IndexHeader (bucket, prefix, created, source,
//!                     counts, anomalies)
//! entries    gzip stream of every entry in list order (key ascending, newest first),
//!            each: key, version id, time (i64 s + u32 ns), flags, ETag, size,
//!            storage class and owner when present; strings u32-length-prefixed UTF-8
//! ```
//!
//! Entries are stored in list order, so reading pushes them back as they are (no
//! reordering, no guessing): the timeline read is the timeline written, anomalies
//! included. A file of a newer format version is refused, not misread.

use crate::inventory::{read_entry, write_entry};
use crate::model::Entry;
use crate::timeline::{Anomaly, Timeline, TimelineBuilder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{self, BufReader, BufWriter, Read, Write};
use thiserror::Error;

/// The first bytes of every index file.
pub const INDEX_MAGIC: &[u8; 8] = b"S3RWIDX\n";
/// The format version this build writes and reads.
pub const INDEX_VERSION: u32 = 1;

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
        keys: timeline.keys().len() as u64,
        entries: timeline.len() as u64,
        anomalies: timeline.anomalies().to_vec(),
    };
    let json = serde_json::to_vec(&header).map_err(io::Error::other)?;
    w.write_all(INDEX_MAGIC)?;
    w.write_all(&INDEX_VERSION.to_le_bytes())?;
    w.write_all(&(json.len() as u32).to_le_bytes())?;
    w.write_all(&json)?;
    let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
    for h in timeline.keys() {
        for v in &h.entries {
            write_entry(
                &mut gz,
                &Entry {
                    key: h.key.clone(),
                    version: v.clone(),
                },
            )?;
        }
    }
    gz.finish()?.flush()
}

/// Read only the header (to check bucket, prefix and age before reading the entries).
pub fn read_header(r: &mut impl Read) -> Result<IndexHeader, IndexError> {
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
    let mut json = vec![0u8; u32::from_le_bytes(n) as usize];
    r.read_exact(&mut json)?;
    serde_json::from_slice(&json).map_err(|e| IndexError::Header(e.to_string()))
}

/// Read an index, keeping the keys under `prefix` (the index's own prefix or a longer
/// one).
pub fn read_index(r: impl Read, prefix: &str) -> Result<(IndexHeader, Timeline), IndexError> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let header = read_header(&mut r)?;
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
    b.set_anomalies(
        header
            .anomalies
            .iter()
            .filter(|a| a.key().starts_with(prefix))
            .cloned()
            .collect(),
    );
    Ok((header, b.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(
            read_index(&newer[..], ""),
            Err(IndexError::NewerVersion(2))
        ));
        let cut = &buf[..buf.len() - 30];
        assert!(read_index(cut, "").is_err());
    }
}
