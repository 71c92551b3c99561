//! Faithful, resumable and safe execution: fidelity, multipart, archives, gates,
//! concurrent writers, kill -9 and resume, undo, another endpoint.

use crate::support::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
use std::collections::BTreeMap;

/// Everything HeadObject and GetObjectTagging say that a restore must keep.
#[derive(Debug, PartialEq)]
struct Attrs {
    metadata: BTreeMap<String, String>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<String>,
    storage_class: Option<String>,
    sse: Option<String>,
    kms_key: Option<String>,
    redirect: Option<String>,
    tags: Vec<(String, String)>,
}

async fn attrs(m: &Moto, bucket: &str, key: &str, version: Option<&str>) -> Attrs {
    let h = m
        .client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let t = m
        .client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = t
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    Attrs {
        metadata: h
            .metadata()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        content_type: h.content_type().map(str::to_owned),
        content_encoding: h.content_encoding().map(str::to_owned),
        content_disposition: h.content_disposition().map(str::to_owned),
        content_language: h.content_language().map(str::to_owned),
        cache_control: h.cache_control().map(str::to_owned),
        expires: h.expires_string().map(str::to_owned),
        storage_class: h.storage_class().map(|s| s.as_str().to_owned()),
        sse: h.server_side_encryption().map(|s| s.as_str().to_owned()),
        kms_key: h.ssekms_key_id().map(str::to_owned),
        redirect: h.website_redirect_location().map(str::to_owned),
        tags,
    }
}

