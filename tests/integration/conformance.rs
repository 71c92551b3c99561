//! The conformance suite: restore scenarios that must come out exactly the same on every
//! real S3 server we test, moto and Ceph radosgw. Each scenario is one function over a
//! [`Server`]; the `conformance!` macro runs it once per server (radosgw scenarios are
//! reported as skipped when the test run has no radosgw, see `support.rs`).
//!
//! Several of these found bugs on radosgw that moto hid: a PUT stamped before a
//! concurrent DELETE yet current (list order, not timestamps); `<NextKeyMarker>` sent
//! raw under `EncodingType=url`; CopyObject without `x-amz-version-id`; UploadPartCopy
//! answered 411 without a Content-Length; tags dropped by CreateMultipartUpload.

use crate::support::{Kind, Moto, Server, checkpoint, next_second, strs, ts};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::BTreeMap;

macro_rules! conformance {
    (
        both: [$($name:ident),* $(,)?],
        moto_only: [$($moto:ident),* $(,)?],
        radosgw_only: [$($rgw:ident),* $(,)?] $(,)?
    ) => {
        mod on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let s = super::Moto::start().await;
                    super::$name(&s).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $moto() {
                    let s = super::Moto::start().await;
                    super::$moto(&s).await;
                }
            )*
        }
        mod on_radosgw {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(s) = super::Moto::radosgw(stringify!($name)) else { return };
                    super::$name(&s).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $rgw() {
                    let Some(s) = super::Moto::radosgw(stringify!($rgw)) else { return };
                    super::$rgw(&s).await;
                }
            )*
        }
    };
}

// A scenario runs on every server unless a server cannot have it: moto's Suspended
// versioning is wrong (LOCAL_S3.md; the engine's simulator covers those semantics), and
// radosgw has no archive storage classes.
conformance!(
    both: [
    put_delete_race_restores_what_get_returned,
    undelete_removes_only_current_delete_markers,
    awkward_keys_over_small_pages_restore_exactly,
    undo_brings_back_the_content_before_the_restore,
    a_journal_kept_in_s3_is_read_back_by_an_undo_on_another_runner,
    a_sampled_drill_restores_its_sample_and_cleans_up,
    unversioned_destination_is_rewritten_and_verified,
    time_before_the_first_write_and_mass_hiding_are_refused,
    multipart_copies_keep_content_and_tags,
    directory_restore_is_verified_with_a_report,
    null_versions_restore_into_an_unversioned_bucket,
    ls_shows_the_bucket_as_it_was,
    a_drill_restores_verifies_reports_and_cleans_up_exactly,
    include_exclude_and_keys_from_limit_what_is_restored,
    the_bucket_trait_conforms,
    ],
    moto_only: [a_drill_that_cannot_recover_everything_fails],
    radosgw_only: [a_suspended_period_restores_around_its_null_versions],
);

/// The `Bucket` trait's own conformance suite (`s3rewind::bucket::conformance`, which
/// `MemBucket` also runs in the unit tests), on this server through `S3Bucket`.
async fn the_bucket_trait_conforms(s: &Server) {
    let b = s.b("trait");
    s.bucket(&b, true).await;
    let endpoint = s3rewind::s3::S3::from_client(s.client.clone());
    let bucket = s3rewind::bucket::Endpoint::bucket(&endpoint, &b);
    if let Err(e) = s3rewind::bucket::conformance::run_all(&*bucket, "c/").await {
        panic!("{:?}: {e}", s.kind);
    }
    let pre = s3rewind::bucket::conformance::source_precondition_is_honoured(&*bucket, "c/").await;
    // Neither moto nor radosgw honours x-amz-copy-source-if-match on CopyObject
    // (docs/src/servers.md): if that changes, this says so and the quirk can go.
    assert!(
        pre.is_err(),
        "{:?} now honours x-amz-copy-source-if-match",
        s.kind
    );
}

/// A restore point: on moto (whole-second timestamps) strictly between two seconds;
/// radosgw stamps milliseconds, so a short pause is enough.
async fn point(s: &Server) -> String {
    match s.kind {
        Kind::Moto => ts(checkpoint().await),
        Kind::Radosgw => {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            let t = chrono::Utc::now();
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            ts(t)
        }
    }
}

