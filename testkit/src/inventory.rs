//! Inventory reports written in S3's layout, CSV or Parquet, for tests, fixtures and the
//! inventory generator: what the engine reads ([`s3rewind_engine::inventory`]), written
//! from a history. Test data, so it lives here and not in the engine.

use chrono::{DateTime, Utc};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int64Type};
use s3rewind_engine::Entry;
use s3rewind_engine::inventory::{Format, Manifest, ManifestFile, form_encode, md5_hex};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The fileSchema [`ReportWriter`] writes: the required columns, the storage class and
/// the owner.
pub const WRITER_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, ObjectOwner";

/// Writes an all-versions CSV inventory report in S3's layout (for tests, fixtures and
/// the generator): gzip CSV data files under `data/`, then `manifest.json` and
/// `manifest.checksum` in the report's directory.
pub struct ReportWriter {
    root: PathBuf,
    bucket: String,
    prefix: String,
    files: Vec<ManifestFile>,
    current: Option<(
        PathBuf,
        String,
        csv::Writer<flate2::write::GzEncoder<std::fs::File>>,
    )>,
}

impl ReportWriter {
    /// A report for `bucket` under the local directory `root`, laid out as S3 delivers
    /// it: data files at `root/<prefix>data/…`, the manifest at
    /// `root/<prefix><stamp>/manifest.json`.
    pub fn new(root: &Path, bucket: &str, prefix: &str) -> Self {
        ReportWriter {
            root: root.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            files: Vec::new(),
            current: None,
        }
    }

    /// Start a new data file (the next rows go into it).
    pub fn new_file(&mut self) -> io::Result<()> {
        self.close_file()?;
        let key = format!("{}data/part-{:05}.csv.gz", self.prefix, self.files.len());
        let path = self.root.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path)?,
            flate2::Compression::fast(),
        );
        let w = csv::WriterBuilder::new()
            .has_headers(false)
            .quote_style(csv::QuoteStyle::Always)
            .from_writer(gz);
        self.current = Some((path, key, w));
        Ok(())
    }

    /// Write one row to the current file.
    pub fn write(&mut self, e: &Entry) -> io::Result<()> {
        if self.current.is_none() {
            self.new_file()?;
        }
        let (_, _, w) = self.current.as_mut().expect("opened above");
        let v = &e.version;
        let lm = v
            .last_modified
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let size = if v.delete_marker {
            String::new()
        } else {
            v.size.to_string()
        };
        let (id, etag) = (v.version_id.as_str(), v.etag.as_str());
        w.write_record([
            self.bucket.as_str(),
            &form_encode(&e.key),
            if v.version_id.is_null() { "" } else { &id },
            if v.is_latest { "true" } else { "false" },
            if v.delete_marker { "true" } else { "false" },
            &size,
            &lm,
            &etag,
            v.storage_class.as_ref().map_or("", |c| c.as_str()),
            v.owner_id.as_deref().unwrap_or(""),
        ])
        .map_err(io::Error::other)
    }

    fn close_file(&mut self) -> io::Result<()> {
        if let Some((path, key, w)) = self.current.take() {
            let gz = w
                .into_inner()
                .map_err(|e| io::Error::other(e.to_string()))?;
            gz.finish()?;
            self.files.push(written_file(&path, key)?);
        }
        Ok(())
    }

    /// Close the last file and write the manifest and its checksum; returns the
    /// manifest's path.
    pub fn finish(mut self, created: DateTime<Utc>) -> io::Result<PathBuf> {
        self.close_file()?;
        let manifest = report_manifest(&self.bucket, created, "CSV", WRITER_SCHEMA, self.files);
        write_manifest(&self.root, &self.prefix, created, &manifest)
    }
}

/// A data file just written, as its manifest names it (size and MD5 of its bytes).
fn written_file(path: &Path, key: String) -> io::Result<ManifestFile> {
    let bytes = std::fs::read(path)?;
    Ok(ManifestFile {
        key,
        size: bytes.len() as u64,
        md5_checksum: md5_hex(&bytes),
    })
}

/// The manifest of a report written here, in AWS's layout.
fn report_manifest(
    bucket: &str,
    created: DateTime<Utc>,
    format: &str,
    schema: &str,
    files: Vec<ManifestFile>,
) -> Manifest {
    Manifest {
        source_bucket: bucket.to_owned(),
        destination_bucket: "arn:aws:s3:::inventory-destination".to_owned(),
        version: "2016-11-30".to_owned(),
        creation_timestamp: created.timestamp_millis().to_string(),
        file_format: format.to_owned(),
        file_schema: schema.to_owned(),
        files,
    }
}

