//! S3 Inventory reports in the Apache Parquet format: reading their data files, and
//! writing them (for tests, fixtures and the generator).
//!
//! A Parquet report's manifest has `"fileFormat": "Parquet"` and a `fileSchema` that is a
//! Parquet message type, as AWS documents it:
//!
//! ```text
//! message s3.inventory { required binary bucket (UTF8); required binary key (UTF8);
//!   optional binary version_id (UTF8); optional boolean is_latest;
//!   optional boolean is_delete_marker; optional int64 size;
//!   optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8);
//!   optional binary storage_class (UTF8); … optional binary object_owner (UTF8); }
//! ```
//!
//! (reports written since also spell the annotations `(STRING)` and
//! `(TIMESTAMP(MILLIS,true))`; both parse). The columns are those of the CSV format in
//! snake case (`version_id` for `VersionId`, `e_tag` for `ETag`), so they are located by the
//! same rules ([`Columns::locate`]): a current-versions-only schema is refused with
//! [`InventoryError::CurrentVersionsOnly`], a missing `size`, `last_modified_date` or
//! `e_tag` with [`InventoryError::MissingField`]. Each data file's columns are located
//! again in the file's own schema, by name, so a file whose columns are in another order
//! than `fileSchema` says is still read right.
//!
//! Unlike CSV, **keys are not URL-encoded** in Parquet (AWS: "When using the CSV file
//! format, the key name is URL-encoded and must be decoded before you can use it"): they
//! are taken as they are. AWS compresses the files with Snappy; gzip and uncompressed
//! files read too (a file in another codec fails with an error naming the file: brotli,
//! lz4 and zstd are not built in).
//!
//! A Parquet file is read from its footer, so it cannot be streamed: [`read_parquet`]
//! reads the whole data file into memory and checks its MD5 against the manifest
//! *before* decoding a row, then hands the rows on a few thousand at a time. Reading a
//! report therefore holds one data file per reader thread (the files are read on one
//! thread per core) besides the sort's runs.

use super::{Columns, Entry, InventoryError, ManifestFile, RowText, md5_hex, read_csv_gz};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{BoolType, ByteArrayType, DataType, Int64Type};
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::schema::types::{ColumnDescriptor, SchemaDescriptor};
use std::io::Read;
use std::sync::Arc;

/// The file format of a report, from its manifest's `fileFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Gzip-compressed CSV without a header; keys URL-encoded (form style).
    Csv,
    /// Apache Parquet (Snappy-compressed); keys as they are.
    Parquet,
}

impl Format {
    /// The format a manifest's `fileFormat` names; ORC (and anything else) is refused
    /// with [`InventoryError::UnsupportedFormat`].
    pub fn of(file_format: &str) -> Result<Format, InventoryError> {
        if file_format.eq_ignore_ascii_case("CSV") {
            Ok(Format::Csv)
        } else if file_format.eq_ignore_ascii_case("Parquet") {
            Ok(Format::Parquet)
        } else {
            Err(InventoryError::UnsupportedFormat(file_format.to_owned()))
        }
    }

    /// How this format spells a column of the CSV format's `fileSchema` (`VersionId`):
    /// as it is in CSV, in snake case in Parquet (`version_id`, `e_tag`).
    pub fn column_name(self, csv_name: &str) -> String {
        match self {
            Format::Csv => csv_name.to_owned(),
            Format::Parquet => {
                let mut s = String::with_capacity(csv_name.len() + 4);
                for (i, c) in csv_name.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        s.push('_');
                    }
                    s.push(c.to_ascii_lowercase());
                }
                s
            }
        }
    }
}

/// The column names of a Parquet `fileSchema` (a message type), in order.
pub(super) fn schema_names(file_schema: &str) -> Result<Vec<String>, InventoryError> {
    let schema = parquet::schema::parser::parse_message_type(file_schema).map_err(|e| {
        InventoryError::Manifest(format!(
            "its fileSchema is not a Parquet message type ({e}): {file_schema:?}"
        ))
    })?;
    let descr = SchemaDescriptor::new(Arc::new(schema));
    Ok(leaf_names(&descr))
}

