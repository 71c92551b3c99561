//! S3 Inventory reports as the source of a timeline, instead of a listing.
//!
//! An all-versions S3 Inventory report is a `manifest.json` (with a `manifest.checksum`
//! beside it: the MD5 of the manifest) naming data files, each with its MD5. In the CSV
//! format each data file is gzip-compressed CSV without a header row; the manifest's
//! `fileSchema` names the columns (`Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size,
//! LastModifiedDate, ETag, StorageClass, …`). Keys are URL-encoded form-style (a space is
//! `+`, a literal `+` is `%2B`) and are decoded with [`form_decode`].
//!
//! # From rows to a timeline
//!
//! The rows of one key may be spread over several files, in no order. They are sorted by
//! key with bounded memory ([`EntrySorter`]: sorted runs spill to a temporary directory
//! above a threshold, then a k-way merge), and each key's entries go into the
//! [`TimelineBuilder`] as a *split* list (versions and delete markers apart), the same
//! path a listing from a server that does not interleave takes: the `IsLatest` entry
//! first whatever the timestamps, then `LastModified`, newest first, with every
//! version/delete-marker tie reported as [`Anomaly::SameSecondTie`](crate::Anomaly). An
//! inventory does not even keep the order *within* one list, so two versions (or two
//! delete markers) of one key with the same timestamp, neither of them latest, are
//! ordered by version id and the key is reported as
//! [`Anomaly::OrderUnknown`](crate::Anomaly) (its state is then ambiguous).
//!
//! # What the report must contain
//!
//! Only a report of *all* versions can answer "what was the state at T": one configured
//! with "Object versions: Current version only" has no `VersionId`, `IsLatest` or
//! `IsDeleteMarker` column and is refused ([`InventoryError::CurrentVersionsOnly`]). The
//! optional fields `Size`, `Last modified` and `ETag` are required too; `Storage class` is
//! used when present.
//!
//! Reports in the Parquet format are read too ([`parquet_report`]'s docs: the columns are
//! the same in snake case, keys are not URL-encoded, a data file is held in memory while it
//! is read); ORC is refused ([`InventoryError::UnsupportedFormat`]).
//!
//! Nothing here does network I/O: the caller opens the files (downloaded, or local) and
//! hands over readers.

use crate::error::TimelineError;
use crate::keys::{DecodeError, form_decode};
use crate::model::{ETag, Entry, ListPage, OwnerId, StorageClass, Version, VersionId};
use crate::timeline::{Anomaly, Timeline, TimelineBuilder};
use chrono::{DateTime, Utc};
use md5::Digest as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub mod parquet_report;
pub use parquet_report::{Format, read_data_file, read_parquet};

/// The report a plan's history came from, and when it was taken: a plan made from an
/// inventory shows the bucket as of `created_at`, not as of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRef {
    /// The report's `manifest.json`, as given (`s3://…` or a local path).
    pub manifest: String,
    /// The report's `creationTimestamp`.
    pub created_at: DateTime<Utc>,
}

