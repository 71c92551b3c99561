//! Every command end to end on buckets in memory: each test runs command lines through
//! [`run_cmd`] and checks the exit code and what the buckets hold afterwards, against
//! the truth the engine's simulator replays from its change log
//! ([`SimBucket::truth_at`]), taken before the command ran.

use super::{FaultyEndpoint, Outcome, run_cmd};
use crate::bucket::{Endpoint, Faults, MemConfig, MemStore, Op};
use crate::listing::Streams;
use crate::output::rfc3339;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use s3rewind_engine::audit::LifecycleRule;
use s3rewind_engine::sim::Content;
use s3rewind_engine::{SimBucket, Versioning};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Seconds after the start of the histories.
fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).unwrap() + TimeDelta::seconds(secs)
}

/// The instant the tests restore to.
fn at() -> DateTime<Utc> {
    t(100)
}

/// A history around [`at`]: before it `a.txt` is written twice, `b.txt`, `c/d.txt` and
/// `e.txt` once, and `gone.txt` written and deleted; after it `a.txt` and `e.txt` are
/// overwritten, `b.txt` and `c/d.txt` deleted and `f.txt` written. `extra` more keys
/// (`k/NNN`) are written before and overwritten after, for runs that need volume.
fn history(extra: usize) -> SimBucket {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    sim.put("a.txt", b"a one", t(10));
    sim.put("b.txt", b"b one", t(11));
    sim.put("c/d.txt", b"d one", t(12));
    sim.put("e.txt", b"e one", t(13));
    sim.put("gone.txt", b"gone", t(14));
    sim.delete("gone.txt", t(15));
    sim.put("a.txt", b"a two", t(20));
    for k in 0..extra {
        sim.put(
            &format!("k/{k:03}"),
            format!("k{k} before").as_bytes(),
            t(30),
        );
    }
    sim.put("a.txt", b"a damaged", t(200));
    sim.put("e.txt", b"e damaged", t(201));
    sim.delete("b.txt", t(202));
    sim.delete("c/d.txt", t(203));
    sim.put("f.txt", b"f new", t(204));
    for k in 0..extra {
        sim.put(
            &format!("k/{k:03}"),
            format!("k{k} damaged").as_bytes(),
            t(210),
        );
    }
    sim
}

/// A store with the bucket `src` holding [`history`].
fn source(extra: usize) -> Arc<MemStore> {
    let store = MemStore::new();
    store.insert("src", history(extra));
    store
}

fn contents(store: &MemStore, bucket: &str) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.current_contents())
}

fn truth(store: &MemStore, bucket: &str, at: DateTime<Utc>) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.truth_at(at))
}

/// The current content of every key under `prefix`, with the prefix taken off.
fn under(store: &MemStore, bucket: &str, prefix: &str) -> BTreeMap<String, Content> {
    contents(store, bucket)
        .into_iter()
        .filter_map(|(k, c)| Some((k.strip_prefix(prefix)?.to_owned(), c)))
        .collect()
}

fn journal(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// `restore s3://src --at T --yes --journal J` (T: [`at`]), then `extra`.
fn restore_args(j: &str, extra: &[&str]) -> Vec<String> {
    let at = rfc3339(at());
    ["restore", "s3://src", "--at", &at, "--yes", "--journal", j]
        .iter()
        .chain(extra)
        .map(|a| (*a).to_owned())
        .collect()
}

/// `undelete s3://src --since T --remove-delete-markers --yes --journal J --output json`
/// (T: 150 s into [`history`]: the deletes after [`at`] are undone, `gone.txt`'s before it
/// is not).
async fn remove_markers_on(endpoint: Arc<dyn Endpoint>, j: &str) -> Outcome {
    let since = rfc3339(t(150));
    let args = [
        "undelete",
        "s3://src",
        "--since",
        &since,
        "--remove-delete-markers",
    ];
    let rest = ["--yes", "--journal", j, "--output", "json"];
    run_cmd(&[&args[..], &rest[..]].concat(), endpoint, None).await
}

/// The ids of `key`'s delete markers (`markers`) or of its versions in `src`, in the
/// order the bucket holds them.
fn ids_of(store: &MemStore, key: &str, markers: bool) -> Vec<String> {
    store.with("src", |s| {
        s.all_versions()
            .filter(|(k, v)| *k == key && v.version.delete_marker == markers)
            .map(|(_, v)| v.version.version_id.to_string())
            .collect()
    })
}

/// [`restore_args`] run on `store`.
async fn restore_in(store: &Arc<MemStore>, j: &str, extra: &[&str]) -> Outcome {
    let args = restore_args(j, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cmd(&args, store.endpoint(), None).await
}

/// `drill s3://src --at T --scratch s3://scratch/drill/ --cleanup --output json` on
/// `store` (its journal in `dir`), which succeeds: its document.
async fn drill_and_clean_up(store: &Arc<MemStore>, dir: &Path) -> serde_json::Value {
    let out = run_cmd(
        &[
            "drill",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--scratch",
            "s3://scratch/drill/",
            "--cleanup",
            "--journal",
            &journal(dir, "j.jsonl"),
            "--output",
            "json",
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    out.json()
}

/// `plan s3://src --at T --out FILE` on `store`, which succeeds.
async fn plan_out(store: &Arc<MemStore>, file: &str) {
    let at = rfc3339(at());
    ok(&run_cmd(
        &["plan", "s3://src", "--at", &at, "--out", file],
        store.endpoint(),
        None,
    )
    .await);
}

/// The command succeeded (else the test fails with what it printed).
fn ok(out: &Outcome) {
    assert_eq!(
        out.exit, 0,
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.exit, out.stdout, out.stderr
    );
}

#[tokio::test]
async fn plan_shows_the_actions_and_writes_nothing() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let plan_file = journal(dir.path(), "plan.json");
    let before = contents(&store, "src");
    let out = run_cmd(
        &[
            "plan",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--out",
            &plan_file,
            "--output",
            "json",
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let plan = out.json();
    // a, b, c/d and e copied back; f hidden behind a delete marker.
    assert_eq!(plan["stats"]["copies"], 4, "{plan:#}");
    assert_eq!(plan["stats"]["delete_markers"], 1, "{plan:#}");
    assert!(Path::new(&plan_file).is_file());
    assert_eq!(store.requests().writes(), 0);
    assert_eq!(contents(&store, "src"), before);
}

#[tokio::test]
async fn a_usage_error_exits_2_before_any_request() {
    let store = source(0);
    let out = run_cmd(&["restore", "s3://src"], store.endpoint(), None).await;
    assert_eq!(out.exit, 2, "{out:?}");
    assert!(out.stderr.contains("--at"), "{}", out.stderr);
    let out = run_cmd(
        &["restore", "s3://src", "--at", "not a time", "--yes"],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 2, "{out:?}");
    assert_eq!(store.requests().total(), 0);
}

/// A key the journal records whole and then again in a torn line (the run wrote it a
/// second time and crashed mid-line): undo re-checks the torn line against the bucket,
/// takes the key's current version as what the run left there, and puts back what was
/// current before the run's first write, with every other key, over more keys than it
/// plans at a time.
#[tokio::test]
async fn a_key_recorded_whole_and_then_torn_is_undone_to_its_state_before() {
    let store = source(20);
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path(), "restore.jsonl");
    let before = contents(&store, "src");
    ok(&restore_in(&store, &j, &["--no-verify"]).await);
    assert_ne!(contents(&store, "src"), before);
    let text = std::fs::read_to_string(&j).unwrap();
    let copies: Vec<crate::journal::Done> = text
        .lines()
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(crate::journal::Line::Done(d)) if d.op == crate::journal::Op::Copy => Some(d),
            _ => None,
        })
        .collect();
    assert!(copies.len() > 3, "more keys than undo plans at a time");
    // The run writes one key again and crashes while journaling it.
    let key = copies[copies.len() / 2].key.clone();
    store.with("src", |s| {
        s.put(&key, b"written again, then the crash", Utc::now())
    });
    let torn = format!(
        "{{\"type\":\"done\",\"op\":\"copy\",\"bucket\":\"src\",\"key\":{},\"source_bu",
        serde_json::to_string(&key).unwrap()
    );
    std::fs::write(&j, format!("{text}{torn}")).unwrap();
    let undo = run_cmd(&["undo", &j, "--yes"], store.endpoint(), None).await;
    ok(&undo);
    assert!(
        undo.stderr.contains("re-checked against the bucket"),
        "{}",
        undo.stderr
    );
    assert_eq!(contents(&store, "src"), before);
    assert_eq!(store.requests().of(Op::DeleteVersion), 0);
}

#[tokio::test]
async fn restore_in_place_then_undo_puts_each_state_back() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path(), "restore.jsonl");
    let expected = truth(&store, "src", at());
    let damaged = contents(&store, "src");
    assert_ne!(damaged, expected);
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--yes",
            "--journal",
            &j,
            "--output",
            "json",
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let doc = out.json();
    assert_eq!(doc["verification"]["ok"], true, "{doc:#}");
    assert_eq!(doc["report"]["copied"], 4, "{doc:#}");
    assert_eq!(contents(&store, "src"), expected);
    // No version was removed: every earlier version is still there.
    assert!(store.requests().of(Op::DeleteVersion) == 0);

    // The same restore again finds nothing to do: it writes nothing, not even a journal.
    let idle = journal(dir.path(), "again.jsonl");
    store.reset_requests();
    let again = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--yes",
            "--journal",
            &idle,
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&again);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
    assert!(
        !Path::new(&idle).exists(),
        "a run with nothing to do began a journal"
    );
    assert_eq!(store.requests().writes(), 0);
    assert_eq!(contents(&store, "src"), expected);

    let undo_journal = journal(dir.path(), "undo.jsonl");
    let out = run_cmd(
        &["undo", &j, "--yes", "--journal", &undo_journal],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert_eq!(contents(&store, "src"), damaged);
}