/// Leaf column names; a nested column gets its dotted path, which matches no inventory
/// column.
fn leaf_names(descr: &SchemaDescriptor) -> Vec<String> {
    descr.columns().iter().map(|c| c.path().string()).collect()
}

/// Read one data file of the report in the manifest's format and hand every entry whose
/// key starts with `prefix` to `sink`; returns the number of rows read.
///
/// The file's MD5 is checked against the manifest: for CSV while it streams (so a
/// corrupt file's entries may already have reached `sink`), for Parquet before any row
/// is decoded. Callers drop everything on error.
pub fn read_data_file<R: Read>(
    file: &ManifestFile,
    reader: R,
    columns: &Columns,
    prefix: &str,
    sink: impl FnMut(Entry) -> Result<(), InventoryError>,
) -> Result<u64, InventoryError> {
    match columns.format {
        Format::Csv => read_csv_gz(file, reader, columns, prefix, sink),
        Format::Parquet => read_parquet(file, reader, prefix, sink),
    }
}

/// Rows decoded per batch (per column) before they become entries.
const BATCH_ROWS: usize = 4_096;

/// Read one Parquet data file: the whole file into memory, its MD5 checked against the
/// manifest, then its row groups a batch at a time. Every entry whose key starts with
/// `prefix` goes to `sink`; returns the number of rows read. The columns are located in
/// the file's own schema, by name.
pub fn read_parquet<R: Read>(
    file: &ManifestFile,
    mut reader: R,
    prefix: &str,
    mut sink: impl FnMut(Entry) -> Result<(), InventoryError>,
) -> Result<u64, InventoryError> {
    // The manifest's size is a hint only (a corrupt manifest cannot make this allocate
    // more than 1 GiB ahead of the bytes).
    let mut bytes = Vec::with_capacity(usize::try_from(file.size.min(1 << 30)).unwrap_or(0));
    reader.read_to_end(&mut bytes)?;
    super::check_md5(file, md5_hex(&bytes))?;
    let bad = |e: &dyn std::fmt::Display| InventoryError::Parquet {
        file: file.key.clone(),
        message: e.to_string(),
    };
    let parquet = SerializedFileReader::new(Bytes::from(bytes)).map_err(|e| bad(&e))?;
    let schema = parquet.metadata().file_metadata().schema_descr_ptr();
    let columns = Columns::locate(&leaf_names(&schema), Format::Parquet)?;
    let time_unit = time_unit(&schema.column(columns.last_modified)).map_err(|e| bad(&e))?;
    let mut rows = 0u64;
    for g in 0..parquet.num_row_groups() {
        let group = parquet.get_row_group(g).map_err(|e| bad(&e))?;
        let mut cols = GroupColumns::open(group.as_ref(), &columns).map_err(|e| bad(&e))?;
        let mut left = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        while left > 0 {
            let n = left.min(BATCH_ROWS);
            cols.fill(n).map_err(|e| bad(&e))?;
            for i in 0..n {
                rows += 1;
                let key = cols
                    .key(i)
                    .map_err(|message| row_error(file, rows, message))?;
                if !key.starts_with(prefix) {
                    continue;
                }
                let entry = cols
                    .entry(i, key.to_owned(), time_unit)
                    .map_err(|message| row_error(file, rows, message))?;
                sink(entry)?;
            }
            left -= n;
        }
    }
    Ok(rows)
}

fn row_error(file: &ManifestFile, row: u64, message: String) -> InventoryError {
    InventoryError::Row {
        file: file.key.clone(),
        row,
        message,
    }
}