/// An inventory report that cannot be read into a timeline. Nothing is planned from it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The manifest is not the JSON document S3 Inventory writes.
    #[error("the inventory manifest is not valid: {0}")]
    Manifest(String),
    /// `manifest.checksum` does not match `manifest.json`.
    #[error(
        "the inventory manifest's MD5 is {actual} but manifest.checksum says {expected}: the manifest is corrupt or was changed; download it again"
    )]
    ManifestChecksum {
        /// What manifest.checksum says.
        expected: String,
        /// The MD5 of the manifest as read.
        actual: String,
    },
    /// A data file's MD5 does not match the manifest.
    #[error(
        "inventory file {file} has MD5 {actual} but the manifest says {expected}: the file is corrupt or incomplete; download it again"
    )]
    FileChecksum {
        /// The file's key in the manifest.
        file: String,
        /// The MD5 in the manifest.
        expected: String,
        /// The MD5 of the bytes read.
        actual: String,
    },
    /// The report lists current versions only.
    #[error(
        "this inventory lists current versions only (its fileSchema has no {missing} column), so it cannot show the state at a past time: in the inventory configuration set \"Object versions\" to \"Include all versions\" (IncludedObjectVersions=All) and use the next report"
    )]
    CurrentVersionsOnly {
        /// The first missing version column.
        missing: String,
    },
    /// An optional field the engine needs is not in the report.
    #[error(
        "this inventory has no {column} column: add the optional field {field:?} to the inventory configuration and use the next report"
    )]
    MissingField {
        /// The column name in `fileSchema`.
        column: String,
        /// The field's name in the console.
        field: String,
    },
    /// A format other than CSV and Parquet (ORC).
    #[error(
        "inventory format {0:?} is not supported: configure the inventory with the CSV or Apache Parquet format (ORC is not read)"
    )]
    UnsupportedFormat(String),
    /// A Parquet data file (whose MD5 matched) that cannot be decoded, or whose column
    /// has another type than AWS's schema gives it.
    #[error("inventory file {file} cannot be read as an S3 Inventory Parquet file: {message}")]
    Parquet {
        /// The file's key in the manifest.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A row that does not parse.
    #[error("inventory file {file}, row {row}: {message}")]
    Row {
        /// The file's key in the manifest.
        file: String,
        /// 1-based row number.
        row: u64,
        /// What is wrong.
        message: String,
    },
    /// A key that is not valid URL-encoded UTF-8.
    #[error("inventory file {file}: {source}")]
    Key {
        /// The file's key in the manifest.
        file: String,
        /// The decoding error.
        source: DecodeError,
    },
    /// The rows do not make a timeline (a version listed twice).
    #[error("the inventory's rows do not make a timeline: {0}")]
    Timeline(#[from] TimelineError),
    /// Reading a file or the temporary sort files failed.
    #[error("reading the inventory: {0}")]
    Io(#[from] io::Error),
}

/// One data file of the report, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The file's key in the destination bucket.
    pub key: String,
    /// Its size in bytes (compressed).
    pub size: u64,
    /// The MD5 of the file's bytes, lower-case hex.
    #[serde(rename = "MD5checksum")]
    pub md5_checksum: String,
}

/// An S3 Inventory `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The bucket the report is about.
    pub source_bucket: String,
    /// The bucket the report was delivered to (an ARN).
    #[serde(default)]
    pub destination_bucket: String,
    /// The manifest format version (`2016-11-30`).
    #[serde(default)]
    pub version: String,
    /// When the report's scan of the bucket began: milliseconds since the epoch, as a
    /// string.
    pub creation_timestamp: String,
    /// `CSV`, `ORC` or `Parquet`.
    pub file_format: String,
    /// The columns: comma-separated for CSV, a Parquet message type for Parquet.
    pub file_schema: String,
    /// The data files.
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// Parse `manifest.json`, checking it against the MD5 in `manifest.checksum` when
    /// given (the checksum file's text; surrounding whitespace is ignored).
    pub fn parse(bytes: &[u8], checksum: Option<&str>) -> Result<Manifest, InventoryError> {
        if let Some(expected) = checksum {
            let expected = expected.trim().to_ascii_lowercase();
            let actual = md5_hex(bytes);
            if expected != actual {
                return Err(InventoryError::ManifestChecksum { expected, actual });
            }
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| InventoryError::Manifest(e.to_string()))?;
        m.created()?;
        Ok(m)
    }

    /// When the report's scan began (`creationTimestamp`): changes after it are not in it.
    pub fn created(&self) -> Result<DateTime<Utc>, InventoryError> {
        let ms: i64 = self.creation_timestamp.trim().parse().map_err(|_| {
            InventoryError::Manifest(format!(
                "creationTimestamp {:?} is not milliseconds since the epoch",
                self.creation_timestamp
            ))
        })?;
        DateTime::from_timestamp_millis(ms).ok_or_else(|| {
            InventoryError::Manifest(format!("creationTimestamp {ms} is out of range"))
        })
    }

    /// The report's format (`fileFormat`): CSV or Parquet; ORC is refused.
    pub fn format(&self) -> Result<Format, InventoryError> {
        Format::of(&self.file_format)
    }

    /// The columns this engine reads, located in `fileSchema`; refuses current-only
    /// reports and formats other than CSV and Parquet.
    pub fn columns(&self) -> Result<Columns, InventoryError> {
        match self.format()? {
            Format::Csv => {
                let names: Vec<&str> = self.file_schema.split(',').map(str::trim).collect();
                Columns::locate(&names, Format::Csv)
            }
            Format::Parquet => Columns::locate(
                &parquet_report::schema_names(&self.file_schema)?,
                Format::Parquet,
            ),
        }
    }
}

impl Columns {
    /// Locate the columns in a format's column `names` (CSV's `VersionId` is Parquet's
    /// `version_id`: names are compared without case and underscores); refuses
    /// current-only reports and reports without a needed field, naming the column as the
    /// format spells it.
    pub fn locate(names: &[impl AsRef<str>], format: Format) -> Result<Columns, InventoryError> {
        let plain = |n: &str| n.replace('_', "").to_ascii_lowercase();
        let names: Vec<String> = names.iter().map(|n| plain(n.as_ref())).collect();
        let find = |n: &str| names.iter().position(|c| *c == plain(n));
        for missing in ["VersionId", "IsLatest", "IsDeleteMarker"] {
            if find(missing).is_none() {
                return Err(InventoryError::CurrentVersionsOnly {
                    missing: format.column_name(missing),
                });
            }
        }
        let need = |column: &str, field: &str| {
            find(column).ok_or_else(|| InventoryError::MissingField {
                column: format.column_name(column),
                field: field.to_owned(),
            })
        };
        Ok(Columns {
            format,
            key: need("Key", "Key")?,
            version_id: need("VersionId", "Object versions")?,
            is_latest: need("IsLatest", "Object versions")?,
            is_delete_marker: need("IsDeleteMarker", "Object versions")?,
            size: need("Size", "Size")?,
            last_modified: need("LastModifiedDate", "Last modified")?,
            etag: need("ETag", "ETag")?,
            storage_class: find("StorageClass"),
            owner: find("ObjectOwner"),
            count: names.len(),
        })
    }
}

