//! Journals kept in S3 (`--journal s3://BUCKET/PREFIX/`), end to end on buckets in memory:
//! each "runner" gets its own empty journal directory, as an ephemeral CI or DR runner
//! does, so whatever a later run knows it read back from S3.

use super::{Outcome, run_cmd};
use crate::bucket::{Bucket, MemStore, Op};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use s3rewind_engine::sim::Content;
use s3rewind_engine::{SimBucket, Versioning};
use std::collections::BTreeMap;
use std::sync::Arc;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).unwrap() + TimeDelta::seconds(secs)
}

const AT: &str = "2025-06-01T09:01:40Z";
const JOURNAL: &str = "s3://journals/runs/r1/";
/// The restore every test runs, with its journal in S3.
const RESTORE: [&str; 7] = [
    "restore",
    "s3://src",
    "--at",
    AT,
    "--yes",
    "--journal",
    JOURNAL,
];

/// `src`: `n` keys written before [`AT`] and overwritten after it; `journals`: empty.
fn store(n: usize) -> Arc<MemStore> {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    for k in 0..n {
        sim.put(&format!("k/{k:03}"), format!("k{k} good").as_bytes(), t(30));
    }
    for k in 0..n {
        sim.put(&format!("k/{k:03}"), format!("k{k} bad").as_bytes(), t(200));
    }
    let store = MemStore::new();
    store.insert("src", sim);
    store.create("journals", Versioning::Enabled);
    store
}

fn contents(store: &MemStore, bucket: &str) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.current_contents())
}

/// The segment keys under the journal's prefix.
fn segments(store: &MemStore) -> Vec<String> {
    contents(store, "journals")
        .into_keys()
        .filter(|k| k.starts_with("runs/r1/"))
        .collect()
}

/// A fresh runner: a journal directory of its own.
fn runner() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

async fn run(store: &Arc<MemStore>, runner: &tempfile::TempDir, args: &[&str]) -> Outcome {
    let dir = runner.path().to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--journal-dir", &dir]);
    run_cmd(&all, store.endpoint(), None).await
}

fn ok(out: &Outcome) {
    assert_eq!(
        out.exit, 0,
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.exit, out.stdout, out.stderr
    );
}

fn said(out: &Outcome) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

#[tokio::test]
async fn a_journal_kept_in_s3_outlives_its_runner_and_undo_reads_it_back() {
    let store = store(12);
    let before = contents(&store, "src");
    let first = runner();
    let out = run(&store, &first, &RESTORE).await;
    ok(&out);
    assert!(
        said(&out).contains("read back and checked"),
        "{}",
        said(&out)
    );
    let segs = segments(&store);
    assert!(!segs.is_empty(), "the journal reached S3");
    assert!(
        segs.iter()
            .all(|k| k.starts_with("runs/r1/00000") && k.ends_with(".jsonl")),
        "{segs:?}"
    );
    assert_ne!(contents(&store, "src"), before, "the restore wrote");
    drop(first); // the runner is gone, and its journal directory with it

    let second = runner();
    let undone = run(&store, &second, &["undo", JOURNAL, "--yes"]).await;
    ok(&undone);
    assert_eq!(
        contents(&store, "src"),
        before,
        "undo, from the journal read back from S3, put back every key"
    );
    assert_eq!(store.requests().of(Op::DeleteVersion), 0);
}

#[tokio::test]
async fn a_stopped_restore_resumes_on_another_runner_from_its_s3_journal() {
    let store = store(20);
    let before = contents(&store, "src");
    let restore = |runner: tempfile::TempDir, cap: Option<&'static str>| {
        let store = store.clone();
        async move {
            let mut args = RESTORE.to_vec();
            if let Some(cap) = cap {
                args.extend(["--max-bytes", cap]);
            }
            run(&store, &runner, &args).await
        }
    };
    let stopped = restore(runner(), Some("40B")).await;
    assert_eq!(stopped.exit, 4, "{}", said(&stopped));
    let first = store.requests().of(Op::Copy);
    assert!((1..20).contains(&first), "{first} copies before the cap");
    let resumed = restore(runner(), None).await;
    ok(&resumed);
    assert_eq!(store.requests().of(Op::Copy), 20, "every key copied once");
    // Both runs' records are in S3: an undo on a third runner takes back all 20.
    ok(&run(&store, &runner(), &["undo", JOURNAL, "--yes"]).await);
    assert_eq!(contents(&store, "src"), before);
}