/// PUT and DELETE of each key sent at the same moment, after an initial PUT.
async fn race(s: &Server, bucket: &str, keys: &[String]) {
    let mut tasks = tokio::task::JoinSet::new();
    for k in keys {
        let (c, b, k) = (s.client.clone(), bucket.to_owned(), k.clone());
        tasks.spawn(async move {
            let put = c
                .put_object()
                .bucket(&b)
                .key(&k)
                .body(ByteStream::from(format!("raced {k}").into_bytes()))
                .send();
            let del = c.delete_object().bucket(&b).key(&k).send();
            let (p, d) = tokio::join!(put, del);
            p.unwrap();
            d.unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// A versioned bucket of 30 keys, each written once and then PUT and DELETE at the same
/// moment (on moto, in a later second than the first writes).
async fn raced_bucket(s: &Server, b: &str) -> Vec<String> {
    s.bucket(b, true).await;
    let keys: Vec<String> = (0..30).map(|i| format!("k{i:02}")).collect();
    for k in &keys {
        s.put(b, k, format!("first {k}").as_bytes()).await;
    }
    if s.kind == Kind::Moto {
        next_second().await;
    }
    race(s, b, &keys).await;
    keys
}

async fn put_delete_race_restores_what_get_returned(s: &Server) {
    let b = s.b("race");
    let keys = raced_bucket(s, &b).await;
    // What GET answers now is the truth at T.
    let at_t = s.contents(&b, "").await;
    let t = point(s).await;
    for k in &keys[..20] {
        s.put(&b, k, b"ransomed").await;
    }
    for k in &keys[20..] {
        s.delete(&b, k).await;
    }
    // moto stamps whole seconds and does not interleave versions and delete markers, so
    // a PUT and a DELETE in one second cannot be ordered from its listing: such keys are
    // reported as same-second ties, and only those may differ there. radosgw lists in
    // true order (with millisecond stamps that disagree with it): every key must match.
    let plan = s.run(&["--output", "json", "plan", &format!("s3://{b}"), "--at", &t]);
    plan.expect_code(0);
    let ties: Vec<String> = plan.json()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "same_second_tie")
        .map(|w| w["key"].as_str().unwrap().to_owned())
        .collect();
    if s.kind == Kind::Radosgw {
        assert!(ties.is_empty(), "radosgw's order is known: {ties:?}");
    }
    // The race may leave most keys deleted at T: past the default blast-radius limit.
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--yes",
        "--max-delete-markers",
        "100%",
    ]);
    r.expect_code(0);
    let now = s.contents(&b, "").await;
    for k in keys.iter().filter(|k| !ties.contains(k)) {
        assert_eq!(now.get(k), at_t.get(k), "{k}\n{}", r.stdout);
    }
    if ties.is_empty() {
        assert_eq!(now, at_t);
        // The history agrees with GET: no live key is called deleted.
        s.run(&["verify", &format!("s3://{b}"), "--at", &t])
            .expect_code(0);
    }
}

async fn undelete_removes_only_current_delete_markers(s: &Server) {
    let b = s.b("undel");
    let keys = raced_bucket(s, &b).await;
    let live = s.contents(&b, "").await;
    let before = s.versions(&b).await;
    let r = s.run(&[
        "undelete",
        &format!("s3://{b}"),
        "--remove-delete-markers",
        "--yes",
    ]);
    assert!(r.code == 0 || r.code == 1, "{} {}", r.stdout, r.stderr);
    let after = s.versions(&b).await;
    let removed: Vec<_> = before.iter().filter(|v| !after.contains(v)).collect();
    // Only delete markers went, and only of keys that were deleted (not live) before.
    for (key, _, is_marker) in &removed {
        assert!(*is_marker, "a version of {key} was removed");
        assert!(
            !live.contains_key(key),
            "a marker of live key {key} was removed"
        );
    }
    // Live keys still read the same; deleted ones are back.
    let now = s.contents(&b, "").await;
    for (k, v) in &live {
        assert_eq!(now.get(k), Some(v), "{k}");
    }
    assert_eq!(now.len(), keys.len(), "every deleted key is back");
}

/// Keys that break naive encoding: `+`, `%XX`, spaces, `&`, `=`, unicode.
fn awkward() -> Vec<&'static str> {
    vec![
        "a+b",
        "a b",
        "a%2Bb",
        "x%39",
        "x9",
        "q&r=s",
        "dir/ü é+ü.txt",
        "dir/%41",
        "dir/A",
        "plus+/+",
        "z z/+%20+",
        // A folder with `+`, changed after T: the parallel listing must read its common
        // prefix right or the key would be missing from the restore.
        "c+d/e",
    ]
}