/// Where each needed column is in a data file's rows (0-based; for Parquet, among the
/// schema's leaf columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// The format the data files are in.
    pub format: Format,
    /// `Key`.
    pub key: usize,
    /// `VersionId`.
    pub version_id: usize,
    /// `IsLatest`.
    pub is_latest: usize,
    /// `IsDeleteMarker`.
    pub is_delete_marker: usize,
    /// `Size`.
    pub size: usize,
    /// `LastModifiedDate`.
    pub last_modified: usize,
    /// `ETag`.
    pub etag: usize,
    /// `StorageClass`, when the report has it.
    pub storage_class: Option<usize>,
    /// `ObjectOwner`, when the report has it.
    pub owner: Option<usize>,
    /// Number of columns in `fileSchema`.
    pub count: usize,
}

/// The MD5 of `bytes` as lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&md5::Md5::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A reader that computes the MD5 of everything read through it.
struct Md5Reader<R> {
    inner: R,
    hasher: md5::Md5,
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Read one gzip CSV data file, check its MD5 against the manifest and hand every entry
/// whose key starts with `prefix` to `sink`. Returns the number of rows read.
///
/// The MD5 is over the whole compressed file, so the entries of a corrupt file may
/// already have reached `sink` when the error comes: callers drop everything on error.
pub fn read_csv_gz<R: Read>(
    file: &ManifestFile,
    reader: R,
    columns: &Columns,
    prefix: &str,
    mut sink: impl FnMut(Entry) -> Result<(), InventoryError>,
) -> Result<u64, InventoryError> {
    let hashing = Md5Reader {
        inner: reader,
        hasher: md5::Md5::new(),
    };
    let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, hashing));
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(gz);
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    let row_err = |row: u64, message: String| InventoryError::Row {
        file: file.key.clone(),
        row,
        message,
    };
    let mut read_rows = || -> Result<(), InventoryError> {
        loop {
            match csv.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(row_err(rows + 1, e.to_string())),
            }
            rows += 1;
            if record.len() < columns.count {
                return Err(row_err(
                    rows,
                    format!(
                        "{} columns, but fileSchema names {}",
                        record.len(),
                        columns.count
                    ),
                ));
            }
            let key = form_decode(&record[columns.key]).map_err(|source| InventoryError::Key {
                file: file.key.clone(),
                source,
            })?;
            if !key.starts_with(prefix) {
                continue;
            }
            let entry = entry_of(&record, columns, key).map_err(|m| row_err(rows, m))?;
            sink(entry)?;
        }
    };
    let result = read_rows();
    // Hash the whole file, also what the decoder did not need or could not read, then
    // compare: a corrupt file is named by its checksum, whatever it decoded to.
    let mut rest = csv.into_inner().into_inner();
    let drained = io::copy(&mut rest, &mut io::sink());
    check_md5(file, hex(&rest.into_inner().hasher.finalize()))?;
    drained?;
    result?;
    Ok(rows)
}

fn entry_of(record: &csv::StringRecord, c: &Columns, key: String) -> Result<Entry, String> {
    let flag = |i: usize, name: &str| match record[i].trim() {
        "true" | "TRUE" | "True" => Ok(true),
        "false" | "FALSE" | "False" => Ok(false),
        other => Err(format!("{name} is {other:?}, not true or false")),
    };
    let delete_marker = flag(c.is_delete_marker, "IsDeleteMarker")?;
    let is_latest = flag(c.is_latest, "IsLatest")?;
    let lm = record[c.last_modified].trim();
    let last_modified = DateTime::parse_from_rfc3339(lm)
        .map_err(|e| format!("LastModifiedDate {lm:?}: {e}"))?
        .with_timezone(&Utc);
    let size = match record[c.size].trim() {
        "" => 0,
        s => s
            .parse()
            .map_err(|_| format!("Size {s:?} is not a number"))?,
    };
    Ok(RowText {
        key,
        version_id: record[c.version_id].trim(),
        last_modified,
        delete_marker,
        is_latest,
        size,
        etag: record[c.etag].trim(),
        storage_class: c.storage_class.map(|i| record[i].trim()),
        owner: c.owner.map(|i| record[i].trim()),
    }
    .entry())
}