#[tokio::test]
async fn restore_into_an_empty_bucket_copies_as_the_listing_goes() {
    let store = source(0);
    store.create("dst", Versioning::Enabled);
    let dir = tempfile::tempdir().unwrap();
    let expected = truth(&store, "src", at());
    let src_before = contents(&store, "src");
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--to",
            "s3://dst/restored/",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert!(
        out.stderr.contains("copying as the listing goes"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("Verification:"), "{}", out.stdout);
    assert_eq!(under(&store, "dst", "restored/"), expected);
    assert_eq!(contents(&store, "dst").len(), expected.len());
    assert_eq!(contents(&store, "src"), src_before);
}

/// A restore's plan made as the listing streams is kept on disk, not in memory (issue
/// 25 §4): in place and into a bucket that holds keys, `prepare` with the actions
/// spooled hands over a plan that holds none, and a spool that reads back, in key
/// order, exactly the actions of the plan it makes when they are held, with the same
/// stats and warnings; the listing split into parallel streams (several runs written
/// in any order) changes nothing.
#[tokio::test]
async fn a_plan_kept_on_disk_is_the_plan_kept_in_memory() {
    use crate::pipeline::prepare::{prepare, resolve};
    use crate::spill::PlanActions;
    use clap::Parser;
    for (to, split) in [
        (None, "off"),
        (None, "folders"),
        (Some("s3://dst/r/"), "folders"),
    ] {
        let store = source(300);
        store.create("dst", Versioning::Enabled);
        store.with("dst", |s| {
            s.put("r/a.txt", b"something else", t(300));
            s.put("r/k/007", b"k7 before", t(301));
            s.put("r/zzz.txt", b"not in the source", t(302));
        });
        let at = rfc3339(at());
        let mut argv = vec![
            "s3rewind",
            "restore",
            "s3://src",
            "--at",
            &at,
            "--list-split",
            split,
            "--page-size",
            "7",
        ];
        if let Some(to) = to {
            argv.extend(["--to", to]);
        }
        let cli = crate::args::Cli::try_parse_from(argv).unwrap();
        let crate::args::Command::Restore(args) = &cli.command else {
            unreachable!()
        };
        let (app, _capture) = super::app_of(&cli, store.endpoint(), None);
        let mut req = resolve(&args.target, &app.connect).unwrap();
        let clients = req.clients(&app).await;
        let none = |_| Ok(None);
        req.spool_actions = false;
        let held = prepare(&clients, &app.printer, &req, &none).await.unwrap();
        req.spool_actions = true;
        let spooled = prepare(&clients, &app.printer, &req, &none).await.unwrap();
        assert!(held.spool.is_none());
        assert!(
            held.plan.actions.len() > 300,
            "{to:?}: {}",
            held.plan.actions.len()
        );
        assert!(
            spooled.plan.actions.is_empty(),
            "{to:?}: the plan holds its actions"
        );
        let spool = spooled.spool.as_ref().expect("the actions are on disk");
        let read = PlanActions::of(&spooled.plan, Some(spool))
            .first(usize::MAX)
            .unwrap();
        assert_eq!(read, held.plan.actions, "{to:?} {split}");
        assert_eq!(spooled.plan.stats, held.plan.stats);
        assert_eq!(spooled.plan.warnings, held.plan.warnings);
    }
}

#[tokio::test]
async fn restore_into_a_bucket_that_holds_keys_replaces_them() {
    let store = source(0);
    store.create("dst", Versioning::Enabled);
    store.with("dst", |s| {
        s.put("a.txt", b"something else", t(300));
        s.put("zzz.txt", b"not in the source", t(301));
    });
    let dir = tempfile::tempdir().unwrap();
    let expected = truth(&store, "src", at());
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--to",
            "s3://dst",
            "--yes",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert!(
        !out.stderr.contains("copying as the listing goes"),
        "{}",
        out.stderr
    );
    // Every key at T holds its content then; a key the source never had is left alone
    // (and said so), never hidden.
    let mut want = expected;
    want.insert("zzz.txt".into(), Content::from(&b"not in the source"[..]));
    assert_eq!(contents(&store, "dst"), want, "{}", out.stdout);
    assert!(
        out.stdout.contains("left alone: \"zzz.txt\""),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn restore_to_another_endpoint_streams_the_copies() {
    let store = source(0);
    let other = MemStore::new();
    other.create("dst", Versioning::Enabled);
    let dir = tempfile::tempdir().unwrap();
    let expected = truth(&store, "src", at());
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--to",
            "s3://dst",
            "--dest-endpoint-url",
            "http://other.example",
            "--yes",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        Some(other.endpoint()),
    )
    .await;
    ok(&out);
    assert_eq!(contents(&other, "dst"), expected);
    // Streamed: read from the source, written to the other endpoint; no CopyObject.
    assert_eq!(other.requests().of(Op::Copy), 0);
    assert_eq!(other.requests().of(Op::Put), expected.len() as u64);
    assert!(store.requests().of(Op::Get) >= expected.len() as u64);
    assert_eq!(store.requests().writes(), 0);
}

#[tokio::test]
async fn apply_executes_a_saved_plan() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let plan_file = journal(dir.path(), "plan.json");
    let expected = truth(&store, "src", at());
    plan_out(&store, &plan_file).await;
    assert_eq!(store.requests().writes(), 0);
    let out = run_cmd(
        &[
            "apply",
            &plan_file,
            "--yes",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert_eq!(contents(&store, "src"), expected);
    assert!(out.stdout.contains("Verification:"), "{}", out.stdout);
    // The actions counted as read back agree with the file's own stats.
    assert!(!out.stderr.contains("stats say"), "{}", out.stderr);

    // Applied again with its journal: every action is left out after one HEAD each (the
    // plan's actions read from disk, those done taken out), nothing is written, and what
    // is left is counted from what remains: nothing.
    let planned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let n = planned["actions"].as_array().unwrap().len() as u64;
    assert!(n >= 5, "{planned}");
    store.reset_requests();
    let j = journal(dir.path(), "j.jsonl");
    let resume = [
        "--output",
        "json",
        "apply",
        &plan_file,
        "--yes",
        "--no-verify",
        "--journal",
        &j,
    ];
    let all_done = format!("resuming: {n} actions already done");
    let again = run_cmd(&resume, store.endpoint(), None).await;
    ok(&again);
    assert!(again.stderr.contains(&all_done), "{}", again.stderr);
    let doc = again.json();
    assert_eq!(doc["report"]["already_done"], n, "{doc}");
    assert_eq!(
        (
            doc["plan"]["copies"].as_u64(),
            doc["plan"]["delete_markers"].as_u64()
        ),
        (Some(0), Some(0)),
        "{doc}"
    );
    let requests = store.requests();
    assert_eq!(requests.writes(), 0, "{requests:?}");
    assert_eq!(
        requests.of(Op::Head),
        n,
        "one HEAD per journaled action: {requests:?}"
    );
    assert_eq!(contents(&store, "src"), expected);

    // A journal that recorded a copy twice (an earlier copy since overwritten, then the
    // copy made again): the last record is the one that counts, so every action is
    // still left out.
    let text = std::fs::read_to_string(&j).unwrap();
    let mut twice = String::new();
    for line in text.lines() {
        if line.contains("\"op\":\"copy\"") {
            let mut earlier: serde_json::Value = serde_json::from_str(line).unwrap();
            earlier["new_version_id"] = "an-earlier-copy".into();
            twice.push_str(&format!("{earlier}\n"));
        }
        twice.push_str(line);
        twice.push('\n');
    }
    assert_ne!(twice, text);
    std::fs::write(&j, twice).unwrap();
    let again = run_cmd(&resume, store.endpoint(), None).await;
    ok(&again);
    assert!(again.stderr.contains(&all_done), "{}", again.stderr);
    assert_eq!(again.json()["report"]["already_done"], n);
}

/// A plan file whose actions were put out of key order (edited by hand: it is read whole,
/// not spooled), stopped by a cap and applied again: what its journal proves done is
/// left out, the rest done, each action once over both runs.
#[tokio::test]
async fn a_hand_ordered_plan_stopped_by_a_cap_resumes_from_its_journal() {
    let store = source(20);
    let dir = tempfile::tempdir().unwrap();
    let plan_file = journal(dir.path(), "plan.json");
    let j = journal(dir.path(), "j.jsonl");
    let expected = truth(&store, "src", at());
    plan_out(&store, &plan_file).await;
    let mut planned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let actions = planned["actions"].as_array_mut().unwrap();
    actions.reverse();
    let n = actions.len();
    assert!(n > 10, "{planned}");
    std::fs::write(&plan_file, planned.to_string()).unwrap();
    let apply = |cap: &'static [&'static str]| {
        let args: Vec<String> = ["apply", &plan_file, "--yes", "--no-verify", "--journal", &j]
            .iter()
            .chain(cap)
            .map(|a| (*a).to_owned())
            .collect();
        let endpoint = store.endpoint();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cmd(&args, endpoint, None).await
        }
    };
    let stopped = apply(&["--max-bytes", "60B"]).await;
    assert_eq!(stopped.exit, 4, "{}{}", stopped.stdout, stopped.stderr);
    let first = store.requests().writes();
    assert!(first >= 2 && (first as usize) < n, "{first} of {n}");
    let resumed = apply(&[]).await;
    ok(&resumed);
    assert!(
        resumed
            .stderr
            .contains(&format!("resuming: {first} actions already done")),
        "{}",
        resumed.stderr
    );
    assert_eq!(contents(&store, "src"), expected);
    assert_eq!(store.requests().writes() as usize, n, "each action once");
}

#[tokio::test]
async fn undelete_copies_the_last_versions_back() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let before = contents(&store, "src");
    let out = run_cmd(
        &[
            "undelete",
            "s3://src",
            "--yes",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let mut expected = before;
    expected.insert("b.txt".into(), Content::from(&b"b one"[..]));
    expected.insert("c/d.txt".into(), Content::from(&b"d one"[..]));
    expected.insert("gone.txt".into(), Content::from(&b"gone"[..]));
    assert_eq!(contents(&store, "src"), expected);
    assert_eq!(store.requests().of(Op::DeleteVersion), 0);
}

/// A copying undelete plans each part of the listing as it arrives, onto disk: over many
/// keys in several folders, listed in small pages on parallel streams, its plan is the
/// one the engine makes from the whole listing (`find_deleted`, `undelete_target`,
/// `plan`), with and without `--since`; and run, it brings back exactly those keys.
#[tokio::test]
async fn undelete_plans_the_listing_part_by_part_as_the_whole() {
    use s3rewind_engine::undelete::{find_deleted, undelete_target};
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    for k in 0..90u32 {
        let key = format!("f{}/k{k:03}", k % 4);
        // Some keys never had a version, some were deleted twice, some came back.
        if k % 11 != 0 {
            sim.put(&key, format!("{k} one").as_bytes(), t(10));
        }
        if k % 3 == 0 {
            sim.delete(&key, t(100 + i64::from(k)));
            if k % 2 == 0 {
                sim.delete(&key, t(300));
            }
        }
        if k % 7 == 0 {
            sim.put(&key, format!("{k} two").as_bytes(), t(400));
        }
    }
    let whole = {
        let mut b = s3rewind_engine::TimelineBuilder::new();
        for page in sim.list_pages("", 1000) {
            b.push_page(page).unwrap();
        }
        b.finish()
    };
    let store = MemStore::new();
    store.insert("src", sim);
    for since in [None, Some(t(150))] {
        let found = find_deleted(&whole, "", since);
        assert!(found.keys.len() > 5 && !found.skipped.is_empty());
        let current = whole.current();
        let mut options = s3rewind_engine::PlanOptions::new(
            s3rewind_engine::Location {
                bucket: "src".into(),
                prefix: String::new(),
            },
            s3rewind_engine::Destination::InPlace,
            t(0),
        );
        options.selection = s3rewind_engine::Selection::Undelete;
        let expected =
            s3rewind_engine::plan(&current, &undelete_target(&current, &found), &options);
        let since_text = since.map(rfc3339);
        let mut args = vec![
            "--output",
            "json",
            "undelete",
            "s3://src",
            "--dry-run",
            "--page-size",
            "7",
            "--list-concurrency",
            "3",
            "--list-split",
            "folders",
        ];
        if let Some(s) = &since_text {
            args.extend(["--since", s]);
        }
        let out = run_cmd(&args, store.endpoint(), None).await;
        ok(&out);
        let plan: s3rewind_engine::RestorePlan = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(plan.actions, expected.actions, "since {since:?}");
        assert_eq!(plan.stats.copies, expected.stats.copies);
        assert_eq!(plan.stats.keys_at_target, expected.stats.keys_at_target);
        assert!(
            out.stderr.contains("only ever had delete markers"),
            "{}",
            out.stderr
        );
    }
    // Run: exactly the deleted keys come back, at their last version.
    let before = contents(&store, "src");
    let dir = tempfile::tempdir().unwrap();
    let out = run_cmd(
        &[
            "undelete",
            "s3://src",
            "--yes",
            "--page-size",
            "7",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let after = contents(&store, "src");
    let back: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let found = find_deleted(&whole, "", None);
    assert_eq!(back, found.keys.iter().map(|k| &k.key).collect::<Vec<_>>());
    for k in &found.keys {
        let n: u32 = k.key[4..].parse().unwrap();
        assert_eq!(
            &after[&k.key][..],
            format!("{n} one").as_bytes(),
            "{}",
            k.key
        );
    }
    assert_eq!(store.requests().of(Op::DeleteVersion), 0);
}

/// What undelete says of what it found, counted across the parts of the listing: the
/// keys that only ever had delete markers (their number, the first five, "…" past five),
/// in both modes; "Nothing to undelete" only when nothing comes back; and the plan's
/// count of the versions listed.
#[tokio::test]
async fn undelete_says_what_it_found_and_skipped() {
    let store_of = |skipped: u32, deleted: u32| {
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        for k in 0..skipped {
            sim.delete(&format!("s{}/only-markers-{k}", k % 3), t(5));
        }
        for k in 0..deleted {
            let key = format!("d{}/k{k}", k % 3);
            sim.put(&key, b"data", t(1));
            sim.delete(&key, t(6));
        }
        sim.put("kept", b"kept", t(2));
        let store = MemStore::new();
        store.insert("src", sim);
        store
    };
    let run = |store: Arc<MemStore>, remove: bool| async move {
        let mut args = vec![
            "--output",
            "json",
            "undelete",
            "s3://src",
            "--dry-run",
            "--page-size",
            "2",
        ];
        if remove {
            args.push("--remove-delete-markers");
        }
        let out = run_cmd(&args, store.endpoint(), None).await;
        ok(&out);
        out
    };
    // Seven skipped, four to bring back, listed two entries a page.
    for remove in [false, true] {
        let out = run(store_of(7, 4), remove).await;
        assert!(
            out.stderr
                .contains("7 deleted key(s) only ever had delete markers")
                && out.stderr.contains(", …"),
            "{}",
            out.stderr
        );
        assert!(
            !out.stdout.contains("Nothing to undelete"),
            "{}",
            out.stdout
        );
        if !remove {
            let plan: s3rewind_engine::RestorePlan = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(plan.stats.copies, 4);
            // 7 markers, 4 versions and 4 markers, 1 kept version.
            assert_eq!(plan.stats.versions_now, 16);
        }
    }
    // Three skipped (all named, no "…"), nothing to bring back.
    let out = run(store_of(3, 0), false).await;
    assert!(
        out.stderr
            .contains("3 deleted key(s) only ever had delete markers")
            && !out.stderr.contains(", …"),
        "{}",
        out.stderr
    );
    // Nothing skipped: no such line.
    let out = run(store_of(0, 2), false).await;
    assert!(!out.stderr.contains("only ever had"), "{}", out.stderr);
    let human = run_cmd(
        &["undelete", "s3://src", "--dry-run"],
        store_of(3, 0).endpoint(),
        None,
    )
    .await;
    ok(&human);
    assert!(
        human.stdout.contains("Nothing to undelete"),
        "{}",
        human.stdout
    );
    let human = run_cmd(
        &["undelete", "s3://src", "--dry-run"],
        store_of(0, 2).endpoint(),
        None,
    )
    .await;
    assert!(
        !human.stdout.contains("Nothing to undelete")
            && human.stdout.contains("Undelete: 2 deleted key(s)"),
        "{}",
        human.stdout
    );
}

#[tokio::test]
async fn undelete_can_remove_the_delete_markers_instead() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let b = ids_of(&store, "b.txt", false)[0].clone();
    let out = remove_markers_on(store.endpoint(), &journal(dir.path(), "j.jsonl")).await;
    ok(&out);
    assert_eq!(out.json()["report"]["undeleted"], 2, "{}", out.stdout);
    // The original version is current again, under its own id; nothing was copied.
    let head = store.with("src", |s| {
        s.head("b.txt").unwrap().version.version_id.to_string()
    });
    assert_eq!(head, b);
    assert!(contents(&store, "src").contains_key("c/d.txt"));
    // Deleted before --since: left deleted.
    assert!(!contents(&store, "src").contains_key("gone.txt"));
    assert_eq!(store.requests().of(Op::Copy), 0);
    assert_eq!(store.requests().of(Op::DeleteVersion), 2);
}

#[tokio::test]
async fn removing_delete_markers_a_part_at_a_time_removes_what_the_whole_listing_finds() {
    use s3rewind_engine::undelete::find_deleted;
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    for k in 0..150u32 {
        let key = format!("f{}/k{k:03}", k % 5);
        if k % 13 == 0 {
            // Only ever a delete marker: skipped.
            sim.delete(&key, t(140));
            continue;
        }
        sim.put(&key, format!("{k}").as_bytes(), t(10 + i64::from(k % 40)));
        if k % 3 == 0 {
            sim.delete(&key, t(150));
            if k % 2 == 0 {
                sim.delete(&key, t(160));
            }
        }
    }
    let store = MemStore::new();
    store.insert("src", sim);
    let whole = listed_whole(&store, "src").await;
    let found = find_deleted(&whole, "", None);
    assert!(found.keys.len() > 40 && !found.skipped.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let run = |dry: bool| {
        let j = journal(dir.path(), "j.jsonl");
        let store = store.clone();
        async move {
            let mut args = vec![
                "--output",
                "json",
                "undelete",
                "s3://src",
                "--remove-delete-markers",
                "--list-concurrency",
                "8",
                "--page-size",
                "7",
                "--concurrency",
                "3",
            ];
            if dry {
                args.push("--dry-run");
            } else {
                args.extend(["--yes", "--journal", &j]);
            }
            run_cmd(&args, store.endpoint(), None).await
        }
    };
    let planned = run(true).await;
    ok(&planned);
    let doc = planned.json();
    assert_eq!(doc["keys"], serde_json::to_value(&found.keys).unwrap());
    assert_eq!(
        doc["skipped"],
        serde_json::to_value(&found.skipped).unwrap()
    );
    assert_eq!(store.requests().writes(), 0, "a dry run writes nothing");

    let out = run(false).await;
    ok(&out);
    let doc = out.json();
    assert_eq!(doc["keys"], serde_json::to_value(&found.keys).unwrap());
    assert_eq!(doc["report"]["undeleted"], found.keys.len(), "{doc:#}");
    // Every marker planned was removed, listed in key order, each key's newest first.
    let want: Vec<(String, String)> = found
        .keys
        .iter()
        .flat_map(|k| {
            k.markers
                .iter()
                .map(|m| (k.key.clone(), m.version_id.clone()))
        })
        .collect();
    let removed: Vec<(String, String)> = doc["report"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap().to_owned(),
                m["version_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(removed, want);
    assert_eq!(
        store.requests().of(Op::DeleteVersion),
        want.len() as u64,
        "one delete per marker"
    );
    let now = contents(&store, "src");
    for k in &found.keys {
        assert!(now.contains_key(&k.key), "{} is back", k.key);
    }
    // Run again: nothing is left to remove.
    let again = run(false).await;
    ok(&again);
    assert_eq!(again.json()["report"]["undeleted"], 0, "nothing left to do");
}

#[tokio::test]
async fn verify_reports_differences_until_the_bucket_is_restored() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let verify = ["verify", "s3://src", "--at", &rfc3339(at()), "--deep"];
    let out = run_cmd(&verify, store.endpoint(), None).await;
    assert_eq!(out.exit, 1, "{out:?}");
    assert!(out.stdout.contains("f.txt"), "{}", out.stdout);
    ok(&run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--yes",
            "--no-verify",
            "--journal",
            &journal(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await);
    let out = run_cmd(&verify, store.endpoint(), None).await;
    ok(&out);
    // --deep read both sides of every key, the current objects included.
    assert!(store.requests().of(Op::Get) >= 8);
}

/// A verification that finds more than 50 differences names the first 50 in key order
/// and counts the rest; with -v it names every one (read back from disk as printed).
#[tokio::test]
async fn verify_names_fifty_differences_and_counts_the_rest() {
    let store = source(60);
    let when = rfc3339(at());
    let quiet = run_cmd(
        &["verify", "s3://src", "--at", &when],
        store.endpoint(),
        None,
    )
    .await;
    let loud = run_cmd(
        &["-v", "verify", "s3://src", "--at", &when],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!((quiet.exit, loud.exit), (1, 1), "{}", quiet.stderr);
    let named = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("  ") && l.contains(": "))
            .filter(|l| !l.trim_start().starts_with('…'))
            .map(str::to_owned)
            .collect()
    };
    let (few, all) = (named(&quiet.stdout), named(&loud.stdout));
    // a.txt, b.txt, c/d.txt, e.txt and f.txt, and the 60 keys overwritten after T.
    assert_eq!(all.len(), 65, "{}", loud.stdout);
    assert_eq!(few, all[..50], "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains("  … and 15 more (-v for all"),
        "{}",
        quiet.stdout
    );
    assert!(!loud.stdout.contains("… and"), "{}", loud.stdout);
}

#[tokio::test]
async fn a_drill_restores_verifies_and_cleans_up() {
    let store = source(0);
    store.create("scratch", Versioning::Enabled);
    store.set_config(
        "src",
        MemConfig {
            lifecycle: Some(vec![LifecycleRule {
                id: "expire-old".into(),
                enabled: true,
                noncurrent_days: Some(90),
                ..LifecycleRule::default()
            }]),
            ..MemConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let src_before = contents(&store, "src");
    let doc = drill_and_clean_up(&store, dir.path()).await;
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["objects_restored"], 4, "{doc:#}");
    assert_eq!(doc["cleanup"]["removed"], 4, "{doc:#}");
    let why = doc["reach_back"]["why"].as_str().unwrap();
    assert!(why.contains("expire-old"), "{why}");
    // Cleaned up exactly: the scratch bucket holds no version at all.
    assert!(store.entries("scratch").is_empty());
    assert_eq!(contents(&store, "src"), src_before);
}

/// A drill into a scratch bucket that keeps no versions (each copy `null`, recognised by
/// its ETag and size), over more keys than its clean-up reads at a time: every copy is
/// removed and the scratch bucket is empty again.
#[tokio::test]
async fn a_drill_cleans_up_null_copies_a_batch_at_a_time() {
    let store = source(20);
    store.create("scratch", Versioning::Unversioned);
    let dir = tempfile::tempdir().unwrap();
    let doc = drill_and_clean_up(&store, dir.path()).await;
    let restored = doc["objects_restored"].as_u64().unwrap();
    assert!(restored > 3, "{doc:#}");
    assert_eq!(doc["cleanup"]["removed"], restored, "{doc:#}");
    // Each copy is journaled before it is read back and again after: none is left.
    assert_eq!(doc["cleanup"]["left"], serde_json::json!([]), "{doc:#}");
    assert!(store.entries("scratch").is_empty(), "{doc:#}");
}

/// `drill --sample`: the whole range is planned, only the sample is copied and verified,
/// every prefix is in it, the same seed draws the same keys, and the recovery time is
/// projected to the whole range.
#[tokio::test]
async fn a_sampled_drill_restores_and_verifies_a_stratified_sample_and_projects_the_rto() {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    for (prefix, n, size) in [("logs/", 40, 10), ("img/", 10, 1000), ("", 1, 5)] {
        for i in 0..n {
            sim.put(&format!("{prefix}k{i:02}"), &vec![b'x'; size + i], t(10));
        }
    }
    sim.put("logs/k00", b"damaged", t(200));
    let store = MemStore::new();
    store.insert("src", sim);
    store.create("scratch", Versioning::Enabled);
    let truth_at = truth(&store, "src", at());
    let dir = tempfile::tempdir().unwrap();
    let drill = |scratch: &'static str, seed: &'static str| {
        let store = store.clone();
        let j = journal(dir.path(), &format!("{seed}{}.jsonl", scratch.len()));
        async move {
            let args = [
                "drill",
                "s3://src",
                "--at",
                "2025-06-01T09:01:40Z",
                "--scratch",
                scratch,
                "--sample",
                "10",
                "--sample-seed",
                seed,
                "--journal",
                &j,
                "--output",
                "json",
            ];
            run_cmd(&args, store.endpoint(), None).await
        }
    };
    let out = drill("s3://scratch/one/", "7").await;
    ok(&out);
    let doc = out.json();
    assert_eq!(doc["ok"], true, "{doc:#}");
    let sample = &doc["sample"];
    assert_eq!(sample["keys"], 10, "{sample:#}");
    assert_eq!(sample["population_keys"], 51);
    assert_eq!(sample["seed"], 7);
    let strata = sample["strata"].as_array().unwrap();
    assert_eq!(strata.len(), 3);
    assert!(
        strata.iter().all(|s| s["sampled"].as_u64().unwrap() >= 1),
        "{strata:?}"
    );
    // Only the sample was copied and verified, each key equal to the source at TIME.
    assert_eq!(doc["objects_restored"], 10);
    assert_eq!(store.requests().of(Op::Copy), 10);
    assert_eq!(doc["verification"]["keys_at_target"], 10, "{doc:#}");
    let one = under(&store, "scratch", "one/");
    assert_eq!(one.len(), 10);
    for (k, c) in &one {
        assert_eq!(Some(c), truth_at.get(k), "{k}");
    }
    // The projection: the measured whole-range part plus the sample's part scaled up.
    let p = &sample["projection"];
    let (rto, lo, hi) = (
        p["rto_seconds"].as_f64().unwrap(),
        p["low_seconds"].as_f64().unwrap(),
        p["high_seconds"].as_f64().unwrap(),
    );
    assert!(lo <= rto && rto <= hi, "{p:#}");
    assert!(p["scale_by_keys"].as_f64().unwrap() == 5.1, "{p:#}");
    assert!(
        rto >= doc["recovery_seconds"].as_f64().unwrap() - 1e-9,
        "{p:#}"
    );
    // The same seed draws the same keys.
    let again = drill("s3://scratch/two/", "7").await;
    ok(&again);
    let two = under(&store, "scratch", "two/");
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>()
    );
    // Text: the sample and the projection are said.
    let text = run_cmd(
        &[
            "drill",
            "s3://src",
            "--at",
            "2025-06-01T09:01:40Z",
            "--scratch",
            "s3://scratch/three/",
            "--sample",
            "20%",
            "--journal",
            &journal(dir.path(), "t.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&text);
    assert!(
        text.stdout.contains("sample: 11 of 51 keys"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("projected recovery time of the whole range"),
        "{}",
        text.stdout
    );
    // --sample-seed without --sample is a usage error.
    let bad = run_cmd(
        &[
            "drill",
            "s3://src",
            "--at",
            "2025-06-01T09:01:40Z",
            "--scratch",
            "s3://scratch/x/",
            "--sample-seed",
            "1",
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(bad.exit, 2, "{bad:?}");
}

#[tokio::test]
async fn a_drill_refuses_a_scratch_location_that_holds_objects() {
    let store = source(0);
    store.create("scratch", Versioning::Enabled);
    store.with("scratch", |s| {
        // Deleted keys first (delete markers alone are nothing), then many objects.
        for k in 0..5 {
            s.put(&format!("drill/a{k}"), b"gone", t(1));
            s.delete(&format!("drill/a{k}"), t(2));
        }
        for k in 0..3000 {
            s.put(&format!("drill/x{k:04}"), b"x", t(1));
        }
    });
    let drill = |scratch: &'static str| {
        let store = store.clone();
        async move {
            let args = [
                "drill",
                "s3://src",
                "--at",
                &rfc3339(at()),
                "--scratch",
                scratch,
            ];
            run_cmd(&args, store.endpoint(), None).await
        }
    };
    store.reset_requests();
    let out = drill("s3://scratch/drill/").await;
    assert_eq!(out.exit, crate::error::Exit::Refused.code(), "{out:?}");
    assert!(
        out.stderr
            .contains(r#"holds objects (the first: "drill/x0000")"#),
        "{}",
        out.stderr
    );
    assert_eq!(store.requests().writes(), 0);
    assert_eq!(
        store.requests().of(Op::ListObjects),
        1,
        "one page of the scratch location says it holds objects"
    );
    // A location that holds only delete markers is empty.
    store.with("scratch", |s| {
        s.put("only-deleted/k", b"gone", t(1));
        s.delete("only-deleted/k", t(2));
    });
    let out = drill("s3://scratch/only-deleted/").await;
    assert_eq!(out.exit, 0, "{out:?}");
    // A server that counts deleted keys toward a page (S3 may): 1,200 deleted keys make
    // the first page empty, and it says more follow.
    store.set_personality(crate::bucket::Personality {
        sparse_object_pages: true,
        ..store.personality()
    });
    store.with("scratch", |s| {
        for k in 0..1200 {
            s.put(&format!("sparse/a{k:04}"), b"gone", t(1));
            s.delete(&format!("sparse/a{k:04}"), t(2));
        }
        s.put("sparse/z", b"z", t(1));
    });
    store.reset_requests();
    let out = drill("s3://scratch/sparse/").await;
    assert_eq!(out.exit, crate::error::Exit::Refused.code(), "{out:?}");
    assert!(
        out.stderr.contains(r#"(the first: "sparse/z")"#),
        "{}",
        out.stderr
    );
    assert_eq!(
        store.requests().of(Op::ListObjects),
        2,
        "an empty page, then the object"
    );
    assert_eq!(store.requests().writes(), 0);
}

/// A bucket of 90 keys in four folders (and a few at the top), written before [`at`],
/// some deleted and some overwritten after it.
fn folders() -> SimBucket {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    for k in 0..90u32 {
        let key = if k % 10 == 9 {
            format!("top{k:03}")
        } else {
            format!("f{}/k{k:03}", k % 4)
        };
        sim.put(&key, format!("{k} one").as_bytes(), t(10 + i64::from(k)));
        // Some delete markers stamped before the version they hide (a clock that
        // went back): the listing's order, not the stamps, says which came last.
        if k % 3 == 0 {
            sim.delete(&key, t(if k % 6 == 0 { 40 } else { 150 }));
        }
        if k % 5 == 0 {
            sim.put(&key, format!("{k} two").as_bytes(), t(300));
        }
    }
    sim
}

/// The reference a command's streamed reading is compared with: `bucket` listed whole,
/// in one stream of full pages.
async fn listed_whole(store: &Arc<MemStore>, bucket: &str) -> s3rewind_engine::Timeline {
    let bucket: Arc<dyn crate::bucket::Bucket> = Arc::new(store.bucket(bucket));
    let (printer, _) = crate::output::Printer::capturing(crate::output::OutputFormat::Text, true);
    crate::listing::list_bucket(&bucket, &printer, "", 1000, Streams::ONE)
        .await
        .unwrap()
}

#[tokio::test]
async fn ls_written_a_part_at_a_time_is_the_whole_state_in_key_order() {
    let store = MemStore::new();
    store.insert("src", folders());
    let whole = listed_whole(&store, "src").await;
    for when in [at(), t(200), t(400)] {
        let state = whole.state_at(when);
        assert!(state.len() > 20, "a state worth listing");
        let mut docs = Vec::new();
        // One stream, and eight split by folder with small pages: parts arrive in any
        // order and interleave (the top level spans the folders).
        for streams in ["1", "8"] {
            let time = rfc3339(when);
            let ls = |json: bool| {
                let mut args = vec!["ls", "s3://src", "--at", &time];
                args.extend(["--list-concurrency", streams, "--page-size", "7"]);
                if json {
                    args.extend(["--output", "json"]);
                }
                let endpoint = store.endpoint();
                async move { run_cmd(&args, endpoint, None).await }
            };
            let out = ls(true).await;
            ok(&out);
            let doc = out.json();
            let listed: Vec<(String, String)> = doc["objects"]
                .as_array()
                .unwrap_or_else(|| panic!("{doc:#}"))
                .iter()
                .map(|o| {
                    (
                        o["key"].as_str().unwrap().to_owned(),
                        o["version_id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            let want: Vec<(String, String)> = state
                .objects
                .iter()
                .map(|e| (e.key.clone(), e.version.version_id.to_string()))
                .collect();
            assert_eq!(listed, want, "{streams} stream(s) at {when}");
            assert_eq!(doc["keys"], state.len(), "{doc:#}");
            assert_eq!(doc["bytes"], state.total_bytes(), "{doc:#}");
            docs.push(doc);
            // The text lists the same keys in the same order.
            let text = ls(false).await;
            ok(&text);
            let keys: Vec<&str> = text
                .stdout
                .lines()
                .filter_map(|l| l.split_whitespace().last())
                .collect();
            let want_keys: Vec<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, want_keys, "text, {streams} stream(s)");
        }
        assert_eq!(docs[0], docs[1], "one stream or eight: one document");
    }
}

#[tokio::test]
async fn diff_written_a_part_at_a_time_is_the_whole_diff() {
    let store = MemStore::new();
    store.insert("src", folders());
    let whole = listed_whole(&store, "src").await;
    let source = s3rewind_engine::Location {
        bucket: "src".into(),
        prefix: String::new(),
    };
    for (from, to) in [(at(), t(400)), (t(45), t(200)), (t(200), t(200))] {
        let want = s3rewind_engine::explore::diff::diff_states(&source, &whole, from, to);
        let want = serde_json::to_value(&want).unwrap();
        let mut texts = Vec::new();
        for streams in ["1", "8"] {
            let args = |json: bool| {
                let mut a: Vec<String> = if json {
                    vec!["--output".into(), "json".into()]
                } else {
                    vec!["-v".into()]
                };
                a.extend(
                    [
                        "diff",
                        "s3://src",
                        "--from",
                        &rfc3339(from),
                        "--to",
                        &rfc3339(to),
                        "--list-concurrency",
                        streams,
                        "--page-size",
                        "7",
                    ]
                    .map(String::from),
                );
                a
            };
            let argv = args(true);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = run_cmd(&argv, store.endpoint(), None).await;
            let changes = &want["summary"];
            let differ = ["added", "changed", "deleted"]
                .iter()
                .any(|k| changes[k].as_u64() != Some(0));
            assert_eq!(out.exit, u8::from(differ), "{}", out.stderr);
            assert_eq!(out.json(), want, "{streams} stream(s), {from} to {to}");
            let argv = args(false);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            texts.push(run_cmd(&argv, store.endpoint(), None).await.stdout);
        }
        assert_eq!(texts[0], texts[1], "the text: one stream or eight");
        let lines = texts[0].lines().filter(|l| l.starts_with("  ")).count() as u64;
        let s = &want["summary"];
        assert_eq!(
            lines,
            ["added", "changed", "deleted"]
                .iter()
                .map(|k| s[k].as_u64().unwrap())
                .sum::<u64>(),
            "-v prints every change: {}",
            texts[0]
        );
    }
}

#[tokio::test]
async fn diff_in_text_shows_a_hundred_changes_and_counts_the_rest() {
    // 130 keys written before T and overwritten after it, beside the history's own.
    let store = source(130);
    let out = run_cmd(
        &[
            "diff",
            "s3://src",
            "--from",
            &rfc3339(at()),
            "--to",
            &rfc3339(t(400)),
        ],
        store.endpoint(),
        None,
    )
    .await;
    let shown = out.stdout.lines().filter(|l| l.starts_with("  ")).count();
    // added f.txt; changed a.txt, e.txt and the 130; deleted b.txt and c/d.txt.
    assert_eq!(
        shown, 101,
        "100 changes and the line counting the rest: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  … 35 more (-v for all"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn verify_in_place_a_part_at_a_time_is_the_whole_listings_verdict() {
    let store = MemStore::new();
    store.insert("src", folders());
    let verify = |when: DateTime<Utc>, streams: &'static str, page: &'static str| {
        let store = store.clone();
        async move {
            let when = rfc3339(when);
            let args = [
                "--output",
                "json",
                "verify",
                "s3://src",
                "--at",
                &when,
                "--list-concurrency",
                streams,
                "--page-size",
                page,
            ];
            run_cmd(&args, store.endpoint(), None).await
        }
    };
    for when in [at(), t(200), t(400)] {
        let whole = verify(when, "1", "1000").await;
        let parts = verify(when, "8", "7").await;
        assert_eq!(whole.exit, parts.exit, "{}", parts.stderr);
        let (a, b) = (whole.json(), parts.json());
        for field in [
            "ok",
            "keys_at_target",
            "keys_now",
            "matched",
            "extra",
            "differences",
        ] {
            assert_eq!(a[field], b[field], "{field} at {when}: {b:#}");
        }
        let differ = a["differences"].as_array().map_or(0, Vec::len);
        // Everything written after T differs from T; at the last write nothing does.
        assert_eq!(differ > 0, when < t(300), "{a:#}");
        assert_eq!(whole.exit, u8::from(differ > 0), "{}", whole.stderr);
    }
}

#[tokio::test]
async fn history_of_a_key_that_is_a_prefix_keeps_the_key_and_names_the_first_others() {
    let store = MemStore::new();
    store.insert("src", folders());
    // "f1/k0" is no key; keys start with it ("f1/k001", "f1/k005", "f1/k013", …).
    for streams in ["1", "8"] {
        let out = run_cmd(
            &[
                "history",
                "s3://src/f1/k0",
                "--page-size",
                "3",
                "--list-concurrency",
                streams,
            ],
            store.endpoint(),
            None,
        )
        .await;
        assert_eq!(out.exit, crate::error::Exit::NotFound.code(), "{out:?}");
        assert!(
            out.stderr
                .contains(r#"keys starting with it: "f1/k001", "f1/k005", "f1/k013", …"#),
            "the first three in key order: {}",
            out.stderr
        );
    }
    // A key that others start with: its own history only.
    store.with("src", |s| {
        s.put("f1/k0", b"short", t(5));
    });
    let out = run_cmd(
        &[
            "--output",
            "json",
            "history",
            "s3://src/f1/k0",
            "--page-size",
            "3",
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let doc = out.json();
    assert_eq!(doc["key"], "f1/k0");
    assert_eq!(doc["entries"].as_array().map(Vec::len), Some(1), "{doc:#}");
}

#[tokio::test]
async fn ls_history_and_diff_read_the_past() {
    let store = source(0);
    let out = run_cmd(
        &["ls", "s3://src", "--at", &rfc3339(at())],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    for key in ["a.txt", "b.txt", "c/d.txt", "e.txt"] {
        assert!(out.stdout.contains(key), "{key}: {}", out.stdout);
    }
    assert!(!out.stdout.contains("f.txt"), "{}", out.stdout);
    assert!(!out.stdout.contains("gone.txt"), "{}", out.stdout);

    let out = run_cmd(
        &["history", "s3://src/a.txt", "--output", "json"],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let doc = out.json();
    let entries = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(entries.len(), 3, "{doc:#}");

    let out = run_cmd(
        &[
            "diff",
            "s3://src",
            "--from",
            &rfc3339(at()),
            "--to",
            &rfc3339(t(300)),
            "--output",
            "json",
        ],
        store.endpoint(),
        None,
    )
    .await;
    // Like diff(1): 1 when something changed.
    assert_eq!(out.exit, 1, "{out:?}");
    let summary = &out.json()["summary"];
    assert_eq!(
        (&summary["added"], &summary["changed"], &summary["deleted"]),
        (&1.into(), &2.into(), &2.into()),
        "{summary:#}"
    );
    assert!(!out.stdout.contains("gone.txt"), "{}", out.stdout);
    assert_eq!(store.requests().writes(), 0);
}

/// A key the server refuses to write for good: the restore does everything else, exits 1
/// and names the key under its outcome in the text output; lists with nothing in them are
/// not printed (a shard 3 survivor: `print_issues` printing only the empty lists).
#[tokio::test]
async fn a_key_that_cannot_be_written_is_named_in_the_text_output_and_exits_1() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyEndpoint::new(
        store.endpoint(),
        Faults {
            deny_keys: vec!["a.txt".to_owned()],
            ..Faults::default()
        },
    );
    let args = restore_args(&journal(dir.path(), "j.jsonl"), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let out = run_cmd(&args, faulty, None).await;

    assert_eq!(out.exit, 1, "{}\n{}", out.stdout, out.stderr);
    let text = &out.stdout;
    let failed = text
        .find("Failed (1):")
        .unwrap_or_else(|| panic!("no failed list: {text}"));
    assert!(text[failed..].contains("\"a.txt\""), "{text}");
    for empty in ["Drifted (", "Waiting for", "Skipped ("] {
        assert!(
            !text.contains(empty),
            "an empty list printed ({empty}): {text}"
        );
    }
    // Everything else was restored.
    let mut want = truth(&store, "src", at());
    let mut now = contents(&store, "src");
    want.remove("a.txt");
    now.remove("a.txt");
    assert_eq!(now, want);
}

/// Every write refused (a role without the permission): each key the restore meant to
/// write is a failure, kept on disk past a few (in tests: three) and listed in key order
/// in the JSON document, read back from there as it is written; the verification after
/// it, in the same document, names them as differences.
#[tokio::test]
async fn every_refused_write_is_listed_in_key_order_from_disk() {
    let store = source(12);
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyEndpoint::new(
        store.endpoint(),
        Faults {
            deny_writes: true,
            ..Faults::default()
        },
    );
    let args = restore_args(&journal(dir.path(), "j.jsonl"), &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_cmd(&args, faulty, None).await;
    assert_eq!(out.exit, 1, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    let failed: Vec<&str> = doc["report"]["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}"))
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    // What the restore had to write: every key whose state now differs from T.
    let want: Vec<String> = {
        let (then, now) = (truth(&store, "src", at()), contents(&store, "src"));
        then.keys()
            .chain(now.keys())
            .filter(|k| then.get(*k) != now.get(*k))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert!(want.len() > crate::run::HELD_ISSUES, "{want:?}");
    assert_eq!(failed, want, "{doc:#}");
    assert!(
        doc["report"]["failed"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("AccessDenied") || d.contains("denied"))
    );
    assert_eq!(doc["verification"]["ok"], false, "{doc:#}");
    assert_eq!(
        doc["verification"]["differences"].as_array().map(Vec::len),
        Some(want.len())
    );
}

#[tokio::test]
async fn a_restore_through_throttling_and_server_errors_converges() {
    let store = source(60);
    let dir = tempfile::tempdir().unwrap();
    let expected = truth(&store, "src", at());
    let faulty = FaultyEndpoint::new(
        store.endpoint(),
        Faults {
            seed: 23,
            throttle: 0.08,
            server_error: 0.08,
            reset: 0.03,
            lost_reply: 0.05,
            ..Faults::default()
        },
    );
    let endpoint: Arc<dyn Endpoint> = faulty.clone();
    let entries_before = store.entries("src").len();
    let args = restore_args(&journal(dir.path(), "j.jsonl"), &["--output", "json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_cmd(&args, endpoint.clone(), None).await;
    // A run may end with keys left to do (attempts used up): the same command resumes.
    let mut runs = 1;
    let mut last = out.clone();
    while last.exit != 0 && runs < 4 {
        last = run_cmd(&args, endpoint.clone(), None).await;
        runs += 1;
    }
    ok(&last);
    assert_eq!(contents(&store, "src"), expected);
    // Faults reached the runner: throttled writes, or copies whose reply was lost and
    // that were found done on the next attempt.
    let report = &out.json()["report"];
    let seen = |k: &str| report[k].as_u64().unwrap_or(0);
    assert!(
        seen("throttled") + seen("already_done") > 0,
        "no fault reached the run: {report:#}"
    );
    assert!(faulty.calls() > 0);
    // Never a duplicate: one new entry per action of the plan (the 64 keys that differ
    // from T copied back, f.txt hidden), however many attempts it took.
    assert_eq!(
        store.entries("src").len(),
        entries_before + 64 + 1,
        "{runs} run(s)"
    );
}

#[tokio::test]
async fn gates_and_audit_read_configurations_in_memory() {
    let store = source(0);
    store.set_config(
        "src",
        MemConfig {
            lifecycle: Some(vec![LifecycleRule {
                id: "short".into(),
                enabled: true,
                noncurrent_days: Some(1),
                ..LifecycleRule::default()
            }]),
            ..MemConfig::default()
        },
    );
    let out = run_cmd(
        &["plan", "s3://src", "--at", &rfc3339(at())],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert!(out.stdout.contains("short"), "{}", out.stdout);
    let out = run_cmd(
        &["audit", "s3://src", "--output", "json"],
        store.endpoint(),
        None,
    )
    .await;
    // Versioning without Object Lock or a replica: not every scenario is covered.
    assert_eq!(out.exit, 1, "{out:?}");
    let doc = out.json();
    assert!(doc.to_string().contains("short"), "{doc:#}");
}

/// A random history: (key, write or delete) one second apart from `t(1)` on.
fn random_history(ops: &[(u8, bool)]) -> SimBucket {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    for (i, (key, put)) in ops.iter().enumerate() {
        let (key, when) = (format!("p/{key}"), t(i as i64 + 1));
        if *put {
            sim.put(&key, format!("{key} #{i}").as_bytes(), when);
        } else {
            sim.delete(&key, when);
        }
    }
    sim
}

proptest::proptest! {
    #![proptest_config(crate::proptest_config(24))]
    /// The central property, through the commands: whatever the history and TIME,
    /// `restore` in place and `restore --to` an empty bucket leave exactly the state at
    /// TIME, and `verify` then agrees.
    #[test]
    fn restore_commands_leave_the_state_at_time(
        ops in proptest::collection::vec((0u8..5, proptest::bool::weighted(0.7)), 1..30),
        pick in 0usize..30,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let at = t((pick % ops.len()) as i64 + 1);
        let store = MemStore::new();
        store.insert("src", random_history(&ops));
        store.create("dst", Versioning::Enabled);
        let expected = truth(&store, "src", at);
        let dir = tempfile::tempdir().unwrap();
        let time = rfc3339(at);
        runtime.block_on(async {
            let into = run_cmd(
                &["restore", "s3://src", "--at", &time, "--to", "s3://dst",
                  "--journal", &journal(dir.path(), "to.jsonl")],
                store.endpoint(),
                None,
            )
            .await;
            ok(&into);
            assert_eq!(contents(&store, "dst"), expected);
            let in_place = run_cmd(
                &["restore", "s3://src", "--at", &time, "--yes",
                  "--journal", &journal(dir.path(), "in-place.jsonl")],
                store.endpoint(),
                None,
            )
            .await;
            ok(&in_place);
            assert_eq!(contents(&store, "src"), expected);
            ok(&run_cmd(&["verify", "s3://src", "--at", &time], store.endpoint(), None).await);
        });
    }
}

/// `--max-bytes`: the run stops before the write that would go past the cap (exit 4,
/// what was done journaled), and the same command without the cap finishes the restore
/// from the journal: each key copied once over both runs, no version removed.
#[tokio::test]
async fn a_byte_cap_stops_a_restore_cleanly_and_the_same_command_resumes() {
    let store = source(20);
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path(), "capped.jsonl");
    let expected = truth(&store, "src", at());
    let restore = |cap: Option<&'static str>| {
        let mut args = vec![
            "restore",
            "s3://src",
            "--at",
            "2025-06-01T09:01:40Z",
            "--yes",
            "--journal",
            &j,
        ];
        if let Some(cap) = cap {
            args.extend(["--max-bytes", cap]);
        }
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let endpoint = store.endpoint();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cmd(&args, endpoint, None).await
        }
    };
    assert_eq!(rfc3339(at()), "2025-06-01T09:01:40Z");
    let stopped = restore(Some("40B")).await;
    assert_eq!(stopped.exit, 4, "{}{}", stopped.stdout, stopped.stderr);
    let said = format!("{}{}", stopped.stdout, stopped.stderr);
    assert!(
        said.contains("Stopped: stopped at --max-bytes 40"),
        "{said}"
    );
    let copied_first = store.requests().of(Op::Copy);
    assert!(
        copied_first >= 1,
        "something was copied before the cap: {said}"
    );
    assert!(
        copied_first <= 8,
        "at most 40 bytes of versions of 5 bytes or more: {copied_first} copies"
    );
    assert_ne!(
        contents(&store, "src"),
        expected,
        "the cap stopped it early"
    );

    let resumed = restore(None).await;
    ok(&resumed);
    assert_eq!(contents(&store, "src"), expected);
    // a, b, c/d, e and the 20 k/ keys: each copied once over the two runs.
    assert_eq!(store.requests().of(Op::Copy), 24);
    assert_eq!(store.requests().of(Op::DeleteVersion), 0);
}

/// A restore whose copies are multipart (their ETags are not the source's) stopped by a
/// cap and run again: the copies the stopped run made are known from its journal (read by
/// key, on disk, a part's keys at a time), not made again, though their content does not
/// match by ETag. Each planned action is done once over the two runs.
#[tokio::test]
async fn a_resumed_restore_knows_its_multipart_copies_from_the_journal() {
    let store = source(20);
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path(), "multipart.jsonl");
    let expected = truth(&store, "src", at());
    let plan = run_cmd(
        &[
            "--output",
            "json",
            "plan",
            "s3://src",
            "--at",
            &rfc3339(at()),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&plan);
    let planned = plan.json();
    let actions = planned["stats"]["copies"].as_u64().unwrap()
        + planned["stats"]["delete_markers"].as_u64().unwrap();
    assert!(actions >= 20, "{planned}");
    let versions = || store.with("src", |s| s.all_versions().count());
    let before = versions();
    let multipart = ["--multipart-threshold", "1B"];
    let stopped = restore_in(
        &store,
        &j,
        &[&multipart[..], &["--max-bytes", "60B"]].concat(),
    )
    .await;
    assert_eq!(stopped.exit, 4, "{}{}", stopped.stdout, stopped.stderr);
    let first = versions() - before;
    assert!(
        first >= 2 && (first as u64) < actions,
        "{first} of {actions}"
    );
    let resumed = restore_in(&store, &j, &multipart).await;
    ok(&resumed);
    assert!(
        resumed.stderr.contains("resuming: journal"),
        "{}",
        resumed.stderr
    );
    assert_eq!(contents(&store, "src"), expected);
    assert_eq!(
        versions() - before,
        actions as usize,
        "each action done once"
    );
}

/// `--max-rps`: every request is paced, none refused: the copies alone take at least
/// their count over the rate (a lower bound, which no slow machine can break).
#[tokio::test]
async fn a_request_rate_cap_paces_every_request_and_refuses_none() {
    let store = source(10);
    store.create("copy", Versioning::Enabled);
    let dir = tempfile::tempdir().unwrap();
    let expected = truth(&store, "src", at());
    let started = std::time::Instant::now();
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--to",
            "s3://copy",
            "--yes",
            "--max-rps",
            "40",
            "--journal",
            &journal(dir.path(), "paced.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    ok(&out);
    assert_eq!(under(&store, "copy", ""), expected);
    let copies = store.requests().of(Op::Copy);
    assert_eq!(copies, 14);
    assert!(
        elapsed >= (copies - 1) as f64 / 40.0,
        "{copies} copies at 40/s took {elapsed} s"
    );
    let paced = store.requests().total();
    assert!(
        elapsed >= (paced as f64 - 12.0) / 40.0,
        "{paced} requests (a few configuration reads unpaced) at 40/s took {elapsed} s"
    );
}

/// `--max-cost`: a request that would cost more than the cap is not sent; the command
/// says which cap and exits 4, whatever phase it was in; without the cap the same command
/// restores exactly. A cap of zero or below is a usage error before any request.
#[tokio::test]
async fn a_cost_cap_stops_before_the_request_that_would_pass_it() {
    let store = source(5);
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path(), "cost.jsonl");
    let expected = truth(&store, "src", at());
    let when = rfc3339(at());
    let base = [
        "restore",
        "s3://src",
        "--at",
        &when,
        "--yes",
        "--journal",
        &j,
    ];
    // Two LIST-priced requests at us-east-1's $0.005 per 1,000.
    let mut capped = base.to_vec();
    capped.extend(["--max-cost", "0.00001"]);
    let out = run_cmd(&capped, store.endpoint(), None).await;
    assert_eq!(out.exit, 4, "{}{}", out.stdout, out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("--max-cost 0.00001"), "{said}");
    assert!(store.requests().writes() <= 2, "{said}");

    let before = store.requests().total();
    let mut zero = base.to_vec();
    zero.extend(["--max-rps", "0"]);
    let out = run_cmd(&zero, store.endpoint(), None).await;
    assert_eq!(out.exit, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a number above zero"),
        "{}",
        out.stderr
    );
    assert_eq!(
        store.requests().total(),
        before,
        "no request before a usage error"
    );

    ok(&run_cmd(&base, store.endpoint(), None).await);
    assert_eq!(contents(&store, "src"), expected);
}

/// `plan` says what executing it will send, cost and take, in its text and its JSON
/// (the plan file too), priced at the region given; the copies and delete markers it
/// counts are the plan's own.
#[tokio::test]
async fn a_plan_estimates_its_requests_cost_and_time() {
    let store = source(3);
    let when = rfc3339(at());
    let out = run_cmd(
        &[
            "--region",
            "eu-central-1",
            "--output",
            "json",
            "plan",
            "s3://src",
            "--at",
            &when,
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let plan = out.json();
    let e = &plan["estimate"];
    assert_eq!(e["requests"]["copy"], plan["stats"]["copies"], "{plan:#}");
    assert_eq!(e["requests"]["copy"], 7, "{plan:#}");
    assert_eq!(e["requests"]["delete"], 1, "{plan:#}");
    assert!(e["requests"]["list_versions"].as_u64().unwrap() >= 1, "{e}");
    assert_eq!(e["region"], "eu-central-1");
    assert!(e["cost_usd"].as_f64().unwrap() > 0.0, "{e}");
    assert!(e["seconds"].as_f64().unwrap() > 0.0, "{e}");
    let text = run_cmd(&["plan", "s3://src", "--at", &when], store.endpoint(), None).await;
    ok(&text);
    assert!(
        text.stdout.contains("estimate:") && text.stdout.contains("at us-east-1 prices"),
        "{}",
        text.stdout
    );
}

/// A drill held to a recovery time objective it cannot meet FAILS (exit 1) and prints no
/// "recovery time achieved"; its HTML report and its Prometheus textfile say the same as
/// its JSON: the verdict, the target, the cause, the chart of the source's activity.
#[tokio::test]
async fn a_drill_over_its_rto_fails_and_its_html_and_metrics_say_so() {
    let store = source(2);
    store.create("scratch", Versioning::Enabled);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("drill.html");
    let prom = dir.path().join("drill.prom");
    let when = rfc3339(at());
    let j = journal(dir.path(), "j.jsonl");
    let args = |max_rto: &'static str| {
        vec![
            "drill".to_owned(),
            "s3://src".into(),
            "--at".into(),
            when.clone(),
            "--scratch".into(),
            format!("s3://scratch/{max_rto}/"),
            "--max-rto".into(),
            max_rto.into(),
            "--report".into(),
            html.to_string_lossy().into_owned(),
            "--metrics".into(),
            prom.to_string_lossy().into_owned(),
            "--journal".into(),
            format!("{j}.{max_rto}"),
        ]
    };
    // No recovery takes no time at all: a zero objective is always missed.
    let failed = args("0s");
    let failed: Vec<&str> = failed.iter().map(String::as_str).collect();
    let out = run_cmd(&failed, store.endpoint(), None).await;
    assert_eq!(out.exit, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Drill FAILED"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("  recovery time achieved:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("recovery time objective missed: recovery took"),
        "{}",
        out.stdout
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        page.contains(r#"id="verdict" class="failed">FAILED"#),
        "{page}"
    );
    assert!(page.contains(r#"id="rto-missed""#), "{page}");
    assert!(page.contains("<rect"), "the chart has bars: {page}");
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert!(
        metrics.contains("s3rewind_drill_ok{bucket=\"src\",prefix=\"\"} 0"),
        "{metrics}"
    );

    // An objective of an hour is met: PASSED, the time achieved printed, ok 1.
    let passed = args("1h");
    let passed: Vec<&str> = passed.iter().map(String::as_str).collect();
    let out = run_cmd(&passed, store.endpoint(), None).await;
    ok(&out);
    assert!(
        out.stdout.contains("recovery time achieved:"),
        "{}",
        out.stdout
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(r#"id="verdict" class="passed">PASSED"#),
        "{page}"
    );
    assert!(!page.contains(r#"id="rto-missed""#), "{page}");
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert!(
        metrics.contains("s3rewind_drill_ok{bucket=\"src\",prefix=\"\"} 1"),
        "{metrics}"
    );
}

/// A drill of part of the range restores and verifies only the selected keys; options
/// that mean nothing to a drill are refused before any request.
#[tokio::test]
async fn a_drill_of_a_selection_verifies_only_it_and_meaningless_options_are_refused() {
    let store = source(4);
    store.create("scratch", Versioning::Enabled);
    let dir = tempfile::tempdir().unwrap();
    let when = rfc3339(at());
    let j = journal(dir.path(), "sel.jsonl");
    let out = run_cmd(
        &[
            "--output",
            "json",
            "drill",
            "s3://src",
            "--at",
            &when,
            "--scratch",
            "s3://scratch/sel/",
            "--include",
            "k/*",
            "--journal",
            &j,
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let doc = out.json();
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["objects_restored"], 4, "{doc:#}");
    assert_eq!(doc["keys_at_target"], 4, "{doc:#}");
    let restored = under(&store, "scratch", "sel/");
    let expected: BTreeMap<String, Content> = truth(&store, "src", at())
        .into_iter()
        .filter(|(k, _)| k.starts_with("k/"))
        .collect();
    assert_eq!(restored, expected);

    for (flag, value) in [
        ("--no-verify", None),
        ("--force", None),
        ("--max-delete-markers", Some("10")),
    ] {
        let before = store.requests().total();
        let mut args = vec![
            "drill",
            "s3://src",
            "--at",
            &when,
            "--scratch",
            "s3://scratch/refused/",
            flag,
        ];
        args.extend(value);
        let out = run_cmd(&args, store.endpoint(), None).await;
        assert_eq!(out.exit, 2, "{flag}: {}", out.stderr);
        assert!(
            out.stderr.contains(flag) && out.stderr.contains("leave the option out"),
            "{flag}: {}",
            out.stderr
        );
        assert_eq!(store.requests().total(), before, "{flag}: no request");
    }
}

/// Under `--output json` a failure prints one `s3rewind.error/v1` object on stdout (exit
/// code and message, the same as the exit status and the stderr line); in text, stdout
/// stays empty.
#[tokio::test]
async fn a_failure_under_json_output_is_one_json_error_object() {
    let store = source(0);
    let out = run_cmd(
        &[
            "--output",
            "json",
            "plan",
            "s3://nope",
            "--at",
            &rfc3339(at()),
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 3, "{}{}", out.stdout, out.stderr);
    let doc = out.json();
    assert_eq!(doc["schema"], crate::output::ERROR_SCHEMA);
    assert_eq!(doc["exit"], 3);
    let message = doc["error"].as_str().unwrap();
    assert!(message.contains("nope"), "{message}");
    assert!(out.stderr.contains(message), "{}", out.stderr);
    let text = run_cmd(
        &["plan", "s3://nope", "--at", &rfc3339(at())],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(text.exit, 3);
    assert!(text.stdout.is_empty(), "{}", text.stdout);
}

/// A drill into another account or provider (`--dest-endpoint-url`, `--dest-profile`):
/// the scratch location is reached through its own endpoint, checked empty there,
/// restored into by streaming, verified by content, and cleaned up there; the source is
/// only read.
#[tokio::test]
async fn a_drill_into_another_endpoint_restores_verifies_and_cleans_up_there() {
    let store = source(2);
    let dr = MemStore::new();
    dr.create("dr-scratch", Versioning::Enabled);
    let dir = tempfile::tempdir().unwrap();
    let src_before = contents(&store, "src");
    let out = run_cmd(
        &[
            "--output",
            "json",
            "drill",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--scratch",
            "s3://dr-scratch/drill/",
            "--dest-endpoint-url",
            "http://dr.example",
            "--dest-profile",
            "dr",
            "--cleanup",
            "--journal",
            &journal(dir.path(), "dr.jsonl"),
        ],
        store.endpoint(),
        Some(dr.endpoint()),
    )
    .await;
    ok(&out);
    let doc = out.json();
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["objects_restored"], 6, "{doc:#}");
    assert_eq!(doc["cleanup"]["removed"], 6, "{doc:#}");
    assert_eq!(
        dr.requests().of(Op::Put),
        6,
        "streamed into the DR endpoint"
    );
    assert!(dr.entries("dr-scratch").is_empty(), "cleaned up there");
    assert_eq!(store.requests().writes(), 0);
    assert_eq!(contents(&store, "src"), src_before);
}

/// `batch reconcile` reads the manifests against the plan beside them before it asks for
/// any job: a manifest line that is no copy of the plan (edited, or from another emit) is
/// a usage error naming it, and nothing is written.
#[tokio::test]
async fn batch_reconcile_refuses_a_manifest_that_is_not_its_plans() {
    let store = source(4);
    store.insert("dst", SimBucket::new(Versioning::Enabled, "dst-v"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ops");
    let when = rfc3339(at());
    let emitted = run_cmd(
        &[
            "plan",
            "s3://src",
            "--at",
            &when,
            "--to",
            "s3://dst",
            "--emit",
            "batch-ops",
            out.to_str().unwrap(),
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(emitted.exit, 0, "{}", emitted.stderr);
    let manifest = out.join("manifest-STANDARD.csv");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.lines().count() >= 4, "{text}");
    // The last line's version replaced by one the plan does not copy.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let last = lines.pop().unwrap();
    let (head, _) = last.rsplit_once(',').unwrap();
    lines.push(format!("{head},not-a-version"));
    std::fs::write(&manifest, lines.join("\n") + "\n").unwrap();
    let journals = dir.path().join("journals");
    let r = run_cmd(
        &[
            "--journal-dir",
            journals.to_str().unwrap(),
            "batch",
            "reconcile",
            out.to_str().unwrap(),
            "--job",
            "job-1",
            "--account-id",
            "123456789012",
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(r.exit, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("version not-a-version is not a copy of")
            && r.stderr.contains("manifest-STANDARD.csv"),
        "{}",
        r.stderr
    );
    assert!(!out.join("remaining.json").exists());
    assert!(!journals.exists() || std::fs::read_dir(&journals).unwrap().next().is_none());
}

#[tokio::test]
async fn diff_in_text_names_each_change_with_its_versions() {
    let store = source(0);
    let (from, to) = (rfc3339(at()), rfc3339(t(400)));
    let out = run_cmd(
        &["diff", "s3://src", "--from", &from, "--to", &to],
        store.endpoint(),
        None,
    )
    .await;
    // Differences found: exit 1, as diff(1).
    assert_eq!(out.exit, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        lines,
        [
            "  + \"f.txt\"  src-v000012 (5 B, 2025-06-01T09:03:24Z)",
            "  ~ \"a.txt\"  src-v000007 (5 B) -> src-v000008 (9 B, 2025-06-01T09:03:20Z)",
            "  ~ \"e.txt\"  src-v000004 (5 B) -> src-v000009 (9 B, 2025-06-01T09:03:21Z)",
            "  - \"b.txt\"  was src-v000002 (5 B, 2025-06-01T09:00:11Z)",
            "  - \"c/d.txt\"  was src-v000003 (5 B, 2025-06-01T09:00:12Z)",
        ]
    );
}

/// A write that lands between the listing of a key and the removal of its delete marker:
/// the listing still shows the marker on top, but the key reads as the new version. The
/// marker is then below a live version and is left where it is (removing it would take
/// the key's history from under the writer); the key is reported, not undeleted.
#[tokio::test]
async fn a_marker_is_not_removed_once_a_read_shows_a_version_above_it() {
    let store = source(0);
    let dir = tempfile::tempdir().unwrap();
    let markers = |key: &str| ids_of(&store, key, true).len();
    let faulty = FaultyEndpoint::new(
        store.endpoint(),
        Faults {
            writer: 1.0,
            writer_keys: vec!["b.txt".to_owned()],
            writer_before_writes: false,
            writer_before: Some("HeadObject"),
            ..Faults::default()
        },
    );
    let out = remove_markers_on(faulty, &journal(dir.path(), "j.jsonl")).await;
    assert_eq!(out.exit, 1, "{}\n{}", out.stdout, out.stderr);
    let report = &out.json()["report"];
    assert_eq!(report["undeleted"], 1, "{}", out.stdout);
    assert_eq!(report["drifted"][0]["key"], "b.txt", "{}", out.stdout);
    let why = report["drifted"][0]["detail"].as_str().unwrap_or_default();
    assert!(why.contains("but the key reads as version"), "{why}");
    // b.txt's marker is still there, below what the other writer wrote; c/d.txt's is gone.
    assert_eq!(markers("b.txt"), 1);
    assert_eq!(markers("c/d.txt"), 0);
}