async fn awkward_keys_over_small_pages_restore_exactly(s: &Server) {
    let b = s.b("awkward");
    let dest = s.b("awkward-copy");
    s.bucket(&b, true).await;
    s.bucket(&dest, true).await;
    let keys = awkward();
    for k in &keys {
        s.put(&b, k, format!("v1 {k}").as_bytes()).await;
        s.put(&b, k, format!("v2 {k}").as_bytes()).await;
    }
    if s.kind == Kind::Moto {
        // No same-second ties on moto (its listing cannot order them): this test is
        // about encodings and pages.
        next_second().await;
    }
    for k in keys.iter().step_by(3) {
        s.delete(&b, k).await;
    }
    let at_t = s.contents(&b, "").await;
    let t = point(s).await;
    for (i, k) in keys.iter().enumerate() {
        if i % 2 == 0 {
            s.put(&b, k, b"changed").await;
        } else {
            s.delete(&b, k).await;
        }
    }
    // Into another bucket first (so the source keeps its history), then in place.
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--to",
        &format!("s3://{dest}"),
        "--page-size",
        "7",
        "--list-concurrency",
        "1",
        "--yes",
    ]);
    r.expect_code(0);
    // An empty destination: copied as the listing went (this server's copy replies
    // and read-back included).
    assert!(
        r.stderr.contains("copying as the listing goes"),
        "{}",
        r.stderr
    );
    assert_eq!(s.contents(&dest, "").await, at_t, "{}", r.stdout);
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--page-size",
        "7",
        "--list-split",
        "folders",
        "--yes",
    ]);
    r.expect_code(0);
    assert_eq!(s.contents(&b, "").await, at_t, "{}", r.stdout);
    // A second run finds nothing to do, over the same small pages.
    let again = s.run(&[
        "--output",
        "json",
        "plan",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--page-size",
        "7",
    ]);
    again.expect_code(0);
    assert_eq!(again.json()["actions"].as_array().unwrap().len(), 0);
}

async fn undo_brings_back_the_content_before_the_restore(s: &Server) {
    let b = s.b("undo");
    s.bucket(&b, true).await;
    for i in 0..8 {
        s.put(&b, &format!("f{i}"), format!("old {i}").as_bytes())
            .await;
    }
    let t = point(s).await;
    for i in 0..4 {
        s.put(&b, &format!("f{i}"), format!("new {i}").as_bytes())
            .await;
    }
    s.put(&b, "created-later", b"x").await;
    s.delete(&b, "f7").await;
    let before_restore = s.contents(&b, "").await;
    let journal = s.path("restore.jsonl");
    let journal = journal.to_str().unwrap();
    s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--yes",
        "--journal",
        journal,
    ])
    .expect_code(0);
    assert_ne!(s.contents(&b, "").await, before_restore);
    let r = s.run(&["undo", journal, "--yes"]);
    r.expect_code(0);
    assert_eq!(s.contents(&b, "").await, before_restore, "{}", r.stdout);
}

