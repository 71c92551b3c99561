//! `watch`: a watched index kept from radosgw's pushed notifications equals a full
//! listing of the bucket at the same instant, after a busy history with same-second PUT
//! and DELETE races, a multipart upload, a version deleted by id and an awkward key.

use crate::support::{Moto, ts};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3rewind_engine::Timeline;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// (key, [(version id, delete marker, ETag, size)]) and every stamp, per key.
type Shape = Vec<(String, Vec<(String, bool, String, u64)>)>;

fn shape(tl: &Timeline) -> Shape {
    tl.keys()
        .iter()
        .map(|h| {
            let e = h
                .entries
                .iter()
                .map(|v| {
                    (
                        v.version_id.to_string(),
                        v.delete_marker,
                        v.etag.to_string(),
                        v.size,
                    )
                })
                .collect();
            (h.key.clone(), e)
        })
        .collect()
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

async fn wait_for(path: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.is_file() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the watcher stopped before its baseline was written"
        );
        assert!(Instant::now() < deadline, "no baseline within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Longer than 120 lines on purpose: one scenario on a real server (topic, notification,
/// watcher, a busy history with same-second races, the comparison with a listing) read
/// top to bottom; its steps share the server, the watcher process and the deadline.
#[tokio::test]
async fn watch_radosgw_index_equals_a_listing_after_same_second_races() {
    let Some(s) = Moto::radosgw("watch_radosgw_index_equals_a_listing_after_same_second_races")
    else {
        return;
    };
    let b = s.b("watch-races");
    s.bucket(&b, true).await;
    for k in ["base/a", "base/b", "race/0"] {
        s.put(&b, k, b"before").await;
    }
    let idx = s.path("w.idx");
    let idx_s = idx.to_str().unwrap().to_owned();
    let addr = free_addr();
    let mut child = s.spawn(&[
        "watch",
        &format!("s3://{b}"),
        "--index",
        &idx_s,
        "--listen",
        &addr,
        "--token",
        "tok",
        "--settle",
        "1s",
        "--reconcile-every",
        "0",
        "--output",
        "json",
    ]);
    wait_for(&idx, &mut child).await;
    // The topic and the notification as `watch --setup --apply` makes them.
    let setup = s.run(&[
        "--output",
        "json",
        "watch",
        &format!("s3://{b}"),
        "--index",
        &idx_s,
        "--setup",
        "--apply",
        "--listen",
        &addr,
        "--token",
        "tok",
    ]);
    setup.expect_code(0);
    let sdoc = setup.json();
    crate::schemas::check_document("s3rewind.watch-setup/v1", &sdoc);
    assert!(
        sdoc["applied"]["topic_arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sns:"),
        "{sdoc}"
    );

    // The busy history: PUT and DELETE of one key at once, again and again.
    for round in 0..6 {
        let mut set = tokio::task::JoinSet::new();
        for k in 0..3 {
            let (c, b2, key) = (s.client.clone(), b.clone(), format!("race/{k}"));
            let body = format!("r{round}k{k}");
            set.spawn(async move {
                let put = c
                    .put_object()
                    .bucket(&b2)
                    .key(&key)
                    .body(ByteStream::from(body.into_bytes()))
                    .send();
                let del = c.delete_object().bucket(&b2).key(&key).send();
                let (p, d) = tokio::join!(put, del);
                p.unwrap();
                d.unwrap();
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    }
    let odd = "dir a/ü+&?=%.txt";
    let v = s.put(&b, odd, b"one").await;
    s.put(&b, odd, b"two").await;
    s.client
        .delete_object()
        .bucket(&b)
        .key(odd)
        .version_id(&v)
        .send()
        .await
        .unwrap();
    let up = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .send()
        .await
        .unwrap();
    let part = s
        .client
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(vec![7u8; 1000]))
        .send()
        .await
        .unwrap();
    s.client
        .complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    s.delete(&b, "base/b").await;
    // Racing keys settle, then are read again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let at = chrono::Utc::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let run: crate::support::Run = child.wait_with_output().unwrap().into();
    run.expect_code(130);
    let doc = run.json();
    crate::schemas::check_document("s3rewind.watch/v1", &doc);
    assert!(doc["events"].as_u64().unwrap() >= 40, "{doc}");
    assert_eq!(doc["in_doubt"], 0, "{doc}");
    // The races were decided by reading the keys again, not by a tie rule.
    assert!(doc["rereads"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["refused_messages"], 0, "{doc}");

    // The same instant, by a full listing.
    let full = s.path("full.idx");
    s.run(&[
        "index",
        &format!("s3://{b}"),
        "--out",
        full.to_str().unwrap(),
    ])
    .expect_code(0);
    let (_, listed) =
        s3rewind_engine::index::read_index(std::fs::File::open(&full).unwrap(), "").unwrap();
    let watched = s3rewind::watch::load(&idx, "", false).unwrap();
    let tl = watched.watch.timeline();
    assert_eq!(shape(&tl), shape(&listed));
    // The stamps: an event's time is when radosgw finished the request, a few ms after
    // the listing's LastModified; a key read again has the listing's own.
    for (h, l) in tl.keys().iter().zip(listed.keys()) {
        for (v, w) in h.entries.iter().zip(&l.entries) {
            let d = (v.last_modified - w.last_modified).num_milliseconds().abs();
            assert!(d < 1000, "{} {}: {d} ms apart", h.key, v.version_id);
        }
    }
    assert_eq!(watched.watch.stats().lost_created, 0);

    // A plan from the watched index: nothing listed, the lag said.
    let plan = s.run(&[
        "plan",
        &format!("s3://{b}"),
        "--at",
        &ts(at),
        "--index",
        &idx_s,
        "--output",
        "json",
    ]);
    plan.expect_code(0);
    assert!(plan.stderr.contains("watched index"), "{}", plan.stderr);
    assert_eq!(plan.json()["stats"]["copies"], 0, "{}", plan.stdout);
}

#[test]
fn watch_setup_documents_match_the_readme() {
    // No server is reached: --setup only prints.
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> crate::support::Run {
        let mut cmd = Command::new(crate::support::binary());
        crate::support::isolate_env(&mut cmd, dir.path());
        cmd.args(args).output().unwrap().into()
    };
    let push = run(&[
        "--output",
        "json",
        "watch",
        "s3://acme-docs/p/",
        "--index",
        "x.idx",
        "--setup",
        "--listen",
        "127.0.0.1:9",
        "--token",
        "tok",
    ]);
    push.expect_code(0);
    crate::schemas::check_document("s3rewind.watch-setup/v1", &push.json());
    assert_eq!(push.json()["kind"], "push");
    let sqs = run(&[
        "--output",
        "json",
        "watch",
        "s3://acme-docs",
        "--index",
        "x.idx",
        "--setup",
    ]);
    sqs.expect_code(0);
    crate::schemas::check_document("s3rewind.watch-setup/v1", &sqs.json());
    assert_eq!(
        sqs.json()["queue_policy"]["Statement"][0]["Principal"]["Service"],
        "s3.amazonaws.com"
    );
}

/// A queue on moto that an EventBridge rule fills with `bucket`'s events; its URL.
fn moto_eventbridge_queue(s: &Moto, bucket: &str) -> String {
    let script = r#"
import boto3, json, sys
ep, b = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=ep, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
sqs, s3, ev = (boto3.client(n, **kw) for n in ("sqs", "s3", "events"))
u = sqs.create_queue(QueueName="q-" + b)["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={"EventBridgeConfiguration": {}})
ev.put_rule(Name="s3rewind", EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [b]}}}))
ev.put_targets(Rule="s3rewind", Targets=[{"Id": "q", "Arn": arn}])
print(u)
"#;
    let out = Command::new("python3")
        .args(["-c", script, &s.endpoint, bucket])
        .output()
        .expect("python3 with boto3");
    assert!(
        out.status.success(),
        "queue setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn watch_moto_sqs_both_shapes_events_without_ids_are_read_again() {
    let s = Moto::start().await;
    let (direct, bridged) = ("wq-direct", "wq-bridged");
    for b in [direct, bridged] {
        s.bucket(b, true).await;
        s.put(b, "k/0", b"before").await;
        s.put(b, "k/1", b"before").await;
    }
    // The direct queue as `watch --setup --apply` makes it: queue, policy, notification.
    let setup = s.run(&[
        "--output",
        "json",
        "watch",
        &format!("s3://{direct}"),
        "--index",
        "unused.idx",
        "--setup",
        "--apply",
    ]);
    setup.expect_code(0);
    let sdoc = setup.json();
    crate::schemas::check_document("s3rewind.watch-setup/v1", &sdoc);
    let qa = sdoc["applied"]["queue_url"].as_str().unwrap().to_owned();
    assert!(
        sdoc["applied"]["queue_arn"]
            .as_str()
            .unwrap()
            .ends_with(":s3rewind-wq-direct"),
        "{sdoc}"
    );
    let qb = moto_eventbridge_queue(&s, bridged);
    let mut children = Vec::new();
    for (b, q) in [(direct, &qa), (bridged, &qb)] {
        let idx = s.path(&format!("{b}.idx"));
        let child = s.spawn(&[
            "watch",
            &format!("s3://{b}"),
            "--index",
            idx.to_str().unwrap(),
            "--queue",
            q,
            "--settle",
            "1s",
            "--reconcile-every",
            "3s",
            "--output",
            "json",
        ]);
        children.push((b, idx, child));
    }
    for (_, idx, child) in &mut children {
        wait_for(idx, child).await;
    }
    // Overwrites, a new key with an awkward name, delete markers (moto sends no event
    // for those: the reconciliation must find them).
    let odd = "dir a/ü+&?=%.txt";
    for b in [direct, bridged] {
        for round in 0..3 {
            s.put(b, "k/0", format!("r{round}").as_bytes()).await;
        }
        s.put(b, odd, b"one").await;
        s.put(b, "k/1", b"after").await;
        s.delete(b, "k/1").await;
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    for (b, idx, child) in children {
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let run: crate::support::Run = child.wait_with_output().unwrap().into();
        run.expect_code(130);
        let doc = run.json();
        crate::schemas::check_document("s3rewind.watch/v1", &doc);
        // Every put was an event (five per bucket), and none was taken into the index
        // as it came: moto's records name no version (the direct shape), its
        // EventBridge events share one sequencer and whole-second times (not decisive).
        assert!(doc["events"].as_u64().unwrap() >= 5, "{b}: {doc}");
        assert!(doc["doubts"].as_u64().unwrap() >= 4, "{b}: {doc}");
        assert!(doc["rereads"].as_u64().unwrap() >= 3, "{b}: {doc}");
        assert_eq!(doc["in_doubt"], 0, "{b}: {doc}");
        assert!(doc["reconciliations"].as_u64().unwrap() >= 1, "{b}: {doc}");
        // Every message received was deleted once synced (the test event included).
        let q = &doc["queue"];
        assert_eq!(q["left"], 0, "{b}: {doc}");
        assert!(q["deleted"].as_u64().unwrap() >= 5, "{b}: {doc}");
        assert_eq!(q["deleted"], q["received"], "{b}: {doc}");
        // The watched index is the bucket's listing, delete marker and all.
        let full = s.path(&format!("{b}-full.idx"));
        s.run(&[
            "index",
            &format!("s3://{b}"),
            "--out",
            full.to_str().unwrap(),
        ])
        .expect_code(0);
        let (_, listed) =
            s3rewind_engine::index::read_index(std::fs::File::open(&full).unwrap(), "").unwrap();
        let watched = s3rewind::watch::load(&idx, "", false).unwrap();
        assert_eq!(shape(&watched.watch.timeline()), shape(&listed), "{b}");
        assert_eq!(listed.get(odd).unwrap().entries.len(), 1);
        assert!(listed.get("k/1").unwrap().entries[0].delete_marker);
    }
}

#[tokio::test]
async fn watch_moto_alert_reports_a_truncation_burst_within_a_bin() {
    let s = Moto::start().await;
    let b = "wq-alert";
    s.bucket(b, true).await;
    for k in 0..8 {
        s.put(
            b,
            &format!("docs/{k}.txt"),
            "a line of text\n".repeat(20).as_bytes(),
        )
        .await;
    }
    let setup = s.run(&[
        "--output",
        "json",
        "watch",
        &format!("s3://{b}"),
        "--index",
        "unused.idx",
        "--setup",
        "--apply",
    ]);
    setup.expect_code(0);
    let queue = setup.json()["applied"]["queue_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let idx = s.path("alert.idx");
    let mut child = s.spawn(&[
        "watch",
        &format!("s3://{b}"),
        "--index",
        idx.to_str().unwrap(),
        "--queue",
        &queue,
        "--settle",
        "1s",
        "--reconcile-every",
        "0",
        "--alert",
        "--alert-every",
        "2s",
        "--output",
        "json",
    ]);
    wait_for(&idx, &mut child).await;
    // A client empties every document.
    let first = chrono::Utc::now();
    for k in 0..8 {
        s.put(b, &format!("docs/{k}.txt"), b"").await;
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let run: crate::support::Run = child.wait_with_output().unwrap().into();
    run.expect_code(130);
    // One alert line, then the watch document.
    let (line, rest) = run.stdout.split_once('\n').unwrap();
    let alert: serde_json::Value = serde_json::from_str(line).unwrap();
    crate::schemas::check_document("s3rewind.watch-alert/v1", &alert);
    let doc: serde_json::Value = serde_json::from_str(rest).unwrap();
    crate::schemas::check_document("s3rewind.watch/v1", &doc);
    assert_eq!(doc["alerts"], 1, "{doc}");
    // (The documents were written seconds before, inside the lookback: the detector
    // sees them as new keys too, and may name the incident after them; the truncation
    // is in its evidence either way.)
    assert!(
        alert["incident"]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("8 keys truncated")),
        "{alert}"
    );
    assert_eq!(alert["incident"]["keys"].as_array().unwrap().len(), 8);
    // moto's events name no version: the keys are read again after --settle (1 s), then
    // the next 2 s bin closes. Whole-second stamps on moto: up to 1 s earlier.
    let delay = alert["delay_secs"].as_f64().unwrap();
    assert!((0.0..6.0).contains(&delay), "{delay}");
    let detected: chrono::DateTime<chrono::Utc> =
        alert["detected_at"].as_str().unwrap().parse().unwrap();
    assert!((detected - first).num_milliseconds() < 6_000);
    assert_eq!(run.stderr.matches("ALERT").count(), 1, "{}", run.stderr);
}