/// `actual` (a data file's MD5, lower-case hex) is what the manifest says.
pub(crate) fn check_md5(file: &ManifestFile, actual: String) -> Result<(), InventoryError> {
    let expected = file.md5_checksum.trim().to_ascii_lowercase();
    if actual != expected {
        return Err(InventoryError::FileChecksum {
            file: file.key.clone(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// One row of a report, its strings as read (trimmed), before the rules both formats
/// share.
pub(crate) struct RowText<'a> {
    pub(crate) key: String,
    pub(crate) version_id: &'a str,
    pub(crate) last_modified: DateTime<Utc>,
    pub(crate) delete_marker: bool,
    pub(crate) is_latest: bool,
    pub(crate) size: u64,
    /// Not read for a delete marker by a reader that need not (any value is ignored).
    pub(crate) etag: &'a str,
    pub(crate) storage_class: Option<&'a str>,
    pub(crate) owner: Option<&'a str>,
}

impl RowText<'_> {
    /// The entry: an empty version id is the `null` version (objects written before
    /// versioning was enabled), a delete marker has no ETag and no storage class, empty
    /// strings are absent.
    pub(crate) fn entry(self) -> Entry {
        let dm = self.delete_marker;
        Entry {
            key: self.key,
            version: Version {
                version_id: match self.version_id {
                    "" => VersionId::NULL,
                    v => VersionId::new(v),
                },
                last_modified: self.last_modified,
                delete_marker: dm,
                etag: if dm {
                    ETag::default()
                } else {
                    ETag::new(self.etag.trim_matches('"'))
                },
                size: self.size,
                storage_class: self
                    .storage_class
                    .filter(|s| !s.is_empty() && !dm)
                    .map(StorageClass::new),
                owner_id: self.owner.filter(|s| !s.is_empty()).map(OwnerId::new),
                is_latest: self.is_latest,
            },
        }
    }
}

/// Options of the external sort.
#[derive(Debug, Clone)]
pub struct SortOptions {
    /// Entries held in memory before a sorted run is written to disk.
    pub run_entries: usize,
    /// The directory the caller gives for the runs: the sort makes one directory of its
    /// own in it, removed when the sorted entries are dropped. The engine never picks a
    /// place on disk by itself.
    pub spill_dir: PathBuf,
}

impl SortOptions {
    /// Entries held in memory before a run is spilled, unless told otherwise.
    pub const RUN_ENTRIES: usize = 250_000;

    /// The default run size, runs spilled into `spill_dir`.
    pub fn new(spill_dir: impl Into<PathBuf>) -> Self {
        SortOptions {
            run_entries: Self::RUN_ENTRIES,
            spill_dir: spill_dir.into(),
        }
    }
}

/// The order entries are grouped in: by key (UTF-8 bytes, as S3 lists), then within a
/// key the `IsLatest` entry first, then newest first, then by version id (only to be
/// deterministic: an inventory does not say which of two same-second entries is newer).
fn entry_order(a: &Entry, b: &Entry) -> Ordering {
    a.key
        .cmp(&b.key)
        .then_with(|| b.version.is_latest.cmp(&a.version.is_latest))
        .then_with(|| b.version.last_modified.cmp(&a.version.last_modified))
        .then_with(|| a.version.version_id.cmp(&b.version.version_id))
}

/// Groups entries by key with bounded memory: at most `run_entries` entries are held;
/// beyond that, sorted runs are written to a directory of its own inside the caller's
/// [`SortOptions::spill_dir`] and merged at the end.
pub struct EntrySorter {
    options: SortOptions,
    buffer: Vec<Entry>,
    dir: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
    pushed: u64,
}

impl EntrySorter {
    /// An empty sorter.
    pub fn new(options: SortOptions) -> Self {
        EntrySorter {
            buffer: Vec::new(),
            options,
            dir: None,
            runs: Vec::new(),
            pushed: 0,
        }
    }

    /// Number of entries pushed.
    pub fn len(&self) -> u64 {
        self.pushed
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Number of runs spilled to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Add one entry.
    pub fn push(&mut self, entry: Entry) -> Result<(), InventoryError> {
        if self.buffer.capacity() == 0 {
            // One allocation for every run: growing by doubling would copy each run's
            // entries several times over.
            self.buffer.reserve_exact(self.options.run_entries.max(1));
        }
        self.buffer.push(entry);
        self.pushed += 1;
        if self.buffer.len() >= self.options.run_entries.max(1) {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), InventoryError> {
        if self.dir.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("s3rewind-inventory")
                .tempdir_in(&self.options.spill_dir)?;
            self.dir = Some(dir);
        }
        let path = self
            .dir
            .as_ref()
            .expect("created above")
            .path()
            .join(format!("run-{}", self.runs.len()));
        self.buffer.sort_unstable_by(entry_order);
        let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
        for e in self.buffer.drain(..) {
            write_run_entry(&mut w, &e)?;
        }
        w.flush()?;
        self.runs.push(path);
        Ok(())
    }

    /// Every entry in grouping order (see the module docs), run by run merged.
    pub fn into_sorted(self) -> Result<SortedEntries, InventoryError> {
        EntrySorter::merge(vec![self])
    }

    /// All entries of several sorters (filled in parallel) in one order.
    pub fn merge(sorters: Vec<EntrySorter>) -> Result<SortedEntries, InventoryError> {
        let mut sources: Vec<Source> = Vec::new();
        let mut dirs = Vec::new();
        for mut sorter in sorters {
            sorter.buffer.sort_unstable_by(entry_order);
            for path in &sorter.runs {
                let r = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
                sources.push(Source::Run(r));
            }
            sources.push(Source::Memory(
                std::mem::take(&mut sorter.buffer).into_iter(),
            ));
            dirs.extend(sorter.dir);
        }
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(e) = s.next_entry()? {
                heap.push(HeapItem {
                    entry: e,
                    source: i,
                });
            }
        }
        Ok(SortedEntries {
            sources,
            heap,
            _dirs: dirs,
        })
    }
}

enum Source {
    Run(BufReader<std::fs::File>),
    Memory(std::vec::IntoIter<Entry>),
}

impl Source {
    fn next_entry(&mut self) -> Result<Option<Entry>, InventoryError> {
        match self {
            Source::Memory(it) => Ok(it.next()),
            Source::Run(r) => Ok(read_run_entry(r)?),
        }
    }
}

struct HeapItem {
    entry: Entry,
    source: usize,
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapItem {
    // BinaryHeap is a max-heap: reverse, so the smallest entry comes out first.
    fn cmp(&self, other: &Self) -> Ordering {
        entry_order(&other.entry, &self.entry).then_with(|| other.source.cmp(&self.source))
    }
}

/// The merged, sorted entries of an [`EntrySorter`]; the temporary runs are removed when
/// this is dropped.
pub struct SortedEntries {
    sources: Vec<Source>,
    heap: BinaryHeap<HeapItem>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Iterator for SortedEntries {
    type Item = Result<Entry, InventoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut top = self.heap.peek_mut()?;
        // The smallest entry leaves; the next of its source takes its place, sifted down
        // once (a pop and a push would sift twice).
        match self.sources[top.source].next_entry() {
            Ok(Some(next)) => Some(Ok(std::mem::replace(&mut top.entry, next))),
            Ok(None) => Some(Ok(PeekMut::pop(top).entry)),
            Err(e) => Some(Err(e)),
        }
    }
}

// The entry format: length-prefixed fields, little-endian. The timeline index stores it
// with its values as text (read by any process, any version of the interners); the sort's
// runs with each value in its compact form as held in memory (see `compact`), so nothing
// is parsed or interned twice: only the process that wrote a run reads it back.
fn write_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u32).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn read_str(r: &mut impl Read) -> io::Result<String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    // Grown as it is read: a corrupt length fails at the end of the input.
    let mut buf = Vec::with_capacity(len.min(1 << 16));
    r.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// How an entry's compact values are written and read back.
pub(crate) trait Values {
    fn write_id(w: &mut impl Write, id: &VersionId) -> io::Result<()>;
    fn read_id(r: &mut impl Read) -> io::Result<VersionId>;
    fn write_etag(w: &mut impl Write, etag: &ETag) -> io::Result<()>;
    fn read_etag(r: &mut impl Read) -> io::Result<ETag>;
    fn write_class(w: &mut impl Write, class: &StorageClass) -> io::Result<()>;
    fn read_class(r: &mut impl Read) -> io::Result<StorageClass>;
    fn write_owner(w: &mut impl Write, owner: &OwnerId) -> io::Result<()>;
    fn read_owner(r: &mut impl Read) -> io::Result<OwnerId>;
}

/// As text: the timeline index (its format version 1).
struct AsText;

/// As the timeline index stores them from its format version 2: ids and ETags in their
/// compact forms (only those a server's text would give are read back), storage classes
/// and owners as text.
pub(crate) struct Stored;

impl Values for Stored {
    fn write_id(w: &mut impl Write, id: &VersionId) -> io::Result<()> {
        id.write_run(w)
    }
    fn read_id(r: &mut impl Read) -> io::Result<VersionId> {
        VersionId::read_stored(r)
    }
    fn write_etag(w: &mut impl Write, etag: &ETag) -> io::Result<()> {
        etag.write_run(w)
    }
    fn read_etag(r: &mut impl Read) -> io::Result<ETag> {
        ETag::read_stored(r)
    }
    fn write_class(w: &mut impl Write, class: &StorageClass) -> io::Result<()> {
        AsText::write_class(w, class)
    }
    fn read_class(r: &mut impl Read) -> io::Result<StorageClass> {
        AsText::read_class(r)
    }
    fn write_owner(w: &mut impl Write, owner: &OwnerId) -> io::Result<()> {
        AsText::write_owner(w, owner)
    }
    fn read_owner(r: &mut impl Read) -> io::Result<OwnerId> {
        AsText::read_owner(r)
    }
}

impl Values for AsText {
    fn write_id(w: &mut impl Write, id: &VersionId) -> io::Result<()> {
        write_str(w, &id.as_str())
    }
    fn read_id(r: &mut impl Read) -> io::Result<VersionId> {
        Ok(VersionId::new(&read_str(r)?))
    }
    fn write_etag(w: &mut impl Write, etag: &ETag) -> io::Result<()> {
        write_str(w, &etag.as_str())
    }
    fn read_etag(r: &mut impl Read) -> io::Result<ETag> {
        Ok(ETag::new(&read_str(r)?))
    }
    fn write_class(w: &mut impl Write, class: &StorageClass) -> io::Result<()> {
        write_str(w, class.as_str())
    }
    fn read_class(r: &mut impl Read) -> io::Result<StorageClass> {
        Ok(StorageClass::new(&read_str(r)?))
    }
    fn write_owner(w: &mut impl Write, owner: &OwnerId) -> io::Result<()> {
        write_str(w, owner.as_str())
    }
    fn read_owner(r: &mut impl Read) -> io::Result<OwnerId> {
        Ok(OwnerId::new(&read_str(r)?))
    }
}

/// As held in memory: the sort's runs.
struct InMemory;

impl Values for InMemory {
    fn write_id(w: &mut impl Write, id: &VersionId) -> io::Result<()> {
        id.write_run(w)
    }
    fn read_id(r: &mut impl Read) -> io::Result<VersionId> {
        VersionId::read_run(r)
    }
    fn write_etag(w: &mut impl Write, etag: &ETag) -> io::Result<()> {
        etag.write_run(w)
    }
    fn read_etag(r: &mut impl Read) -> io::Result<ETag> {
        ETag::read_run(r)
    }
    fn write_class(w: &mut impl Write, class: &StorageClass) -> io::Result<()> {
        class.write_run(w)
    }
    fn read_class(r: &mut impl Read) -> io::Result<StorageClass> {
        StorageClass::read_run(r)
    }
    fn write_owner(w: &mut impl Write, owner: &OwnerId) -> io::Result<()> {
        owner.write_run(w)
    }
    fn read_owner(r: &mut impl Read) -> io::Result<OwnerId> {
        OwnerId::read_run(r)
    }
}

fn write_entry_as<V: Values>(w: &mut impl Write, e: &Entry) -> io::Result<()> {
    write_str(w, &e.key)?;
    write_version_as::<V>(w, &e.version)
}

/// An entry's version, without its key.
pub(crate) fn write_version_as<V: Values>(w: &mut impl Write, v: &Version) -> io::Result<()> {
    V::write_id(w, &v.version_id)?;
    w.write_all(&v.last_modified.timestamp().to_le_bytes())?;
    w.write_all(&v.last_modified.timestamp_subsec_nanos().to_le_bytes())?;
    let flags = u8::from(v.delete_marker)
        | (u8::from(v.is_latest) << 1)
        | (u8::from(v.storage_class.is_some()) << 2)
        | (u8::from(v.owner_id.is_some()) << 3);
    w.write_all(&[flags])?;
    V::write_etag(w, &v.etag)?;
    w.write_all(&v.size.to_le_bytes())?;
    if let Some(c) = &v.storage_class {
        V::write_class(w, c)?;
    }
    if let Some(o) = &v.owner_id {
        V::write_owner(w, o)?;
    }
    Ok(())
}

/// An entry's time (i64 seconds and u32 nanoseconds) and flags byte.
fn read_time_and_flags(r: &mut impl Read) -> io::Result<(DateTime<Utc>, u8)> {
    let mut fixed = [0u8; 13];
    r.read_exact(&mut fixed)?;
    let secs = i64::from_le_bytes(fixed[..8].try_into().expect("8 bytes"));
    let nanos = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
    let at = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "time out of range"))?;
    Ok((at, fixed[12]))
}

fn read_entry_as<V: Values>(r: &mut impl BufRead) -> io::Result<Option<Entry>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let key = read_str(r)?;
    let version = read_version_as::<V>(r)?;
    Ok(Some(Entry { key, version }))
}

