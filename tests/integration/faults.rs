//! Faults on the wire: a restore through a fault-injecting HTTP proxy (`scripts/s3proxy.py`)
//! in front of moto — 503 SlowDown, 500 InternalError, connection resets (half of the 500s
//! and resets *after* moto executed the request), slow replies, and CopyObject answering
//! 200 with an `<Error>` body — at a fixed seed. The result is read from moto directly, not
//! through the proxy: the state at T exactly, no version removed, at most the known
//! failed-but-executed writes beyond the plan, and a summary whose counts are true.

use crate::support::*;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The proxy process (killed on drop).
struct Proxy {
    child: Child,
    endpoint: String,
}

/// The Python that runs moto (its venv when MOTO_SERVER points into one), else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("S3REWIND_PYTHON") {
        return PathBuf::from(p);
    }
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .and_then(|moto| moto.parent().map(|dir| dir.join("python3")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

impl Proxy {
    fn start(upstream: &str, args: &[&str]) -> Proxy {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3proxy.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--upstream", upstream])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/s3proxy.py with python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("s3proxy did not start: {line:?}"))
            .to_owned();
        Proxy { child, endpoint }
    }

    /// The proxy's counts (`GET /__counts`).
    fn counts(&self) -> serde_json::Value {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /__counts HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let body = resp.split_once("\r\n\r\n").expect("an HTTP reply").1;
        serde_json::from_str(body).unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s3rewind` with `global` options and then `args`, sent through `proxy` to `m` with
/// its keys, in an environment of its own.
fn through(proxy: &Proxy, m: &Moto, global: &[&str], args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(["--endpoint-url", &proxy.endpoint, "--no-progress"])
        .args(global)
        .args(args);
    isolate_env(&mut cmd, m.dir.path());
    cmd.env("AWS_ACCESS_KEY_ID", &m.keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &m.keys.1)
        .stdin(Stdio::null());
    cmd
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    h.update(b);
    h.finalize().iter().fold(String::new(), |mut s, x| {
        use std::fmt::Write as _;
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// PUT (`Some(body)`) or DELETE (`None`) many keys, 32 at a time.
async fn write_all(m: &Moto, bucket: &str, items: Vec<(String, Option<Vec<u8>>)>) {
    for chunk in items.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for (k, body) in chunk.iter().cloned() {
            let (c, b) = (m.client.clone(), bucket.to_owned());
            set.spawn(async move {
                match body {
                    Some(body) => {
                        c.put_object()
                            .bucket(&b)
                            .key(&k)
                            .body(ByteStream::from(body))
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
                    }
                    None => {
                        c.delete_object()
                            .bucket(&b)
                            .key(&k)
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("delete {k}: {e:?}"));
                    }
                }
            });
        }
        set.join_all().await;
    }
}

/// Every current object's (ETag, size), listed on the server itself.
async fn current(m: &Moto, bucket: &str) -> BTreeMap<String, (String, i64)> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = m
            .client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            out.insert(
                o.key().unwrap().to_owned(),
                (
                    o.e_tag().unwrap().trim_matches('"').to_owned(),
                    o.size().unwrap(),
                ),
            );
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    out
}

fn body(key: &str, what: &str) -> Vec<u8> {
    // A few hundred bytes, different per key and version.
    format!("{key} {what} ").repeat(12).into_bytes()
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn len(v: &serde_json::Value) -> u64 {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_through_faults_is_exact_and_its_summary_true() {
    restore_through_faults(Moto::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_through_faults_is_exact_and_its_summary_true_on_radosgw() {
    if let Some(m) =
        Moto::radosgw("restore_through_faults_is_exact_and_its_summary_true_on_radosgw")
    {
        restore_through_faults(m).await;
    }
}

/// A restore of ~2,000 keys through the fault-injecting proxy in front of `m`: exact
/// state, a true summary, no version lost, new versions only for writes done (or whose
/// reply the proxy broke after the server executed them).
// Longer than 120 lines on purpose: one restore through the fault proxy, then every claim of its summary checked against the proxy's counts.
async fn restore_through_faults(m: Moto) {
    let bucket = m.b("faulty");
    m.bucket(&bucket, true).await;

    // ~2,000 keys in 10 folders; a quarter get a second version, 3% a delete marker.
    let keys: Vec<String> = (0..2000).map(|i| format!("d{}/k{i:04}", i % 10)).collect();
    write_all(
        &m,
        &bucket,
        keys.iter()
            .map(|k| (k.clone(), Some(body(k, "v1"))))
            .collect(),
    )
    .await;
    let twice: Vec<&String> = keys.iter().step_by(4).collect();
    write_all(
        &m,
        &bucket,
        twice
            .iter()
            .map(|k| ((*k).clone(), Some(body(k, "v2"))))
            .collect(),
    )
    .await;
    next_second().await; // no marker shares a second with its key's last version
    let deleted_before: Vec<&String> = keys.iter().skip(1).step_by(33).collect();
    write_all(
        &m,
        &bucket,
        deleted_before
            .iter()
            .map(|k| ((*k).clone(), None))
            .collect(),
    )
    .await;

    let mut at_t: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        at_t.insert(k.clone(), body(k, if i % 4 == 0 { "v2" } else { "v1" }));
    }
    for k in &deleted_before {
        at_t.remove(*k);
    }
    let t = ts(checkpoint().await);

    // The damage: 200 overwritten, 100 deleted, 20 deleted-before-T keys back, 100 new.
    let live: Vec<String> = at_t.keys().cloned().collect();
    let overwritten: Vec<String> = live.iter().step_by(9).take(200).cloned().collect();
    let rest: Vec<String> = live
        .iter()
        .filter(|k| !overwritten.contains(k))
        .cloned()
        .collect();
    let deleted_after: Vec<String> = rest.iter().skip(4).step_by(17).take(100).cloned().collect();
    let recreated: Vec<String> = deleted_before
        .iter()
        .take(20)
        .map(|k| (*k).clone())
        .collect();
    let new: Vec<String> = (0..100).map(|i| format!("new/n{i:03}")).collect();
    let mut damage: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    damage.extend(
        overwritten
            .iter()
            .map(|k| (k.clone(), Some(body(k, "BAD")))),
    );
    damage.extend(recreated.iter().map(|k| (k.clone(), Some(body(k, "back")))));
    damage.extend(new.iter().map(|k| (k.clone(), Some(body(k, "new")))));
    damage.extend(deleted_after.iter().map(|k| (k.clone(), None)));
    write_all(&m, &bucket, damage).await;
    assert_eq!((overwritten.len(), deleted_after.len()), (200, 100));
    let want_copies = (overwritten.len() + deleted_after.len()) as u64;
    let want_markers = (recreated.len() + new.len()) as u64;
    let before: BTreeSet<_> = m.versions(&bucket).await.into_iter().collect();

    let proxy = Proxy::start(
        &m.endpoint,
        &[
            "--seed",
            "8",
            "--slowdown",
            "0.04",
            "--internal-error",
            "0.03",
            "--reset",
            "0.02",
            "--after-forward",
            "0.5",
            "--slow",
            "0.03",
            "--slow-ms",
            "400",
            "--copy-error-200",
            "0.05",
        ],
    );
    let mut cmd = through(
        &proxy,
        &m,
        &["--output", "json"],
        &[
            "restore",
            &format!("s3://{bucket}"),
            "--at",
            &t,
            "--yes",
            "--page-size",
            "300",
            "--concurrency",
            "16",
        ],
    );
    let run = Run::from(cmd.output().expect("run s3rewind"));
    let counts = proxy.counts();
    drop(proxy);
    let doc = run.json();
    let (plan, report) = (&doc["plan"], &doc["report"]);
    let ctx = format!(
        "exit {}\n--- summary\n{}\n--- proxy\n{counts}\n--- stderr\n{}",
        run.code,
        serde_json::to_string_pretty(&doc["report"]).unwrap(),
        run.stderr
    );

    // The faults did happen, and the restore went through the proxy.
    let faults = &counts["faults"];
    for kind in [
        "slowdown",
        "internal_error",
        "reset",
        "copy_error_200",
        "slow",
    ] {
        let seen = faults[kind].as_u64().unwrap_or(0)
            + faults[format!("{kind}_after_forward")]
                .as_u64()
                .unwrap_or(0);
        assert!(seen > 0, "no {kind} fault was injected\n{ctx}");
    }
    let copy_calls = counts["ops"]["CopyObject"].as_u64().unwrap_or(0);
    assert!(
        copy_calls >= want_copies,
        "{copy_calls} CopyObject calls\n{ctx}"
    );

    // The plan, made from a listing under faults, is the one the history implies.
    assert_eq!(n(&plan["copies"]), want_copies, "plan\n{ctx}");
    assert_eq!(n(&plan["delete_markers"]), want_markers, "plan\n{ctx}");

    // The summary accounts for every action, once.
    let done = n(&report["copied"]) + n(&report["delete_markers"]);
    let accounted = done
        + n(&report["already_done"])
        + len(&report["failed"])
        + len(&report["drifted"])
        + len(&report["waiting"]);
    assert_eq!(accounted, want_copies + want_markers, "summary\n{ctx}");
    let complete = len(&report["failed"]) == 0
        && len(&report["drifted"]) == 0
        && len(&report["waiting"]) == 0
        && report["interrupted"].as_bool() == Some(false);
    assert_eq!(
        run.code == 0,
        complete,
        "the exit code follows the summary\n{ctx}"
    );
    // Nobody else wrote: a key reported as drifted would be a false report.
    assert_eq!(len(&report["drifted"]), 0, "{ctx}");

    // The bucket's current state, read on moto itself: the state at T, except for keys the
    // summary names as not done.
    let not_done: BTreeSet<String> = ["failed", "drifted", "waiting"]
        .iter()
        .flat_map(|f| report[*f].as_array().unwrap().clone())
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect();
    let now = current(&m, &bucket).await;
    let mut wrong = Vec::new();
    let all: BTreeSet<&String> = now.keys().chain(at_t.keys()).collect();
    for k in all {
        let want = at_t.get(k).map(|b| (md5_hex(b), b.len() as i64));
        if now.get(k) != want.as_ref() && !not_done.contains(k) {
            wrong.push(format!("{k}: now {:?}, at T {want:?}", now.get(k)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} keys differ from the state at T without being reported: {:?}\n{ctx}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    if complete {
        assert_eq!(now.len(), at_t.len(), "{ctx}");
        assert_eq!(
            doc["verification"]["ok"], true,
            "complete and exact, yet verification disagrees\n{ctx}"
        );
    }
    // Content, not only ETags, for every key the restore wrote.
    for k in overwritten.iter().chain(&deleted_after) {
        if not_done.contains(k) {
            continue;
        }
        let got = m
            .client
            .get_object()
            .bucket(&bucket)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {k}: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(&got[..], &at_t[k][..], "{k}");
    }

    // Append-only: every version is still there; new ones are the writes done, plus at
    // most the writes moto executed whose reply the proxy then broke.
    let after: BTreeSet<_> = m.versions(&bucket).await.into_iter().collect();
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(lost.is_empty(), "versions removed: {lost:?}");
    let added = (after.len() - before.len()) as u64;
    let executed_but_failed: u64 = ["internal_error_after_forward", "reset_after_forward"]
        .iter()
        .flat_map(|f| ["CopyObject", "DeleteObject"].map(|op| format!("{f}:{op}")))
        .map(|k| faults[k.as_str()].as_u64().unwrap_or(0))
        .sum();
    #[allow(clippy::print_stderr)] // the figure the note reports; shown with --nocapture
    {
        eprintln!(
            "{:?}: {added} versions added for {done} writes done; {executed_but_failed} executed writes had their reply broken",
            m.kind
        );
    }
    assert!(
        added >= done && added <= done + executed_but_failed,
        "{added} versions added for {done} writes done and {executed_but_failed} executed writes whose reply was broken\n{ctx}"
    );
}

/// A restore into an empty bucket copies while it lists; when the listing breaks midway
/// (every ListObjectVersions after the first three fails, retries included), the copies
/// made so far are journaled and said in the one error line, and the same command run
/// again finishes the restore without copying any key twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_breaks_midway_leaves_a_restore_that_resumes() {
    let m = Moto::start().await;
    let (src, dst) = (m.b("src"), m.b("dst"));
    m.bucket(&src, true).await;
    m.bucket(&dst, true).await;
    let keys: Vec<String> = (0..300).map(|i| format!("k{i:04}")).collect();
    for what in ["v1", "v2"] {
        write_all(
            &m,
            &src,
            keys.iter()
                .map(|k| (k.clone(), Some(body(k, what))))
                .collect(),
        )
        .await;
    }
    let t = ts(checkpoint().await);
    write_all(
        &m,
        &src,
        keys.iter()
            .map(|k| (k.clone(), Some(body(k, "BAD"))))
            .collect(),
    )
    .await;

    // The empty destination's listing and two source pages pass; the rest fail.
    let proxy = Proxy::start(
        &m.endpoint,
        &[
            "--internal-error",
            "1",
            "--fault-ops",
            "ListObjectVersions",
            "--fault-after",
            "3",
        ],
    );
    let args = [
        "restore",
        &format!("s3://{src}"),
        "--at",
        &t,
        "--to",
        &format!("s3://{dst}"),
        "--page-size",
        "100",
        "--list-split",
        "off",
        "--concurrency",
        "4",
    ];
    let mut cmd = through(&proxy, &m, &["--max-attempts", "2"], &args);
    let run = Run::from(cmd.output().expect("run s3rewind"));
    drop(proxy);
    assert_ne!(run.code, 0, "{}", run.stderr);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("s3rewind: error:"))
        .unwrap_or_else(|| panic!("no error line: {}", run.stderr));
    let copied: u64 = error
        .split(" copied before that")
        .next()
        .and_then(|head| head.rsplit(['(', ' ']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the error does not say what was copied: {error}"));
    #[allow(clippy::print_stderr)] // shown with --nocapture
    {
        eprintln!("{error}");
    }
    let made = m.versions(&dst).await.len() as u64;
    assert!(copied > 0 && copied < 300, "{error}");
    assert_eq!(made, copied, "{error}");
    assert!(
        error.contains("run the same command again to resume"),
        "{error}"
    );

    // Again, straight to moto: the rest is copied, nothing twice.
    let r = m.run(&args);
    r.expect_code(0);
    let want: BTreeMap<String, Vec<u8>> = keys.iter().map(|k| (k.clone(), body(k, "v2"))).collect();
    assert_eq!(m.contents(&dst, "").await, want);
    assert_eq!(m.versions(&dst).await.len(), 300, "a key was copied twice");
}

/// Ctrl-C outside a runner — here while `plan` is still in its first listing, every
/// ListObjectVersions page delayed by the proxy — ends the run at once with one line
/// saying to run the same command again, and exit 130 (issue 25 §3; a shard 8 survivor:
/// Ctrl-C taken as owned by a runner when none runs, so nothing ended the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_first_listing_exits_130() {
    let m = Moto::start().await;
    m.bucket("slow", true).await;
    for i in 0..40 {
        m.put("slow", &format!("k{i:02}"), b"x").await;
    }
    let t = ts(checkpoint().await);
    // 40 pages of one key, each delayed 300 ms: 12 s of listing.
    let proxy = Proxy::start(
        &m.endpoint,
        &[
            "--slow",
            "1",
            "--slow-ms",
            "300",
            "--fault-ops",
            "ListObjectVersions",
        ],
    );
    let mut cmd = through(
        &proxy,
        &m,
        &[],
        &[
            "plan",
            "s3://slow",
            "--at",
            &t,
            "--page-size",
            "1",
            "--list-split",
            "off",
        ],
    );
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run s3rewind");
    // Listing has begun (so the process handles Ctrl-C) and is far from done.
    let started = std::time::Instant::now();
    loop {
        let listed = proxy.counts()["ops"]["ListObjectVersions"]
            .as_u64()
            .unwrap_or(0);
        if listed >= 2 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the listing never began");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted; run the same command again"),
        "{stderr}"
    );
    let listed = proxy.counts()["ops"]["ListObjectVersions"]
        .as_u64()
        .unwrap_or(0);
    assert!(listed < 40, "stopped mid-listing: {listed} pages");
}