#[tokio::test]
async fn a_working_copy_ahead_of_s3_is_uploaded_before_anything_else() {
    let store = store(6);
    let first = runner();
    ok(&run(&store, &first, &RESTORE).await);
    let segs = segments(&store);
    // As if the runner crashed before its last upload: S3 lacks the last segment.
    let journals = store.bucket("journals");
    let last = segs.last().unwrap();
    let head = journals.head(last, None).await.unwrap().unwrap();
    journals
        .delete_version(last, &head.version_id)
        .await
        .unwrap();
    assert_eq!(segments(&store).len(), segs.len() - 1);
    let out = run(&store, &first, &["undo", JOURNAL, "--dry-run"]).await;
    ok(&out);
    assert!(
        said(&out).contains("S3 does not; they are uploaded now"),
        "{}",
        said(&out)
    );
    assert_eq!(
        segments(&store).len(),
        segs.len(),
        "the missing lines are back"
    );
    // And they read back on a runner that never saw them.
    ok(&run(&store, &runner(), &["undo", JOURNAL, "--yes"]).await);
}

/// A journal that is not one chain is refused before anything is written.
#[tokio::test]
async fn a_damaged_or_shared_journal_prefix_is_refused_before_any_write() {
    for damage in ["foreign", "gap", "two writers", "offset"] {
        let store = store(4);
        ok(&run(&store, &runner(), &RESTORE).await);
        let journals = store.bucket("journals");
        let segs = segments(&store);
        let body = b"{\"type\":\"torn\",\"offset\":0}\n".to_vec();
        match damage {
            "foreign" => {
                journals
                    .put("runs/r1/notes.txt", b"x".to_vec(), "text/plain")
                    .await
                    .unwrap();
            }
            "gap" => {
                journals
                    .put("runs/r1/00000009-000000009999-w.jsonl", body, "x")
                    .await
                    .unwrap();
            }
            "two writers" => {
                journals
                    .put("runs/r1/00000000-000000000000-w2.jsonl", body, "x")
                    .await
                    .unwrap();
            }
            _ => {
                let n = segs.len();
                journals
                    .put(&format!("runs/r1/{n:08}-000000000001-w.jsonl"), body, "x")
                    .await
                    .unwrap();
            }
        }
        let src = contents(&store, "src");
        let writes = store.requests().writes();
        for args in [vec!["undo", JOURNAL, "--yes"], RESTORE.to_vec()] {
            let out = run(&store, &runner(), &args).await;
            assert_eq!(out.exit, 4, "{damage}: {}", said(&out));
            assert!(
                said(&out).contains("journal s3://journals/runs/r1/"),
                "{}",
                said(&out)
            );
            assert!(said(&out).contains("nothing was written"), "{}", said(&out));
        }
        assert_eq!(contents(&store, "src"), src, "{damage}");
        assert_eq!(
            store.requests().writes(),
            writes,
            "{damage}: no write at all"
        );
    }
}

#[tokio::test]
async fn a_journal_inside_the_data_it_journals_is_refused() {
    let store = store(3);
    // `restore FROM --at AT --yes --journal JOURNAL [--to TO]`
    let restore = |from: &'static str, journal: &'static str, to: Option<&'static str>| {
        let mut args = vec!["restore", from, "--at", AT, "--yes", "--journal", journal];
        args.extend(to.into_iter().flat_map(|t| ["--to", t]));
        args
    };
    for (args, names) in [
        (restore("s3://src", "s3://src/j/", None), "s3://src"),
        (
            restore(
                "s3://src/k/",
                "s3://journals/out/j/",
                Some("s3://journals/out/"),
            ),
            "s3://journals/out/",
        ),
    ] {
        let out = run(&store, &runner(), &args).await;
        assert_eq!(out.exit, 2, "{}", said(&out));
        assert!(
            said(&out).contains(&format!("lies inside {names}")),
            "{}",
            said(&out)
        );
        assert_eq!(store.requests().total(), 0, "refused before any request");
    }
    // Outside the restored prefix, the same bucket is fine.
    let args = restore("s3://src/k/", "s3://src/journal/", None);
    ok(&run(&store, &runner(), &args).await);
    assert!(
        contents(&store, "src")
            .keys()
            .any(|k| k.starts_with("journal/0000"))
    );
}

#[tokio::test]
async fn a_drill_needs_an_empty_journal_prefix() {
    let store = store(3);
    store.create("scratch", Versioning::Enabled);
    let drill = [
        "drill",
        "s3://src",
        "--at",
        AT,
        "--scratch",
        "s3://scratch",
        "--journal",
        JOURNAL,
    ];
    let out = run(&store, &runner(), &drill).await;
    ok(&out);
    assert!(!segments(&store).is_empty());
    let again = run(&store, &runner(), &drill).await;
    assert_eq!(again.exit, 2, "{}", said(&again));
    assert!(
        said(&again).contains("a drill starts a fresh one"),
        "{}",
        said(&again)
    );
}
