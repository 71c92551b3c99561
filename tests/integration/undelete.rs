//! `undelete`: copying last versions back, or removing the delete markers.

use crate::support::*;
use aws_sdk_s3::types::BucketVersioningStatus;

/// The current version id of a key (HEAD), `None` when absent or deleted.
async fn current_id(m: &Moto, bucket: &str, key: &str) -> Option<String> {
    m.client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()
        .and_then(|o| o.version_id().map(str::to_owned))
}

/// A versioned bucket whose one key `k` (`v1`) is deleted a second later.
async fn one_deleted_key(m: &Moto, bucket: &str) {
    m.bucket(bucket, true).await;
    m.put(bucket, "k", b"v1").await;
    next_second().await;
    m.delete(bucket, "k").await;
}

/// A bucket with deleted keys: `a` (two versions, then deleted twice), `docs/b`
/// (deleted), `c` (present, overwritten), `ghost` (only a delete marker).
/// Returns the version ids of a's and b's last versions.
async fn deleted_bucket(m: &Moto, bucket: &str) -> (String, String) {
    m.bucket(bucket, true).await;
    m.put(bucket, "a", b"a-v1").await;
    let a2 = m.put(bucket, "a", b"a-v2").await;
    let b1 = m.put(bucket, "docs/b", b"b-v1").await;
    m.put(bucket, "c", b"c-v1").await;
    next_second().await;
    m.delete(bucket, "a").await;
    m.delete(bucket, "docs/b").await;
    m.put(bucket, "c", b"c-v2").await;
    // A marker with no version below it. (S3 adds a marker when a missing key is
    // deleted; moto does not, so the version under the marker is removed instead.)
    let ghost = m.put(bucket, "ghost", b"gone for good").await;
    m.delete(bucket, "ghost").await;
    m.client
        .delete_object()
        .bucket(bucket)
        .key("ghost")
        .version_id(ghost)
        .send()
        .await
        .unwrap();
    next_second().await;
    m.delete(bucket, "a").await; // a second marker stacked on a deleted key
    (a2, b1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelete_copies_last_versions_back_and_keeps_every_version() {
    let m = Moto::start().await;
    deleted_bucket(&m, "bkt").await;
    let before = m.versions("bkt").await;

    // In place: no terminal and no --yes is refused, writing nothing.
    let r = m.run(&["undelete", "s3://bkt"]);
    r.expect_code(4);
    assert!(r.stderr.contains("needs confirmation"), "{}", r.stderr);
    // A dry run shows the plan and writes nothing.
    let r = m.run(&["--output", "json", "undelete", "s3://bkt", "--dry-run"]);
    let p = r.expect_code(0).json();
    assert_eq!(p["stats"]["copies"], 2, "{p}");
    assert_eq!(p["stats"]["delete_markers"], 0, "{p}");
    assert!(r.stderr.contains("\"ghost\""), "{}", r.stderr);
    assert_eq!(m.versions("bkt").await, before);

    let r = m.run(&["undelete", "s3://bkt", "--yes"]);
    r.expect_code(0);
    assert!(r.stdout.contains("2 copied"), "{}", r.stdout);
    assert!(
        r.stderr.contains("only ever had delete markers") && r.stderr.contains("\"ghost\""),
        "{}",
        r.stderr
    );
    assert_eq!(
        m.contents("bkt", "").await,
        map(&[("a", "a-v2"), ("c", "c-v2"), ("docs/b", "b-v1")])
    );
    // Append-only: every version and marker is still there, plus the two copies.
    let after = m.versions("bkt").await;
    for v in &before {
        assert!(after.contains(v), "{v:?} was lost");
    }
    assert_eq!(after.len(), before.len() + 2);

    // Nothing left to undelete (ghost has no version): a no-op.
    let r = m.run(&["--output", "json", "undelete", "s3://bkt", "--yes"]);
    let j = r.expect_code(0).json();
    assert_eq!(j["plan"]["copies"], 0, "{j}");
    assert_eq!(m.versions("bkt").await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelete_since_and_prefix_choose_the_keys() {
    let m = Moto::start().await;
    m.bucket("bkt", true).await;
    for k in ["old", "x/new", "y/new", "kept"] {
        m.put("bkt", k, format!("{k}-v1").as_bytes()).await;
    }
    next_second().await;
    m.delete("bkt", "old").await;
    let t = ts(checkpoint().await);
    m.delete("bkt", "x/new").await;
    m.delete("bkt", "y/new").await;
    m.delete("bkt", "old").await; // deleted again: still deleted before --since

    // --since: only keys that disappeared at or after TIME.
    let r = m.run(&[
        "--output",
        "json",
        "undelete",
        "s3://bkt",
        "--since",
        &t,
        "--dry-run",
    ]);
    let p = r.expect_code(0).json();
    let keys = strs(&p["actions"], "key");
    assert_eq!(keys, ["x/new", "y/new"]);
    assert!(r.stderr.contains("deleted before --since"), "{}", r.stderr);

    // A prefix limits it further.
    m.run(&["undelete", "s3://bkt/x/", "--since", &t, "--yes"])
        .expect_code(0);
    assert_eq!(
        m.contents("bkt", "").await,
        map(&[("kept", "kept-v1"), ("x/new", "x/new-v1")])
    );
    m.run(&["undelete", "s3://bkt", "--since", &t, "--yes"])
        .expect_code(0);
    assert_eq!(
        m.contents("bkt", "").await,
        map(&[
            ("kept", "kept-v1"),
            ("x/new", "x/new-v1"),
            ("y/new", "y/new-v1")
        ])
    );
    m.run(&["undelete", "s3://bkt", "--yes"]).expect_code(0);
    assert!(m.contents("bkt", "").await.contains_key("old"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_delete_markers_makes_the_original_versions_current() {
    let m = Moto::start().await;
    let (a2, b1) = deleted_bucket(&m, "bkt").await;
    let before = m.versions("bkt").await;
    let object_versions = |v: &[(String, String, bool)]| -> Vec<(String, String)> {
        v.iter()
            .filter(|x| !x.2)
            .map(|x| (x.0.clone(), x.1.clone()))
            .collect()
    };

    // Needs confirmation.
    let r = m.run(&["undelete", "s3://bkt", "--remove-delete-markers"]);
    r.expect_code(4);
    let last = r.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("s3rewind: error: ") && last.contains("needs confirmation"),
        "{}",
        r.stderr
    );
    assert_eq!(m.versions("bkt").await, before);
    // A dry run lists the markers and writes nothing.
    let r = m.run(&[
        "--output",
        "json",
        "undelete",
        "s3://bkt",
        "--remove-delete-markers",
        "--dry-run",
    ]);
    let j = r.expect_code(0).json();
    assert_eq!(j["dry_run"], true);
    let keys: Vec<(&str, usize)> = j["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap(),
                k["markers"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(keys, [("a", 2), ("docs/b", 1)]);
    assert_eq!(j["skipped"][0]["key"], "ghost");
    assert_eq!(m.versions("bkt").await, before);

    let journal = m.path("undelete.jsonl");
    let r = m.run(&[
        "--output",
        "json",
        "undelete",
        "s3://bkt",
        "--remove-delete-markers",
        "--yes",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let j = r.expect_code(0).json();
    assert_eq!(j["report"]["undeleted"], 2, "{j}");
    assert_eq!(j["report"]["removed"].as_array().unwrap().len(), 3, "{j}");

    // The original versions are current again, by id.
    assert_eq!(current_id(&m, "bkt", "a").await, Some(a2));
    assert_eq!(current_id(&m, "bkt", "docs/b").await, Some(b1));
    assert_eq!(
        m.contents("bkt", "").await,
        map(&[("a", "a-v2"), ("c", "c-v2"), ("docs/b", "b-v1")])
    );
    // Only delete markers were deleted: every object version is still there, no new one.
    let after = m.versions("bkt").await;
    assert_eq!(object_versions(&after), object_versions(&before));
    let markers = |v: &[(String, String, bool)]| v.iter().filter(|x| x.2).count();
    assert_eq!(markers(&after), markers(&before) - 3);
    assert!(
        after.iter().any(|x| x.0 == "ghost" && x.2),
        "ghost's marker stays"
    );

    // Each removed marker is journalled.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let removed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["op"] == "remove_delete_marker")
        .collect();
    assert_eq!(removed.len(), 3);
    for l in &removed {
        let key = l["key"].as_str().unwrap();
        let id = l["previous_version_id"].as_str().unwrap();
        assert!(
            before.contains(&(key.to_owned(), id.to_owned(), true)),
            "{l}"
        );
    }

    // Text output names each marker; a second run has nothing to do.
    let r = m.run(&["undelete", "s3://bkt", "--remove-delete-markers", "--yes"]);
    r.expect_code(0);
    assert!(r.stdout.contains("Nothing to undelete"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_delete_markers_reports_each_marker_in_text() {
    let m = Moto::start().await;
    one_deleted_key(&m, "bkt").await;
    let marker = m.versions("bkt").await.into_iter().find(|v| v.2).unwrap().1;
    let r = m.run(&["undelete", "s3://bkt", "--remove-delete-markers", "--yes"]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains(&format!("removed delete marker {marker} of \"k\"")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Undeleted 1 key(s)"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelete_refuses_suspended_and_unversioned_buckets() {
    let m = Moto::start().await;
    one_deleted_key(&m, "susp").await;
    m.set_versioning("susp", BucketVersioningStatus::Suspended)
        .await;
    let before = m.versions("susp").await;
    for extra in [None, Some("--remove-delete-markers")] {
        let mut args = vec!["undelete", "s3://susp", "--yes"];
        args.extend(extra);
        let r = m.run(&args);
        r.expect_code(4);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("Suspended"), "{}", r.stderr);
    }
    assert_eq!(m.versions("susp").await, before);

    m.bucket("plain", false).await;
    let r = m.run(&["undelete", "s3://plain", "--yes"]);
    r.expect_code(4);
    assert!(
        r.stderr.contains("point-in-time restore is impossible"),
        "{}",
        r.stderr
    );
    let r = m.run(&["undelete", "s3://no-such-bucket", "--yes"]);
    r.expect_code(3);
}