/// `--journal s3://…`: the runner's own journal directory is gone after the restore (an
/// ephemeral CI runner), and an undo with another one reads the journal back from S3.
async fn a_journal_kept_in_s3_is_read_back_by_an_undo_on_another_runner(s: &Server) {
    let b = s.b("data");
    let j = s.b("journals");
    s.bucket(&b, true).await;
    s.bucket(&j, true).await;
    for i in 0..6 {
        s.put(&b, &format!("f{i}"), format!("old {i}").as_bytes())
            .await;
    }
    let t = point(s).await;
    for i in 0..3 {
        s.put(&b, &format!("f{i}"), format!("new {i}").as_bytes())
            .await;
    }
    s.delete(&b, "f5").await;
    let before_restore = s.contents(&b, "").await;
    let url = format!("s3://{j}/runs/drill-1/");
    let first = s.path("runner-1");
    let restore = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--yes",
        "--journal",
        &url,
        "--journal-dir",
        first.to_str().unwrap(),
    ]);
    restore.expect_code(0);
    assert!(
        restore.stderr.contains("read back and checked"),
        "{}",
        restore.stderr
    );
    let segments = s.contents(&j, "runs/drill-1/").await;
    assert!(!segments.is_empty());
    assert!(
        segments
            .values()
            .all(|body| body.ends_with(b"\n") && body.starts_with(b"{")),
        "whole JSON lines in every segment"
    );
    std::fs::remove_dir_all(&first).unwrap();
    let second = s.path("runner-2");
    let undo = s.run(&[
        "undo",
        &url,
        "--yes",
        "--journal-dir",
        second.to_str().unwrap(),
    ]);
    undo.expect_code(0);
    assert_eq!(s.contents(&b, "").await, before_restore, "{}", undo.stdout);
}

async fn unversioned_destination_is_rewritten_and_verified(s: &Server) {
    let b = s.b("src");
    let dest = s.b("plain");
    s.bucket(&b, true).await;
    s.bucket(&dest, false).await;
    for i in 0..6 {
        s.put(&b, &format!("d/f{i}"), format!("at t {i}").as_bytes())
            .await;
    }
    let at_t = s.contents(&b, "").await;
    let t = point(s).await;
    s.put(&b, "d/f0", b"later").await;
    let args = [
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--to",
        &format!("s3://{dest}"),
        "--yes",
    ];
    // First as a reviewed plan, applied.
    let plan_file = s.path("plain.json");
    let plan_file = plan_file.to_str().unwrap();
    let mut plan_args: Vec<&str> = args[1..args.len() - 1].to_vec();
    plan_args.insert(0, "plan");
    plan_args.extend(["--out", plan_file]);
    s.run(&plan_args).expect_code(0);
    s.run(&["apply", plan_file, "--yes"]).expect_code(0);
    assert_eq!(s.contents(&dest, "").await, at_t);
    // Someone changes a restored object: nothing may take the journal's `null` version
    // id for proof that the copy is still there.
    s.put(&dest, "d/f3", b"changed after the restore").await;
    // The same plan again: the changed key is not "already done"; it changed since the
    // plan, so it is reported as drifted and left as it is.
    let r = s.run(&["apply", plan_file, "--yes"]);
    r.expect_code(1);
    assert!(
        r.stdout.contains("Drifted") && r.stdout.contains("d/f3"),
        "{}",
        r.stdout
    );
    assert_eq!(
        s.contents(&dest, "").await.get("d/f3").map(Vec::as_slice),
        Some(&b"changed after the restore"[..])
    );
    // A new restore re-plans, and overwriting there cannot be undone: without --yes (and
    // no terminal) it is refused.
    let unconfirmed: Vec<&str> = args.iter().copied().filter(|a| *a != "--yes").collect();
    let r = s.run(&unconfirmed);
    r.expect_code(4);
    assert!(r.stderr.contains("confirmation"), "{}", r.stderr);
    assert_eq!(
        s.contents(&dest, "").await.get("d/f3").map(Vec::as_slice),
        Some(&b"changed after the restore"[..])
    );
    let r = s.run(&args);
    r.expect_code(0);
    assert_eq!(s.contents(&dest, "").await, at_t, "{}", r.stdout);
    s.run(&[
        "verify",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--to",
        &format!("s3://{dest}"),
        "--deep",
    ])
    .expect_code(0);
}