/// What [`write_version_as`] wrote.
pub(crate) fn read_version_as<V: Values>(r: &mut impl Read) -> io::Result<Version> {
    let version_id = V::read_id(r)?;
    let (last_modified, flags) = read_time_and_flags(r)?;
    if flags > 15 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unknown entry flags",
        ));
    }
    let etag = V::read_etag(r)?;
    let mut size = [0u8; 8];
    r.read_exact(&mut size)?;
    let storage_class = (flags & 4 != 0).then(|| V::read_class(r)).transpose()?;
    let owner_id = (flags & 8 != 0).then(|| V::read_owner(r)).transpose()?;
    Ok(Version {
        version_id,
        last_modified,
        delete_marker: flags & 1 != 0,
        etag,
        size: u64::from_le_bytes(size),
        storage_class,
        owner_id,
        is_latest: flags & 2 != 0,
    })
}

/// Write an entry as the timeline index stored it in format version 1 (kept to test that
/// such files still read).
#[cfg(test)]
pub(crate) fn write_entry(w: &mut impl Write, e: &Entry) -> io::Result<()> {
    write_entry_as::<AsText>(w, e)
}

/// Read an entry [`write_entry`] wrote; `None` at the end.
pub(crate) fn read_entry(r: &mut impl BufRead) -> io::Result<Option<Entry>> {
    read_entry_as::<AsText>(r)
}

