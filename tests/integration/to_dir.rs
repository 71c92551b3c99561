//! `restore --to-dir` and `plan --to-dir`: the state at T as files.

use crate::support::*;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` (relative path → content); symbolic links are listed by target.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()).into_bytes(),
                );
            } else if t.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn mtime(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path).unwrap().modified().unwrap().into()
}

async fn last_modified(m: &Moto, bucket: &str, key: &str, version: &str) -> DateTime<Utc> {
    let h = m
        .client
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let t = h.last_modified().unwrap();
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: one directory restore, interrupted and resumed, checked at each step.
async fn restore_to_dir_writes_the_state_at_t_with_mtimes_and_resumes() {
    let m = Moto::start().await;
    m.bucket("src", true).await;
    let keys = [
        "docs/a.txt",
        "docs/dir a/ü+&=%#.txt",
        "docs/plus+sign",
        "docs/percent%41encoded",
        "docs/日本語/ファイル.txt",
        "docs/emoji 😀.bin",
        "docs/deep/er/still/x.bin",
    ];
    let mut versions = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        versions.push(m.put("src", k, format!("good-{i}").as_bytes()).await);
    }
    m.put("src", "other/outside.txt", b"not under the prefix")
        .await;
    let t = ts(checkpoint().await);
    m.put("src", "docs/a.txt", b"BAD").await;
    m.delete("src", "docs/plus+sign").await;
    m.put("src", "docs/new-after-t.txt", b"new").await;

    let scratch = m.path("out");
    let dir = scratch.join("restored");
    let dir_arg = dir.to_str().unwrap();
    // plan --to-dir: everything to write, nothing written.
    let p = m
        .run(&[
            "--output",
            "json",
            "plan",
            "s3://src/docs/",
            "--at",
            &t,
            "--to-dir",
            dir_arg,
        ])
        .expect_code(0)
        .json();
    assert_eq!(p["stats"]["copies"], keys.len(), "{p}");
    assert_eq!(p["destination"]["kind"], "directory");
    assert!(!dir.exists(), "plan wrote something");

    let r = m.run(&[
        "--output",
        "json",
        "restore",
        "s3://src/docs/",
        "--at",
        &t,
        "--to-dir",
        dir_arg,
        "--page-size",
        "3",
        "--concurrency",
        "4",
    ]);
    let j = r.expect_code(0).json();
    assert_eq!(j["report"]["copied"], keys.len(), "{j}");
    let want: BTreeMap<String, Vec<u8>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                k.strip_prefix("docs/").unwrap().to_owned(),
                format!("good-{i}").into_bytes(),
            )
        })
        .collect();
    assert_eq!(files(&scratch.join("restored")), want);
    // Nothing else in the scratch folder: no temporary files, nothing outside DIR.
    assert_eq!(files(&scratch).len(), keys.len());
    // Each file's mtime is its version's LastModified.
    for (k, v) in keys.iter().zip(&versions) {
        let file = dir.join(k.strip_prefix("docs/").unwrap());
        assert_eq!(
            mtime(&file).timestamp(),
            last_modified(&m, "src", k, v).await.timestamp(),
            "{k}"
        );
    }
    // The journal records one file per key, with the directory as "bucket".
    let journal = j["journal"].as_str().unwrap();
    let text = std::fs::read_to_string(journal).unwrap();
    assert_eq!(text.matches("\"op\":\"file\"").count(), keys.len());

    // A re-run writes nothing: the files are recognised (size and mtime).
    let r = m.run(&["restore", "s3://src/docs/", "--at", &t, "--to-dir", dir_arg]);
    r.expect_code(0);
    assert!(r.stdout.contains("Nothing to do"), "{}", r.stdout);
    let p = m
        .run(&[
            "--output",
            "json",
            "plan",
            "s3://src/docs/",
            "--at",
            &t,
            "--to-dir",
            dir_arg,
        ])
        .expect_code(0)
        .json();
    assert_eq!(p["stats"]["unchanged"], keys.len(), "{p}");
    assert_eq!(p["stats"]["copies"], 0, "{p}");
    // A prefix that does not end in '/' keeps the file names whole: docs/… paths.
    let p = m
        .run(&[
            "--output",
            "json",
            "plan",
            "s3://src/docs",
            "--at",
            &t,
            "--to-dir",
            dir_arg,
        ])
        .expect_code(0)
        .json();
    let first = p["actions"][0]["key"].as_str().unwrap();
    assert!(first.starts_with("docs/"), "{p}");
    assert_eq!(p["stats"]["copies"], keys.len(), "{p}");

    // After an "interruption" (one file missing, one file changed), only those two are
    // written again.
    std::fs::remove_file(dir.join("a.txt")).unwrap();
    std::fs::write(dir.join("plus+sign"), b"half-wri").unwrap();
    let j = m
        .run(&[
            "--output",
            "json",
            "restore",
            "s3://src/docs/",
            "--at",
            &t,
            "--to-dir",
            dir_arg,
        ])
        .expect_code(0)
        .json();
    assert_eq!(j["report"]["copied"], 2, "{j}");
    assert_eq!(j["plan"]["unchanged"], keys.len() - 2, "{j}");
    assert_eq!(files(&dir), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_are_not_paths_are_reported_and_nothing_escapes() {
    let m = Moto::start().await;
    m.bucket("odd", true).await;
    let long = format!("long/{}", "n".repeat(300));
    let bad = [
        "../escape",
        "a//b",
        "/abs",
        "a/./b",
        "x/../../up",
        long.as_str(),
    ];
    for k in bad {
        m.put("odd", k, b"bad key").await;
    }
    for k in ["ok.txt", "x", "x/y", "sub/ok"] {
        m.put("odd", k, k.as_bytes()).await;
    }
    m.put("odd", "folder/", b"").await;
    let t = ts(checkpoint().await);

    let scratch = m.path("out");
    let dir = scratch.join("d");
    std::fs::create_dir_all(&dir).unwrap();
    // `plan` warns about them before anything is written.
    let r = m.run(&[
        "plan",
        "s3://odd",
        "--at",
        &t,
        "--to-dir",
        dir.to_str().unwrap(),
    ]);
    r.expect_code(0);
    assert!(
        r.stderr.contains("6 key(s) cannot be written as files"),
        "{}",
        r.stderr
    );

    let r = m.run(&[
        "--output",
        "json",
        "restore",
        "s3://odd",
        "--at",
        &t,
        "--to-dir",
        dir.to_str().unwrap(),
    ]);
    let j = r.expect_code(1).json();
    let failed: BTreeMap<&str, &str> = j["report"]["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap(), f["detail"].as_str().unwrap()))
        .collect();
    let mut want_failed: Vec<&str> = bad.to_vec();
    want_failed.push("x");
    want_failed.sort();
    assert_eq!(
        failed.keys().copied().collect::<Vec<_>>(),
        want_failed,
        "{j}"
    );
    assert!(failed["../escape"].contains("\"..\" path segment"));
    assert!(failed["a//b"].contains("empty path segment"));
    assert!(failed["/abs"].contains("absolute"));
    assert!(failed["x"].contains("both a file and a folder"));
    assert!(failed[long.as_str()].contains("longer than the 255-byte file name limit"));
    assert_eq!(j["report"]["skipped"][0]["key"], "folder/", "{j}");
    assert!(
        j["report"]["skipped"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("folder marker")
    );
    assert_eq!(j["report"]["copied"], 3);
    // Only the valid keys were written, and nothing outside DIR.
    assert_eq!(
        files(&scratch),
        map(&[
            ("d/ok.txt", "ok.txt"),
            ("d/sub/ok", "sub/ok"),
            ("d/x/y", "x/y")
        ])
    );
    // The text report lists them.
    let r = m.run(&[
        "restore",
        "s3://odd",
        "--at",
        &t,
        "--to-dir",
        dir.to_str().unwrap(),
    ]);
    r.expect_code(1);
    assert!(r.stdout.contains("Failed (7):"), "{}", r.stdout);
    assert!(r.stdout.contains("Skipped (1):"), "{}", r.stdout);
    assert!(r.stdout.contains("\"../escape\""), "{}", r.stdout);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbolic_links_inside_the_directory_are_not_followed() {
    let m = Moto::start().await;
    m.bucket("src", true).await;
    for k in ["link/file.txt", "file-link", "plain.txt"] {
        m.put("src", k, b"content").await;
    }
    let t = ts(checkpoint().await);
    let scratch = m.path("out");
    let dir = scratch.join("d");
    let outside = scratch.join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("target"), b"precious").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("target"), dir.join("file-link")).unwrap();

    let r = m.run(&[
        "--output",
        "json",
        "restore",
        "s3://src",
        "--at",
        &t,
        "--to-dir",
        dir.to_str().unwrap(),
    ]);
    let j = r.expect_code(1).json();
    let failed = strs(&j["report"]["failed"], "key");
    assert_eq!(failed, ["file-link", "link/file.txt"], "{j}");
    assert!(
        j["report"]["failed"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("symbolic link")
    );
    assert_eq!(std::fs::read(outside.join("target")).unwrap(), b"precious");
    assert_eq!(files(&outside).len(), 1, "nothing written through the link");
    assert_eq!(std::fs::read(dir.join("plain.txt")).unwrap(), b"content");
}
