//! S3 Inventory reports in Parquet read exactly as the same reports in CSV.
//!
//! The property writes one random set of entries (awkward keys that CSV must URL-encode
//! and Parquet carries as they are, `null` version ids, delete markers, same-millisecond
//! ties, owners and storage classes) as a CSV report and as a Parquet report in AWS's
//! schema, shuffled and split over several files, and reads both: the timelines, their
//! anomalies and the row counts are identical, and hold exactly the entries written.
//! The cases around it: a corrupt Parquet file fails its MD5 before any row is trusted;
//! a current-versions-only schema, a schema without `e_tag` (in the manifest or in a
//! file) and a column of the wrong type are refused; ORC is refused naming both formats
//! that are read; AWS's documented manifests (old and new annotation spellings) locate
//! their columns.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use s3rewind_engine::inventory::{
    self, Format, InventoryError, Loaded, Manifest, ManifestFile, SortOptions, md5_hex,
};
use s3rewind_engine::{ETag, Entry, OwnerId, StorageClass, Timeline, Version, VersionId};
use s3rewind_testkit::inventory::{PARQUET_WRITER_SCHEMA, report_writer};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
}

/// Keys a CSV report must URL-encode (`+`, `%`, spaces, quotes, separators, unicode) and
/// a Parquet report carries as they are.
const KEYS: [&str; 12] = [
    "plain.txt",
    "a+b.txt",
    "a b.txt",
    "100%.csv",
    "%2B literally",
    "x+y z%20w",
    "dir/ü-ñ/日本.txt",
    "emoji 🦀/+",
    "tab\there,comma\"quote",
    " leading and trailing ",
    "line\nbreak",
    "dir/",
];

/// One random entry of a key: (delete marker, null version id, ms offset, etag kind,
/// size, storage class, owner).
type Draw = (bool, bool, i64, u8, u64, u8, bool);

fn draws() -> impl Strategy<Value = Vec<(usize, Vec<Draw>)>> {
    let entry = (
        proptest::bool::weighted(0.25),
        proptest::bool::weighted(0.15),
        // Steps of 250 ms over 4 s: same-millisecond and same-second ties are common.
        (0..16i64).prop_map(|s| s * 250),
        0..4u8,
        0..(1u64 << 40),
        0..3u8,
        any::<bool>(),
    );
    proptest::collection::vec(
        (0..KEYS.len(), proptest::collection::vec(entry, 1..6)),
        1..12,
    )
}

/// The entries the draws describe: unique version ids per key (one `null` at most), the
/// newest entry of each key marked latest, delete markers without ETag, size or class.
fn entries(draws: &[(usize, Vec<Draw>)]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (n, (k, list)) in draws.iter().enumerate() {
        if !seen.insert(*k) {
            continue;
        }
        let mut null_used = false;
        let mut key_entries: Vec<Entry> = list
            .iter()
            .enumerate()
            .map(|(j, &(dm, null, ms, etag, size, class, owner))| {
                let version_id = if null && !null_used {
                    null_used = true;
                    VersionId::NULL
                } else {
                    VersionId::new(&format!("v{n}.{j}_{}", "Ab9".repeat(j)))
                };
                Entry {
                    key: KEYS[*k].to_owned(),
                    version: Version {
                        version_id,
                        last_modified: t(ms),
                        delete_marker: dm,
                        etag: match (dm, etag) {
                            (true, _) | (false, 0) => ETag::default(),
                            (false, 1) => ETag::new(&format!("{:032x}", size)),
                            (false, 2) => ETag::new(&format!("{:032x}-{}", size, j + 2)),
                            _ => ETag::new("not an md5"),
                        },
                        size: if dm { 0 } else { size },
                        storage_class: match (dm, class) {
                            (false, 1) => Some(StorageClass::standard()),
                            (false, 2) => Some(StorageClass::new("GLACIER")),
                            _ => None,
                        },
                        owner_id: owner.then(|| OwnerId::new("75aa57f09aa0c8caeab4f8c24e99d10f")),
                        is_latest: false,
                    },
                }
            })
            .collect();
        // The newest (the last of equals) is the latest, as S3 marks it.
        let newest = (0..key_entries.len())
            .max_by_key(|&i| key_entries[i].version.last_modified)
            .unwrap();
        key_entries[newest].version.is_latest = true;
        out.extend(key_entries);
    }
    out
}