async fn time_before_the_first_write_and_mass_hiding_are_refused(s: &Server) {
    let b = s.b("guard");
    s.bucket(&b, true).await;
    let before_everything = point(s).await;
    for i in 0..3 {
        s.put(&b, &format!("old/{i}"), b"x").await;
    }
    let t = point(s).await;
    for i in 0..20 {
        s.put(&b, &format!("new/{i}"), b"y").await;
    }
    let versions = s.versions(&b).await;
    // TIME before the first write: a usage error naming the first write; no writes.
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &before_everything,
        "--yes",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("before the first write"), "{}", r.stderr);
    // Hiding 20 of 23 current keys: refused unless the limit is raised.
    let r = s.run(&["restore", &format!("s3://{b}"), "--at", &t, "--yes"]);
    r.expect_code(4);
    assert!(r.stderr.contains("--max-delete-markers"), "{}", r.stderr);
    assert_eq!(s.versions(&b).await, versions, "nothing was written");
    // A prefix where nothing ever existed, written like a glob.
    let r = s.run(&["restore", &format!("s3://{b}/old*"), "--at", &t, "--yes"]);
    r.expect_code(3);
    assert!(r.stderr.contains("not a glob"), "{}", r.stderr);
    assert_eq!(s.versions(&b).await, versions, "nothing was written");
    s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--yes",
        "--max-delete-markers",
        "100%",
    ])
    .expect_code(0);
    assert_eq!(s.contents(&b, "").await.len(), 3);
}

async fn multipart_copies_keep_content_and_tags(s: &Server) {
    let b = s.b("big");
    let dest = s.b("big-copy");
    s.bucket(&b, true).await;
    s.bucket(&dest, true).await;
    let body: Vec<u8> = (0..(6 * 1024 * 1024 + 123))
        .map(|i: u32| (i % 251) as u8)
        .collect();
    s.client
        .put_object()
        .bucket(&b)
        .key("large.bin")
        .body(ByteStream::from(body.clone()))
        .tagging("team=storage&kind=backup")
        .send()
        .await
        .unwrap();
    let t = point(s).await;
    s.put(&b, "large.bin", b"small now").await;
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--to",
        &format!("s3://{dest}"),
        "--multipart-threshold",
        "5MiB",
        "--part-size",
        "5MiB",
        "--deep-verify",
        "--yes",
    ]);
    r.expect_code(0);
    let got = s.contents(&dest, "").await;
    assert_eq!(got.get("large.bin").map(Vec::len), Some(body.len()));
    assert!(got["large.bin"] == body, "content differs");
    let tags = s
        .client
        .get_object_tagging()
        .bucket(&dest)
        .key("large.bin")
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<&str, &str> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([("kind", "backup"), ("team", "storage")])
    );
}

async fn directory_restore_is_verified_with_a_report(s: &Server) {
    let b = s.b("files");
    s.bucket(&b, true).await;
    for i in 0..5 {
        s.put(&b, &format!("docs/{i}.txt"), format!("doc {i}").as_bytes())
            .await;
    }
    let t = point(s).await;
    s.put(&b, "docs/0.txt", b"later").await;
    let dir = s.path("out");
    let dir_s = dir.to_str().unwrap();
    let report = s.path("report.jsonl");
    let r = s.run(&[
        "restore",
        &format!("s3://{b}/docs/"),
        "--at",
        &t,
        "--to-dir",
        dir_s,
        "--report",
        report.to_str().unwrap(),
    ]);
    r.expect_code(0);
    assert!(r.stdout.contains("OK:"), "{}", r.stdout);
    let lines = std::fs::read_to_string(&report).unwrap();
    assert_eq!(lines.lines().count(), 5);
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["ok"], true, "{l}");
        assert!(v["source_version_id"].is_string(), "{l}");
    }
    // A file changed after the restore (same size): caught by its MD5, exit 1.
    std::fs::write(dir.join("3.txt"), b"DOC 3").unwrap();
    let csv = s.path("report.csv");
    let r = s.run(&[
        "verify",
        &format!("s3://{b}/docs/"),
        "--at",
        &t,
        "--to-dir",
        dir_s,
        "--report",
        csv.to_str().unwrap(),
    ]);
    r.expect_code(1);
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("key,source_key,source_version_id"), "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.starts_with("3.txt,") && l.ends_with(",different_etag")),
        "{csv}"
    );
}

