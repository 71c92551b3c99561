//! `--inventory`: plans from an S3 Inventory report (CSV or Parquet) equal plans from
//! the listing, list nothing, and a corrupt report stops everything before a write.

use crate::support::*;
use chrono::{DateTime, Utc};
use s3rewind_engine::inventory::Format;
use s3rewind_engine::{Entry, OwnerId, StorageClass, Version};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Keys an inventory URL-encodes: `+`, `%`, spaces, unicode.
const KEYS: [&str; 6] = [
    "docs/a+b.txt",
    "docs/100% done.txt",
    "docs/space name.txt",
    "docs/ünï/日本.txt",
    "plain.txt",
    "img/logo.png",
];

/// Every version and delete marker of `bucket`, as the listing has them.
async fn listed_entries(m: &Moto, bucket: &str) -> Vec<Entry> {
    let time = |t: &aws_smithy_types::DateTime| {
        DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()).unwrap()
    };
    let mut out = Vec::new();
    for page in m.version_pages(bucket).await {
        for v in page.versions() {
            out.push(Entry {
                key: v.key().unwrap().to_owned(),
                version: Version {
                    version_id: v.version_id().unwrap().into(),
                    last_modified: time(v.last_modified().unwrap()),
                    delete_marker: false,
                    etag: v.e_tag().unwrap_or("").trim_matches('"').into(),
                    size: v.size().unwrap_or(0) as u64,
                    storage_class: v.storage_class().map(|c| StorageClass::new(c.as_str())),
                    owner_id: v.owner().and_then(|o| o.id()).map(OwnerId::new),
                    is_latest: v.is_latest() == Some(true),
                },
            });
        }
        for d in page.delete_markers() {
            out.push(Entry {
                key: d.key().unwrap().to_owned(),
                version: Version {
                    version_id: d.version_id().unwrap().into(),
                    last_modified: time(d.last_modified().unwrap()),
                    delete_marker: true,
                    etag: Default::default(),
                    size: 0,
                    storage_class: None,
                    owner_id: d.owner().and_then(|o| o.id()).map(OwnerId::new),
                    is_latest: d.is_latest() == Some(true),
                },
            });
        }
    }
    out
}

/// Write an all-versions inventory of `entries` in `format` under `root` in S3's
/// layout: rows in reverse key order, dealt round-robin over three files (so every key's
/// rows are split over files and no file is in key order).
fn write_inventory(
    root: &Path,
    bucket: &str,
    entries: &[Entry],
    created: DateTime<Utc>,
    format: Format,
) -> PathBuf {
    let mut rows: Vec<&Entry> = entries.iter().collect();
    rows.reverse();
    let mut w = s3rewind_testkit::inventory::report_writer(
        format,
        root,
        bucket,
        &format!("inventory/{bucket}/all-versions/"),
    );
    let files: Vec<Vec<&Entry>> = (0..3)
        .map(|f| rows.iter().skip(f).step_by(3).copied().collect())
        .collect();
    for f in files {
        w.new_file().unwrap();
        for e in f {
            w.write(e).unwrap();
        }
    }
    w.finish(created).unwrap()
}

/// A history with overwrites, deletes and new keys after T, on awkward keys.
pub(crate) async fn history(m: &Moto, bucket: &str) -> (String, BTreeMap<String, Vec<u8>>) {
    m.bucket(bucket, true).await;
    for k in KEYS {
        m.put(bucket, k, format!("{k} v1").as_bytes()).await;
    }
    next_second().await;
    m.put(bucket, KEYS[0], b"a+b v2").await;
    m.delete(bucket, KEYS[5]).await;
    let t = checkpoint().await;
    m.put(bucket, KEYS[0], b"BAD").await;
    m.put(bucket, KEYS[1], b"BAD").await;
    m.delete(bucket, KEYS[2]).await;
    m.delete(bucket, KEYS[3]).await;
    m.put(bucket, "new after T.txt", b"new").await;
    let mut want = BTreeMap::new();
    want.insert(KEYS[0].to_owned(), b"a+b v2".to_vec());
    for k in &KEYS[1..5] {
        want.insert((*k).to_owned(), format!("{k} v1").into_bytes());
    }
    (ts(t), want)
}

