//! Inventory reports read back: written from a history (testkit's writers) and loaded
//! by the engine, compared with the listing of the same history.

use chrono::TimeZone;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use s3rewind_engine::inventory::*;
use s3rewind_engine::keys::form_decode;
use s3rewind_engine::{
    Anomaly, Entry, SimBucket, StorageClass, Timeline, TimelineBuilder, Version, Versioning,
};
use s3rewind_testkit::inventory::{ReportWriter, WRITER_SCHEMA};
use std::io::Read;
use std::path::{Path, PathBuf};

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
}

/// Keys that an inventory must URL-encode and decode without loss.
const AWKWARD: [&str; 9] = [
    "plain.txt",
    "a+b.txt",
    "a b.txt",
    "100%.csv",
    "dir/ü-ñ/日本.txt",
    "%2B literally",
    "x+y z%20w",
    "emoji 🦀/+",
    "tab\there,comma\"quote",
];

/// Write `entries` (shuffled by `seed`) over `files` data files; returns the manifest
/// path.
fn write_report(dir: &Path, entries: &[Entry], files: usize, seed: u64) -> PathBuf {
    let mut shuffled = entries.to_vec();
    s3rewind_testkit::Prng(seed).shuffle(&mut shuffled);
    let mut w = ReportWriter::new(dir, "src-bucket", "inv/src-bucket/all/");
    let per = shuffled.len().div_ceil(files.max(1)).max(1);
    for chunk in shuffled.chunks(per) {
        w.new_file().unwrap();
        for e in chunk {
            w.write(e).unwrap();
        }
    }
    w.finish(t(1_000_000)).unwrap()
}

fn load_report(path: &Path, prefix: &str, run_entries: usize) -> Result<Loaded, InventoryError> {
    let bytes = std::fs::read(path).unwrap();
    let checksum = std::fs::read_to_string(path.with_file_name("manifest.checksum")).unwrap();
    let manifest = Manifest::parse(&bytes, Some(&checksum))?;
    load(
        &manifest,
        prefix,
        &SortOptions {
            run_entries,
            spill_dir: std::env::temp_dir(),
        },
        |f| Ok(Box::new(std::fs::File::open(local_file(path, f)?)?) as Box<dyn Read + Send>),
    )
}

/// The listing path for a server that does not interleave (moto): split pages.
fn listed(sim: &SimBucket, prefix: &str, page: usize) -> Timeline {
    let mut b = TimelineBuilder::new();
    let mut order = s3rewind_engine::ListOrder::Split;
    for p in sim.list_pages(prefix, page) {
        let doc: Vec<Entry> = p.versions.into_iter().chain(p.delete_markers).collect();
        b.push_document(doc, &mut order).unwrap();
    }
    b.finish()
}

fn history() -> impl Strategy<Value = Vec<(usize, bool, i64)>> {
    proptest::collection::vec(
        // A step of 0 s: two writes in one second, often of one key.
        (0..AWKWARD.len(), proptest::bool::weighted(0.3), 0..4i64),
        1..60,
    )
}

fn build(ops: &[(usize, bool, i64)]) -> SimBucket {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let mut now = 0;
    for (k, delete, dt) in ops {
        now += dt;
        if *delete {
            sim.delete(AWKWARD[*k], t(now));
        } else {
            sim.put(AWKWARD[*k], format!("{k}@{now}").as_bytes(), t(now));
        }
    }
    sim
}

/// The keys whose order an inventory guessed: two entries of one list in the same second
/// (`OrderUnknown`: it keeps no order between them), or a version and a delete marker
/// in the same second (`SameSecondTie`, the tie rule; a listing may have seen their
/// order across a page boundary).
fn guessed(tl: &Timeline) -> std::collections::BTreeSet<String> {
    tl.anomalies()
        .iter()
        .filter(|a| a.is_guess())
        .map(|a| a.key().to_owned())
        .collect()
}