/// Write `manifest` and its checksum where S3 delivers them for a report taken at
/// `created` (`root/<prefix><stamp>/manifest.json`); returns the manifest's path.
fn write_manifest(
    root: &Path,
    prefix: &str,
    created: DateTime<Utc>,
    manifest: &Manifest,
) -> io::Result<PathBuf> {
    let dir = root
        .join(prefix)
        .join(created.format("%Y-%m-%dT%H-%MZ").to_string());
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    std::fs::write(dir.join("manifest.checksum"), md5_hex(&json))?;
    let path = dir.join("manifest.json");
    std::fs::write(&path, json)?;
    Ok(path)
}

/// The `fileSchema` [`ParquetReportWriter`] writes: AWS's all-versions schema with the
/// fields this engine reads (and the owner).
pub const PARQUET_WRITER_SCHEMA: &str = "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); optional binary object_owner (UTF8); }";

/// Rows per row group [`ParquetReportWriter`] writes.
const ROW_GROUP_ROWS: usize = 65_536;

/// Writes an all-versions Parquet inventory report in S3's layout (for tests, fixtures
/// and the generator): Snappy-compressed Parquet data files under `data/` in the schema
/// [`PARQUET_WRITER_SCHEMA`], keys as they are, then `manifest.json` and
/// `manifest.checksum` in the report's directory. The same calls as
/// [`ReportWriter`](ReportWriter), which writes CSV.
pub struct ParquetReportWriter {
    root: PathBuf,
    bucket: String,
    prefix: String,
    schema: parquet::schema::types::TypePtr,
    files: Vec<ManifestFile>,
    current: Option<(
        PathBuf,
        String,
        parquet::file::writer::SerializedFileWriter<std::fs::File>,
    )>,
    rows: Vec<Entry>,
}

impl ParquetReportWriter {
    /// A report for `bucket` under the local directory `root`, laid out as S3 delivers
    /// it: data files at `root/<prefix>data/…`, the manifest at
    /// `root/<prefix><stamp>/manifest.json`.
    pub fn new(root: &Path, bucket: &str, prefix: &str) -> Self {
        let schema = parquet::schema::parser::parse_message_type(PARQUET_WRITER_SCHEMA)
            .expect("the writer's schema parses");
        ParquetReportWriter {
            root: root.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            schema: Arc::new(schema),
            files: Vec::new(),
            current: None,
            rows: Vec::new(),
        }
    }

    /// Start a new data file (the next rows go into it).
    pub fn new_file(&mut self) -> io::Result<()> {
        self.close_file()?;
        let key = format!("{}data/part-{:05}.parquet", self.prefix, self.files.len());
        let path = self.root.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let w = parquet::file::writer::SerializedFileWriter::new(
            std::fs::File::create(&path)?,
            self.schema.clone(),
            Arc::new(props),
        )
        .map_err(io::Error::other)?;
        self.current = Some((path, key, w));
        Ok(())
    }