/// The unit of the `last_modified_date` column: an INT64 timestamp (AWS writes
/// milliseconds).
fn time_unit(c: &ColumnDescriptor) -> Result<TimeUnit, String> {
    if c.physical_type() != PhysicalType::INT64 {
        return Err(format!(
            "column {} is {}, not an int64 timestamp",
            c.name(),
            c.physical_type()
        ));
    }
    match (c.logical_type_ref(), c.converted_type()) {
        (Some(LogicalType::Timestamp(t)), _) => Ok(t.unit),
        (_, ConvertedType::TIMESTAMP_MILLIS) => Ok(TimeUnit::MILLIS),
        (_, ConvertedType::TIMESTAMP_MICROS) => Ok(TimeUnit::MICROS),
        _ => Err(format!(
            "column {} is an int64 without a timestamp annotation (TIMESTAMP_MILLIS expected)",
            c.name()
        )),
    }
}

/// One column of a row group, read a batch at a time: `out[i]` is row `i` of the batch
/// (`None` for a null).
struct Column<T: DataType> {
    reader: ColumnReaderImpl<T>,
    max_def: i16,
    defs: Vec<i16>,
    values: Vec<T::T>,
    out: Vec<Option<T::T>>,
}

impl<T: DataType> Column<T> {
    fn fill(&mut self, n: usize) -> parquet::errors::Result<()> {
        self.defs.clear();
        self.values.clear();
        self.out.clear();
        let mut got = 0;
        while got < n {
            let (records, _, _) =
                self.reader
                    .read_records(n - got, Some(&mut self.defs), None, &mut self.values)?;
            if records == 0 {
                return Err(parquet::errors::ParquetError::EOF(format!(
                    "a column ends after {got} of {n} rows"
                )));
            }
            got += records;
        }
        if self.max_def == 0 {
            self.out.extend(self.values.drain(..).map(Some));
        } else {
            let mut values = self.values.drain(..);
            for &d in &self.defs {
                self.out.push(if d == self.max_def {
                    values.next()
                } else {
                    None
                });
            }
        }
        Ok(())
    }
}

/// Open column `i` of a row group as a `T` column, or say which type it has instead.
fn open<T: DataType>(
    group: &dyn RowGroupReader,
    i: usize,
    take: impl FnOnce(ColumnReader) -> Option<ColumnReaderImpl<T>>,
) -> Result<Column<T>, String> {
    let descr = group.metadata().column(i).column_descr_ptr();
    if descr.max_rep_level() != 0 {
        return Err(format!("column {} is repeated", descr.path()));
    }
    let reader = group.get_column_reader(i).map_err(|e| e.to_string())?;
    let reader = take(reader).ok_or_else(|| {
        format!(
            "column {} is {}, not {}",
            descr.path(),
            descr.physical_type(),
            T::get_physical_type()
        )
    })?;
    Ok(Column {
        reader,
        max_def: descr.max_def_level(),
        defs: Vec::new(),
        values: Vec::new(),
        out: Vec::new(),
    })
}

fn bytes(r: ColumnReader) -> Option<ColumnReaderImpl<ByteArrayType>> {
    match r {
        ColumnReader::ByteArrayColumnReader(r) => Some(r),
        _ => None,
    }
}

fn bool(r: ColumnReader) -> Option<ColumnReaderImpl<BoolType>> {
    match r {
        ColumnReader::BoolColumnReader(r) => Some(r),
        _ => None,
    }
}

fn int64(r: ColumnReader) -> Option<ColumnReaderImpl<Int64Type>> {
    match r {
        ColumnReader::Int64ColumnReader(r) => Some(r),
        _ => None,
    }
}

/// The columns this engine reads, of one row group.
struct GroupColumns {
    key: Column<ByteArrayType>,
    version_id: Column<ByteArrayType>,
    is_latest: Column<BoolType>,
    is_delete_marker: Column<BoolType>,
    size: Column<Int64Type>,
    last_modified: Column<Int64Type>,
    etag: Column<ByteArrayType>,
    storage_class: Option<Column<ByteArrayType>>,
    owner: Option<Column<ByteArrayType>>,
}