/// Write `rows` as a report in `format` under `dir`, in `files` data files; returns the
/// manifest's path.
fn write(format: Format, dir: &Path, rows: &[Entry], files: usize) -> PathBuf {
    let mut w = report_writer(format, dir, "src-bucket", "inv/src-bucket/all/");
    let per = rows.len().div_ceil(files.max(1)).max(1);
    for chunk in rows.chunks(per) {
        w.new_file().unwrap();
        for e in chunk {
            w.write(e).unwrap();
        }
    }
    w.finish(t(10_000_000)).unwrap()
}

fn manifest_of(path: &Path) -> Manifest {
    let bytes = std::fs::read(path).unwrap();
    let checksum = std::fs::read_to_string(path.with_file_name("manifest.checksum")).unwrap();
    Manifest::parse(&bytes, Some(&checksum)).unwrap()
}

fn load(path: &Path, run_entries: usize) -> Result<Loaded, InventoryError> {
    inventory::load(
        &manifest_of(path),
        "",
        &SortOptions {
            run_entries,
            spill_dir: std::env::temp_dir(),
        },
        |f| {
            let p = inventory::local_file(path, f)?;
            Ok(Box::new(std::fs::File::open(p)?) as Box<dyn Read + Send>)
        },
    )
}

/// Every (key, version) of a timeline, in one order.
fn flat(tl: &Timeline) -> Vec<(String, String, Version)> {
    let mut v: Vec<_> = tl
        .keys()
        .iter()
        .flat_map(|k| {
            k.entries
                .iter()
                .map(|e| (k.key.clone(), e.version_id.as_str().into_owned(), e.clone()))
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

proptest! {
    #![proptest_config(common::config(64))]

    /// The same entries as a CSV report and as a Parquet report, shuffled and split over
    /// files, read with runs small enough to spill: identical timelines, anomalies and
    /// row counts, holding exactly the entries written.
    #[test]
    fn a_parquet_report_reads_as_the_same_csv_report(
        rows in draws().prop_map(|d| entries(&d)).prop_shuffle(),
        files in 1usize..5,
        run in 1usize..20,
    ) {
        let (csv_dir, parquet_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let csv = load(&write(Format::Csv, csv_dir.path(), &rows, files), run).unwrap();
        let parquet_path = write(Format::Parquet, parquet_dir.path(), &rows, files);
        prop_assert_eq!(manifest_of(&parquet_path).format().unwrap(), Format::Parquet);
        let parquet = load(&parquet_path, run).unwrap();
        prop_assert_eq!(parquet.timeline.keys(), csv.timeline.keys());
        prop_assert_eq!(parquet.timeline.anomalies(), csv.timeline.anomalies());
        prop_assert_eq!(parquet.rows, csv.rows);
        prop_assert_eq!(parquet.rows as usize, rows.len());
        let mut written: Vec<_> = rows
            .iter()
            .map(|e| (e.key.clone(), e.version.version_id.as_str().into_owned(), e.version.clone()))
            .collect();
        written.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        prop_assert_eq!(flat(&parquet.timeline), written);
    }
}

fn sample(dir: &Path) -> PathBuf {
    let d: Vec<(usize, Vec<Draw>)> = (0..KEYS.len())
        .map(|k| {
            (
                k,
                vec![
                    (false, k % 3 == 0, 0, 1, 10, 1, false),
                    (k % 2 == 0, false, 500, 1, 20, 0, true),
                ],
            )
        })
        .collect();
    write(Format::Parquet, dir, &entries(&d), 3)
}

#[test]
fn a_corrupt_parquet_file_fails_its_checksum_before_any_row_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path());
    let manifest = manifest_of(&path);
    let file = &manifest.files[1];
    let data = inventory::local_file(&path, file).unwrap();
    let good = std::fs::read(&data).unwrap();
    // The intact file reads.
    let mut seen = 0;
    inventory::read_parquet(file, good.as_slice(), "", |_| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert!(seen > 0);

    // One bit flipped in the middle (in a data page): nothing reaches the sink.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n / 2] ^= 0x01;
    let mut seen = 0;
    let err = inventory::read_parquet(file, bad.as_slice(), "", |_| {
        seen += 1;
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(&err, InventoryError::FileChecksum { file: f, .. } if *f == file.key),
        "{err}"
    );
    assert_eq!(seen, 0, "no row of a corrupt file is trusted");

    // Through the whole load: the report gives no timeline, for a flip or a truncation.
    std::fs::write(&data, &bad).unwrap();
    let err = load(&path, 100).unwrap_err();
    assert!(matches!(err, InventoryError::FileChecksum { .. }), "{err}");
    assert!(err.to_string().contains("part-00001.parquet"), "{err}");
    std::fs::write(&data, &good[..n / 2]).unwrap();
    let err = load(&path, 100).unwrap_err();
    assert!(matches!(err, InventoryError::FileChecksum { .. }), "{err}");
}

fn manifest(format: &str, schema: &str) -> Manifest {
    Manifest {
        source_bucket: "b".into(),
        destination_bucket: String::new(),
        version: "2016-11-30".into(),
        creation_timestamp: "1514944800000".into(),
        file_format: format.into(),
        file_schema: schema.into(),
        files: vec![],
    }
}

#[test]
fn a_current_versions_only_parquet_schema_is_refused_naming_the_setting() {
    // AWS's current-versions schema: no version_id, is_latest or is_delete_marker.
    let m = manifest(
        "Parquet",
        "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); }",
    );
    let err = m.columns().unwrap_err();
    assert!(
        matches!(&err, InventoryError::CurrentVersionsOnly { missing } if missing == "version_id"),
        "{err}"
    );
    assert!(err.to_string().contains("Include all versions"), "{err}");
    // And nothing is read from such a report.
    let spill = std::env::temp_dir();
    let err = inventory::load(&m, "", &SortOptions::new(spill), |_| unreachable!()).unwrap_err();
    assert!(
        matches!(err, InventoryError::CurrentVersionsOnly { .. }),
        "{err}"
    );
}

/// AWS's schema without the `e_tag` column.
const NO_ETAG: &str = "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary storage_class (UTF8); }";

/// One data file of a report in `schema` with one row (null in every optional column
/// but the flags and the time); `replace` is the manifest's fileSchema.
fn one_row_report(dir: &Path, schema: &str, manifest_schema: &str) -> PathBuf {
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
    let key = "data/part-00000.parquet";
    let path = dir.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let schema = Arc::new(parquet::schema::parser::parse_message_type(schema).unwrap());
    let columns = parquet::schema::types::SchemaDescriptor::new(schema.clone());
    let mut w = parquet::file::writer::SerializedFileWriter::new(
        std::fs::File::create(&path).unwrap(),
        schema,
        Default::default(),
    )
    .unwrap();
    let mut group = w.next_row_group().unwrap();
    let mut i = 0;
    while let Some(mut col) = group.next_column().unwrap() {
        let descr = columns.column(i);
        i += 1;
        let def = [i16::from(descr.max_def_level() > 0)];
        let def = (descr.max_def_level() > 0).then_some(&def[..]);
        match descr.name() {
            "is_latest" | "is_delete_marker" => {
                col.typed::<BoolType>()
                    .write_batch(&[false], def, None)
                    .unwrap();
            }
            "last_modified_date" => {
                col.typed::<Int64Type>()
                    .write_batch(&[1_000], def, None)
                    .unwrap();
            }
            "bucket" | "key" => {
                col.typed::<ByteArrayType>()
                    .write_batch(&[ByteArray::from("b")], def, None)
                    .unwrap();
            }
            _ => {
                // Any other column: one null (or, if required, whatever type it is left
                // alone: the tests keep the others optional).
                let nulls = [0i16];
                match descr.physical_type() {
                    parquet::basic::Type::BYTE_ARRAY => {
                        col.typed::<ByteArrayType>()
                            .write_batch(&[], Some(&nulls), None)
                    }
                    parquet::basic::Type::INT64 => {
                        col.typed::<Int64Type>()
                            .write_batch(&[], Some(&nulls), None)
                    }
                    parquet::basic::Type::BOOLEAN => {
                        col.typed::<BoolType>().write_batch(&[], Some(&nulls), None)
                    }
                    other => panic!("no test writes a {other} column"),
                }
                .unwrap();
            }
        }
        col.close().unwrap();
    }
    group.close().unwrap();
    w.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let m = Manifest {
        files: vec![ManifestFile {
            key: key.into(),
            size: bytes.len() as u64,
            md5_checksum: md5_hex(&bytes),
        }],
        ..manifest("Parquet", manifest_schema)
    };
    let manifest_path = dir.join("manifest.json");
    let json = serde_json::to_vec(&m).unwrap();
    std::fs::write(dir.join("manifest.checksum"), md5_hex(&json)).unwrap();
    std::fs::write(&manifest_path, json).unwrap();
    manifest_path
}

#[test]
fn a_parquet_report_without_e_tag_is_refused_naming_the_field() {
    let m = manifest("Parquet", NO_ETAG);
    let err = m.columns().unwrap_err();
    assert!(
        matches!(&err, InventoryError::MissingField { column, field } if column == "e_tag" && field == "ETag"),
        "{err}"
    );
    assert!(err.to_string().contains("e_tag"), "{err}");

    // A data file without the column, though its manifest names it: refused as well
    // (the file's own schema is read), not read with a wrong column.
    let dir = tempfile::tempdir().unwrap();
    let path = one_row_report(dir.path(), NO_ETAG, PARQUET_WRITER_SCHEMA);
    let err = load(&path, 10).unwrap_err();
    assert!(
        matches!(&err, InventoryError::MissingField { column, .. } if column == "e_tag"),
        "{err}"
    );
    // The same file with e_tag (null: a version without one) reads, and its nulls read
    // as the CSV format's empty fields.
    let dir = tempfile::tempdir().unwrap();
    let path = one_row_report(dir.path(), PARQUET_WRITER_SCHEMA, PARQUET_WRITER_SCHEMA);
    let tl = load(&path, 10).unwrap().timeline;
    let v = &tl.keys()[0].entries[0];
    assert_eq!(tl.keys()[0].key, "b");
    assert!(v.version_id.is_null());
    assert_eq!((v.size, v.etag.is_empty()), (0, true));
    assert_eq!((v.storage_class, v.owner_id), (None, None));
    assert_eq!(v.last_modified, Utc.timestamp_millis_opt(1_000).unwrap());
}

#[test]
fn a_column_of_another_type_is_refused() {
    // size as text: the file's MD5 matches, so the file is named as unreadable.
    let schema =
        PARQUET_WRITER_SCHEMA.replace("optional int64 size;", "optional binary size (UTF8);");
    let dir = tempfile::tempdir().unwrap();
    let path = one_row_report(dir.path(), &schema, &schema);
    let err = load(&path, 10).unwrap_err();
    assert!(
        matches!(&err, InventoryError::Parquet { file, message } if file.ends_with("part-00000.parquet") && message.contains("size")),
        "{err}"
    );
    // A time without a timestamp annotation: its unit is unknown.
    let schema = PARQUET_WRITER_SCHEMA.replace(
        "optional int64 last_modified_date (TIMESTAMP_MILLIS);",
        "optional int64 last_modified_date;",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = one_row_report(dir.path(), &schema, &schema);
    let err = load(&path, 10).unwrap_err();
    assert!(
        matches!(&err, InventoryError::Parquet { message, .. } if message.contains("last_modified_date")),
        "{err}"
    );
}

#[test]
fn orc_is_refused_naming_the_formats_that_are_read() {
    let m = manifest(
        "ORC",
        "struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,e_tag:string>",
    );
    let err = m.columns().unwrap_err();
    assert!(
        matches!(&err, InventoryError::UnsupportedFormat(f) if f == "ORC"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("CSV") && text.contains("Parquet") && !text.contains('\n'),
        "{text}"
    );
}

#[test]
fn the_documented_parquet_manifests_locate_their_columns() {
    // AWS's example (UTF8, TIMESTAMP_MILLIS) and what reports say since (STRING,
    // TIMESTAMP(MILLIS,true), object_owner last).
    let documented = "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); optional boolean is_multipart_uploaded; optional binary replication_status (UTF8); optional binary encryption_status (UTF8); optional int64 object_lock_retain_until_date (TIMESTAMP_MILLIS); optional binary object_lock_mode (UTF8); optional binary object_lock_legal_hold_status (UTF8); optional binary intelligent_tiering_access_tier (UTF8); optional binary bucket_key_status (UTF8); optional binary checksum_algorithm (UTF8); }";
    let c = manifest("Parquet", documented).columns().unwrap();
    assert_eq!(c.format, Format::Parquet);
    assert_eq!(
        (c.key, c.version_id, c.is_latest, c.is_delete_marker),
        (1, 2, 3, 4)
    );
    assert_eq!((c.size, c.last_modified, c.etag), (5, 6, 7));
    assert_eq!((c.storage_class, c.owner, c.count), (Some(8), None, 18));

    let newer = "message s3.inventory {  required binary bucket (STRING);  required binary key (STRING);  optional binary version_id (STRING);  optional boolean is_latest;  optional boolean is_delete_marker;  optional int64 size;  optional int64 last_modified_date (TIMESTAMP(MILLIS,true));  optional binary e_tag (STRING);  optional binary storage_class (STRING);  optional boolean is_multipart_uploaded;  optional binary object_owner (STRING);}";
    let c = manifest("Parquet", newer).columns().unwrap();
    assert_eq!((c.etag, c.storage_class, c.owner), (7, Some(8), Some(10)));

    // A fileSchema that is not a message type is a bad manifest, said in one line.
    let err = manifest("Parquet", "Bucket, Key, VersionId")
        .columns()
        .unwrap_err();
    assert!(matches!(err, InventoryError::Manifest(_)), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}
