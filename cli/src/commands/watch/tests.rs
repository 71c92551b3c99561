//! `watch` in process on a bucket in memory: notifications posted to its endpoint as
//! radosgw would, and the watched index checked against a listing of the bucket.

use crate::bucket::MemStore;
use crate::testing::run_cmd;
use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::{Timeline, Versioning};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// POST `body` to `http://addr/path`; the status code.
async fn post(addr: &str, path: &str, body: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// An S3 record of a new version (or delete marker) of `key`.
fn record(key: &str, id: &str, marker: bool, at: DateTime<Utc>, seq: u64, etag: &str) -> String {
    serde_json::json!({"Records": [{
        "eventSource": "aws:s3",
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "eventName": if marker { "ObjectRemoved:DeleteMarkerCreated" } else { "ObjectCreated:Put" },
        "s3": {"bucket": {"name": "wbk"}, "object": {
            "key": key, "versionId": id, "sequencer": format!("{seq:016X}"),
            "eTag": etag, "size": if marker { 0 } else { 3 }}}
    }]})
    .to_string()
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The bucket's timeline as a listing gives it: (key, [(id, marker)]).
fn listed(store: &Arc<MemStore>) -> Vec<(String, Vec<(String, bool)>)> {
    shape(&store.with("wbk", |sim| {
        Timeline::from_ordered(sim.list_order("")).unwrap()
    }))
}

fn shape(tl: &Timeline) -> Vec<(String, Vec<(String, bool)>)> {
    tl.keys()
        .iter()
        .map(|h| {
            let ids = h
                .entries
                .iter()
                .map(|v| (v.version_id.to_string(), v.delete_marker))
                .collect();
            (h.key.clone(), ids)
        })
        .collect()
}

fn watched(idx: &Path) -> Timeline {
    crate::watch::load(idx, "", false).unwrap().watch.timeline()
}

async fn wait_for(path: &Path) {
    for _ in 0..200 {
        if path.is_file() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{} never appeared", path.display());
}

/// Longer than 120 lines on purpose: one watcher run (pushes, a duplicate, a lost
/// event, a reconciliation) whose later assertions read the state the earlier made.
#[tokio::test]
async fn pushed_events_keep_the_index_equal_to_a_listing_and_losses_are_counted() {
    let store = MemStore::new();
    store.create("wbk", Versioning::Enabled);
    let base = Utc::now();
    store.with("wbk", |sim| {
        sim.put("a", b"a-0", base - TimeDelta::seconds(300));
        sim.put("b", b"b-0", base - TimeDelta::seconds(300));
    });
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("wb.idx");
    let idx_s = idx.to_str().unwrap().to_owned();
    let addr = free_addr();
    let args = [
        "--output",
        "json",
        "watch",
        "s3://wbk",
        "--index",
        &idx_s,
        "--listen",
        &addr,
        "--token",
        "tok",
        "--order",
        "sequencer",
        "--reconcile-every",
        "1s",
        "--settle",
        "1s",
        "--stop-after",
        "4s",
    ];
    let poster = async {
        wait_for(&idx).await;
        // Three writes of `a` within one millisecond, later than the baseline read.
        let t0 = Utc::now() + TimeDelta::seconds(10);
        let (v1, d2, v3) = store.with("wbk", |sim| {
            (
                sim.put("a", b"a-1", t0),
                sim.delete("a", t0),
                sim.put("a", b"a-3", t0),
            )
        });
        let etag = |c: &[u8]| s3rewind_engine::sim::content_etag(c);
        // Out of order, one twice; the sequencers order them.
        for (id, marker, seq, body) in [
            (&v3, false, 3, &b"a-3"[..]),
            (&v1, false, 1, b"a-1"),
            (&d2, true, 2, b""),
            (&v3, false, 3, b"a-3"),
        ] {
            let e = if marker { String::new() } else { etag(body) };
            assert_eq!(
                post(&addr, "tok", &record("a", id, marker, t0, seq, &e)).await,
                200
            );
        }
        // A write whose notification never comes (from before the last 10 s, so it is no
        // longer in flight): the reconciliation finds it and counts it.
        store.with("wbk", |sim| {
            sim.put("b", b"b-1", base - TimeDelta::seconds(30))
        });
        // Not ours, not a notification.
        assert_eq!(
            post(&addr, "other", &record("a", &v1, false, t0, 1, "x")).await,
            404
        );
        assert_eq!(post(&addr, "tok", "{\"hello\": 1}").await, 400);
    };
    let (out, ()) = tokio::join!(run_cmd(&args, store.endpoint(), None), poster);
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["schema"], "s3rewind.watch/v1");
    assert_eq!(doc["events"], 3, "the duplicate is not logged: {doc}");
    assert_eq!(doc["lost_created"], 1, "{doc}\n{}", out.stderr);
    assert_eq!(doc["refused_messages"], 1);
    assert_eq!(shape(&watched(&idx)), listed(&store));
    assert!(
        out.stderr.contains("reconciliation: 1 key(s)"),
        "{}",
        out.stderr
    );

    // Any --index reader folds the log in, and says how far the index goes.
    let hist = run_cmd(
        &["history", "s3://wbk/a", "--index", &idx_s],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(hist.exit, 0, "{}", hist.stderr);
    assert!(hist.stderr.contains("watched index"), "{}", hist.stderr);
    assert!(hist.stderr.contains("lag"), "{}", hist.stderr);
    // Newest first, in the sequencers' order, though the three share a stamp.
    let at = |id: &str| hist.stdout.find(&format!(" {id} ")).unwrap();
    assert!(at("wbk-v000005") < at("wbk-v000004"), "{}", hist.stdout);
    assert!(at("wbk-v000004") < at("wbk-v000003"), "{}", hist.stdout);

    // Resumed after a stop: what changed meanwhile is found at start.
    store.with("wbk", |sim| {
        sim.delete("b", Utc::now() + TimeDelta::seconds(20))
    });
    let addr = free_addr();
    let args = [
        "--output",
        "json",
        "watch",
        "s3://wbk",
        "--index",
        &idx_s,
        "--listen",
        &addr,
        "--token",
        "tok",
        "--reconcile-every",
        "0",
        "--stop-after",
        "1s",
    ];
    let out = run_cmd(&args, store.endpoint(), None).await;
    assert_eq!(out.exit, 0, "{}", out.stderr);
    assert!(out.stderr.contains("resumed"), "{}", out.stderr);
    assert_eq!(shape(&watched(&idx)), listed(&store));
}

#[tokio::test]
async fn watch_needs_a_token_and_a_source_of_events() {
    let store = MemStore::new();
    store.create("wbk", Versioning::Enabled);
    let out = run_cmd(
        &[
            "watch",
            "s3://wbk",
            "--index",
            "/tmp/x.idx",
            "--listen",
            "127.0.0.1:0",
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--token"), "{}", out.stderr);
    let out = run_cmd(
        &["watch", "s3://wbk", "--index", "/tmp/x.idx"],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 2, "{}", out.stderr);
    // --setup prints the configuration, and writes nothing.
    let out = run_cmd(
        &[
            "--output",
            "json",
            "watch",
            "s3://wbk/p/",
            "--index",
            "/tmp/x.idx",
            "--setup",
            "--listen",
            "10.0.0.5:9000",
            "--token",
            "tok",
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["push_endpoint"], "http://10.0.0.5:9000/tok");
    assert_eq!(
        doc["notification_configuration"]["TopicConfigurations"][0]["Filter"]["Key"]["FilterRules"]
            [0]["Value"],
        "p/"
    );
    assert!(!Path::new("/tmp/x.idx").exists());
}

/// `watch` fed by an in-memory queue (as `--queue URL` is by SQS): both message shapes.
async fn run_queue(
    args: &[&str],
    store: &Arc<MemStore>,
    queue: Arc<crate::watch::queue::MemQueue>,
) -> crate::testing::Outcome {
    use clap::Parser;
    let argv = std::iter::once("s3rewind").chain(args.iter().copied());
    let cli = crate::args::Cli::try_parse_from(argv).unwrap();
    let crate::args::Command::Watch(wa) = &cli.command else {
        panic!("not watch");
    };
    let (printer, capture) = crate::output::Printer::capturing(cli.global.output, false);
    let app = crate::pipeline::App {
        printer,
        connector: Arc::new(crate::testing::Fixed(store.endpoint())),
        endpoint: store.endpoint(),
        uncapped: store.endpoint(),
        connect: crate::pipeline::App::connect_options(&cli.global),
        verbose: false,
        caps: None,
        journal_dir: crate::pipeline::App::journal_dir(&cli.global),
    };
    let exit = match super::watch_queue(&app, wa, queue).await {
        Ok(e) => e.code(),
        Err(e) => {
            app.printer.error(&e.message);
            e.exit.code()
        }
    };
    crate::testing::Outcome {
        exit,
        stdout: capture.stdout(),
        stderr: capture.stderr(),
    }
}

/// An EventBridge "Object Created"/"Object Deleted" event of `key`, as a rule delivers
/// it to SQS.
fn eventbridge(key: &str, id: &str, marker: bool, at: DateTime<Utc>, etag: &str) -> String {
    serde_json::json!({
        "version": "0", "source": "aws.s3",
        "detail-type": if marker { "Object Deleted" } else { "Object Created" },
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "detail": {"bucket": {"name": "wbk"},
            "object": {"key": key, "version-id": id, "etag": etag, "size": 3},
            "reason": if marker { "DeleteObject" } else { "PutObject" },
            "deletion-type": "Delete Marker Created"}
    })
    .to_string()
}

#[tokio::test]
async fn queued_messages_of_both_shapes_are_deleted_once_synced() {
    let store = MemStore::new();
    store.create("wbk", Versioning::Enabled);
    let base = Utc::now();
    store.with("wbk", |sim| {
        sim.put("a", b"a-0", base - TimeDelta::seconds(300));
    });
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("q.idx");
    let idx_s = idx.to_str().unwrap().to_owned();
    let queue = crate::watch::queue::MemQueue::new();
    // S3's own test event, sent when the notification is configured.
    queue.send(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"wbk"}"#);
    let args = [
        "--output",
        "json",
        "watch",
        "s3://wbk",
        "--index",
        &idx_s,
        "--queue",
        "http://127.0.0.1:1/123456789012/q",
        "--order",
        "event-time",
        "--reconcile-every",
        "0",
        "--settle",
        "1s",
        "--stop-after",
        "4s",
    ];
    let q2 = queue.clone();
    let sender = async {
        wait_for(&idx).await;
        let t = Utc::now() + TimeDelta::seconds(5);
        let etag = |c: &[u8]| s3rewind_engine::sim::content_etag(c);
        let (v1, d2, v3) = store.with("wbk", |sim| {
            (
                sim.put("a", b"a-1", t),
                sim.delete("a", t + TimeDelta::seconds(2)),
                sim.put("b", b"b-1", t),
            )
        });
        // Directly from S3 (Records), through EventBridge, and once more (at least once).
        q2.send(&record("a", &v1, false, t, 1, &etag(b"a-1")));
        q2.send(&eventbridge("a", &d2, true, t + TimeDelta::seconds(2), ""));
        q2.send(&eventbridge("b", &v3, false, t, &etag(b"b-1")));
        q2.send(&record("a", &v1, false, t, 1, &etag(b"a-1")));
        q2.send("not a notification");
    };
    let (out, ()) = tokio::join!(run_queue(&args, &store, queue.clone()), sender);
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["events"], 3, "the duplicate is not logged: {doc}");
    assert_eq!(doc["refused_messages"], 1, "{doc}");
    assert_eq!(doc["queue"]["deleted"], 5, "{doc}");
    assert!(doc["queue"]["left"].as_u64().unwrap() >= 1, "{doc}");
    assert_eq!(doc["lost_created"], 0, "{doc}");
    // Only the refused message is left.
    assert_eq!(queue.len(), 1);
    assert_eq!(shape(&watched(&idx)), listed(&store));
}

/// Longer than 120 lines on purpose: one history followed through plan (JSON and text),
/// then a restore from the replica; each step's assertions depend on the one before.
#[tokio::test]
async fn a_plan_from_a_watched_index_names_the_versions_removed_since_and_leaves_their_keys() {
    use s3rewind_engine::watch::{Begin, Event, EventKind, OrderBy, Record, Window};
    let store = MemStore::new();
    store.create("wbk", Versioning::Enabled);
    let now = Utc::now();
    let ago = |s: i64| now - TimeDelta::seconds(s);
    // A replica of the same history, with the same version ids.
    store.insert(
        "rep",
        s3rewind_engine::sim::SimBucket::new(Versioning::Enabled, "wbk-v"),
    );
    let mut ids = Vec::new();
    for b in ["wbk", "rep"] {
        ids = store.with(b, |sim| {
            vec![
                sim.put("k", b"k-1", ago(300)),
                sim.put("k", b"k-2", ago(200)),
                sim.put("k", b"k-3", ago(100)),
                sim.put("j", b"j-1", ago(300)),
                sim.put("j", b"j-2", ago(100)),
            ]
        });
    }
    let (k2, j1) = (ids[1].clone(), ids[3].clone());
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("r.idx");
    let base = store.with("wbk", |sim| {
        Timeline::from_ordered(sim.list_order("")).unwrap()
    });
    let begin = Begin::new(
        "wbk",
        "",
        ago(60),
        Window {
            start: ago(61),
            end: ago(60),
        },
        OrderBy::Sequencer,
    );
    // k's second version is deleted by its id after the index was made.
    store.with("wbk", |sim| sim.delete_version("k", &k2).unwrap());
    let removed = Record::Event(Event {
        key: "k".into(),
        kind: EventKind::Removed,
        version_id: Some(k2.as_str().into()),
        sequencer: None,
        time: ago(30),
        etag: Default::default(),
        size: 0,
        name: "ObjectRemoved:Delete".into(),
    });
    crate::watch::create(&idx, &begin, &base, &[removed]).unwrap();
    let at = crate::pipeline::rfc3339(ago(150));
    let out = run_cmd(
        &[
            "--output",
            "json",
            "plan",
            "s3://wbk",
            "--at",
            &at,
            "--index",
            idx.to_str().unwrap(),
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let doc = out.json();
    let w: Vec<&serde_json::Value> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "unrestorable")
        .collect();
    assert_eq!(w.len(), 1, "{doc}");
    assert_eq!(w[0]["key"], "k");
    assert_eq!(w[0]["version_id"], k2.as_str());
    assert_eq!(w[0]["why"], "deleted by version id");
    // k is left alone (its oldest version is not what it held at T); j is restored.
    let actions = doc["actions"].as_array().unwrap();
    assert!(actions.iter().all(|a| a["key"] != "k"), "{doc}");
    assert!(
        actions
            .iter()
            .any(|a| a["key"] == "j" && a["source_version_id"] == j1.as_str()),
        "{doc}"
    );
    let text = run_cmd(
        &[
            "plan",
            "s3://wbk",
            "--at",
            &at,
            "--index",
            idx.to_str().unwrap(),
        ],
        store.endpoint(),
        None,
    )
    .await;
    let said = format!("{}{}", text.stdout, text.stderr);
    assert!(
        said.contains("cannot be restored from this bucket"),
        "{said}"
    );

    // From the replica: the same version id, copied onto the key.
    let out = run_cmd(
        &[
            "--output",
            "json",
            "restore",
            "s3://wbk",
            "--at",
            &at,
            "--index",
            idx.to_str().unwrap(),
            "--from-replica",
            "s3://rep",
            "--yes",
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 0, "{}{}", out.stderr, out.stdout);
    assert!(out.stderr.contains("from the replica"), "{}", out.stderr);
    let head = |key: &str| {
        store.with("wbk", |sim| {
            Timeline::from_ordered(sim.list_order(key))
                .unwrap()
                .get(key)
                .unwrap()
                .head()
                .unwrap()
                .etag
                .to_string()
        })
    };
    let etag = s3rewind_engine::sim::content_etag;
    assert_eq!(head("k"), etag(b"k-2"), "k is what it was at T");
    assert_eq!(head("j"), etag(b"j-1"));
}

#[tokio::test]
async fn ls_and_drill_read_a_watched_index_with_its_log_folded_in() {
    use s3rewind_engine::watch::{Begin, Event, EventKind, OrderBy, Record, Window};
    let store = MemStore::new();
    store.create("wbk", Versioning::Enabled);
    store.create("scratch", Versioning::Enabled);
    // Whole seconds: TIME is given in milliseconds.
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let ago = |s: i64| now - TimeDelta::seconds(s);
    store.with("wbk", |sim| sim.put("a", b"a-1", ago(300)));
    let base = store.with("wbk", |sim| {
        Timeline::from_ordered(sim.list_order("")).unwrap()
    });
    // Written after the index: only the log knows it.
    let v2 = store.with("wbk", |sim| sim.put("a", b"a-2", ago(30)));
    let begin = Begin::new(
        "wbk",
        "",
        ago(61),
        Window {
            start: ago(62),
            end: ago(61),
        },
        OrderBy::Sequencer,
    );
    let created = Record::Event(Event {
        key: "a".into(),
        kind: EventKind::Created,
        version_id: Some(v2.as_str().into()),
        sequencer: Some(s3rewind_engine::watch::Sequencer::parse("0A").unwrap()),
        time: ago(30),
        etag: s3rewind_engine::sim::content_etag(b"a-2").as_str().into(),
        size: 3,
        name: "ObjectCreated:Put".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("d.idx");
    let idx_s = idx.to_str().unwrap().to_owned();
    crate::watch::create(&idx, &begin, &base, &[created]).unwrap();
    // As far as the log goes (its last record).
    let at = crate::pipeline::rfc3339(ago(30));
    let ls = run_cmd(
        &[
            "ls",
            "s3://wbk",
            "--at",
            &at,
            "--versions",
            "--index",
            &idx_s,
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(ls.exit, 0, "{}", ls.stderr);
    assert!(ls.stdout.contains(&v2), "{}", ls.stdout);
    assert!(ls.stderr.contains("watched index"), "{}", ls.stderr);
    let drill = run_cmd(
        &[
            "--output",
            "json",
            "drill",
            "s3://wbk",
            "--at",
            &at,
            "--scratch",
            "s3://scratch/d/",
            "--index",
            &idx_s,
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(drill.exit, 0, "{}", drill.stderr);
    assert!(drill.stderr.contains("watched index"), "{}", drill.stderr);
    let copied = store.with("scratch", |sim| {
        Timeline::from_ordered(sim.list_order("d/")).unwrap()
    });
    assert_eq!(
        copied.get("d/a").unwrap().head().unwrap().etag.as_str(),
        s3rewind_engine::sim::content_etag(b"a-2")
    );
}

#[tokio::test]
async fn alert_reports_a_truncation_burst_once_with_its_document_to_the_exec() {
    let store = MemStore::new();
    store.create("wbk", Versioning::Enabled);
    let now = Utc::now();
    // Two days of ordinary edits of 12 documents.
    store.with("wbk", |sim| {
        for h in 0..48 {
            for k in 0..12 {
                if (h + k) % 5 == 0 {
                    let body = format!("document {k}, edit {h}: {}", "text ".repeat(40));
                    sim.put(
                        &format!("docs/{k}.txt"),
                        body.as_bytes(),
                        now - TimeDelta::hours(48 - h) - TimeDelta::seconds(k),
                    );
                }
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("a.idx");
    let idx_s = idx.to_str().unwrap().to_owned();
    let got = dir.path().join("alert.json");
    let exec = format!("cat > {}", got.display());
    let addr = free_addr();
    let args = [
        "watch",
        "s3://wbk",
        "--index",
        &idx_s,
        "--listen",
        &addr,
        "--token",
        "tok",
        "--order",
        "sequencer",
        "--reconcile-every",
        "0",
        "--alert",
        "--alert-every",
        "1s",
        "--alert-exec",
        &exec,
        // Compactions write the index from the watch the detector borrowed.
        "--compact-every",
        "2",
        "--stop-after",
        "5s",
    ];
    let poster = async {
        wait_for(&idx).await;
        // A sync client empties 8 documents within a second.
        let t = Utc::now();
        for k in 0..8 {
            let key = format!("docs/{k}.txt");
            let id = store.with("wbk", |sim| sim.put(&key, b"", t));
            let body = record(
                &key,
                &id,
                false,
                t,
                100 + k,
                &s3rewind_engine::sim::content_etag(b""),
            );
            // The record's size is the object's: 0.
            let body = body.replace("\"size\":3", "\"size\":0");
            assert_eq!(post(&addr, "tok", &body).await, 200);
        }
    };
    let (out, ()) = tokio::join!(run_cmd(&args, store.endpoint(), None), poster);
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let alerts: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "one incident, reported once: {}\n{}",
        out.stdout,
        out.stderr
    );
    let a = &alerts[0];
    assert_eq!(a["schema"], "s3rewind.watch-alert/v1");
    assert!(
        a["incident"]["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "truncated"),
        "{a}"
    );
    assert_eq!(a["incident"]["keys"].as_array().unwrap().len(), 8, "{a}");
    // Within two bins of the first damaged write.
    let delay = a["delay_secs"].as_f64().unwrap();
    assert!((0.0..3.0).contains(&delay), "{delay}");
    assert_eq!(out.stderr.matches("ALERT").count(), 1, "{}", out.stderr);
    let sent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(&sent, a, "the exec got the same document");
    // Detecting borrowed the index and gave it back whole: the files the watcher compacted
    // hold the bucket's history.
    assert_eq!(shape(&watched(&idx)), listed(&store));
    // The counts go on through the compactions.
    assert!(
        out.stdout.contains("Watched s3://wbk/: 8 events"),
        "{}",
        out.stdout
    );
    // It did compact: the log no longer holds its Begin line and the 8 events.
    let log = std::fs::read_to_string(crate::watch::log_path(&idx)).unwrap();
    assert!(log.lines().count() < 9, "{log}");
}