    /// Write one row to the current file.
    pub fn write(&mut self, e: &Entry) -> io::Result<()> {
        if self.current.is_none() {
            self.new_file()?;
        }
        self.rows.push(e.clone());
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Write the buffered rows as one row group of the current file.
    fn flush_group(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let (_, _, w) = self.current.as_mut().expect("a file is open");
        write_group(w, &self.bucket, &rows).map_err(io::Error::other)
    }

    fn close_file(&mut self) -> io::Result<()> {
        self.flush_group()?;
        if let Some((path, key, w)) = self.current.take() {
            w.close().map_err(io::Error::other)?;
            self.files.push(written_file(&path, key)?);
        }
        Ok(())
    }

    /// Close the last file and write the manifest and its checksum; returns the
    /// manifest's path.
    pub fn finish(mut self, created: DateTime<Utc>) -> io::Result<PathBuf> {
        self.close_file()?;
        let manifest = report_manifest(
            &self.bucket,
            created,
            "Parquet",
            PARQUET_WRITER_SCHEMA,
            self.files,
        );
        write_manifest(&self.root, &self.prefix, created, &manifest)
    }
}

/// Write `rows` as one row group, column by column in [`PARQUET_WRITER_SCHEMA`]'s
/// order; a null is a definition level of 0.
fn write_group(
    w: &mut parquet::file::writer::SerializedFileWriter<std::fs::File>,
    bucket: &str,
    rows: &[Entry],
) -> parquet::errors::Result<()> {
    let mut group = w.next_row_group()?;
    let text = |s: &str| ByteArray::from(s.as_bytes().to_vec());
    // Optional columns: the present values and a definition level per row.
    fn optional<T>(rows: &[Entry], f: impl Fn(&Entry) -> Option<T>) -> (Vec<T>, Vec<i16>) {
        let mut values = Vec::with_capacity(rows.len());
        let mut defs = Vec::with_capacity(rows.len());
        for e in rows {
            match f(e) {
                Some(v) => {
                    values.push(v);
                    defs.push(1);
                }
                None => defs.push(0),
            }
        }
        (values, defs)
    }
    let buckets: Vec<ByteArray> = rows.iter().map(|_| text(bucket)).collect();
    let keys: Vec<ByteArray> = rows.iter().map(|e| text(&e.key)).collect();
    let ids = optional(rows, |e| {
        (!e.version.version_id.is_null()).then(|| text(&e.version.version_id.as_str()))
    });
    let latest = optional(rows, |e| Some(e.version.is_latest));
    let markers = optional(rows, |e| Some(e.version.delete_marker));
    let sizes = optional(rows, |e| {
        (!e.version.delete_marker).then(|| i64::try_from(e.version.size).unwrap_or(i64::MAX))
    });
    let times = optional(rows, |e| Some(e.version.last_modified.timestamp_millis()));
    let etags = optional(rows, |e| {
        (!e.version.delete_marker).then(|| text(&e.version.etag.as_str()))
    });
    let classes = optional(rows, |e| {
        e.version.storage_class.as_ref().map(|c| text(c.as_str()))
    });
    let owners = optional(rows, |e| e.version.owner_id.as_deref().map(text));
    let mut i = 0;
    while let Some(mut col) = group.next_column()? {
        match i {
            0 => col
                .typed::<ByteArrayType>()
                .write_batch(&buckets, None, None)?,
            1 => col
                .typed::<ByteArrayType>()
                .write_batch(&keys, None, None)?,
            2 => write_optional::<ByteArrayType>(&mut col, &ids)?,
            3 => write_optional::<BoolType>(&mut col, &latest)?,
            4 => write_optional::<BoolType>(&mut col, &markers)?,
            5 => write_optional::<Int64Type>(&mut col, &sizes)?,
            6 => write_optional::<Int64Type>(&mut col, &times)?,
            7 => write_optional::<ByteArrayType>(&mut col, &etags)?,
            8 => write_optional::<ByteArrayType>(&mut col, &classes)?,
            _ => write_optional::<ByteArrayType>(&mut col, &owners)?,
        };
        col.close()?;
        i += 1;
    }
    group.close()?;
    Ok(())
}

/// Writes an all-versions report in either format with the same calls (tests, fixtures
/// and the generator write one history both ways).
pub trait WriteReport {
    /// Start a new data file (the next rows go into it).
    fn new_file(&mut self) -> io::Result<()>;
    /// Write one row to the current file.
    fn write(&mut self, e: &Entry) -> io::Result<()>;
    /// Close the last file and write the manifest and its checksum; returns the
    /// manifest's path.
    fn finish(self: Box<Self>, created: DateTime<Utc>) -> io::Result<PathBuf>;
}

impl WriteReport for ReportWriter {
    fn new_file(&mut self) -> io::Result<()> {
        ReportWriter::new_file(self)
    }
    fn write(&mut self, e: &Entry) -> io::Result<()> {
        ReportWriter::write(self, e)
    }
    fn finish(self: Box<Self>, created: DateTime<Utc>) -> io::Result<PathBuf> {
        ReportWriter::finish(*self, created)
    }
}

impl WriteReport for ParquetReportWriter {
    fn new_file(&mut self) -> io::Result<()> {
        ParquetReportWriter::new_file(self)
    }
    fn write(&mut self, e: &Entry) -> io::Result<()> {
        ParquetReportWriter::write(self, e)
    }
    fn finish(self: Box<Self>, created: DateTime<Utc>) -> io::Result<PathBuf> {
        ParquetReportWriter::finish(*self, created)
    }
}

/// A writer of a report in `format` for `bucket` under `root` (see
/// [`ReportWriter::new`](ReportWriter::new)).
pub fn report_writer(
    format: Format,
    root: &Path,
    bucket: &str,
    prefix: &str,
) -> Box<dyn WriteReport> {
    match format {
        Format::Csv => Box::new(ReportWriter::new(root, bucket, prefix)),
        Format::Parquet => Box::new(ParquetReportWriter::new(root, bucket, prefix)),
    }
}

fn write_optional<T: DataType>(
    col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    (values, defs): &(Vec<T::T>, Vec<i16>),
) -> parquet::errors::Result<usize> {
    col.typed::<T>().write_batch(values, Some(defs), None)
}
