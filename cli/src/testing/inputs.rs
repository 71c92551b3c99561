//! Every input proven (issue 21, sections 2–7), in process on buckets in memory: a
//! snapshot's guesses are settled by the live bucket, journals are bound to their run and
//! survive a torn line, refusals come before any write, plans are checked by digest.

use super::{Outcome, run_cmd};
use crate::bucket::MemStore;
use crate::pipeline::rfc3339;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use s3rewind_engine::inventory::ReportWriter;
use s3rewind_engine::sim::Content;
use s3rewind_engine::{SimBucket, Versioning};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Seconds after the start of the histories.
fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).unwrap() + TimeDelta::seconds(secs)
}

fn contents(store: &MemStore, bucket: &str) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.current_contents())
}

fn truth(store: &MemStore, bucket: &str, at: DateTime<Utc>) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.truth_at(at))
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The command succeeded (else the test fails with what it printed).
fn ok(out: &Outcome) {
    assert_eq!(
        out.exit, 0,
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.exit, out.stdout, out.stderr
    );
}

/// An all-versions CSV inventory of `bucket` as it is now, taken at `created`, under
/// `dir`; returns its manifest's path.
fn inventory(store: &MemStore, bucket: &str, dir: &Path, created: DateTime<Utc>) -> PathBuf {
    let entries = store.with(bucket, |s| s.list_order(""));
    let mut w = ReportWriter::new(dir, bucket, &format!("inv/{bucket}/all/"));
    w.new_file().unwrap();
    for e in &entries {
        w.write(e).unwrap();
    }
    w.finish(created).unwrap()
}

/// Keys written twice in one second before T: `k` is damaged after T, `j` is not, `z`
/// was written and deleted in one second, then written again after T.
fn same_second() -> Arc<MemStore> {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    sim.put("j", b"j first", t(10));
    sim.put("j", b"j second", t(10));
    sim.put("k", b"k first", t(10));
    sim.put("k", b"k second", t(10));
    sim.put("z", b"z one", t(11));
    sim.delete("z", t(11));
    sim.put("k", b"k damaged", t(200));
    sim.put("z", b"z new", t(201));
    let store = MemStore::new();
    store.insert("src", sim);
    store
}

/// §2: an inventory keeps no order between two versions of one key in one second; the
/// restore takes those keys' histories from the bucket, and reaches the true state.
#[tokio::test]
async fn same_second_versions_in_an_inventory_are_decided_by_the_bucket() {
    let store = same_second();
    let dir = tempfile::tempdir().unwrap();
    let manifest = inventory(&store, "src", dir.path(), t(300));
    let want = truth(&store, "src", t(100));
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(t(100)),
            "--inventory",
            &manifest.to_string_lossy(),
            "--yes",
            "--journal",
            &path(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert_eq!(contents(&store, "src"), want, "{}", out.stderr);
    assert!(
        out.stderr.contains("the inventory cannot order"),
        "{}",
        out.stderr
    );
}

/// §2: a restore from an index says "index" where it cannot verify, not "inventory".
#[tokio::test]
async fn a_restore_from_an_index_names_the_index() {
    let store = same_second();
    let dir = tempfile::tempdir().unwrap();
    let index = path(dir.path(), "idx");
    ok(&run_cmd(
        &["index", "s3://src", "--out", &index],
        store.endpoint(),
        None,
    )
    .await);
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(t(100)),
            "--index",
            &index,
            "--yes",
            "--journal",
            &path(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert_eq!(contents(&store, "src"), truth(&store, "src", t(100)));
    assert!(
        out.stderr.contains("the index cannot show") && !out.stderr.contains("inventory"),
        "{}",
        out.stderr
    );
}