impl GroupColumns {
    fn open(group: &dyn RowGroupReader, c: &Columns) -> Result<GroupColumns, String> {
        Ok(GroupColumns {
            key: open(group, c.key, bytes)?,
            version_id: open(group, c.version_id, bytes)?,
            is_latest: open(group, c.is_latest, bool)?,
            is_delete_marker: open(group, c.is_delete_marker, bool)?,
            size: open(group, c.size, int64)?,
            last_modified: open(group, c.last_modified, int64)?,
            etag: open(group, c.etag, bytes)?,
            storage_class: c.storage_class.map(|i| open(group, i, bytes)).transpose()?,
            owner: c.owner.map(|i| open(group, i, bytes)).transpose()?,
        })
    }

    fn fill(&mut self, n: usize) -> parquet::errors::Result<()> {
        self.key.fill(n)?;
        self.version_id.fill(n)?;
        self.is_latest.fill(n)?;
        self.is_delete_marker.fill(n)?;
        self.size.fill(n)?;
        self.last_modified.fill(n)?;
        self.etag.fill(n)?;
        if let Some(c) = &mut self.storage_class {
            c.fill(n)?;
        }
        if let Some(c) = &mut self.owner {
            c.fill(n)?;
        }
        Ok(())
    }

    /// Row `i`'s key, exactly as stored (not URL-encoded in Parquet).
    fn key(&self, i: usize) -> Result<&str, String> {
        let key = self.key.out[i].as_ref().ok_or("key is null")?;
        std::str::from_utf8(key.data()).map_err(|_| "key is not UTF-8".to_owned())
    }

    /// Row `i` as an entry, by the rules of the CSV format (see `entry_of`): a null or
    /// empty version id is the `null` version, a null size is 0, a delete marker has no
    /// ETag and no storage class, empty strings are absent.
    fn entry(&self, i: usize, key: String, unit: TimeUnit) -> Result<Entry, String> {
        let flag = |c: &Column<BoolType>, name: &str| {
            c.out[i].ok_or_else(|| format!("{name} is null, not true or false"))
        };
        let delete_marker = flag(&self.is_delete_marker, "is_delete_marker")?;
        let is_latest = flag(&self.is_latest, "is_latest")?;
        let version_id = text(&self.version_id, i, "version_id")?;
        let lm = self.last_modified.out[i].ok_or("last_modified_date is null")?;
        let last_modified = match unit {
            TimeUnit::MILLIS => DateTime::<Utc>::from_timestamp_millis(lm),
            TimeUnit::MICROS => DateTime::<Utc>::from_timestamp_micros(lm),
            TimeUnit::NANOS => Some(DateTime::<Utc>::from_timestamp_nanos(lm)),
        }
        .ok_or_else(|| format!("last_modified_date {lm} is out of range"))?;
        let size = match self.size.out[i] {
            None => 0,
            Some(s) => u64::try_from(s).map_err(|_| format!("size {s} is negative"))?,
        };
        Ok(RowText {
            key,
            version_id,
            last_modified,
            delete_marker,
            is_latest,
            size,
            etag: match delete_marker {
                true => "",
                false => text(&self.etag, i, "e_tag")?,
            },
            storage_class: match &self.storage_class {
                Some(c) if !delete_marker => Some(text(c, i, "storage_class")?),
                _ => None,
            },
            owner: match &self.owner {
                Some(c) => Some(text(c, i, "object_owner")?),
                None => None,
            },
        }
        .entry())
    }
}

/// Row `i` of a string column, trimmed (as the CSV reader trims); a null is empty.
fn text<'a>(c: &'a Column<ByteArrayType>, i: usize, name: &str) -> Result<&'a str, String> {
    match &c.out[i] {
        None => Ok(""),
        Some(b) => std::str::from_utf8(b.data())
            .map(str::trim)
            .map_err(|_| format!("{name} is not UTF-8")),
    }
}