async fn kms_key(m: &Moto) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import boto3,sys; print(boto3.client('kms', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t').create_key()['KeyMetadata']['KeyId'])",
            &m.endpoint,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// PUT with every attribute a restore must keep; returns the version id.
async fn put_rich(m: &Moto, bucket: &str, key: &str, body: Vec<u8>, kms: Option<&str>) -> String {
    let mut req = m
        .client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .metadata("owner", "finance")
        .metadata("checksum-note", "ü+x")
        .content_type("application/vnd.test")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"r.bin\"")
        .content_language("fr")
        .cache_control("max-age=60")
        .expires(aws_sdk_s3::primitives::DateTime::from_secs(1_900_000_000))
        .website_redirect_location("/elsewhere.html")
        .storage_class(StorageClass::StandardIa)
        .tagging("team=ops&level=secret%20stuff");
    if let Some(k) = kms {
        req = req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k);
    }
    req.send().await.unwrap().version_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_objects_keep_metadata_tags_class_encryption_and_redirect() {
    let m = Moto::start().await;
    m.bucket("rich", true).await;
    let key = kms_key(&m).await;
    let v1 = put_rich(&m, "rich", "report.bin", b"original".to_vec(), Some(&key)).await;
    let plain = put_rich(&m, "rich", "plain.bin", b"plain".to_vec(), None).await;
    let t = ts(checkpoint().await);
    m.put("rich", "report.bin", b"overwritten").await;
    m.delete("rich", "plain.bin").await;

    // --fidelity full: everything, including what a listing cannot show.
    m.run(&[
        "restore",
        "s3://rich",
        "--at",
        &t,
        "--yes",
        "--fidelity",
        "full",
    ])
    .expect_code(0);
    let want = attrs(&m, "rich", "report.bin", Some(&v1)).await;
    assert_eq!(want.sse.as_deref(), Some("aws:kms"));
    assert_eq!(want.tags.len(), 2);
    assert_eq!(attrs(&m, "rich", "report.bin", None).await, want);
    assert_eq!(
        attrs(&m, "rich", "plain.bin", None).await,
        attrs(&m, "rich", "plain.bin", Some(&plain)).await
    );
    assert_eq!(
        m.contents("rich", "").await,
        map(&[("plain.bin", "plain"), ("report.bin", "original")])
    );

    // Into another bucket, with the storage class overridden, in the default (fast)
    // mode: one CopyObject per key keeps metadata, content headers, tags and (from the
    // listing) the class; the version's own encryption and redirect need `full`.
    m.bucket("rich-copy", true).await;
    m.run(&[
        "restore",
        "s3://rich",
        "--at",
        &t,
        "--to",
        "s3://rich-copy",
        "--storage-class",
        "ONEZONE_IA",
    ])
    .expect_code(0);
    let copy = attrs(&m, "rich-copy", "report.bin", None).await;
    assert_eq!(copy.storage_class.as_deref(), Some("ONEZONE_IA"));
    assert_eq!(
        Attrs {
            storage_class: want.storage_class.clone(),
            sse: want.sse.clone(),
            kms_key: want.kms_key.clone(),
            redirect: want.redirect.clone(),
            ..copy
        },
        want
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_is_copied_only_when_asked() {
    let m = Moto::start().await;
    m.bucket("acls", true).await;
    let v = m
        .client
        .put_object()
        .bucket("acls")
        .key("pub.txt")
        .body(ByteStream::from_static(b"v1"))
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let t = ts(checkpoint().await);
    m.put("acls", "pub.txt", b"v2").await;
    let grants = |version: Option<String>| {
        let client = m.client.clone();
        async move {
            let acl = client
                .get_object_acl()
                .bucket("acls")
                .key("pub.txt")
                .set_version_id(version)
                .send()
                .await
                .unwrap();
            let mut g: Vec<String> = acl
                .grants()
                .iter()
                .map(|g| format!("{:?}", g.permission()))
                .collect();
            g.sort();
            g
        }
    };
    let source = grants(Some(v)).await;
    assert!(source.len() > 1, "{source:?}");
    m.run(&["restore", "s3://acls", "--at", &t, "--yes"])
        .expect_code(0);
    assert_eq!(
        grants(None).await,
        ["Some(FullControl)"],
        "default: private"
    );
    m.put("acls", "pub.txt", b"v3").await;
    m.run(&[
        "restore",
        "s3://acls",
        "--at",
        &t,
        "--yes",
        "--preserve-acl",
    ])
    .expect_code(0);
    assert_eq!(grants(None).await, source);
}

async fn open_uploads(m: &Moto, bucket: &str) -> usize {
    m.client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_are_copied_in_parts_and_failed_uploads_are_aborted() {
    let m = Moto::start().await;
    m.bucket("big-objects", true).await;
    let body: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let v1 = put_rich(&m, "big-objects", "video.bin", body.clone(), None).await;
    let t = ts(checkpoint().await);
    m.put("big-objects", "video.bin", b"small now").await;
    let want = attrs(&m, "big-objects", "video.bin", Some(&v1)).await;
    let small = ["--multipart-threshold", "5242880", "--part-size", "5242880"];

    // A part that fails: the upload is aborted and the key keeps its current version.
    let r = m.run_with(
        &[
            &["restore", "s3://big-objects", "--at", &t, "--yes"][..],
            &small[..],
        ]
        .concat(),
        &[("S3REWIND_FAULT_INJECT", "part-copy:2")],
    );
    r.expect_code(1);
    assert!(
        r.stdout.contains("Failed (1)") && r.stdout.contains("video.bin"),
        "{}",
        r.stdout
    );
    assert_eq!(
        open_uploads(&m, "big-objects").await,
        0,
        "an upload was left behind"
    );
    assert_eq!(
        m.contents("big-objects", "").await["video.bin"],
        b"small now"
    );

    let r = m.run(
        &[
            &["restore", "s3://big-objects", "--at", &t, "--yes"][..],
            &small[..],
        ]
        .concat(),
    );
    r.expect_code(0);
    assert_eq!(m.contents("big-objects", "").await["video.bin"], body);
    assert_eq!(open_uploads(&m, "big-objects").await, 0);
    let got = attrs(&m, "big-objects", "video.bin", None).await;
    assert_eq!(got, want);
    // A multipart copy has a new (multipart) ETag, yet a re-run knows it is done: the
    // journal records the copy.
    let again = m.run(&["--output", "json", "plan", "s3://big-objects", "--at", &t]);
    let head = m
        .client
        .head_object()
        .bucket("big-objects")
        .key("video.bin")
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().contains('-'),
        "expected a multipart ETag"
    );
    assert_eq!(
        again.expect_code(0).json()["stats"]["copies"],
        1,
        "plan alone does not read journals"
    );
    let r = m.run(
        &[
            &["restore", "s3://big-objects", "--at", &t, "--yes"][..],
            &small[..],
        ]
        .concat(),
    );
    r.expect_code(0);
    assert!(r.stdout.contains("Nothing to do"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_versions_wait_for_a_restore_then_copy() {
    // (Restored into another bucket: moto's RestoreObject ignores the version id and looks
    // at the current version, so an archived *noncurrent* version cannot be thawed there.)
    let m = Moto::start().await;
    m.bucket("cold", true).await;
    m.bucket("thawed", true).await;
    m.client
        .put_object()
        .bucket("cold")
        .key("archive.tar")
        .body(ByteStream::from_static(b"frozen"))
        .storage_class(StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    m.put("cold", "warm.txt", b"w1").await;
    let t = ts(checkpoint().await);
    m.put("cold", "warm.txt", b"w2").await;
    let args = ["restore", "s3://cold", "--at", &t, "--to", "s3://thawed"];

    let p = m.run(&[
        "--output",
        "json",
        "plan",
        "s3://cold",
        "--at",
        &t,
        "--to",
        "s3://thawed",
    ]);
    let p = p.expect_code(0).json();
    assert_eq!(p["stats"]["archived"], 1, "{p}");
    assert!(
        p["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "archived" && w["key"] == "archive.tar")
    );

    // Without a restore request: the other key is restored; the archived one waits.
    let r = m.run(&args);
    r.expect_code(1);
    assert!(
        r.stdout.contains("Waiting for archive restore (1)")
            && r.stdout.contains("--request-archive-restore"),
        "{}",
        r.stdout
    );
    assert_eq!(m.contents("thawed", "").await, map(&[("warm.txt", "w1")]));
    // With it: the restore is requested (moto makes it ready at once) ...
    let r = m.run(
        &[
            &args[..],
            &["--request-archive-restore", "--restore-days", "2"],
        ]
        .concat(),
    );
    r.expect_code(1);
    assert!(r.stdout.contains("restore requested"), "{}", r.stdout);
    // ... and a later run copies it (as STANDARD: a copy keeps the source's class by
    // default, and a GLACIER copy could not be read back here).
    m.run(&[&args[..], &["--storage-class", "STANDARD"]].concat())
        .expect_code(0);
    assert_eq!(
        m.contents("thawed", "").await,
        map(&[("archive.tar", "frozen"), ("warm.txt", "w1")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_and_object_lock_are_reported() {
    let m = Moto::start().await;
    m.bucket("gated", true).await;
    m.put("gated", "k", b"1").await;
    let t = ts(checkpoint().await);
    m.put("gated", "k", b"2").await;
    let py = r#"
import boto3, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t')
s3.put_bucket_lifecycle_configuration(Bucket='gated', LifecycleConfiguration={'Rules': [{'ID': 'trim', 'Status': 'Enabled', 'Filter': {'Prefix': ''}, 'NoncurrentVersionExpiration': {'NoncurrentDays': 30}}]})
s3.create_bucket(Bucket='locked-dest', ObjectLockEnabledForBucket=True)
s3.put_object_lock_configuration(Bucket='locked-dest', ObjectLockConfiguration={'ObjectLockEnabled': 'Enabled', 'Rule': {'DefaultRetention': {'Mode': 'COMPLIANCE', 'Days': 1}}})
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", py, &m.endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = m.run(&[
        "--output",
        "json",
        "plan",
        "s3://gated",
        "--at",
        &t,
        "--to",
        "s3://locked-dest",
    ]);
    let p = r.expect_code(0).json();
    let kinds = strs(&p["warnings"], "kind");
    assert!(kinds.contains(&"noncurrent_expiration"), "{p}");
    assert!(kinds.contains(&"default_retention"), "{p}");
    let text = m.run(&["plan", "s3://gated", "--at", &t, "--to", "s3://locked-dest"]);
    assert!(
        text.stdout.contains("COMPLIANCE") && text.stdout.contains("lifecycle rule \"trim\""),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_changed_after_the_plan_are_skipped_not_overwritten() {
    let m = Moto::start().await;
    m.bucket("busy", true).await;
    for k in ["a", "b", "c", "d"] {
        m.put("busy", k, b"old").await;
    }
    let t = ts(checkpoint().await);
    for k in ["a", "b", "c", "d"] {
        m.put("busy", k, b"bad").await;
    }
    let plan = m.path("plan.json");
    m.run(&[
        "plan",
        "s3://busy",
        "--at",
        &t,
        "--out",
        plan.to_str().unwrap(),
    ])
    .expect_code(0);
    // A writer changes two keys after the plan was made (one overwritten, one deleted).
    m.put("busy", "b", b"writer").await;
    m.delete("busy", "c").await;
    let r = m.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    r.expect_code(1);
    assert!(
        r.stdout
            .contains("Drifted (changed since the plan; not touched) (2)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        m.contents("busy", "").await,
        map(&[("a", "old"), ("b", "writer"), ("d", "old")])
    );
    // --force overrides.
    let r = m.run(&[
        "apply",
        plan.to_str().unwrap(),
        "--yes",
        "--force",
        "--journal",
        m.path("j2").to_str().unwrap(),
    ]);
    r.expect_code(0);
    assert_eq!(
        m.contents("busy", "").await,
        map(&[("a", "old"), ("b", "old"), ("c", "old"), ("d", "old")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_during_the_restore_wins_over_it() {
    let m = Moto::start().await;
    m.bucket("live", true).await;
    let keys: Vec<String> = (0..150).map(|i| format!("k{i:03}")).collect();
    for k in &keys {
        m.put("live", k, b"good").await;
    }
    let t = ts(checkpoint().await);
    for k in &keys {
        m.put("live", k, b"bad").await;
    }
    let journal = m.path("j.jsonl");
    // One action at a time, in key order: the writer below gets well ahead of it.
    let mut child = m.spawn(&[
        "restore",
        "s3://live",
        "--at",
        &t,
        "--yes",
        "--concurrency",
        "1",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    wait_for_journal(&journal, 10, &mut child).await;
    // A writer updates the last 20 keys while the restore is still at the first ones.
    let written: Vec<&String> = keys.iter().rev().take(20).collect();
    for k in &written {
        m.put("live", k, b"writer").await;
    }
    let progress = journal_done(&journal);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        progress < keys.len() - 20,
        "the restore overtook the writer ({progress} done)"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Drifted (changed since the plan; not touched) (20)"),
        "{stdout}"
    );
    let now = m.contents("live", "").await;
    for k in &keys {
        let want: &[u8] = if written.contains(&k) {
            b"writer"
        } else {
            b"good"
        };
        assert_eq!(now[k.as_str()], want, "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_restore_resumes_without_redoing_work() {
    let m = Moto::start().await;
    m.bucket("resume", true).await;
    let keys: Vec<String> = (0..240).map(|i| format!("f{i:03}")).collect();
    for chunk in keys.chunks(60) {
        let mut set = tokio::task::JoinSet::new();
        for k in chunk {
            let (c, k) = (m.client.clone(), k.clone());
            set.spawn(async move {
                c.put_object()
                    .bucket("resume")
                    .key(&k)
                    .body(format!("good {k}").into_bytes().into())
                    .send()
                    .await
                    .unwrap()
            });
        }
        set.join_all().await;
    }
    let t = ts(checkpoint().await);
    for chunk in keys.chunks(60) {
        let mut set = tokio::task::JoinSet::new();
        for k in chunk {
            let (c, k) = (m.client.clone(), k.clone());
            set.spawn(async move {
                c.put_object()
                    .bucket("resume")
                    .key(&k)
                    .body(b"bad".to_vec().into())
                    .send()
                    .await
                    .unwrap()
            });
        }
        set.join_all().await;
    }
    let before = m.versions("resume").await.len();
    let journal = m.path("journal.jsonl");
    let mut child = m.spawn(&[
        "restore",
        "s3://resume",
        "--at",
        &t,
        "--yes",
        "--concurrency",
        "2",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    // Kill it (SIGKILL: no cleanup) once it is well under way.
    wait_for_journal(&journal, 40, &mut child).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before_kill = journal_done(&journal);
    assert!(
        done_before_kill < keys.len(),
        "killed too late to test anything"
    );

    let r = m.run(&[
        "restore",
        "s3://resume",
        "--at",
        &t,
        "--yes",
        "--concurrency",
        "2",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    r.expect_code(0);
    let want: BTreeMap<String, Vec<u8>> = keys
        .iter()
        .map(|k| (k.clone(), format!("good {k}").into_bytes()))
        .collect();
    assert_eq!(m.contents("resume", "").await, want);
    // One new version per key, plus at most the copies that were in flight at the kill.
    let created = m.versions("resume").await.len() - before;
    assert!(
        created >= keys.len() && created <= keys.len() + 2,
        "created {created} versions for {} keys",
        keys.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_and_a_rerun_finishes() {
    let m = Moto::start().await;
    let (keys, t) = good_then_bad(&m, "interrupt", 120).await;
    let journal = m.path("j.jsonl");
    let child = m.spawn(&[
        "restore",
        "s3://interrupt",
        "--at",
        &t,
        "--yes",
        "--concurrency",
        "1",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let out = interrupt_after(&journal, 10, child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("Interrupted: run the same command again to resume"),
        "{stdout}"
    );
    // The summary line says what happened: interrupted, not done.
    assert!(
        stdout.contains("Interrupted: restore s3://interrupt/"),
        "{stdout}"
    );
    assert!(!stdout.contains("Done:"), "{stdout}");
    assert!(journal_done(&journal) < keys.len());
    m.run(&[
        "restore",
        "s3://interrupt",
        "--at",
        &t,
        "--yes",
        "--journal",
        journal.to_str().unwrap(),
    ])
    .expect_code(0);
    assert_eq!(m.contents("interrupt", "").await, good(&keys));
}

/// A versioned `bucket` with `n` keys written as "good KEY", then T, then each
/// overwritten with "bad": the keys and T.
async fn good_then_bad(m: &Moto, bucket: &str, n: usize) -> (Vec<String>, String) {
    m.bucket(bucket, true).await;
    let keys: Vec<String> = (0..n).map(|i| format!("k{i:03}")).collect();
    for k in &keys {
        m.put(bucket, k, format!("good {k}").as_bytes()).await;
    }
    let t = ts(checkpoint().await);
    for k in &keys {
        m.put(bucket, k, b"bad").await;
    }
    (keys, t)
}

/// Once `journal` records `n` completed actions, Ctrl-C (SIGINT) the restore `child` and
/// wait for it to end.
async fn interrupt_after(
    journal: &std::path::Path,
    n: usize,
    mut child: std::process::Child,
) -> std::process::Output {
    wait_for_journal(journal, n, &mut child).await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

/// What [`good_then_bad`]'s keys held at T.
fn good(keys: &[String]) -> BTreeMap<String, Vec<u8>> {
    keys.iter()
        .map(|k| (k.clone(), format!("good {k}").into_bytes()))
        .collect()
}

/// Ctrl-C while a restore into an empty bucket copies as it lists: the copies in flight
/// finish and are journaled, the listing stops, the exit is 130 with one error line
/// saying what was copied, and a re-run finishes without copying any key twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_copying_as_the_listing_goes_stops_cleanly() {
    let m = Moto::start().await;
    let (keys, t) = good_then_bad(&m, "listed", 120).await;
    m.bucket("scratch", true).await;
    let journal = m.path("j.jsonl");
    let args = [
        "restore",
        "s3://listed",
        "--at",
        &t,
        "--to",
        "s3://scratch",
        "--concurrency",
        "1",
        "--page-size",
        "10",
        "--list-split",
        "off",
        "--journal",
        journal.to_str().unwrap(),
    ];
    let child = m.spawn(&args);
    let out = interrupt_after(&journal, 10, child).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted while listing (") && stderr.contains(" copied before that"),
        "{stderr}"
    );
    let done = journal_done(&journal);
    assert!(done < keys.len());
    assert_eq!(m.versions("scratch").await.len(), done);
    m.run(&args).expect_code(0);
    assert_eq!(m.contents("scratch", "").await, good(&keys));
    assert_eq!(m.versions("scratch").await.len(), keys.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_puts_back_what_the_restore_replaced() {
    let m = Moto::start().await;
    m.bucket("undoable", true).await;
    m.put("undoable", "kept", b"k1").await;
    m.put("undoable", "edited", b"e1").await;
    m.put("undoable", "removed", b"r1").await;
    let t = ts(checkpoint().await);
    m.put("undoable", "edited", b"e2").await;
    m.delete("undoable", "removed").await;
    m.put("undoable", "added", b"a1").await;
    let before = m.contents("undoable", "").await;
    let journal = m.path("restore.jsonl");
    m.run(&[
        "restore",
        "s3://undoable",
        "--at",
        &t,
        "--yes",
        "--journal",
        journal.to_str().unwrap(),
    ])
    .expect_code(0);
    assert_eq!(
        m.contents("undoable", "").await,
        map(&[("edited", "e1"), ("kept", "k1"), ("removed", "r1")])
    );
    let versions = m.versions("undoable").await;

    let dry = m.run(&["undo", journal.to_str().unwrap(), "--dry-run"]);
    dry.expect_code(0);
    assert_eq!(
        m.versions("undoable").await,
        versions,
        "dry run writes nothing"
    );
    m.run(&["undo", journal.to_str().unwrap()]).expect_code(4); // needs --yes without a terminal
    m.run(&["undo", journal.to_str().unwrap(), "--yes"])
        .expect_code(0);
    assert_eq!(m.contents("undoable", "").await, before);
    let after = m.versions("undoable").await;
    for v in &versions {
        assert!(after.contains(v), "undo lost {v:?}");
    }
    // The undo has its own journal: undoing it restores the restore.
    let undo_journal = journal.with_extension("undo.jsonl");
    m.run(&["undo", undo_journal.to_str().unwrap(), "--yes"])
        .expect_code(0);
    assert_eq!(
        m.contents("undoable", "").await,
        map(&[("edited", "e1"), ("kept", "k1"), ("removed", "r1")])
    );
    let r = m.run(&["undo", "/nonexistent/journal.jsonl", "--yes"]);
    r.expect_code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_another_endpoint_streams_objects() {
    let src = Moto::start().await;
    let dst = Moto::start().await;
    src.bucket("origin", true).await;
    dst.bucket("far-away", true).await;
    let v = put_rich(&src, "origin", "doc.bin", b"precious".to_vec(), None).await;
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    src.put("origin", "big.bin", &big).await;
    let t = ts(checkpoint().await);
    src.put("origin", "doc.bin", b"ruined").await;
    let r = src.run(&[
        "restore",
        "s3://origin",
        "--at",
        &t,
        "--to",
        "s3://far-away/backup/",
        "--dest-endpoint-url",
        &dst.endpoint,
        "--part-size",
        "5242880",
    ]);
    r.expect_code(0);
    let got = dst.contents("far-away", "").await;
    assert_eq!(got["backup/doc.bin"], b"precious");
    assert_eq!(got["backup/big.bin"], big);
    let want = attrs(&src, "origin", "doc.bin", Some(&v)).await;
    let copy = attrs(&dst, "far-away", "backup/doc.bin", None).await;
    assert_eq!(copy, want);
    assert_eq!(open_uploads(&dst, "far-away").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_configuration_is_accepted() {
    let m = Moto::start().await;
    m.bucket("retries", true).await;
    m.put("retries", "k", b"1").await;
    let t = ts(checkpoint().await);
    m.put("retries", "k", b"2").await;
    m.run(&[
        "--max-attempts",
        "5",
        "--retry-mode",
        "adaptive",
        "restore",
        "s3://retries",
        "--at",
        &t,
        "--yes",
    ])
    .expect_code(0);
    assert_eq!(m.contents("retries", "").await, map(&[("k", "1")]));
    m.run(&[
        "--retry-mode",
        "sometimes",
        "plan",
        "s3://retries",
        "--at",
        &t,
    ])
    .expect_code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dest_profile_gives_the_destination_its_own_credentials() {
    // The source accepts any keys; the destination only knows its administrator's keys,
    // which are in a profile, while the environment holds other keys.
    let src = Moto::start().await;
    let (dst, _) = Moto::start_with_auth().await;
    src.bucket("prod-data", true).await;
    dst.bucket("dr-bucket", true).await;
    src.put("prod-data", "ledger.csv", b"good").await;
    let t = ts(checkpoint().await);
    src.put("prod-data", "ledger.csv", b"bad").await;
    let file = src.path("credentials");
    std::fs::write(
        &file,
        format!(
            "[dr]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            dst.keys.0, dst.keys.1
        ),
    )
    .unwrap();
    let args = [
        "restore",
        "s3://prod-data",
        "--at",
        &t,
        "--to",
        // (no '/' in any query string: moto's signature check mishandles it, so no
        // slash in the prefix and no delimiter listing either)
        "s3://dr-bucket/prod-",
        "--list-concurrency",
        "1",
        "--dest-endpoint-url",
        &dst.endpoint,
    ];
    // Without the profile, the destination refuses the environment's keys.
    let denied = src.run(&args);
    assert_eq!(denied.code, 5, "{}\n{}", denied.stdout, denied.stderr);
    let r = src.run_with(
        &[&args[..], &["--dest-profile", "dr"]].concat(),
        &[("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap())],
    );
    r.expect_code(0);
    assert_eq!(
        dst.contents("dr-bucket", "").await,
        map(&[("prod-ledger.csv", "good")])
    );
}
