//! Exploring a bucket's history: `history`, `diff` and `timeline` (text, JSON, SVG).

use crate::scan::{office, random_bytes};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_every_version_newest_first_with_anomalies() {
    let m = Moto::start().await;
    m.bucket("hist", true).await;
    next_second().await; // (v1 and the marker must share a second)
    let v1 = m.put("hist", "a/key.txt", b"first").await;
    m.delete("hist", "a/key.txt").await; // same second as v1: a tie
    m.put("hist", "a/key.txt.bak", b"a neighbour sharing the prefix")
        .await;
    next_second().await;
    let v2 = m.put("hist", "a/key.txt", b"second, longer").await;
    next_second().await;
    let v3 = m.put("hist", "a/key.txt", b"third").await;
    next_second().await;
    m.delete("hist", "a/key.txt").await;

    let r = m.run(&["--output", "json", "history", "s3://hist/a/key.txt"]);
    r.expect_code(0);
    let h = r.json();
    assert_eq!(h["key"], "a/key.txt");
    let entries = h["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{h}");
    let changes: Vec<&str> = entries
        .iter()
        .map(|e| e["change"].as_str().unwrap())
        .collect();
    // v1 and the first marker share a second; the tie rule puts the version first.
    assert_eq!(
        changes,
        ["delete", "overwrite", "overwrite", "create", "delete_again"],
        "{h}"
    );
    assert_eq!(entries[0]["delete_marker"], true);
    assert_eq!(entries[0]["is_latest"], true);
    assert_eq!(entries[1]["version_id"], v3.as_str());
    assert_eq!(entries[1]["size"], 5);
    assert_eq!(entries[1]["is_latest"], false);
    assert_eq!(entries[2]["version_id"], v2.as_str());
    assert_eq!(entries[3]["version_id"], v1.as_str());
    assert!(entries[1]["etag"].as_str().unwrap().len() == 32, "{h}");
    assert_eq!(entries[1]["storage_class"], "STANDARD");
    let anomalies = h["anomalies"].as_array().unwrap();
    assert_eq!(anomalies.len(), 1, "{h}");
    assert_eq!(anomalies[0]["kind"], "same_second_tie");
    assert_eq!(anomalies[0]["version_id"], v1.as_str());

    let r = m.run(&["history", "s3://hist/a/key.txt"]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("s3://hist/a/key.txt: 3 versions, 2 delete markers; now: deleted"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&v2), "{}", r.stdout);
    assert!(r.stdout.contains("(latest, delete marker)"), "{}", r.stdout);
    assert!(r.stdout.contains("share the second"), "{}", r.stdout);
    // Newest first.
    assert!(r.stdout.find(&v3).unwrap() < r.stdout.find(&v2).unwrap());

    let r = m.run(&["history", "s3://hist/a/key"]);
    r.expect_code(3);
    assert!(r.stderr.contains("has no versions"), "{}", r.stderr);
    assert!(r.stderr.contains("\"a/key.txt\""), "hint: {}", r.stderr);
    m.run(&["history", "s3://hist"]).expect_code(2);
    m.run(&["history", "s3://no-such-bucket/k"]).expect_code(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_lists_added_changed_and_deleted_keys() {
    let m = Moto::start().await;
    m.bucket("diffs", true).await;
    let keep = m.put("diffs", "keep.txt", b"unchanged").await;
    let old = m.put("diffs", "edit.txt", b"old").await;
    m.put("diffs", "gone.txt", b"to be deleted").await;
    let t1 = ts(checkpoint().await);
    let new = m.put("diffs", "edit.txt", b"new and longer").await;
    m.delete("diffs", "gone.txt").await;
    let added = m.put("diffs", "added.txt", b"fresh").await;
    let t2 = ts(checkpoint().await);
    m.put("diffs", "later.txt", b"after T2").await;

    let r = m.run(&[
        "--output",
        "json",
        "diff",
        "s3://diffs",
        "--from",
        &t1,
        "--to",
        &t2,
    ]);
    r.expect_code(1);
    let d = r.json();
    assert_eq!(
        d["summary"],
        serde_json::json!({"added": 1, "changed": 1, "deleted": 1, "unchanged": 1}),
        "{d}"
    );
    assert_eq!(d["added"][0]["key"], "added.txt");
    assert_eq!(d["added"][0]["version_id"], added.as_str());
    assert_eq!(d["changed"][0]["key"], "edit.txt");
    assert_eq!(d["changed"][0]["from"]["version_id"], old.as_str());
    assert_eq!(d["changed"][0]["to"]["version_id"], new.as_str());
    assert_eq!(d["changed"][0]["to"]["size"], 14);
    assert_eq!(d["deleted"][0]["key"], "gone.txt");

    let r = m.run(&["diff", "s3://diffs", "--from", &t1, "--to", &t2]);
    r.expect_code(1);
    assert!(
        r.stdout
            .contains("1 added, 1 changed, 1 deleted (1 unchanged)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("+ \"added.txt\"  {added}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("~ \"edit.txt\"  {old} (3 B) -> {new} (14 B")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("- \"gone.txt\"  was"), "{}", r.stdout);
    assert!(!r.stdout.contains(&keep), "unchanged keys are not listed");

    // Default --to is now: later.txt appears; a prefix limits the diff.
    let d = m
        .run(&["--output", "json", "diff", "s3://diffs", "--from", &t2])
        .json();
    assert_eq!(d["summary"]["added"], 1, "{d}");
    let r = m.run(&["diff", "s3://diffs/keep", "--from", &t1, "--to", &t2]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("0 added, 0 changed, 0 deleted (1 unchanged)")
    );

    let r = m.run(&["diff", "s3://diffs", "--from", &t2, "--to", &t1]);
    r.expect_code(2);
    assert!(r.stderr.contains("is after --to"), "{}", r.stderr);
    m.run(&["diff", "s3://diffs", "--from", "last tuesday"])
        .expect_code(2);
}

const TUNE: &[&str] = &["--window", "1s", "--gap", "2s", "--established", "0s"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_charts_activity_and_shades_the_incident() {
    let m = Moto::start().await;
    let (contents, _) = office(&m, "tline", 10).await;
    next_second().await;
    let victims: Vec<&String> = contents.keys().take(6).collect();
    for (n, key) in victims.iter().enumerate() {
        m.put(
            "tline",
            key,
            &random_bytes(contents[*key].len() + 28, n as u64),
        )
        .await;
    }

    let mut args = vec![
        "--output",
        "json",
        "timeline",
        "s3://tline",
        "--every",
        "1s",
    ];
    args.extend_from_slice(TUNE);
    let r = m.run(&args);
    r.expect_code(0);
    let t = r.json();
    assert_eq!(t["every_secs"], 1);
    // 11 new keys; 3 edits + 6 encryptions; 1 delete.
    assert_eq!(
        t["totals"],
        serde_json::json!({"puts": 11, "overwrites": 9, "deletes": 1}),
        "{t}"
    );
    let buckets = t["buckets"].as_array().unwrap();
    let sum = |field: &str| -> u64 { buckets.iter().map(|b| b[field].as_u64().unwrap()).sum() };
    assert_eq!((sum("puts"), sum("overwrites"), sum("deletes")), (11, 9, 1));
    let last = buckets.last().unwrap();
    assert_eq!(last["overwrites"], 6, "the burst is the last second: {t}");
    let incidents = t["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{t}");
    assert_eq!(incidents[0]["start"], last["start"], "{t}");
    assert_eq!(incidents[0]["keys"], 6);

    // Text: one line per second, with the incident marked on the burst's line.
    let mut args = vec!["timeline", "s3://tline", "--every", "1s"];
    args.extend_from_slice(TUNE);
    let r = m.run(&args);
    r.expect_code(0);
    let burst = r
        .stdout
        .lines()
        .find(|l| l.contains("<- incident 1"))
        .unwrap_or_else(|| panic!("no incident mark:\n{}", r.stdout));
    assert!(burst.contains("|######"), "{burst}");
    assert!(
        r.stdout.contains("+ put   # overwrite   x delete"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("incident 1: encrypted"), "{}", r.stdout);

    // SVG: a well-formed picture with the three series and the shaded incident.
    let svg = m.path("activity.svg");
    let mut args = vec!["timeline", "s3://tline", "--svg", svg.to_str().unwrap()];
    args.extend_from_slice(TUNE);
    m.run(&args).expect_code(0);
    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "<svg",
        "incident 1: encrypted",
        "suspected incident",
        "puts (new keys)",
        "overwrites",
        "deletes (delete markers)",
        "time (UTC)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in the SVG");
    }
    let parsed = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; d = xml.dom.minidom.parse(sys.argv[1]); \
             assert d.documentElement.tagName == 'svg'; \
             print(len(d.getElementsByTagName('rect')))",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "not well-formed XML: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let rects: usize = String::from_utf8_lossy(&parsed.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(rects >= 6, "{rects} rectangles");

    // Without detection: no incidents, no object read.
    let r = m.run(&[
        "--output",
        "json",
        "timeline",
        "s3://tline",
        "--no-incidents",
    ]);
    r.expect_code(0);
    let t = r.json();
    assert_eq!(t["incidents"].as_array().unwrap().len(), 0);
    assert!(t["every_secs"].as_i64().unwrap() >= 1);
    assert!(!r.stderr.contains("reading the first"), "{}", r.stderr);

    // Bad input.
    m.run(&["timeline", "s3://tline", "--every", "0s"])
        .expect_code(2);
    m.run(&["timeline", "s3://tline", "--svg", "/nonexistent/dir/x.svg"])
        .expect_code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exploring_a_never_versioned_bucket_is_refused() {
    let m = Moto::start().await;
    m.bucket("plain", false).await;
    m.put("plain", "k", b"v").await;
    for args in [
        vec!["history", "s3://plain/k"],
        vec!["diff", "s3://plain", "--from", "1h"],
        vec!["timeline", "s3://plain"],
    ] {
        let r = m.run(&args);
        r.expect_code(4);
        let v: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(v.len(), 1, "{args:?}: {}", r.stderr);
    }
    let r = m.run(&["timeline", "s3://missing-bucket"]);
    r.expect_code(3);
}

/// Issue 12: after `restore --before-corruption`, the restore's copies (older versions'
/// bytes put back, in a burst) are not part of the incident `timeline` shows, and it
/// says it left them out; `history` marks such a version as put back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_and_history_leave_a_restores_writes_out_of_the_incident() {
    let m = Moto::start().await;
    let (contents, ids) = office(&m, "undone", 10).await;
    next_second().await;
    let victims: Vec<&String> = contents.keys().take(6).collect();
    for (n, key) in victims.iter().enumerate() {
        m.put(
            "undone",
            key,
            &random_bytes(contents[*key].len() + 28, n as u64),
        )
        .await;
    }
    let json = |m: &Moto| {
        let r = m.run(&[
            "--output",
            "json",
            "timeline",
            "s3://undone",
            "--every",
            "1s",
        ]);
        r.expect_code(0);
        r.json()
    };
    let before = json(&m);
    let incidents = before["incidents"].as_array().unwrap().clone();
    assert_eq!(incidents.len(), 1, "{before}");
    // The restore runs at once: its copies are within the gap of the incident.
    m.run(&["restore", "s3://undone", "--before-corruption", "--yes"])
        .expect_code(0);
    let after = json(&m);
    assert_eq!(after["incidents"], before["incidents"], "{after}");
    let r = m.run(&["timeline", "s3://undone", "--every", "1s"]);
    r.expect_code(0);
    assert!(
        r.stderr
            .contains("6 entries that put older versions' bytes back"),
        "{}",
        r.stderr
    );

    let key = victims[0].as_str();
    let r = m.run(&["history", &format!("s3://undone/{key}")]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("Put back, not new content (1)"),
        "{}",
        r.stdout
    );
    let h = m.run(&["--output", "json", "history", &format!("s3://undone/{key}")]);
    let entries = h.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries[0]["restores"], ids[key].as_str(), "{entries:?}");
    assert!(entries[1].get("restores").is_none());
}