proptest! {
    #![proptest_config(s3rewind_testkit::proptest_config(48))]

    /// An inventory written from any history (same-second writes of one key included),
    /// shuffled and split over files, read with runs small enough to spill, gives the
    /// timeline the listing gives, except the keys whose order it cannot know, which it
    /// reports (`OrderUnknown`, `SameSecondTie`): at every T, a key's state is the
    /// listing's unless the key is reported ambiguous, and a plan never acts on a key
    /// whose order is unknown.
    #[test]
    fn inventory_equals_listing(
        ops in history(),
        files in 1usize..6,
        seed in any::<u64>(),
        run in 1usize..20,
        page in 1usize..8,
    ) {
        let sim = build(&ops);
        let dir = tempfile::tempdir().unwrap();
        let path = write_report(dir.path(), &sim.list_order(""), files, seed);
        let loaded = load_report(&path, "", run).unwrap();
        let expected = listed(&sim, "", page);
        let unknown = guessed(&loaded.timeline);
        let known = |tl: &Timeline| -> Vec<s3rewind_engine::timeline::KeyHistory> {
            tl.keys().iter().filter(|h| !unknown.contains(&h.key)).cloned().collect()
        };
        let known_anomalies = |tl: &Timeline| -> Vec<Anomaly> {
            tl.anomalies()
                .iter()
                .filter(|a| !unknown.contains(a.key()))
                .cloned()
                .collect()
        };
        prop_assert_eq!(known(&loaded.timeline), known(&expected));
        prop_assert_eq!(known_anomalies(&loaded.timeline), known_anomalies(&expected));
        prop_assert_eq!(loaded.rows as usize, sim.list_order("").len());
        // Same keys, same entries (only the order of a same-second pair may differ).
        prop_assert_eq!(loaded.timeline.len(), expected.len());
        let total = ops.iter().map(|o| o.2).sum::<i64>();
        for s in 0..=total + 1 {
            let at = t(s);
            let got = loaded.timeline.state_at(at);
            let want = expected.state_at(at);
            for k in got.objects.iter().map(|e| &e.key).chain(want.objects.iter().map(|e| &e.key)) {
                if got.get(k) != want.get(k) {
                    prop_assert!(
                        got.ambiguous.contains(k),
                        "{:?} at {}: the inventory says {:?}, the listing {:?}, and the key is not reported",
                        k, s, got.get(k).map(|v| v.version_id.to_string()),
                        want.get(k).map(|v| v.version_id.to_string())
                    );
                }
            }
            for k in &got.order_unknown {
                prop_assert!(unknown.contains(k) && got.ambiguous.contains(k));
            }
            // A plan leaves every key of unknown order as it is, and says so.
            let options = s3rewind_engine::PlanOptions::new(
                s3rewind_engine::Location { bucket: "src-bucket".into(), prefix: String::new() },
                s3rewind_engine::Destination::InPlace,
                at,
            );
            let p = s3rewind_engine::plan(&loaded.timeline.current(), &got, &options);
            for a in &p.actions {
                prop_assert!(!got.order_unknown.contains(&a.key().to_owned()), "acted on {:?}", a.key());
            }
            let warned: Vec<&str> = p
                .warnings
                .iter()
                .filter_map(|w| match w {
                    s3rewind_engine::Warning::OrderUnknown { key } => Some(key.as_str()),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(warned, got.order_unknown.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    /// A bucket built from a listing's entries, oldest first (`insert_listed`, as the
    /// inventory memory bench builds a bucket that agrees with a report), lists exactly
    /// those entries again, and shows the same current objects.
    #[test]
    fn a_bucket_built_from_its_listing_lists_it_again(ops in history()) {
        let sim = build(&ops);
        let listed = sim.list_order("");
        let mut copy = SimBucket::new(Versioning::Enabled, "other");
        for e in listed.iter().rev() {
            copy.insert_listed(e.clone());
        }
        prop_assert_eq!(copy.list_order(""), listed);
        let heads = |s: &SimBucket| -> Vec<(String, Version)> {
            s.current_page("", None, usize::MAX)
                .0
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.version.clone()))
                .collect()
        };
        prop_assert_eq!(heads(&copy), heads(&sim));
    }

    #[test]
    fn form_encoding_round_trips(key in "\\PC*") {
        prop_assert_eq!(form_decode(&form_encode(&key)).unwrap(), key);
    }
}

#[test]
fn a_prefix_keeps_only_its_keys_and_spills_runs() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    for i in 0..50 {
        sim.put(&format!("dir/{i:03}"), b"x", t(i));
        sim.put(&format!("other/{i:03}"), b"x", t(i));
        sim.delete(&format!("dir/{i:03}"), t(100 + i));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_report(dir.path(), &sim.list_order(""), 3, 7);
    let loaded = load_report(&path, "dir/", 16).unwrap();
    assert!(loaded.spilled_runs >= 5, "{}", loaded.spilled_runs);
    assert_eq!(loaded.timeline.keys().len(), 50);
    assert_eq!(loaded.timeline.len(), 100);
    assert!(
        loaded
            .timeline
            .keys()
            .iter()
            .all(|k| k.key.starts_with("dir/"))
    );
    assert_eq!(loaded.timeline.keys(), listed(&sim, "dir/", 5).keys());
}

#[test]
fn is_latest_wins_over_timestamps_and_ties_are_reported() {
    let e = |id: &str, s: i64, dm: bool, latest: bool| Entry {
        key: "k".into(),
        version: Version {
            version_id: id.into(),
            last_modified: t(s),
            delete_marker: dm,
            etag: if dm { Default::default() } else { "e".into() },
            size: if dm { 0 } else { 1 },
            storage_class: (!dm).then(StorageClass::standard),
            owner_id: None,
            is_latest: latest,
        },
    };
    // radosgw-style: the current version is stamped before the delete marker below it.
    let dir = tempfile::tempdir().unwrap();
    let path = write_report(
        dir.path(),
        &[
            e("dm", 10, true, false),
            e("cur", 9, false, true),
            e("old", 5, false, false),
        ],
        2,
        3,
    );
    let tl = load_report(&path, "", 100).unwrap().timeline;
    let ids: Vec<String> = tl.keys()[0]
        .entries
        .iter()
        .map(|v| v.version_id.to_string())
        .collect();
    assert_eq!(ids, ["cur", "dm", "old"]);
    assert!(matches!(tl.anomalies(), [Anomaly::NonMonotonic { .. }]));

    // Two versions in one second, neither latest: the order is a guess, and said so.
    let dir = tempfile::tempdir().unwrap();
    let path = write_report(
        dir.path(),
        &[
            e("b", 20, false, true),
            e("x", 10, false, false),
            e("y", 10, false, false),
        ],
        1,
        1,
    );
    let tl = load_report(&path, "", 100).unwrap().timeline;
    assert_eq!(tl.anomalies(), &[Anomaly::OrderUnknown { key: "k".into() }]);
    assert!(tl.state_at(t(15)).ambiguous.iter().any(|k| k == "k"));
}

fn sample_report(dir: &Path) -> PathBuf {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    for (i, k) in AWKWARD.iter().enumerate() {
        sim.put(k, b"1", t(i as i64));
        sim.put(k, b"2", t(100 + i as i64));
    }
    write_report(dir, &sim.list_order(""), 3, 11)
}

#[test]
fn a_corrupt_data_file_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_report(dir.path());
    let manifest = Manifest::parse(&std::fs::read(&path).unwrap(), None).unwrap();
    let data = local_file(&path, &manifest.files[1]).unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    // Flip one byte in the gzip trailer (the CRC): it still decompresses as far as the
    // CSV goes, only the MD5 can tell.
    let n = bytes.len();
    bytes[n - 6] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let err = load_report(&path, "", 100).unwrap_err();
    assert!(
        matches!(&err, InventoryError::FileChecksum { file, .. } if *file == manifest.files[1].key),
        "{err}"
    );
    // A truncated file fails too.
    std::fs::write(&data, &bytes[..n / 2]).unwrap();
    let err = load_report(&path, "", 100).unwrap_err();
    assert!(matches!(err, InventoryError::FileChecksum { .. }), "{err}");
}

#[test]
fn a_changed_manifest_fails_the_manifest_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_report(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(3).position(|w| w == b"CSV").unwrap();
    bytes[at] = b'c';
    std::fs::write(&path, &bytes).unwrap();
    let err = load_report(&path, "", 100).unwrap_err();
    assert!(
        matches!(err, InventoryError::ManifestChecksum { .. }),
        "{err}"
    );
}

#[test]
fn a_current_versions_only_report_is_refused_naming_the_setting() {
    let m = Manifest {
        source_bucket: "b".into(),
        destination_bucket: String::new(),
        version: "2016-11-30".into(),
        creation_timestamp: "1514944800000".into(),
        file_format: "CSV".into(),
        file_schema: "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass".into(),
        files: vec![],
    };
    let err = m.columns().unwrap_err();
    assert!(matches!(err, InventoryError::CurrentVersionsOnly { .. }));
    assert!(err.to_string().contains("Include all versions"), "{err}");
    let orc = Manifest {
        file_format: "ORC".into(),
        file_schema: WRITER_SCHEMA.into(),
        ..m.clone()
    };
    assert!(matches!(
        orc.columns(),
        Err(InventoryError::UnsupportedFormat(_))
    ));
    let no_etag = Manifest {
        file_schema: "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate"
            .into(),
        ..m.clone()
    };
    assert!(matches!(
        no_etag.columns(),
        Err(InventoryError::MissingField { column, .. }) if column == "ETag"
    ));
    assert_eq!(m.created().unwrap().timestamp(), 1_514_944_800);
}

#[test]
fn the_documented_manifest_example_parses() {
    // The shape of AWS's manifest.json example (camelCase fields, MD5checksum, a
    // creationTimestamp in milliseconds as a string).
    let json = br#"{
        "sourceBucket": "example-source-bucket",
        "destinationBucket": "arn:aws:s3:::example-inventory-destination-bucket",
        "version": "2016-11-30",
        "creationTimestamp" : "1514944800000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm, ObjectAccessControlList, ObjectOwner",
        "files": [
            {
                "key": "Inventory/example-source-bucket/2016-11-06T21-32Z/files/939c6d46-85a9-4ba8-87bd-9db705a579ce.csv.gz",
                "size": 2147483647,
                "MD5checksum": "f11166069f1990abeb9c97ace9cdfabc"
            }
        ]
    }"#;
    let m = Manifest::parse(json, Some(&md5_hex(json))).unwrap();
    let c = m.columns().unwrap();
    assert_eq!((c.key, c.version_id, c.etag), (1, 2, 7));
    assert_eq!(c.storage_class, Some(8));
    assert_eq!(c.owner, Some(19));
    assert_eq!(m.files[0].md5_checksum, "f11166069f1990abeb9c97ace9cdfabc");
}

#[test]
fn a_row_with_a_null_version_and_empty_delete_marker_fields_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ReportWriter::new(dir.path(), "b", "");
    let mut e = Entry {
        key: "pre versioning".into(),
        version: Version {
            version_id: s3rewind_engine::NULL_VERSION.into(),
            last_modified: t(1),
            delete_marker: false,
            etag: "abc".into(),
            size: 3,
            storage_class: Some(StorageClass::new("GLACIER")),
            owner_id: None,
            is_latest: false,
        },
    };
    w.write(&e).unwrap();
    let dm = Entry {
        key: e.key.clone(),
        version: Version {
            version_id: "d1".into(),
            last_modified: t(2),
            delete_marker: true,
            etag: Default::default(),
            size: 0,
            storage_class: None,
            owner_id: None,
            is_latest: true,
        },
    };
    w.write(&dm).unwrap();
    let path = w.finish(t(3)).unwrap();
    let tl = load_report(&path, "", 10).unwrap().timeline;
    e.version.is_latest = false;
    assert_eq!(tl.keys()[0].entries, vec![dm.version, e.version]);
}
