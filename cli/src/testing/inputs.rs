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

/// The instant the tests restore to.
fn at() -> DateTime<Utc> {
    t(100)
}

/// Before [`at`]: `a.txt`, `b.txt`, `c/d.txt` written; after it `a.txt` overwritten,
/// `b.txt` deleted and `f.txt` written.
fn damaged() -> Arc<MemStore> {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    sim.put("a.txt", b"a one", t(10));
    sim.put("b.txt", b"b one", t(11));
    sim.put("c/d.txt", b"d one", t(12));
    sim.put("a.txt", b"a damaged", t(200));
    sim.delete("b.txt", t(202));
    sim.put("f.txt", b"f new", t(204));
    let store = MemStore::new();
    store.insert("src", sim);
    store
}

/// §7: `plan --out` records a digest; `apply --expect-digest` refuses any other plan
/// before any request that writes; `apply` prints what it will do, counted from the
/// actions, not the file's `stats`.
#[tokio::test]
async fn apply_checks_the_reviewed_digest_and_counts_what_it_will_do() {
    let store = damaged();
    let dir = tempfile::tempdir().unwrap();
    let plan_file = path(dir.path(), "plan.json");
    let out = run_cmd(
        &[
            "plan",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--out",
            &plan_file,
            "--output",
            "json",
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let digest = out.json()["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(out.stderr.contains(&digest), "{}", out.stderr);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(written["digest"], digest.as_str());

    // Another digest: refused, nothing written.
    let apply = |file: String, expect: Option<String>| {
        let store = store.clone();
        let journal = path(dir.path(), "j.jsonl");
        async move {
            let mut args = vec!["apply".to_owned(), file, "--yes".into(), "--journal".into()];
            args.push(journal);
            if let Some(d) = expect {
                args.push("--expect-digest".into());
                args.push(d);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cmd(&args, store.endpoint(), None).await
        }
    };
    let out = apply(plan_file.clone(), Some("sha256:0000".into())).await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("sha256:0000") && out.stderr.contains(&digest),
        "{}",
        out.stderr
    );
    assert_eq!(store.requests().writes(), 0);

    // An edited plan (its stats say nothing is to be copied): not the reviewed one.
    let mut edited = written.clone();
    edited["stats"]["copies"] = 0.into();
    let edited_file = path(dir.path(), "edited.json");
    std::fs::write(&edited_file, edited.to_string()).unwrap();
    let out = apply(edited_file.clone(), Some(digest.clone())).await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    assert_eq!(store.requests().writes(), 0);

    // Applied anyway, it says it was changed and counts the copies it makes.
    let out = apply(edited_file, None).await;
    ok(&out);
    assert!(
        out.stderr.contains("was changed after it was written"),
        "{}",
        out.stderr
    );
    let copies = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("copies:"))
        .unwrap_or_default()
        .to_owned();
    assert!(copies.contains(" 2 "), "{copies}\n{}", out.stdout);
    assert_eq!(contents(&store, "src"), truth(&store, "src", at()));

    // The reviewed plan with its digest applies (nothing left to do).
    ok(&apply(plan_file, Some(digest)).await);
}