fn write_run_entry(w: &mut impl Write, e: &Entry) -> io::Result<()> {
    write_entry_as::<InMemory>(w, e)
}

fn read_run_entry(r: &mut impl BufRead) -> io::Result<Option<Entry>> {
    read_entry_as::<InMemory>(r)
}

/// Build the timeline from entries sorted by [`EntrySorter`]: each key's entries go in
/// as one split page (see the module docs).
pub fn timeline_from_sorted(
    sorted: impl Iterator<Item = Result<Entry, InventoryError>>,
) -> Result<Timeline, InventoryError> {
    let mut builder = TimelineBuilder::new();
    for_each_key(sorted, |group| push_key(&mut builder, group))?;
    Ok(builder.finish())
}

/// Entries of one part handed on by [`parts_from_sorted`] (about).
const PART_ENTRIES: usize = 16_384;

/// [`timeline_from_sorted`] a part at a time: every `PART_ENTRIES` (16,384) or so, the keys
/// built so far go to `part` as a timeline of their own and are dropped here. The parts
/// together are the timeline `timeline_from_sorted` builds (tested). Returns the number of
/// entries and keys.
pub fn parts_from_sorted(
    sorted: impl Iterator<Item = Result<Entry, InventoryError>>,
    mut part: impl FnMut(Timeline) -> Result<(), InventoryError>,
) -> Result<(u64, u64), InventoryError> {
    let mut builder = TimelineBuilder::new();
    let (mut entries, mut keys) = (0u64, 0u64);
    for_each_key(sorted, |group| {
        entries += group.len() as u64;
        keys += 1;
        push_key(&mut builder, group)?;
        if builder.len() >= PART_ENTRIES {
            // Every key pushed is complete (split lists: no key waits for a layout; the
            // OrderUnknown reports of ties stay, an inventory has no list order).
            part(builder.take_complete())?;
        }
        Ok(())
    })?;
    part(builder.finish())?;
    Ok((entries, keys))
}

