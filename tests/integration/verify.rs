//! `verify`: the current state against the state at TIME, by version, size+ETag, or content.

use crate::support::*;

/// The keys and reasons of a JSON verify report.
fn differences(report: &serde_json::Value) -> Vec<(String, String)> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["key"].as_str().unwrap().to_owned(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: damage, verify, restore, verify again: the steps share the bucket.
async fn verify_fails_on_damage_and_passes_after_a_restore() {
    let m = Moto::start().await;
    m.bucket("site", true).await;
    m.put("site", "a.txt", b"a-v1").await;
    m.put("site", "b.txt", b"b-v1").await;
    m.put("site", "c.txt", b"c-v1").await;
    m.put("site", "same.txt", b"untouched").await;
    let t = ts(checkpoint().await);
    m.put("site", "a.txt", b"a-BAD!").await; // other size
    m.put("site", "b.txt", b"b-v2").await; // same size, other content
    m.delete("site", "c.txt").await; // missing
    m.put("site", "new.txt", b"new").await; // unexpected

    let r = m.run(&["--output", "json", "verify", "s3://site", "--at", &t]);
    let report = r.expect_code(1).json();
    assert_eq!(report["ok"], false);
    assert_eq!(
        differences(&report),
        pairs(&[
            ("a.txt", "different_size"),
            ("b.txt", "different_etag"),
            ("c.txt", "missing"),
            ("new.txt", "unexpected"),
        ])
    );
    assert_eq!(report["matched"]["same_version"], 1);
    // Text: one line per damaged key, naming the reason.
    let r = m.run(&["verify", "s3://site", "--at", &t]);
    r.expect_code(1);
    assert!(r.stdout.starts_with("DIFFERENT: "), "{}", r.stdout);
    for (key, label) in [
        ("a.txt", "size"),
        ("b.txt", "etag"),
        ("c.txt", "missing"),
        ("new.txt", "unexpected"),
    ] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(label) && l.contains(&format!("{key:?}"))),
            "{key}: {}",
            r.stdout
        );
    }
    assert!(!r.stdout.contains("same.txt"), "{}", r.stdout);

    // --deep names the same keys; the same-size key now by content.
    let r = m.run(&[
        "--output",
        "json",
        "verify",
        "s3://site",
        "--at",
        &t,
        "--deep",
    ]);
    let report = r.expect_code(1).json();
    assert_eq!(
        differences(&report),
        pairs(&[
            ("a.txt", "different_size"),
            ("b.txt", "different_content"),
            ("c.txt", "missing"),
            ("new.txt", "unexpected"),
        ])
    );
    assert_eq!(report["objects_read"], 2);

    m.run(&["restore", "s3://site", "--at", &t, "--yes"])
        .expect_code(0);
    let r = m.run(&["verify", "s3://site", "--at", &t]);
    r.expect_code(0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.starts_with("OK: s3://site/ matches"),
        "{}",
        r.stdout
    );
    let report = m
        .run(&["--output", "json", "verify", "s3://site", "--at", &t])
        .expect_code(0)
        .json();
    assert_eq!(report["ok"], true);
    // The restored copies have new version ids: they match by size and ETag.
    assert_eq!(report["matched"]["same_size_and_etag"], 3);
    assert_eq!(report["matched"]["same_version"], 1);
    assert_eq!(report["keys_at_target"], 4);

    // --deep reads the copies and their originals, and finds the same content.
    let report = m
        .run(&[
            "--output",
            "json",
            "verify",
            "s3://site",
            "--at",
            &t,
            "--deep",
            "--concurrency",
            "2",
        ])
        .expect_code(0)
        .json();
    assert_eq!(report["matched"]["same_content"], 3);
    assert_eq!(report["objects_read"], 6);

    // Damage again with the same size: both checks name exactly that key.
    m.put("site", "c.txt", b"c-XX").await;
    let r = m.run(&["--output", "json", "verify", "s3://site", "--at", &t]);
    assert_eq!(
        differences(&r.expect_code(1).json()),
        pairs(&[("c.txt", "different_etag")])
    );
    let r = m.run(&[
        "--output",
        "json",
        "verify",
        "s3://site",
        "--at",
        &t,
        "--deep",
    ]);
    let report = r.expect_code(1).json();
    assert_eq!(
        differences(&report),
        pairs(&[("c.txt", "different_content")])
    );
    let d = &report["differences"][0];
    assert_ne!(d["expected"]["sha256"], d["current"]["sha256"]);
    assert_eq!(d["expected"]["sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_only_looks_under_the_prefix() {
    let m = Moto::start().await;
    m.bucket("bkt", true).await;
    for k in ["logs/1", "logs/2", "logs-old/1", "data/x"] {
        m.put("bkt", k, b"v1").await;
    }
    let t = ts(checkpoint().await);
    m.put("bkt", "logs-old/1", b"v2").await;
    m.delete("bkt", "data/x").await;
    m.put("bkt", "data/new", b"n").await;

    let r = m.run(&["verify", "s3://bkt/logs/", "--at", &t]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("OK: s3://bkt/logs/ matches") && r.stdout.contains(": 2 keys"),
        "{}",
        r.stdout
    );
    // `logs` is a byte prefix: it also covers logs-old/.
    let r = m.run(&["--output", "json", "verify", "s3://bkt/logs", "--at", &t]);
    assert_eq!(
        differences(&r.expect_code(1).json()),
        pairs(&[("logs-old/1", "different_etag")])
    );
    let r = m.run(&["--output", "json", "verify", "s3://bkt/data/", "--at", &t]);
    assert_eq!(
        differences(&r.expect_code(1).json()),
        pairs(&[("data/new", "unexpected"), ("data/x", "missing")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_what_restore_refuses() {
    let m = Moto::start().await;
    m.bucket("plain", false).await;
    m.put("plain", "k", b"v").await;
    let r = m.run(&["verify", "s3://plain", "--at", "1h"]);
    r.expect_code(4);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("point-in-time restore is impossible"),
        "{}",
        r.stderr
    );
    let r = m.run(&["verify", "s3://no-such-bucket", "--at", "1h"]);
    r.expect_code(3);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("\"no-such-bucket\" does not exist"));
    let r = m.run(&["verify", "s3://plain", "--at", "yesterday"]);
    r.expect_code(2);
    assert!(r.stderr.contains("invalid TIME"), "{}", r.stderr);
}