async fn null_versions_restore_into_an_unversioned_bucket(s: &Server) {
    // A `null` version (written before versioning was enabled) restored into a bucket
    // that keeps no versions: radosgw's CopyObject makes an object that lists right but
    // reads as another; the restore must read back what it wrote.
    let b = s.b("legacy");
    let dest = s.b("legacy-plain");
    s.bucket(&b, false).await;
    s.bucket(&dest, false).await;
    s.put(&b, "n.txt", b"written before versioning").await;
    s.put(&b, "m.txt", b"also old").await;
    s.set_versioning(&b, aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .await;
    let at_t = s.contents(&b, "").await;
    let t = point(s).await;
    s.put(&b, "n.txt", b"newer").await;
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--to",
        &format!("s3://{dest}"),
        "--yes",
    ]);
    r.expect_code(0);
    assert_eq!(s.contents(&dest, "").await, at_t, "{}", r.stdout);
}

async fn a_suspended_period_restores_around_its_null_versions(s: &Server) {
    use aws_sdk_s3::types::BucketVersioningStatus::{Enabled, Suspended};
    let b = s.b("suspended");
    s.bucket(&b, true).await;
    s.put(&b, "a", b"a1").await;
    s.put(&b, "a", b"a2").await;
    s.put(&b, "b", b"b1").await;
    s.put(&b, "c", b"c1").await;
    let at_t = s.contents(&b, "").await;
    let t = point(s).await;
    s.set_versioning(&b, Suspended).await;
    s.put(&b, "a", b"a-null-1").await;
    s.put(&b, "a", b"a-null-2").await; // replaces the null version in place
    s.delete(&b, "b").await; // a null delete marker
    s.put(&b, "d", b"d-null").await;
    s.set_versioning(&b, Enabled).await;
    s.put(&b, "a", b"a3").await;
    s.put(&b, "c", b"c2").await;
    let r = s.run(&["restore", &format!("s3://{b}"), "--at", &t, "--yes"]);
    r.expect_code(0);
    // `d` was first written while Suspended: a `null` write after T may have replaced a
    // `null` version that existed at T, so its state at T is unknown and it is left
    // alone, with a warning (the documented rule); everything else is as at T.
    let mut expected = at_t.clone();
    expected.insert("d".to_owned(), b"d-null".to_vec());
    assert_eq!(s.contents(&b, "").await, expected, "{}", r.stdout);
    assert!(r.stdout.contains("left as it is: \"d\""), "{}", r.stdout);
    // While versioning is Suspended, an in-place restore is refused before any write.
    s.set_versioning(&b, Suspended).await;
    let before = s.versions(&b).await;
    let r = s.run(&["restore", &format!("s3://{b}"), "--at", &t, "--yes"]);
    r.expect_code(4);
    assert_eq!(s.versions(&b).await, before);
}

async fn ls_shows_the_bucket_as_it_was(s: &Server) {
    let b = s.b("listing");
    s.bucket(&b, true).await;
    s.put(&b, "docs/a.txt", b"aaaa").await;
    s.put(&b, "docs/b.txt", b"bb").await;
    s.put(&b, "other/c.txt", b"c").await;
    let t = point(s).await;
    s.delete(&b, "docs/a.txt").await;
    s.put(&b, "docs/b.txt", b"bbbbbbbb").await;
    s.put(&b, "docs/new.txt", b"n").await;
    let r = s.run(&["ls", &format!("s3://{b}/docs/"), "--at", &t]);
    r.expect_code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(lines[0].ends_with(" 4  docs/a.txt"), "{}", r.stdout);
    assert!(lines[1].ends_with(" 2  docs/b.txt"), "{}", r.stdout);
    let now = s.run(&["--output", "json", "ls", &format!("s3://{b}/docs/")]);
    let j = now.expect_code(0).json();
    assert_eq!(j["schema"], "s3rewind.ls/v1");
    let keys = strs(&j["objects"], "key");
    assert_eq!(keys, ["docs/b.txt", "docs/new.txt"]);
    assert_eq!(j["bytes"], 9);
}