fn actions(run: &Run) -> serde_json::Value {
    let p = run.json();
    serde_json::json!({"actions": p["actions"], "stats": p["stats"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_from_an_inventory_equals_the_plan_from_the_listing() {
    plan_from_inventory_equals_listing(Format::Csv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_from_a_parquet_inventory_equals_the_plan_from_the_listing() {
    plan_from_inventory_equals_listing(Format::Parquet).await;
}

/// Every command that takes `--inventory` gives from a report in `format` what it gives
/// from the listing; a restore from it brings back the state at T.
// Longer than 120 lines on purpose: one bucket, its inventory report written, then the plans from both compared.
async fn plan_from_inventory_equals_listing(format: Format) {
    let m = Moto::start().await;
    let (t, want) = history(&m, "inv").await;
    next_second().await;
    let created = Utc::now();
    let manifest = write_inventory(
        &m.path("report"),
        "inv",
        &listed_entries(&m, "inv").await,
        created,
        format,
    );
    let manifest = manifest.to_str().unwrap();
    let first = std::fs::read_dir(m.path("report/inventory/inv/all-versions/data"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    match format {
        Format::Csv => {
            // AWS's documented CSV layout: no header, every field quoted, keys
            // form-encoded.
            let mut csv = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(first).unwrap()),
                &mut csv,
            )
            .unwrap();
            assert!(csv.starts_with("\"inv\",\""), "{csv}");
        }
        Format::Parquet => {
            // A Parquet file (magic at both ends), named as AWS names them.
            let bytes = std::fs::read(&first).unwrap();
            assert!(first.to_str().unwrap().ends_with(".parquet"), "{first:?}");
            assert!(
                bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
                "{first:?}"
            );
        }
    }

    let listed = m.run(&["--output", "json", "plan", "s3://inv", "--at", &t]);
    let from_inventory = m.run(&[
        "--output",
        "json",
        "plan",
        "s3://inv",
        "--at",
        &t,
        "--inventory",
        manifest,
    ]);
    let expected = actions(listed.expect_code(0));
    assert_eq!(expected["stats"]["copies"], 4, "{expected}");
    assert_eq!(actions(from_inventory.expect_code(0)), expected);
    assert!(
        from_inventory.stderr.contains("inventory taken"),
        "the plan says how old the report is: {}",
        from_inventory.stderr
    );
    // ...and so does the plan document: which report, taken when.
    let doc = from_inventory.json();
    crate::schemas::check_document("s3rewind.plan/v1", &doc);
    assert_eq!(doc["inventory"]["manifest"], manifest);
    assert_eq!(
        doc["inventory"]["created_at"].as_str().unwrap(),
        created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert!(
        listed.json().get("inventory").is_none(),
        "a listing has none"
    );

    // Other commands read it too.
    let diff = m.run(&[
        "--output",
        "json",
        "diff",
        "s3://inv",
        "--from",
        &t,
        "--to",
        &ts(created),
        "--inventory",
        manifest,
    ]);
    let listed_diff = m.run(&[
        "--output",
        "json",
        "diff",
        "s3://inv",
        "--from",
        &t,
        "--to",
        &ts(created),
    ]);
    // (exit 1: there are differences)
    assert_eq!(
        diff.expect_code(1).json(),
        listed_diff.expect_code(1).json()
    );
    let history = m.run(&[
        "--output",
        "json",
        "history",
        &format!("s3://inv/{}", KEYS[0]),
        "--inventory",
        manifest,
    ]);
    assert_eq!(
        history.expect_code(0).stdout,
        m.run(&[
            "--output",
            "json",
            "history",
            &format!("s3://inv/{}", KEYS[0])
        ])
        .expect_code(0)
        .stdout
    );

    // `scan` finds what it finds in the listing.
    let scan = |extra: &[&str]| {
        let r = m.run(&[&["--output", "json", "scan", "s3://inv"], extra].concat());
        assert!(matches!(r.code, 0 | 1), "{}", r.stderr);
        r.json()
    };
    let scanned = scan(&["--inventory", manifest]);
    assert_eq!(scanned["schema"], "s3rewind.scan/v1", "{scanned}");
    assert_eq!(scanned["stats"]["keys"], KEYS.len() + 1, "{scanned}");
    assert_eq!(scanned, scan(&[]));

    // A TIME after the report is refused unless accepted.
    let stale = m.run(&["plan", "s3://inv", "--at", "now", "--inventory", manifest]);
    stale.expect_code(4);
    assert!(
        stale.stderr.contains("--accept-stale-inventory"),
        "{}",
        stale.stderr
    );
    m.run(&[
        "plan",
        "s3://inv",
        "--at",
        "now",
        "--inventory",
        manifest,
        "--accept-stale-inventory",
    ])
    .expect_code(0);

    // The restore from the report brings back the state at T.
    m.run(&[
        "restore",
        "s3://inv",
        "--at",
        &t,
        "--inventory",
        manifest,
        "--yes",
    ])
    .expect_code(0);
    assert_eq!(m.contents("inv", "").await, want);
    // And `verify` from a report taken after the restore agrees.
    next_second().await;
    let after = write_inventory(
        &m.path("report-after"),
        "inv",
        &listed_entries(&m, "inv").await,
        Utc::now(),
        format,
    );
    m.run(&[
        "verify",
        "s3://inv",
        "--at",
        &t,
        "--inventory",
        after.to_str().unwrap(),
    ])
    .expect_code(0);
    // The report from before the restore still shows the damage, but the current
    // state is read from the bucket (ListObjectsV2), never from a report: verify says
    // the bucket is restored, and that it re-read the keys the report had wrong.
    let old = m.run(&["verify", "s3://inv", "--at", &t, "--inventory", manifest]);
    old.expect_code(0);
    assert!(old.stderr.contains("cross-check"), "{}", old.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_from_an_inventory_lists_nothing() {
    // (moto's signature check rejects keys with `+`, and this tool's listing requests,
    // once authentication is on: plain keys here, and the plan is checked by its
    // actions; equality with the listing's plan is checked above.)
    let (m, (key, secret)) = Moto::start_with_auth().await;
    m.bucket("inv", true).await;
    m.put("inv", "a.txt", b"a1").await;
    m.put("inv", "b.txt", b"b1").await;
    let t = ts(checkpoint().await);
    m.put("inv", "a.txt", b"BAD").await;
    m.delete("inv", "b.txt").await;
    next_second().await;
    let manifest = write_inventory(
        &m.path("report"),
        "inv",
        &listed_entries(&m, "inv").await,
        Utc::now(),
        Format::Csv,
    );
    let manifest = manifest.to_str().unwrap();
    // A user who may not list the bucket's versions plans from the report (reading only
    // its current objects, ListObjectsV2), and the same user cannot plan from a listing.
    let limited = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let denied = m.run_with(&["plan", "s3://inv", "--at", &t], &limited);
    denied.expect_code(5);
    let allowed = m.run_with(
        &[
            "--output",
            "json",
            "plan",
            "s3://inv",
            "--at",
            &t,
            "--inventory",
            manifest,
        ],
        &limited,
    );
    let plan = actions(allowed.expect_code(0));
    assert_eq!(plan["stats"]["copies"], 2, "{plan}");
    assert_eq!(plan["stats"]["delete_markers"], 0, "{plan}");
    let keys = strs(&plan["actions"], "key");
    assert_eq!(keys, ["a.txt", "b.txt"], "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_inventory_file_fails_its_checksum_and_nothing_is_written() {
    corrupt_file_fails(Format::Csv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_parquet_inventory_file_fails_its_checksum_and_nothing_is_written() {
    corrupt_file_fails(Format::Parquet).await;
}

/// A report in `format` with one byte changed in a data file: the restore stops on the
/// file's MD5, naming it, before any write.
async fn corrupt_file_fails(format: Format) {
    let m = Moto::start().await;
    let (t, _) = history(&m, "bad").await;
    next_second().await;
    let manifest = write_inventory(
        &m.path("report"),
        "bad",
        &listed_entries(&m, "bad").await,
        Utc::now(),
        format,
    );
    let name = match format {
        Format::Csv => "part-00001.csv.gz",
        Format::Parquet => "part-00001.parquet",
    };
    let data = m.path(&format!("report/inventory/bad/all-versions/data/{name}"));
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x20;
    std::fs::write(&data, bytes).unwrap();
    let before = m.versions("bad").await;
    let r = m.run(&[
        "restore",
        "s3://bad",
        "--at",
        &t,
        "--inventory",
        manifest.to_str().unwrap(),
        "--yes",
    ]);
    r.expect_code(7);
    assert!(r.stderr.contains(name), "{}", r.stderr);
    assert!(r.stderr.contains("MD5"), "{}", r.stderr);
    assert_eq!(m.versions("bad").await, before, "nothing may be written");

    // An ORC report is refused in one line, naming the formats that are read.
    let orc_dir = m.path("orc-report");
    std::fs::create_dir_all(&orc_dir).unwrap();
    let json = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"CSV\"", "\"ORC\"")
        .replace("\"Parquet\"", "\"ORC\"");
    std::fs::write(orc_dir.join("manifest.json"), &json).unwrap();
    std::fs::write(
        orc_dir.join("manifest.checksum"),
        s3rewind_engine::inventory::md5_hex(json.as_bytes()),
    )
    .unwrap();
    let r = m.run(&[
        "plan",
        "s3://bad",
        "--at",
        &t,
        "--inventory",
        orc_dir.join("manifest.json").to_str().unwrap(),
    ]);
    r.expect_code(2);
    let error = r
        .stderr
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or("");
    assert!(
        error.contains("\"ORC\" is not supported") && error.contains("CSV or Apache Parquet"),
        "{}",
        r.stderr
    );

    // A report of another bucket is refused.
    m.bucket("other", true).await;
    let r = m.run(&[
        "plan",
        "s3://other",
        "--at",
        &t,
        "--inventory",
        manifest.to_str().unwrap(),
    ]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("report of bucket \"bad\""),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_index_round_trips_from_a_listing_and_from_an_inventory() {
    let m = Moto::start().await;
    let (t, _) = history(&m, "idx").await;
    next_second().await;
    let expected = actions(
        m.run(&["--output", "json", "plan", "s3://idx", "--at", &t])
            .expect_code(0),
    );
    assert_eq!(expected["stats"]["copies"], 4, "{expected}");
    let file = m.path("idx.s3rw");
    let file_s = file.to_str().unwrap();
    let made = m.run(&["--output", "json", "index", "s3://idx", "--out", file_s]);
    assert_eq!(made.expect_code(0).json()["source"], "listing");
    let from_index = m.run(&[
        "--output", "json", "plan", "s3://idx", "--at", &t, "--index", file_s,
    ]);
    assert_eq!(actions(from_index.expect_code(0)), expected);
    assert!(
        from_index.stderr.contains("index taken"),
        "{}",
        from_index.stderr
    );
    // A narrower prefix is read from it; another bucket or a wider prefix is refused.
    let docs = m.run(&[
        "--output",
        "json",
        "plan",
        "s3://idx/docs/",
        "--at",
        &t,
        "--index",
        file_s,
    ]);
    assert_eq!(
        actions(docs.expect_code(0)),
        actions(
            m.run(&["--output", "json", "plan", "s3://idx/docs/", "--at", &t])
                .expect_code(0)
        )
    );
    m.bucket("other", true).await;
    let wrong = m.run(&["plan", "s3://other", "--at", &t, "--index", file_s]);
    wrong.expect_code(2);
    assert!(wrong.stderr.contains("does not cover"), "{}", wrong.stderr);
    let docs_file = m.path("docs.s3rw");
    m.run(&[
        "index",
        "s3://idx/docs/",
        "--out",
        docs_file.to_str().unwrap(),
    ])
    .expect_code(0);
    m.run(&[
        "plan",
        "s3://idx",
        "--at",
        &t,
        "--index",
        docs_file.to_str().unwrap(),
    ])
    .expect_code(2);
    // A TIME after the index is refused unless accepted.
    m.run(&["plan", "s3://idx", "--at", "now", "--index", file_s])
        .expect_code(4);
    // Not an index: a clear failure.
    std::fs::write(m.path("junk"), b"{}").unwrap();
    let junk = m.run(&[
        "plan",
        "s3://idx",
        "--at",
        &t,
        "--index",
        m.path("junk").to_str().unwrap(),
    ]);
    junk.expect_code(7);
    assert!(
        junk.stderr.contains("not an s3rewind timeline index"),
        "{}",
        junk.stderr
    );

    // From an inventory: the index takes the report's time.
    let created = Utc::now();
    let manifest = write_inventory(
        &m.path("report"),
        "idx",
        &listed_entries(&m, "idx").await,
        created,
        Format::Csv,
    );
    let inv_file = m.path("inv.s3rw");
    let made = m.run(&[
        "--output",
        "json",
        "index",
        "s3://idx",
        "--out",
        inv_file.to_str().unwrap(),
        "--inventory",
        manifest.to_str().unwrap(),
    ]);
    let made = made.expect_code(0).json();
    assert_eq!(made["source"], "inventory");
    // (the manifest keeps milliseconds)
    assert_eq!(
        made["created"].as_str().unwrap(),
        created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let from_inv_index = m.run(&[
        "--output",
        "json",
        "plan",
        "s3://idx",
        "--at",
        &t,
        "--index",
        inv_file.to_str().unwrap(),
    ]);
    assert_eq!(actions(from_inv_index.expect_code(0)), expected);
}

/// The timeline of an index file, and its header's bucket, prefix and source.
fn index_of(path: &Path) -> (String, String, String, s3rewind_engine::Timeline) {
    let (h, t) =
        s3rewind_engine::index::read_index(std::fs::File::open(path).unwrap(), "").unwrap();
    (h.bucket, h.prefix, h.source, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: an index written, the bucket changed, the index refreshed and compared, in order.
async fn a_refreshed_index_equals_a_fresh_one_and_an_older_inventory_is_refused() {
    let m = Moto::start().await;
    let (t, _) = history(&m, "rfr").await;
    let file = m.path("rfr.s3rw");
    let f = file.to_str().unwrap();
    m.run(&["index", "s3://rfr/docs/", "--out", f])
        .expect_code(0);
    // More history after the index: a new version, a delete, a new key.
    next_second().await;
    m.put("rfr", "docs/a+b.txt", b"after the index").await;
    m.delete("rfr", "docs/space name.txt").await;
    m.put("rfr", "docs/new.txt", b"new").await;
    m.put("rfr", "elsewhere.txt", b"outside the prefix").await;
    let (_, _, _, stale) = index_of(&file);
    let r = m.run(&["--output", "json", "index", "--refresh", f]);
    let doc = r.expect_code(0).json();
    crate::schemas::check_document("s3rewind.index/v1", &doc);
    assert_eq!(doc["prefix"], "docs/");
    assert_eq!(doc["refreshed"]["entries"], stale.len());
    assert!(doc["list_calls"].as_u64().unwrap() >= 1, "{doc}");
    let text = m.run(&["index", "--refresh", f]);
    assert!(
        text.expect_code(0)
            .stdout
            .contains("costs the same as a new index"),
        "{}",
        text.stdout
    );
    // The round trip: the refreshed index is a fresh index of the same prefix.
    let fresh = m.path("fresh.s3rw");
    m.run(&["index", "s3://rfr/docs/", "--out", fresh.to_str().unwrap()])
        .expect_code(0);
    let (b, p, s, refreshed) = index_of(&file);
    assert_eq!(
        (b.as_str(), p.as_str(), s.as_str()),
        ("rfr", "docs/", "listing")
    );
    assert_eq!(refreshed, index_of(&fresh).3);
    assert_ne!(refreshed, stale);
    assert_eq!(
        refreshed.get("docs/new.txt").map(|h| h.entries.len()),
        Some(1)
    );
    assert!(refreshed.get("elsewhere.txt").is_none());
    // Plans from the refreshed index see the new writes: the same plan as a listing.
    let from_index = m.run(&[
        "--output",
        "json",
        "plan",
        "s3://rfr/docs/",
        "--at",
        &t,
        "--index",
        f,
        "--accept-stale-inventory",
    ]);
    let listed = m.run(&["--output", "json", "plan", "s3://rfr/docs/", "--at", &t]);
    assert_eq!(
        actions(from_index.expect_code(0)),
        actions(listed.expect_code(0))
    );
    // The index's own location only.
    let other = m.run(&["index", "s3://rfr", "--refresh", f]);
    other.expect_code(2);
    assert!(other.stderr.contains("s3://rfr/docs/"), "{}", other.stderr);

    // From inventories: a newer report replaces the history, an older one is refused.
    let entries = listed_entries(&m, "rfr").await;
    let newer = Utc::now();
    let new_manifest = write_inventory(&m.path("new-report"), "rfr", &entries, newer, Format::Csv);
    let inv_file = m.path("inv.s3rw");
    let i = inv_file.to_str().unwrap();
    m.run(&[
        "index",
        "s3://rfr/docs/",
        "--out",
        i,
        "--inventory",
        new_manifest.to_str().unwrap(),
    ])
    .expect_code(0);
    let old_manifest = write_inventory(
        &m.path("old-report"),
        "rfr",
        &entries,
        newer - chrono::Duration::hours(1),
        Format::Csv,
    );
    let before = std::fs::read(&inv_file).unwrap();
    let refused = m.run(&[
        "index",
        "--refresh",
        i,
        "--inventory",
        old_manifest.to_str().unwrap(),
    ]);
    refused.expect_code(4);
    assert!(
        refused.stderr.contains("back in time"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read(&inv_file).unwrap(),
        before,
        "nothing was written"
    );
    let later = write_inventory(
        &m.path("later-report"),
        "rfr",
        &entries,
        newer + chrono::Duration::minutes(5),
        Format::Csv,
    );
    let r = m.run(&[
        "--output",
        "json",
        "index",
        "--refresh",
        i,
        "--inventory",
        later.to_str().unwrap(),
    ]);
    let doc = r.expect_code(0).json();
    assert_eq!(doc["source"], "inventory");
    assert_eq!(doc["list_calls"], 0);
    assert_eq!(index_of(&inv_file).3, refreshed);
}