/// Call `f` with each key's entries (the sorted stream grouped by key).
fn for_each_key(
    sorted: impl Iterator<Item = Result<Entry, InventoryError>>,
    mut f: impl FnMut(Vec<Entry>) -> Result<(), InventoryError>,
) -> Result<(), InventoryError> {
    let mut group: Vec<Entry> = Vec::new();
    for e in sorted {
        let e = e?;
        if group.first().is_some_and(|g| g.key != e.key) {
            f(std::mem::take(&mut group))?;
        }
        group.push(e);
    }
    if !group.is_empty() {
        f(group)?;
    }
    Ok(())
}

fn push_key(builder: &mut TimelineBuilder, group: Vec<Entry>) -> Result<(), InventoryError> {
    let tie = same_list_tie(&group).then(|| group[0].key.clone());
    let (delete_markers, versions) = group.into_iter().partition(|e| e.version.delete_marker);
    builder.push_page(ListPage {
        versions,
        delete_markers,
    })?;
    if let Some(key) = tie {
        builder.note(Anomaly::OrderUnknown { key });
    }
    Ok(())
}

/// Two entries of one list with one timestamp, neither the latest: their order is a
/// guess (an inventory keeps no list order). The group is sorted newest first after its
/// latest entry, so equal timestamps are contiguous.
fn same_list_tie(group: &[Entry]) -> bool {
    let mut rest = group.iter().filter(|e| !e.version.is_latest).peekable();
    while let Some(first) = rest.next() {
        let at = first.version.last_modified;
        let mut counts = [0usize; 2];
        counts[usize::from(first.version.delete_marker)] += 1;
        while let Some(e) = rest.next_if(|e| e.version.last_modified == at) {
            counts[usize::from(e.version.delete_marker)] += 1;
        }
        if counts.iter().any(|&n| n >= 2) {
            return true;
        }
    }
    false
}

/// Read a whole report into a timeline: `open` gives a reader for each data file (by
/// its manifest entry); only keys under `prefix` are kept.
pub fn load(
    manifest: &Manifest,
    prefix: &str,
    options: &SortOptions,
    open: impl Fn(&ManifestFile) -> io::Result<Box<dyn Read + Send>> + Sync,
) -> Result<Loaded, InventoryError> {
    let (sorters, rows) = read_all(manifest, prefix, options, open)?;
    let runs = sorters.iter().map(EntrySorter::spilled_runs).sum();
    let timeline = merged_beside(sorters, |sorted| timeline_from_sorted(sorted))?;
    Ok(Loaded {
        timeline,
        rows,
        spilled_runs: runs,
    })
}