/// `drill --sample`: a sample of every prefix restored, verified by content, projected,
/// and cleaned up.
async fn a_sampled_drill_restores_its_sample_and_cleans_up(s: &Server) {
    let b = s.b("prod");
    let scratch = s.b("scratch");
    s.bucket(&b, true).await;
    s.bucket(&scratch, true).await;
    for p in ["a", "b", "c"] {
        for i in 0..4 {
            s.put(&b, &format!("{p}/{i}"), format!("{p}{i}").as_bytes())
                .await;
        }
    }
    let t = point(s).await;
    s.put(&b, "a/0", b"changed").await;
    let r = s.run(&[
        "--output",
        "json",
        "drill",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--scratch",
        &format!("s3://{scratch}/d/"),
        "--sample",
        "25%",
        "--cleanup",
    ]);
    let j = r.expect_code(0).json();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["sample"]["keys"], 3, "{j}");
    assert_eq!(j["sample"]["population_keys"], 12);
    let strata = j["sample"]["strata"].as_array().unwrap();
    assert!(strata.iter().all(|s| s["sampled"] == 1), "{j}");
    assert_eq!(j["verification"]["matched"]["same_content"], 3, "{j}");
    assert_eq!(j["objects_restored"], 3);
    assert!(j["sample"]["projection"]["rto_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(j["cleanup"]["removed"], 3, "{j}");
    assert!(s.versions(&scratch).await.is_empty());
}

async fn a_drill_restores_verifies_reports_and_cleans_up_exactly(s: &Server) {
    let b = s.b("prod");
    let scratch = s.b("scratch");
    s.bucket(&b, true).await;
    s.bucket(&scratch, true).await;
    for i in 0..6 {
        s.put(
            &b,
            &format!("app/{i}.json"),
            format!("{{\"v\": {i}}}").as_bytes(),
        )
        .await;
    }
    s.put(&scratch, "unrelated/keep.txt", b"not the drill's")
        .await;
    let t = point(s).await;
    s.put(&b, "app/0.json", b"changed").await;
    s.delete(&b, "app/1.json").await;
    let scratch_before = s.versions(&scratch).await;

    // Overlapping the source, and a scratch prefix that is not empty: refused, no writes.
    let r = s.run(&[
        "drill",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--scratch",
        &format!("s3://{b}/drill/"),
    ]);
    r.expect_code(2);
    let r = s.run(&[
        "drill",
        &format!("s3://{b}/app/"),
        "--at",
        &t,
        "--scratch",
        &format!("s3://{scratch}/unrelated/"),
    ]);
    r.expect_code(4);
    assert_eq!(s.versions(&scratch).await, scratch_before);

    let report = s.path("drill.json");
    let r = s.run(&[
        "--output",
        "json",
        "drill",
        &format!("s3://{b}/app/"),
        "--at",
        &t,
        "--scratch",
        &format!("s3://{scratch}/drill-1/"),
        "--report",
        report.to_str().unwrap(),
    ]);
    let j = r.expect_code(0).json();
    // The scratch location is empty and versioned: copied as the listing went.
    assert!(
        r.stderr.contains("copying as the listing goes"),
        "{}",
        r.stderr
    );
    assert_eq!(j["schema"], "s3rewind.drill/v1");
    assert_eq!(j["ok"], true);
    assert_eq!(j["objects_restored"], 6);
    assert_eq!(j["verification"]["matched"]["same_content"], 6, "{j}");
    assert!(j["recovery_seconds"].as_f64().unwrap() > 0.0);
    assert!(j["reach_back"]["oldest_restorable"].is_string());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(saved["objects_restored"], 6);
    let restored = s.contents(&scratch, "drill-1/").await;
    assert_eq!(restored.len(), 6);
    assert_eq!(restored["drill-1/0.json"], b"{\"v\": 0}".to_vec());

    // Again into a fresh prefix, with --cleanup: scratch ends exactly as it began.
    let r = s.run(&[
        "drill",
        &format!("s3://{b}/app/"),
        "--at",
        &t,
        "--scratch",
        &format!("s3://{scratch}/drill-2/"),
        "--cleanup",
    ]);
    r.expect_code(0);
    assert!(r.stdout.contains("\nDrill PASSED: "), "{}", r.stdout);
    assert!(
        r.stdout.contains("cleanup: removed the 6 version(s)"),
        "{}",
        r.stdout
    );
    let after: Vec<_> = s
        .versions(&scratch)
        .await
        .into_iter()
        .filter(|(k, _, _)| !k.starts_with("drill-1/"))
        .collect();
    assert_eq!(after, scratch_before);
}

async fn a_drill_that_cannot_recover_everything_fails(s: &Server) {
    let b = s.b("cold");
    let scratch = s.b("cold-scratch");
    s.bucket(&b, true).await;
    s.bucket(&scratch, true).await;
    s.put(&b, "hot.txt", b"readable").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("archived.bin")
        .body(ByteStream::from_static(b"in glacier"))
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    // Noncurrent versions expire after 30 days: the drill says how far back it reaches.
    let py = "import boto3,sys; boto3.client('s3',endpoint_url=sys.argv[1],aws_access_key_id='testing',aws_secret_access_key='testing',region_name='us-east-1').put_bucket_lifecycle_configuration(Bucket=sys.argv[2], LifecycleConfiguration={'Rules': [{'ID': 'trim', 'Status': 'Enabled', 'Filter': {'Prefix': ''}, 'NoncurrentVersionExpiration': {'NoncurrentDays': 30}}]})";
    let out = std::process::Command::new("python3")
        .args(["-c", py, &s.endpoint, &b])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = point(s).await;
    let r = s.run(&[
        "--output",
        "json",
        "drill",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--scratch",
        &format!("s3://{scratch}"),
    ]);
    let j = r.expect_code(1).json();
    assert_eq!(j["ok"], false);
    let waiting = j["failures"]["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{j}");
    assert_eq!(waiting[0]["key"], "archived.bin");
    assert_eq!(
        j["failures"]["verification"]["missing"][0], "archived.bin",
        "{j}"
    );
}

async fn include_exclude_and_keys_from_limit_what_is_restored(s: &Server) {
    let b = s.b("select");
    s.bucket(&b, true).await;
    let keys = [
        "docs/a.pdf",
        "docs/draft.pdf",
        "docs/deep/c.pdf",
        "docs/notes.txt",
        "img/x.png",
    ];
    for k in keys {
        s.put(&b, k, format!("old {k}").as_bytes()).await;
    }
    let t = point(s).await;
    for k in keys {
        s.put(&b, k, b"damaged").await;
    }
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--include",
        "docs/*.pdf",
        "--exclude",
        "*draft*",
        "--yes",
    ]);
    r.expect_code(0);
    let now = s.contents(&b, "").await;
    for k in keys {
        let restored = k.ends_with(".pdf") && !k.contains("draft");
        let want = if restored {
            format!("old {k}").into_bytes()
        } else {
            b"damaged".to_vec()
        };
        assert_eq!(now[k], want, "{k}\n{}", r.stdout);
    }
    // The selection's own verification passes; the whole bucket's does not.
    s.run(&[
        "verify",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--include",
        "docs/*.pdf",
        "--exclude",
        "*draft*",
    ])
    .expect_code(0);
    s.run(&["verify", &format!("s3://{b}"), "--at", &t])
        .expect_code(1);
    // --keys-from: a list of keys, or scan-style JSON with "key" fields.
    let list = s.path("keys.txt");
    std::fs::write(&list, "img/x.png\n").unwrap();
    s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--keys-from",
        list.to_str().unwrap(),
        "--yes",
    ])
    .expect_code(0);
    let json = s.path("keys.json");
    std::fs::write(
        &json,
        r#"{"incidents":[{"keys":[{"key":"docs/notes.txt"},{"key":"docs/draft.pdf"}]}]}"#,
    )
    .unwrap();
    // Through a plan file: apply keeps the selection (and verifies with it).
    let plan = s.path("sel.json");
    s.run(&[
        "plan",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--keys-from",
        json.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
    ])
    .expect_code(0);
    s.run(&["apply", plan.to_str().unwrap(), "--yes"])
        .expect_code(0);
    let now = s.contents(&b, "").await;
    for k in keys {
        assert_eq!(now[k], format!("old {k}").into_bytes(), "{k}");
    }
    // A bad glob is a usage error before any request.
    let r = s.run(&[
        "restore",
        &format!("s3://{b}"),
        "--at",
        &t,
        "--include",
        "[docs",
        "--yes",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("invalid glob"), "{}", r.stderr);
}