/// Read every data file into sorters: the files are decompressed, parsed, sorted and
/// spilled on up to as many threads as the machine has cores (one file each at a time,
/// one sorter each); the sorters' runs are merged at the end. The order is total, so the
/// result does not depend on which file a thread read.
fn read_all(
    manifest: &Manifest,
    prefix: &str,
    options: &SortOptions,
    open: impl Fn(&ManifestFile) -> io::Result<Box<dyn Read + Send>> + Sync,
) -> Result<(Vec<EntrySorter>, u64), InventoryError> {
    let columns = manifest.columns()?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(manifest.files.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(EntrySorter, u64), InventoryError>> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..threads)
            .map(|_| {
                let (next, open, columns) = (&next, &open, &columns);
                scope.spawn(move || -> Result<(EntrySorter, u64), InventoryError> {
                    let mut sorter = EntrySorter::new(options.clone());
                    let mut rows = 0;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = manifest.files.get(i) else {
                            return Ok((sorter, rows));
                        };
                        rows +=
                            read_data_file(file, open(file)?, columns, prefix, |e| sorter.push(e))?;
                    }
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("an inventory reader panicked"))
            .collect()
    });
    let mut sorters = Vec::with_capacity(results.len());
    let mut rows = 0;
    for r in results {
        let (sorter, n) = r?;
        sorters.push(sorter);
        rows += n;
    }
    Ok((sorters, rows))
}

/// Entries sent at once from the merge to its consumer.
const MERGE_BATCH: usize = 1024;

/// `consume` the merged entries of `sorters`, the merge running on a thread of its own:
/// merging and building the timeline each take about one core.
fn merged_beside<T>(
    sorters: Vec<EntrySorter>,
    consume: impl FnOnce(
        &mut dyn Iterator<Item = Result<Entry, InventoryError>>,
    ) -> Result<T, InventoryError>,
) -> Result<T, InventoryError> {
    let sorted = EntrySorter::merge(sorters)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Entry, InventoryError>>>(8);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(MERGE_BATCH);
            for e in sorted {
                let failed = e.is_err();
                batch.push(e);
                if batch.len() == MERGE_BATCH || failed {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(MERGE_BATCH));
                    // A closed channel: the consumer has stopped (on an error of its own).
                    if tx.send(full).is_err() || failed {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        // Dropped when `consume` returns, which stops the merge if it has not ended.
        let mut entries = rx.into_iter().flatten();
        consume(&mut entries)
    })
}

/// [`load`] without holding the timeline: its parts go to `part` as they are built (see
/// [`parts_from_sorted`]).
pub fn load_parts(
    manifest: &Manifest,
    prefix: &str,
    options: &SortOptions,
    open: impl Fn(&ManifestFile) -> io::Result<Box<dyn Read + Send>> + Sync,
    part: impl FnMut(Timeline) -> Result<(), InventoryError>,
) -> Result<PartsLoaded, InventoryError> {
    let (sorters, rows) = read_all(manifest, prefix, options, open)?;
    let spilled_runs = sorters.iter().map(EntrySorter::spilled_runs).sum();
    let (entries, keys) = merged_beside(sorters, |sorted| parts_from_sorted(sorted, part))?;
    Ok(PartsLoaded {
        rows,
        entries,
        keys,
        spilled_runs,
    })
}

/// The result of [`load_parts`].
#[derive(Debug, Clone, Copy)]
pub struct PartsLoaded {
    /// Rows read from the data files (all keys, not only the prefix's).
    pub rows: u64,
    /// Versions and delete markers under the prefix.
    pub entries: u64,
    /// Keys under the prefix.
    pub keys: u64,
    /// Sorted runs spilled to disk (0 when everything fit in memory).
    pub spilled_runs: usize,
}

/// The result of [`load`].
#[derive(Debug)]
pub struct Loaded {
    /// The timeline of the keys under the prefix.
    pub timeline: Timeline,
    /// Rows read from the data files (all keys, not only the prefix's).
    pub rows: u64,
    /// Sorted runs spilled to disk (0 when everything fit in memory).
    pub spilled_runs: usize,
}

/// Characters left as they are in an inventory key: unreserved and `/`; everything else
/// is percent-encoded, and a space becomes `+` (form encoding).
const INVENTORY_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b' ');

/// Encode a key as a CSV inventory (and a Batch Operations manifest) carries it.
pub fn form_encode(key: &str) -> String {
    utf8_percent_encode(key, INVENTORY_KEY)
        .to_string()
        .replace(' ', "+")
}

/// Open a data file of a report downloaded to local disk: the manifest names files by
/// their key in the destination bucket, so look for that key under each directory above
/// the manifest (a synced copy of the bucket), then for the file's name in the
/// manifest's directory and its `data/` sibling.
pub fn local_file(manifest_path: &Path, file: &ManifestFile) -> io::Result<PathBuf> {
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let mut tried = Vec::new();
    for ancestor in dir.ancestors() {
        let p = ancestor.join(&file.key);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p);
    }
    let name = file.key.rsplit('/').next().unwrap_or(&file.key);
    for p in [
        dir.join(name),
        dir.join("data").join(name),
        dir.parent().unwrap_or(dir).join("data").join(name),
    ] {
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p);
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "inventory file {} not found beside the manifest (looked at {})",
            file.key,
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests;
